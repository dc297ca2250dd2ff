//! The review chain through the API (docs/review.md): levels, returns with per-item notes, the
//! worker lock, stage figures, the district sample with checks and agreement, follow-up cases
//! carried into next year — on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use doorstep_server::testing::Backend;
use doorstep_shared::review::{self, Levels};
use doorstep_shared::sync::RecordState;
use doorstep_shared::{Outcome, Review};
use serde_json::{Value as Json, json};
use uuid::Uuid;

use crate::both;
use crate::helpers::{Api, Session, edit, now, spawn, survey, t};

async fn open_two_levels(api: &Api, admin: &Session, year: i32, from: i32) -> Json {
    let r = api
        .post(
            admin,
            "/api/v1/admin/campaigns",
            json!({"district": "430503", "district_name": "大祥区", "year": year, "from": from,
                   "review_levels": "street,district"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn step(api: &Api, s: &Session, p: &RecordState, body: Json) -> (u16, Json) {
    let r = api
        .post(s, &format!("/api/v1/records/{}/review", p.person.id), body)
        .await;
    (r.status().as_u16(), r.json().await.unwrap_or(Json::Null))
}

fn code(body: &Json) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn the_chain_street_then_district(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let bad = api
        .post(
            &admin,
            "/api/v1/admin/campaigns",
            json!({"district": "430503", "district_name": "大祥区", "year": api.campaign().await.year + 1, "review_levels": "county"}),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let demo_year = api.campaign().await.year;
    let opened = open_two_levels(&api, &admin, demo_year + 1, demo_year).await;
    assert_eq!(opened["campaign"]["review_levels"], "street,district");

    let w = api.login("w001").await;
    let sup = api.login("sup01").await;
    let campaign = api.campaign().await;
    // One community of w001's, in person order.
    let all: Vec<RecordState> = api.pull_all(&w).await.into_values().collect();
    let first = all[0].person.community.clone();
    let recs: Vec<RecordState> = all
        .into_iter()
        .filter(|r| r.person.community == first)
        .collect();
    assert!(recs.len() >= 12, "w001's community has persons");
    let outcomes = [
        Outcome::HomeVisit,
        Outcome::HomeVisit,
        Outcome::Phone,
        Outcome::HomeVisit,
        Outcome::Moved,
        Outcome::Deregistered,
        Outcome::NotFound,
        Outcome::HomeVisit,
        Outcome::HomeVisit,
        Outcome::HomeVisit,
    ];
    let muts = recs
        .iter()
        .zip(outcomes)
        .map(|(r, o)| survey(&campaign, r, o))
        .collect();
    let res = api.push(&w, muts).await;
    assert!(res.results.iter().all(|r| r.code.is_none()), "{res:?}");
    let recs: Vec<RecordState> = {
        let all = api.pull_all(&w).await;
        recs.iter().map(|r| all[&r.person.id].clone()).collect()
    };
    let [a, bb, c, d] = [&recs[0], &recs[1], &recs[2], &recs[3]];

    // A draft is not reviewed; notes name form items; a return needs a comment.
    let draft = &recs[11];
    let (s, body) = step(&api, &sup, draft, json!({"decision": "approve"})).await;
    assert_eq!((s, code(&body)), (409, "not_submitted"));
    let (s, body) = step(
        &api,
        &sup,
        bb,
        json!({"decision": "return", "comment": "请核对", "notes": {"no_such_item": "x"}}),
    )
    .await;
    assert_eq!((s, code(&body)), (422, "unknown_item"));
    let (s, body) = step(
        &api,
        &sup,
        bb,
        json!({"decision": "return", "notes": {"phone": "x"}}),
    )
    .await;
    assert_eq!((s, code(&body)), (422, "comment_required"));

    // The street approves A (one level on) and returns B with a note on one item.
    let (s, body) = step(&api, &sup, a, json!({"decision": "approve"})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["review"], "street_approved");
    let (s, body) = step(
        &api,
        &sup,
        bb,
        json!({"decision": "return", "comment": "电话号码请核对", "notes": {"phone": "号码少一位"}}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // The street approves C and D too.
    for p in [c, d] {
        assert_eq!(
            step(&api, &sup, p, json!({"decision": "approve"})).await.0,
            200
        );
    }

    // A street-approved record is locked for the worker; the street cannot act on it again.
    let locked = api.pull_all(&w).await[&a.person.id].clone();
    assert_eq!(locked.review, Review::StreetApproved);
    let r = api
        .push(
            &w,
            vec![edit(&locked, &[("phone", t("13900000000"))], now())],
        )
        .await;
    assert_eq!(
        r.results[0].code,
        Some(doorstep_shared::errors::ErrorCode::RecordApproved)
    );
    let (s, body) = step(
        &api,
        &sup,
        &locked,
        json!({"decision": "return", "comment": "x"}),
    )
    .await;
    assert_eq!((s, code(&body)), (409, "above_level"));

    // The district approves A (final) and returns C with a comment; D stays street-approved.
    let (s, body) = step(&api, &admin, a, json!({"decision": "approve"})).await;
    assert_eq!((s, body["review"].as_str()), (200, Some("approved")));
    let (s, body) = step(&api, &admin, a, json!({"decision": "approve"})).await;
    assert_eq!(
        (s, body["review"].as_str()),
        (200, Some("approved")),
        "a retried approval changes nothing"
    );
    let (s, _) = step(
        &api,
        &admin,
        c,
        json!({"decision": "return", "comment": "区级抽看：电话调查请补充入户", "notes": {"outcome": "应入户"}}),
    )
    .await;
    assert_eq!(s, 200);

    // The worker sees both returns with their notes; resubmitting clears them.
    let mine = api.pull_all(&w).await;
    let back = &mine[&bb.person.id];
    assert_eq!(back.review, Review::Returned);
    assert_eq!(back.review_comment.as_deref(), Some("电话号码请核对"));
    assert_eq!(
        back.review_notes,
        BTreeMap::from([("phone".to_string(), "号码少一位".to_string())])
    );
    let district = &mine[&c.person.id];
    assert_eq!(
        district.review_comment.as_deref(),
        Some("区级抽看：电话调查请补充入户")
    );
    assert_eq!(district.review_notes["outcome"], "应入户");
    let r = api
        .push(
            &w,
            vec![edit(
                back,
                &[("phone", t("13912345678")), ("status", t("final"))],
                now(),
            )],
        )
        .await;
    assert!(r.results[0].code.is_none(), "{r:?}");
    let again = api.pull_all(&w).await[&bb.person.id].clone();
    assert_eq!(again.review, Review::Pending);
    assert!(again.review_notes.is_empty() && again.review_comment.is_none());

    // Stages per community equal the records' own stages.
    let stages: Json = api
        .get(&admin, "/api/v1/review/stages")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stages["levels"], "street,district");
    let mine = api.pull_all(&w).await;
    let mut want = BTreeMap::<&str, u64>::new();
    for r in mine.values() {
        let submitted =
            doorstep_shared::domain::status_of(&r.answers) == doorstep_shared::Status::Final;
        let key = match r.review {
            Review::Returned => "returned",
            _ if !submitted => continue,
            Review::Pending => "submitted",
            Review::StreetApproved => "street_approved",
            Review::Approved => "approved",
        };
        *want.entry(key).or_default() += 1;
    }
    for k in ["submitted", "street_approved", "approved", "returned"] {
        assert_eq!(
            stages["total"][k].as_u64().unwrap(),
            want.get(k).copied().unwrap_or(0),
            "{k}: {stages}"
        );
    }
    assert_eq!(want["approved"], 1);
    assert_eq!(want["street_approved"], 1);
    assert_eq!(want["returned"], 1);
    // The supervisor sees their street only; a worker may not draw.
    let sup_stages: Json = api
        .get(&sup, "/api/v1/review/stages")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        sup_stages["total"], stages["total"],
        "all of w001's records are in sup01's street"
    );

    // Every step is in the audit chain.
    let steps = api.server.state.db.audit_count("review").await.unwrap();
    assert_eq!(
        steps, 7,
        "4 street steps and 3 district ones (one a retried approval); the refusals left no trace"
    );
    assert_eq!(
        api.server.state.db.audit_verify().await.unwrap().broken_at,
        None
    );

    // District sampling: 500‰ of each community's submitted records, seed 7, reproduced here.
    let r = api
        .post(
            &w,
            "/api/v1/samples/draw",
            json!({"rate_permille": 500, "seed": 7}),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = api
        .post(
            &admin,
            "/api/v1/samples/draw",
            json!({"rate_permille": 0, "seed": 7}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let community = recs[0].person.community.to_string();
    let eligible: Vec<String> = api
        .pull_all(&w)
        .await
        .values()
        .filter(|r| r.person.community.to_string() == community)
        .filter(|r| doorstep_shared::domain::final_outcome(&r.answers, r.review).is_some())
        .map(|r| r.person.id.to_string())
        .collect();
    assert_eq!(eligible.len(), 9, "ten submitted, one returned");
    let expected = review::draw_sample(&community, &eligible, 500, 7);
    let r = api
        .post(
            &admin,
            "/api/v1/samples/draw",
            json!({"rate_permille": 500, "seed": 7, "threshold_percent": 90}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let drawn: Json = r.json().await.unwrap();
    assert_eq!(drawn["communities"][&community], expected.len());
    let report: Json = api
        .get(&admin, "/api/v1/samples")
        .await
        .json()
        .await
        .unwrap();
    let got: Vec<String> = report["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["community"] == community.as_str())
        .map(|s| s["person_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, expected, "the API's sample is the one the seed gives");
    // Drawing again never samples a record twice.
    let again: Json = api
        .post(
            &admin,
            "/api/v1/samples/draw",
            json!({"rate_permille": 1000, "seed": 9}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["communities"][&community].as_u64().unwrap() as usize,
        eligible.len() - expected.len()
    );

    // Checks: one confirmed, one with a differing item, one not reached.
    let check = |p: &str, body: Json| {
        let api = &api;
        let admin = &admin;
        let path = format!("/api/v1/samples/{p}/check");
        async move { api.post(admin, &path, body).await.status().as_u16() }
    };
    assert_eq!(
        check(
            &expected[0],
            json!({"checker": "李四", "method": "call", "reached": true, "confirmed": true})
        )
        .await,
        204
    );
    assert_eq!(
        check(&expected[1], json!({"checker": "李四", "method": "visit", "reached": true, "confirmed": false, "differing": ["phone"]})).await,
        204
    );
    assert_eq!(
        check(&expected[1], json!({"checker": "李四", "method": "visit", "reached": true, "confirmed": true, "differing": ["phone"]})).await,
        422,
        "confirmed with differences"
    );
    assert_eq!(
        check(
            &Uuid::new_v4().to_string(),
            json!({"checker": "李四", "method": "call", "reached": false, "confirmed": false})
        )
        .await,
        404
    );
    let report: Json = api
        .get(&admin, "/api/v1/samples")
        .await
        .json()
        .await
        .unwrap();
    let agreement = report["communities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == community.as_str())
        .unwrap()
        .clone();
    assert_eq!(agreement["reached"], 2);
    assert_eq!(agreement["confirmed"], 1);
    assert_eq!(
        agreement["agreement_bp"],
        review::agreement_bp(2, 1).unwrap()
    );
    assert_eq!(agreement["threshold_bp"], 9000);
    assert_eq!(agreement["flagged"], true);
    let worker = report["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "w001")
        .unwrap()
        .clone();
    assert_eq!(worker["confirmed"], 1);
    assert_eq!(
        api.server
            .state
            .db
            .audit_count("sample_check")
            .await
            .unwrap(),
        2
    );

    // Follow-up cases: the moved, deregistered and not-found persons.
    let cases: Json = api
        .get(&admin, "/api/v1/follow-ups")
        .await
        .json()
        .await
        .unwrap();
    let mine: Vec<&Json> = cases
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["community"] == community.as_str())
        .collect();
    assert_eq!(mine.len(), 3, "{cases}");
    let moved = recs[4].person.id.to_string();
    let dereg = recs[5].person.id.to_string();
    let decide = |p: String, body: Json| {
        let api = &api;
        let admin = &admin;
        async move {
            let r = api
                .post(admin, &format!("/api/v1/follow-ups/{p}"), body)
                .await;
            (
                r.status().as_u16(),
                r.json::<Json>().await.unwrap_or(Json::Null),
            )
        }
    };
    let (s, body) = decide(
        moved.clone(),
        json!({"decision": "transferred", "decided_on": "2022-10-01"}),
    )
    .await;
    assert_eq!((s, code(&body)), (422, "county_required"));
    let (s, body) = decide(
        a.person.id.to_string(),
        json!({"decision": "kept", "decided_on": "2022-10-01"}),
    )
    .await;
    assert_eq!((s, code(&body)), (409, "not_a_case"));
    assert_eq!(
        decide(moved.clone(), json!({"decision": "transferred", "county": "邵东市", "decided_on": "2022-10-01", "note": "迁移证明已开"})).await.0,
        204
    );
    assert_eq!(
        decide(
            dereg.clone(),
            json!({"decision": "deregistered", "decided_on": "2022-10-02"})
        )
        .await
        .0,
        204
    );
    let open: Json = api
        .get(&admin, "/api/v1/follow-ups?open=true&outcome=not_found")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .any(|c| c["person_id"] == recs[6].person.id.to_string())
    );
    let r = api.get(&sup, "/api/v1/follow-ups.xlsx").await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().starts_with(b"PK"));
    let r = api.get(&sup, "/api/v1/follow-ups?outcome=phone").await;
    assert_eq!(r.status(), 422);

    // Next year: the transferred and the deregistered are left behind.
    let next = open_two_levels(&api, &admin, demo_year + 2, demo_year + 1).await;
    assert_eq!(next["carry"]["left_by_follow_up"], 2, "{next}");
    let ids: Vec<String> = api
        .pull_all(&w)
        .await
        .values()
        .map(|r| r.person.resident_id.to_string())
        .collect();
    assert!(!ids.contains(&recs[4].person.resident_id.to_string()));
    assert!(!ids.contains(&recs[5].person.resident_id.to_string()));
    assert!(
        ids.contains(&recs[6].person.resident_id.to_string()),
        "an open case is carried"
    );
}
both!(the_chain_street_then_district);

/// Without the street level the district reviews submitted records itself; with one street
/// level (every campaign opened before levels existed) the street's approval is final.
async fn one_level_chains(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let sup = api.login("sup01").await;
    let w = api.login("w001").await;
    let campaign = api.campaign().await;
    let recs: Vec<RecordState> = api.pull_all(&w).await.into_values().take(2).collect();
    api.push(
        &w,
        recs.iter()
            .map(|r| survey(&campaign, r, Outcome::Phone))
            .collect(),
    )
    .await;
    let (s, body) = step(&api, &sup, &recs[0], json!({"decision": "approve"})).await;
    assert_eq!(
        (s, body["review"].as_str()),
        (200, Some("approved")),
        "street only: final"
    );
    let r = api
        .post(
            &admin,
            "/api/v1/admin/campaigns",
            json!({"district": "430503", "district_name": "大祥区", "year": campaign.year + 1,
                   "from": campaign.year, "review_levels": "district"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let campaign = api.campaign().await;
    let recs: Vec<RecordState> = api.pull_all(&w).await.into_values().take(1).collect();
    api.push(&w, vec![survey(&campaign, &recs[0], Outcome::Phone)])
        .await;
    let (s, body) = step(&api, &sup, &recs[0], json!({"decision": "approve"})).await;
    assert_eq!((s, code(&body)), (409, "level_off"));
    let (s, body) = step(&api, &admin, &recs[0], json!({"decision": "approve"})).await;
    assert_eq!((s, body["review"].as_str()), (200, Some("approved")));
    assert_eq!(Levels::parse("district").unwrap().list().len(), 1);
}
both!(one_level_chains);

/// Records finalized over a soft check's warning are listed for review, with the worker's
/// reason (the form's 核实说明); the unexplained ones on their own.
async fn warnings_are_listed_with_their_reason(b: Backend) {
    use doorstep_shared::Value;
    use doorstep_shared::merge::Change;
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let sup = api.login("sup01").await;
    let campaign = api.campaign().await;
    let recs: Vec<RecordState> = api
        .pull_all(&w)
        .await
        .into_values()
        .filter(|r| r.answers.is_empty())
        .take(2)
        .collect();
    let warned = |r: &RecordState, reason: Option<&str>| {
        let mut m = survey(&campaign, r, Outcome::HomeVisit);
        let mut set = |k: &str, v: Value| {
            m.changes.insert(
                k.to_string(),
                Change {
                    base: None,
                    value: Some(v),
                },
            );
        };
        set("living_subsidy", Value::Bool(true));
        set("minimum_living", Value::Bool(false));
        match reason {
            Some(t) => set("check_reason", Value::text(t)),
            // The generator gives a reason when its own answers warned: none here.
            None => {
                m.changes.remove("check_reason");
            }
        }
        m
    };
    let res = api
        .push(
            &w,
            vec![
                warned(&recs[0], None),
                warned(&recs[1], Some("低保正在申请中")),
            ],
        )
        .await;
    assert!(
        res.results.iter().all(|r| r.code.is_none()),
        "a warning never blocks: {res:?}"
    );
    let list: Json = api
        .get(&sup, "/api/v1/review/warnings")
        .await
        .json()
        .await
        .unwrap();
    let find = |list: &Json, p: &RecordState| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["person_id"] == p.person.id.to_string())
            .cloned()
    };
    let a = find(&list, &recs[0]).expect("the unexplained record is listed");
    assert!(a["reason"].is_null());
    assert!(
        a["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["check"] == "living_subsidy_without_dibao")
    );
    let b2 = find(&list, &recs[1]).expect("the explained record is listed");
    assert_eq!(b2["reason"], "低保正在申请中");
    let unexplained: Json = api
        .get(&sup, "/api/v1/review/warnings?unexplained=true")
        .await
        .json()
        .await
        .unwrap();
    assert!(find(&unexplained, &recs[0]).is_some());
    assert!(find(&unexplained, &recs[1]).is_none());
    assert!(
        unexplained
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["reason"].is_null())
    );
    assert_eq!(api.get(&w, "/api/v1/review/warnings").await.status(), 403);
}
both!(warnings_are_listed_with_their_reason);
