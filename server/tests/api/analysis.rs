//! The needs and services analysis: figures add up and equal counts made from the records
//! themselves; an action list exported to XLSX equals the API's list; masking, scope, audit and
//! bad parameters; the fast path (packs, two threads) equals a straightforward recomputation.

use std::collections::{BTreeMap, BTreeSet};

use doorstep_server::db::{Pusher, Scope};
use doorstep_server::service::analysis::{Params, Selection, analyse, select};
use doorstep_server::testing::Backend;
use doorstep_shared::Value;
use doorstep_shared::analysis::{Action, Facts, Layout, Tally};
use doorstep_shared::domain::{Outcome, final_outcome};
use doorstep_shared::form::{FormContext, FormDefinition};
use doorstep_shared::sync::{RecordState, Role};
use serde_json::Value as Json;

use crate::both;
use crate::helpers::{Api, Session, edit, now, spawn, survey, t};

async fn json(api: &Api, s: &Session, path: &str) -> Json {
    let r = api.get(s, path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn xlsx_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    use calamine::{Data, Reader, Xlsx};
    let mut wb = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = wb.worksheet_range("行动清单").unwrap();
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Float(f) => format!("{f}"),
                    Data::Int(i) => i.to_string(),
                    Data::String(s) => s.clone(),
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

/// Surveys every person of w001's communities (a few by phone, a few not found), returns some
/// of them, then checks the analysis against counts made straight from the records.
async fn figures_add_up_and_lists_match_their_export(b: Backend) {
    let api = spawn(b).await;
    let campaign = api.campaign().await;
    let form = FormDefinition::dynamic_update_2021();
    let worker = api.login("w001").await;
    let admin = api.login("admin").await;
    let view = api.pull_all(&worker).await;
    let outcomes = [
        Outcome::HomeVisit,
        Outcome::HomeVisit,
        Outcome::HomeVisit,
        Outcome::Phone,
        Outcome::NotFound,
    ];
    let mutations: Vec<_> = view
        .values()
        .enumerate()
        .map(|(i, r)| survey(&campaign, r, outcomes[i % outcomes.len()]))
        .collect();
    let pushed = mutations.len();
    assert!(pushed > 100, "w001 has {pushed} persons");
    for chunk in mutations.chunks(200) {
        api.push(&worker, chunk.to_vec()).await;
    }
    // The supervisor returns three records: they stop counting until finalized again.
    let sup = api.login("sup01").await;
    for r in view.values().take(3) {
        let resp = api
            .post(
                &sup,
                &format!("/api/v1/records/{}/review", r.person.id),
                serde_json::json!({"decision": "returned", "comment": "请核实"}),
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    let records: BTreeMap<_, RecordState> = api.pull_all(&admin).await;
    let counted: Vec<&RecordState> = records
        .values()
        .filter(|r| final_outcome(&r.answers, r.review).is_some())
        .collect();
    assert_eq!(counted.len(), pushed - 3);

    let a = json(&api, &admin, "/api/v1/analysis").await;
    assert_eq!(a["records"].as_u64().unwrap(), counted.len() as u64);
    let items = a["items"].as_array().unwrap();
    for item in items {
        let applies = item["applies"].as_u64().unwrap();
        let sum: u64 = item["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["n"].as_u64().unwrap())
            .sum();
        let key = item["key"].as_str().unwrap();
        // Every record of an item it applies to, counted straight from the records.
        let expected = counted
            .iter()
            .filter(|r| {
                let ctx = FormContext::for_person(&r.person, &campaign);
                form.is_relevant(key, &r.answers, &ctx)
            })
            .count() as u64;
        assert_eq!(applies, expected, "{key} applies");
        if item["kind"] == "multi" {
            assert!(sum >= applies, "{key}");
        } else {
            assert_eq!(
                sum, applies,
                "{key}: options add up to the records it applies to"
            );
        }
        // The places, categories and levels add up to the total.
        for by in ["by_place", "by_category", "by_level"] {
            let s: u64 = item[by]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["applies"].as_u64().unwrap())
                .sum();
            assert_eq!(s, applies, "{key} {by}");
        }
    }
    let outcome = items.iter().find(|i| i["key"] == "outcome").unwrap();
    assert_eq!(outcome["applies"].as_u64().unwrap(), counted.len() as u64);
    let employed_yes = counted
        .iter()
        .filter(|r| r.answers.get("employed") == Some(&Value::Bool(true)))
        .count() as u64;
    let employed = items.iter().find(|i| i["key"] == "employed").unwrap();
    assert_eq!(employed["options"][0]["key"], "yes");
    assert_eq!(employed["options"][0]["n"].as_u64().unwrap(), employed_yes);

    // The nursing-subsidy list: severe level and "no", from the records themselves.
    let expected: BTreeSet<String> = counted
        .iter()
        .filter(|r| {
            r.person.facts.level.get() <= 2
                && r.answers.get("nursing_subsidy") == Some(&Value::Bool(false))
        })
        .map(|r| r.person.id.to_string())
        .collect();
    let list = json(&api, &admin, "/api/v1/analysis/actions/nursing_subsidy").await;
    let got: BTreeSet<String> = list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["person_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, expected);
    let n = a["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key"] == "nursing_subsidy")
        .unwrap()["n"]
        .as_u64()
        .unwrap();
    assert_eq!(n, expected.len() as u64);
    // The admin sees full ID numbers.
    let first = &list["rows"][0];
    assert!(!first["resident_id"].as_str().unwrap().contains('*'));

    // The device list as the supervisor: masked, and its XLSX export equals the API's list.
    let before = api.server.state.db.audit_count("export").await.unwrap();
    let list = json(&api, &sup, "/api/v1/analysis/actions/device").await;
    let rows = list["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "someone needs a device");
    assert!(
        rows.iter()
            .all(|r| r["resident_id"].as_str().unwrap().contains("********"))
    );
    let r = api.get(&sup, "/api/v1/analysis/actions/device.xlsx").await;
    assert_eq!(r.status(), 200);
    let sheet = xlsx_rows(&r.bytes().await.unwrap());
    assert_eq!(sheet[0][0], "社区代码");
    assert_eq!(sheet.len() - 1, rows.len());
    for (line, row) in sheet[1..].iter().zip(rows) {
        let cells: Vec<String> = [
            "community",
            "community_name",
            "name",
            "resident_id",
            "certificate",
            "category",
            "level",
            "sex",
            "age",
            "phone",
            "address",
            "detail",
        ]
        .iter()
        .map(|k| match &row[k] {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
        assert_eq!(line, &cells);
    }
    assert_eq!(
        api.server.state.db.audit_count("export").await.unwrap(),
        before + 1,
        "the export is audited"
    );
    // One device: a subset, each naming it.
    let wheel = json(
        &api,
        &sup,
        "/api/v1/analysis/actions/device?device=wheelchair",
    )
    .await;
    let wheel = wheel["rows"].as_array().unwrap();
    assert!(wheel.len() <= rows.len());
    assert!(
        wheel
            .iter()
            .all(|r| r["detail"].as_str().unwrap().contains("轮椅"))
    );

    // Filters narrow; the level breakdown says how much.
    let by_level = a["levels"].as_array().unwrap();
    let l1 = json(&api, &admin, "/api/v1/analysis?level=1").await;
    assert_eq!(l1["records"], by_level[0]["records"]);
    let f = json(
        &api,
        &admin,
        "/api/v1/analysis?sex=female&age=60-79&category=4",
    )
    .await;
    assert!(f["records"].as_u64().unwrap() < a["records"].as_u64().unwrap());
    let place = a["places"][0]["key"].as_str().unwrap().to_string();
    let p = json(&api, &admin, &format!("/api/v1/analysis?place={place}")).await;
    assert_eq!(p["records"], a["places"][0]["records"]);

    // Bad input is refused in both languages; a worker may not; a supervisor stays in the street.
    for q in [
        "level=5",
        "category=x",
        "age=7-9",
        "sex=x",
        "place=43",
        "device=rocket",
    ] {
        let r = api
            .get(&admin, &format!("/api/v1/analysis/actions/device?{q}"))
            .await;
        assert_eq!(r.status(), 422, "{q}");
        let body: Json = r.json().await.unwrap();
        let m = body["message"].as_str().unwrap_or_default().to_string()
            + body["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains(" / "), "{q}: {body}");
    }
    assert_eq!(api.get(&worker, "/api/v1/analysis").await.status(), 403);
    assert_eq!(
        api.get(&sup, "/api/v1/analysis?place=430503002")
            .await
            .status(),
        422
    );
    assert_eq!(
        api.get(&admin, "/api/v1/analysis/actions/nothing")
            .await
            .status(),
        404
    );

    // The console's page, for the supervisor (their street) and the admin (the district).
    for (s, who) in [(&sup, "sup01"), (&admin, "admin")] {
        let sa = json(&api, s, "/api/v1/analysis").await;
        let r = api.get(s, "/console/analysis?level=&sex=&by=level").await;
        assert_eq!(r.status(), 200, "{who}");
        let html = r.text().await.unwrap();
        assert!(html.contains("需求与服务分析"), "{who}");
        assert!(
            html.contains(&format!("id=\"records\">{}<", sa["records"])),
            "{who}: the page shows the records counted"
        );
        assert!(
            html.contains("/api/v1/analysis/actions/device.xlsx?"),
            "{who}"
        );
    }
    let r = api.get(&admin, "/console/analysis?level=9").await;
    assert_eq!(r.status(), 422);
    assert_eq!(api.get(&worker, "/console/analysis").await.status(), 403);

    // The report's second paragraph carries the needs counts.
    let report = json(&api, &admin, "/api/v1/report").await;
    let needs = report["needs"].as_str().unwrap();
    assert!(
        needs.contains(&format!(
            "一、二级重度残疾人未享受护理补贴的{}人",
            expected.len()
        )),
        "{needs}"
    );
}
both!(figures_add_up_and_lists_match_their_export);

/// The expected analysis of a selection, recomputed the straightforward way: every finalized
/// record's facts made again from its answers (`Facts::of`, the form's relevance rules), kept
/// when in the scope, under the place and matching the filter, added record by record into the
/// total, its place (street or community, one level below the selection), category and level.
struct Expected {
    total: Tally,
    places: BTreeMap<String, (Tally, [[u64; 6]; 4])>,
    categories: Vec<Tally>,
    levels: Vec<Tally>,
}

fn recompute(
    layout: &Layout,
    facts: &[(String, Facts)],
    scope: &Scope,
    sel: &Selection,
) -> Expected {
    let mut e = Expected {
        total: Tally::new(layout),
        places: BTreeMap::new(),
        categories: vec![Tally::new(layout); 7],
        levels: vec![Tally::new(layout); 4],
    };
    for (community, f) in facts {
        if !scope.allows(community)
            || !community.starts_with(&sel.place)
            || !sel.filter.matches(&f.subject)
        {
            continue;
        }
        let len = if sel.place.len() < 9 { 9 } else { 12 };
        let (place, lists) = e
            .places
            .entry(community[..len].to_string())
            .or_insert_with(|| (Tally::new(layout), [[0; 6]; 4]));
        place.add(layout, f);
        for (i, a) in Action::ALL.iter().enumerate() {
            if a.matches(layout, f) {
                lists[usize::from(f.subject.level - 1)][i] += 1;
            }
        }
        e.total.add(layout, f);
        e.categories[usize::from(f.subject.category.digit() - 1)].add(layout, f);
        e.levels[usize::from(f.subject.level - 1)].add(layout, f);
    }
    e
}

fn cell_of(t: &Tally, layout: &Layout, k: usize) -> (u64, Vec<u64>) {
    (t.applies(layout, k), t.options(layout, k).to_vec())
}

/// The analysis from the stored packs (two threads, filters on who a record is about) equals
/// the straightforward recomputation, figure by figure, for a surveyed district after returns
/// and a removal, under every kind of filter and scope; and again after the facts and packs are
/// rebuilt from the records (what an upgrade does at start).
async fn fast_path_equals_a_recomputation_from_the_records(b: Backend) {
    let api = spawn(b).await;
    let state = &api.server.state;
    let db = &state.db;
    let campaign = api.campaign().await;
    let form = FormDefinition::dynamic_update_2021();
    let layout = Layout::of(&form);
    let admin = api.login("admin").await;
    let view = api.pull_all(&admin).await;
    // Survey two persons in three across the whole district (every street), varied outcomes.
    let outcomes = [
        Outcome::HomeVisit,
        Outcome::HomeVisit,
        Outcome::Phone,
        Outcome::HomeVisit,
        Outcome::NotFound,
        Outcome::Moved,
    ];
    let mutations: Vec<_> = view
        .values()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(i, r)| survey(&campaign, r, outcomes[i % outcomes.len()]))
        .collect();
    assert!(mutations.len() > 2_000, "{} surveys", mutations.len());
    let pusher = Pusher {
        user_id: "test".into(),
        username: "test".into(),
        rank: Role::Admin.rank(),
        device_id: None,
        via_app: true,
        scope: Scope::All,
        history: std::collections::HashMap::new(),
    };
    let campaigns = state.push_campaigns().await.unwrap();
    for chunk in mutations.chunks(500) {
        let received = doorstep_server::service::push::Received::all(chunk).unwrap();
        doorstep_server::service::push::push(db, &campaigns, &pusher, received, Default::default())
            .await
            .unwrap();
    }
    // Edits of surveyed records: one no rule reads (the phone: the facts stay, no pack is
    // rewritten) and a survey again with another outcome (the facts change).
    let again = api.pull_all(&admin).await;
    let done: Vec<&RecordState> = again
        .values()
        .filter(|r| final_outcome(&r.answers, r.review).is_some())
        .collect();
    // More persons than the server reads at once (100), and ten of them edited again at the
    // end of the batch: their rows are written once, with both edits, after the second.
    let again_edited = |r: &RecordState| {
        let mut seen = (*r).clone();
        seen.answers
            .insert("phone".into(), t("13900001111").unwrap());
        edit(&seen, &[("phone", t("13900002222"))], now() + 1)
    };
    let edits: Vec<_> = done
        .iter()
        .take(120)
        .map(|r| edit(r, &[("phone", t("13900001111"))], now()))
        .chain(done.iter().skip(120).take(40).map(|r| {
            let other = if final_outcome(&r.answers, r.review) == Some(Outcome::Phone) {
                Outcome::HomeVisit
            } else {
                Outcome::Phone
            };
            survey(&campaign, r, other)
        }))
        .chain(done.iter().take(10).map(|r| again_edited(r)))
        .collect();
    let edits = doorstep_server::service::push::Received::all(&edits).unwrap();
    let results =
        doorstep_server::service::push::push(db, &campaigns, &pusher, edits, Default::default())
            .await
            .unwrap();
    assert!(
        results
            .iter()
            .all(|r| r.status == doorstep_shared::sync::MutationStatus::Applied),
        "{results:?}"
    );
    let after = api.pull_all(&admin).await;
    for (i, r) in done.iter().take(11).enumerate() {
        let now_r = &after[&r.person.id];
        let (phone, changes) = if i < 10 {
            ("13900002222", 2)
        } else {
            ("13900001111", 1)
        };
        assert_eq!(now_r.answers.get("phone"), t(phone).as_ref(), "{i}");
        assert_eq!(now_r.version, r.version + changes, "{i}");
        assert!(now_r.conflicts.is_empty(), "{i}");
    }
    // Returned records stop counting; a removed person leaves their community's pack.
    let sup = api.login("sup01").await;
    let mine = api.pull_all(&sup).await;
    let surveyed: Vec<_> = mine
        .values()
        .filter(|r| final_outcome(&r.answers, r.review).is_some())
        .collect();
    for r in surveyed.iter().take(2) {
        let resp = api
            .post(
                &sup,
                &format!("/api/v1/records/{}/review", r.person.id),
                serde_json::json!({"decision": "returned", "comment": "请核实"}),
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    db.remove_person(
        &surveyed[5].person.id.to_string(),
        "admin",
        "test",
        &doorstep_server::db::audit::Entry::by("admin", "roster_decision", "test"),
    )
    .await
    .unwrap();

    let records = api.pull_all(&admin).await;
    let facts: Vec<(String, Facts)> = records
        .values()
        .filter(|r| final_outcome(&r.answers, r.review).is_some())
        .map(|r| {
            let ctx = FormContext::for_person(&r.person, &campaign);
            (
                r.person.community.to_string(),
                Facts::of(&layout, &form, &r.answers, &ctx),
            )
        })
        .collect();
    assert!(facts.len() > 1_500, "{} finalized", facts.len());
    let street = facts[0].0[..9].to_string();
    let community = facts[0].0.clone();
    let p = |q: &[(&str, &str)]| {
        let mut p = Params::default();
        for (k, v) in q {
            let v = Some((*v).to_string());
            match *k {
                "place" => p.place = v,
                "category" => p.category = v,
                "level" => p.level = v,
                "age" => p.age = v,
                _ => p.sex = v,
            }
        }
        p
    };
    let cases = [
        (Scope::All, p(&[])),
        (Scope::All, p(&[("level", "1")])),
        (Scope::All, p(&[("level", "2"), ("sex", "male")])),
        (Scope::All, p(&[("sex", "female"), ("age", "60-79")])),
        (Scope::All, p(&[("category", "4"), ("age", "16-59")])),
        (Scope::All, p(&[("age", "0-5")])),
        (Scope::All, p(&[("place", &street)])),
        (Scope::All, p(&[("place", &community), ("sex", "male")])),
        (Scope::Area(street.clone()), p(&[])),
        (Scope::Area(street.clone()), p(&[("level", "3")])),
    ];
    let mut before = Vec::new();
    for (scope, params) in &cases {
        let a = analyse(db, campaign.clone(), scope, None, params)
            .await
            .unwrap();
        let sel = select(params, scope).unwrap();
        let e = recompute(&layout, &facts, scope, &sel);
        let what = format!("{scope:?} {params:?}");
        assert_eq!(a.records, e.total.records, "{what}");
        let places: Vec<(String, u64)> = a
            .places
            .iter()
            .map(|g| (g.key.clone(), g.records))
            .collect();
        let want: Vec<(String, u64)> = e
            .places
            .iter()
            .map(|(k, (t, _))| (k.clone(), t.records))
            .collect();
        assert_eq!(places, want, "{what}: places");
        for (g, t) in a.categories.iter().zip(&e.categories) {
            assert_eq!(g.records, t.records, "{what}: category {}", g.key);
        }
        for (g, t) in a.levels.iter().zip(&e.levels) {
            assert_eq!(g.records, t.records, "{what}: level {}", g.key);
        }
        assert_eq!(a.items.len(), layout.items.len());
        for (k, item) in a.items.iter().enumerate() {
            let key = &item.key;
            let got = (
                item.applies,
                item.options.iter().map(|o| o.n).collect::<Vec<_>>(),
            );
            assert_eq!(got, cell_of(&e.total, &layout, k), "{what}: {key}");
            if item.kind != "multi" {
                assert_eq!(got.1.iter().sum::<u64>(), got.0, "{what}: {key} adds up");
            }
            let by = |cells: &[doorstep_server::service::analysis::Cell]| {
                cells
                    .iter()
                    .map(|c| (c.applies, c.options.clone()))
                    .collect::<Vec<_>>()
            };
            let want: Vec<_> = e
                .places
                .values()
                .map(|(t, _)| cell_of(t, &layout, k))
                .collect();
            assert_eq!(by(&item.by_place), want, "{what}: {key} by place");
            let want: Vec<_> = e
                .categories
                .iter()
                .map(|t| cell_of(t, &layout, k))
                .collect();
            assert_eq!(by(&item.by_category), want, "{what}: {key} by category");
            let want: Vec<_> = e.levels.iter().map(|t| cell_of(t, &layout, k)).collect();
            assert_eq!(by(&item.by_level), want, "{what}: {key} by level");
        }
        for (i, x) in a.actions.iter().enumerate() {
            assert_eq!(x.n, e.total.actions[i], "{what}: {}", x.key);
            let want: Vec<[u64; 4]> = e
                .places
                .values()
                .map(|(_, l)| [l[0][i], l[1][i], l[2][i], l[3][i]])
                .collect();
            assert_eq!(
                x.by_place_level, want,
                "{what}: {} by place and level",
                x.key
            );
        }
        for (i, d) in a.devices.iter().enumerate() {
            assert_eq!(d.n, e.total.devices[i], "{what}: {}", d.key);
        }
        before.push(serde_json::to_value(&a).unwrap());
    }
    assert!(before[0]["places"].as_array().unwrap().len() > 1);

    // An upgrade: the facts version forgotten, so both the facts and the packs are rebuilt
    // from the records at start; every figure stays the same.
    db.set_setting("analysis_facts_version", "0").await.unwrap();
    db.ensure_analysis_facts().await.unwrap();
    for ((scope, params), was) in cases.iter().zip(&before) {
        let a = analyse(db, campaign.clone(), scope, None, params)
            .await
            .unwrap();
        assert_eq!(
            &serde_json::to_value(&a).unwrap(),
            was,
            "{scope:?} {params:?}"
        );
    }
}
both!(fast_path_equals_a_recomputation_from_the_records);
