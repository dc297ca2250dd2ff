//! Campaigns and the record rules: an empty server's first steps, closing a year, complete
//! records on the server, the approval lock, "via the app" from the registration, the collector,
//! figures that add up, and the reconciling roster import with its decisions.

use doorstep_server::roster;
use doorstep_server::testing::{Backend, TestServer, fresh_url};
use doorstep_shared::sync::MutationStatus;
use doorstep_shared::{DivisionCode, Outcome, Review, Value, demo};
use serde_json::json;

use crate::both;
use crate::helpers::{Api, edit, now, spawn, survey, t};
use crate::holes::import;

async fn empty_server(b: Backend) -> Api {
    let database_url = fresh_url(b);
    let state = doorstep_server::build(&doorstep_server::Config::new(
        Some(database_url.clone()),
        std::path::PathBuf::new(),
    ))
    .await
    .unwrap();
    let addr = doorstep_server::spawn(state.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    Api::on(TestServer {
        addr,
        url: format!("http://{addr}"),
        state,
        database_url,
    })
}

/// The first admin account, as `add-user --role admin` makes it on an empty database.
async fn add_admin(api: &Api) {
    api.server
        .state
        .db
        .create_user(
            "admin",
            "管理员",
            doorstep_shared::sync::Role::Admin,
            None,
            &doorstep_server::service::accounts::hash_password(
                doorstep_server::seed::DEMO_PASSWORD,
            ),
            &doorstep_server::db::audit::Entry::by("test", "user_created", "admin"),
        )
        .await
        .unwrap();
}

/// An empty server: the console leads the admin to "open the first campaign"; opening is refused
/// with clear reasons until the input is right; a second year cannot reuse a year.
async fn the_first_campaign_from_the_console_and_the_api(b: Backend) {
    let api = empty_server(b).await;
    add_admin(&api).await;
    let admin = api.login("admin").await;
    let r = api.get(&admin, "/api/v1/progress").await;
    assert_eq!(r.status(), 409);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_campaign");
    // The console: the overview leads to the first-campaign page.
    let page = api
        .http
        .get(api.url("/console"))
        .header("cookie", format!("doorstep_token={}", admin.token))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.url().path().ends_with("/console/campaigns"));
    let html = page.text().await.unwrap();
    assert!(html.contains("开启第一次调查") && html.contains("id=\"open-campaign\""));
    for (bad, code) in [
        (
            json!({"district": "4305", "district_name": "大祥区", "year": 2021}),
            "invalid_district",
        ),
        (
            json!({"district": "430503", "district_name": " ", "year": 2021}),
            "invalid_district_name",
        ),
        (
            json!({"district": "430503", "district_name": "大祥区", "year": 2021,
                "starts": "2021-06-01", "ends": "2021-05-01"}),
            "invalid_dates",
        ),
        (
            json!({"district": "430503", "district_name": "大祥区", "year": 2021,
                "home_visit_target": 120}),
            "invalid_target",
        ),
        (
            json!({"district": "430503", "district_name": "大祥区", "year": 2021, "from": 2020}),
            "no_such_campaign",
        ),
    ] {
        let r = api
            .post(&admin, "/api/v1/admin/campaigns", bad.clone())
            .await;
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{bad}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(" / "),
            "bilingual: {body}"
        );
    }
    let r = api
        .post(
            &admin,
            "/api/v1/admin/campaigns",
            json!({"district": "430503", "district_name": "大祥区", "year": 2021}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let opened: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        opened["campaign"]["name"],
        "2021年大祥区残疾人基本服务状况和需求信息数据动态更新"
    );
    assert_eq!(opened["campaign"]["starts"], "2021-03-01");
    assert_eq!(opened["campaign"]["ends"], "2021-11-30");
    assert_eq!(opened["campaign"]["home_visit_target_bp"], 9500);
    let r = api
        .post(
            &admin,
            "/api/v1/admin/campaigns",
            json!({"district": "430503", "district_name": "大祥区", "year": 2021}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let report: serde_json::Value = api
        .get(&admin, "/api/v1/report")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        report["paragraph"]
            .as_str()
            .unwrap()
            .starts_with("2021年，大祥区"),
        "{report}"
    );
}
both!(the_first_campaign_from_the_console_and_the_api);

/// A district's campaign makes person keys from a secret it keeps: no key can be computed
/// from an ID number (they used to be uuid5 of the campaign's ID, which every pull carries, and
/// the ID number), no answer carries the secret, and re-importing the roster finds the same
/// persons.
async fn person_keys_come_from_the_campaigns_secret(b: Backend) {
    let api = empty_server(b).await;
    add_admin(&api).await;
    let admin = api.login("admin").await;
    let r = api
        .post(
            &admin,
            "/api/v1/admin/campaigns",
            json!({"district": "430503", "district_name": "大祥区", "year": 2021}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let opened = r.text().await.unwrap();
    let campaign = api.campaign().await;
    let keys = api.server.state.db.person_keys(&campaign.id).await.unwrap();
    let doorstep_shared::PersonKeys::Secret(secret) = keys else {
        panic!("a district's campaign has a secret: {keys:?}")
    };
    assert!(!opened.contains(&secret.to_string()));
    let entries = crate::holes::newcomers(31, 40, "430503001001");
    crate::holes::import(&api, &admin, &entries).await;
    let again = crate::holes::import(&api, &admin, &entries).await;
    assert_eq!(again["added"], 0, "the same persons again: {again}");
    let pulled = api.pull_all(&admin).await;
    assert_eq!(pulled.len(), entries.len());
    for e in &entries {
        let key = keys.key(campaign.id, &e.resident_id);
        assert!(pulled.contains_key(&key));
        assert_ne!(
            key,
            doorstep_shared::PersonKeys::Derived.key(campaign.id, &e.resident_id)
        );
    }
    for path in ["/api/v1/sync/pull?cursor=0", "/api/v1/admin/campaigns"] {
        let text = api.get(&admin, path).await.text().await.unwrap();
        assert!(!text.contains(&secret.to_string()), "{path}");
    }
}
both!(person_keys_come_from_the_campaigns_secret);

/// A closed year refuses pushes with a clear code; its figures stay readable by `?year=`.
async fn a_closed_year_refuses_edits_and_stays_readable(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let w = api.login("w001").await;
    let recs = api.pull_all(&w).await;
    let p = recs.values().next().unwrap();
    let campaign = api.campaign().await;
    api.push(&w, vec![survey(&campaign, p, Outcome::Phone)])
        .await;
    let year = campaign.year;
    let r = api
        .post(
            &admin,
            &format!("/api/v1/admin/campaigns/{year}/close"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = api
        .push(
            &w,
            vec![edit(
                &recs.values().nth(1).unwrap().clone(),
                &[("ethnicity", t("han"))],
                now(),
            )],
        )
        .await;
    assert_eq!(r.results[0].status, MutationStatus::Rejected);
    assert_eq!(
        r.results[0].code,
        Some(doorstep_shared::errors::ErrorCode::CampaignClosed)
    );
    let prog: serde_json::Value = api
        .get(&admin, &format!("/api/v1/progress?year={year}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(prog["total"]["done"], 1);
    let r = api
        .get(&admin, &format!("/api/v1/export/records.csv?year={year}"))
        .await;
    assert_eq!(r.status(), 200);
    let r = api.get(&admin, "/api/v1/progress?year=1999").await;
    assert_eq!(r.status(), 404);
}
both!(a_closed_year_refuses_edits_and_stays_readable);

/// The server decides what "done" is: a final record must be complete by the form, an outcome
/// needs its own facts; an approved record is locked for the worker; "via the app" comes from the
/// registration; the collector stays the worker after a review.
async fn complete_records_locks_and_who_collected(b: Backend) {
    let api = spawn(b).await;
    let sup = api.login("sup01").await;
    // Signed in through the API without a device name: still the app.
    let r = api
        .http
        .post(api.url("/api/v1/auth/login"))
        .json(&json!({"username": "w001", "password": doorstep_server::seed::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    let login: doorstep_shared::sync::LoginResponse = r.json().await.unwrap();
    let w = crate::helpers::Session {
        token: login.token.clone(),
        device: login.device_id,
        login,
    };
    let recs: Vec<_> = api.pull_all(&w).await.into_values().collect();
    let r = api
        .push(
            &w,
            vec![
                edit(
                    &recs[0],
                    &[("outcome", t("home_visit")), ("status", t("final"))],
                    now(),
                ),
                edit(
                    &recs[1],
                    &[("outcome", t("away")), ("status", t("final"))],
                    now(),
                ),
                edit(
                    &recs[2],
                    &[("outcome", t("deregistered")), ("status", t("final"))],
                    now(),
                ),
                edit(
                    &recs[3],
                    &[
                        ("outcome", t("away")),
                        ("outcome_note", t("在广东务工")),
                        ("status", t("final")),
                    ],
                    now(),
                ),
            ],
        )
        .await;
    for (i, item) in [
        (0, "ethnicity"),
        (1, "outcome_note"),
        (2, "deregistered_on"),
    ] {
        let res = &r.results[i];
        assert_eq!(
            res.code,
            Some(doorstep_shared::errors::ErrorCode::Incomplete),
            "{res:?}"
        );
        assert!(res.errors.iter().any(|e| e.item == item), "{res:?}");
        assert!(res.message.as_deref().unwrap().contains(" / "));
    }
    assert_eq!(r.results[3].status, MutationStatus::Applied);
    let prog = api.progress(&sup).await;
    assert_eq!(prog["total"]["done"], 1);
    assert_eq!(
        prog["total"]["via_app"], 1,
        "counted as APP by the registration"
    );
    // Approve; the worker's next edit is refused until the record is returned.
    let r = api
        .post(
            &sup,
            &format!("/api/v1/records/{}/review", recs[3].person.id),
            json!({"decision": "approved"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let now_state = api.pull_all(&w).await[&recs[3].person.id].clone();
    let r = api
        .push(
            &w,
            vec![edit(
                &now_state,
                &[("outcome_note", t("在深圳务工"))],
                now(),
            )],
        )
        .await;
    assert_eq!(
        r.results[0].code,
        Some(doorstep_shared::errors::ErrorCode::RecordApproved)
    );
    let list: serde_json::Value = api
        .get(
            &sup,
            &format!("/api/v1/records?community={}", recs[3].person.community),
        )
        .await
        .json()
        .await
        .unwrap();
    let line = list
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["person"] == recs[3].person.id.to_string())
        .unwrap();
    assert_eq!(
        line["collected_by"], "w001",
        "the collector stays the worker: {line}"
    );
    assert_eq!(line["updated_by"], "sup01");
    let back = api
        .post(
            &sup,
            &format!("/api/v1/records/{}/review", recs[3].person.id),
            json!({"decision": "returned", "comment": "请写明城市"}),
        )
        .await;
    assert_eq!(back.status(), 200);
    let s = api.pull_all(&w).await[&recs[3].person.id].clone();
    assert_eq!(s.review, Review::Returned);
    let r = api
        .push(
            &w,
            vec![edit(
                &s,
                &[("outcome_note", t("广东深圳")), ("status", t("final"))],
                now(),
            )],
        )
        .await;
    assert_eq!(r.results[0].status, MutationStatus::Applied);
}
both!(complete_records_locks_and_who_collected);

/// Expected-by-today adds up: each street is the sum of its communities, the district the sum of
/// all.
async fn expected_by_today_adds_up(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let p = api.progress(&admin).await;
    let communities = p["communities"].as_array().unwrap();
    let mut total = 0;
    for s in p["streets"].as_array().unwrap() {
        let sum: u64 = communities
            .iter()
            .filter(|c| c["street_code"] == s["code"])
            .map(|c| c["expected_by_today"].as_u64().unwrap())
            .sum();
        assert_eq!(
            s["expected_by_today"].as_u64().unwrap(),
            sum,
            "{}",
            s["name"]
        );
        total += sum;
    }
    assert!(total > 0);
    assert_eq!(p["expected_by_today"].as_u64().unwrap(), total);
}
both!(expected_by_today_adds_up);

/// A re-import reconciles: new persons added, changed facts listed, persons of the file's
/// communities missing from it flagged (never deleted); the admin keeps one and removes one,
/// whose row is archived and whose community's phones drop them.
async fn roster_reconciles_and_the_admin_decides(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let campaign = api.campaign().await;
    let d = demo::generate(7, campaign.id);
    let code = DivisionCode::parse("430503001001").unwrap();
    let mut entries: Vec<_> = roster::entries_from_demo(&d)
        .into_iter()
        .filter(|e| e.community == code)
        .collect();
    let total = entries.len();
    let gone = entries.split_off(total - 2);
    entries[0].phone = "13700000000".into();
    entries[1].address = "新地址 8 号".into();
    let mut extra = crate::holes::newcomers(90, 1, "430503001001");
    extra[0].street_name = entries[0].street_name.clone();
    extra[0].community_name = entries[0].community_name.clone();
    entries.extend(extra);
    let out = import(&api, &admin, &entries).await;
    assert_eq!(out["added"], 1);
    assert_eq!(out["updated"], 2);
    assert_eq!(out["unchanged"].as_u64().unwrap() as usize, total - 4);
    let fields: Vec<&str> = out["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["phone", "address"]);
    assert_eq!(out["missing"].as_array().unwrap().len(), 2);
    let flagged: serde_json::Value = api
        .get(&admin, "/api/v1/admin/roster/decisions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(flagged.as_array().unwrap().len(), 2);
    let keys = api.server.state.db.person_keys(&campaign.id).await.unwrap();
    let ids: Vec<String> = gone
        .iter()
        .map(|e| e.to_person(campaign.id, &keys).id.to_string())
        .collect();
    let w1 = api.login("w001").await;
    let (_, cursor) = api.pull_from(&w1, 0).await;
    let path = |id: &str| format!("/api/v1/admin/roster/decisions/{id}");
    let r = api
        .post(&admin, &path(&ids[0]), json!({"decision": "keep"}))
        .await;
    assert_eq!(r.status(), 204);
    let r = api
        .post(&admin, &path(&ids[1]), json!({"decision": "remove"}))
        .await;
    assert_eq!(r.status(), 422, "a removal needs a reason");
    let r = api
        .post(
            &admin,
            &path(&ids[1]),
            json!({"decision": "remove", "reason": "户籍已迁出本区"}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let page = api.pull_page(&w1, cursor, 500).await;
    assert_eq!(page.removed, vec![ids[1].parse::<uuid::Uuid>().unwrap()]);
    let db = &api.server.state.db;
    assert!(db.record(&ids[1]).await.unwrap().is_none());
    assert!(db.record(&ids[0]).await.unwrap().unwrap().flag.is_none());
    let prog = api.progress(&admin).await;
    let c = prog["communities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "430503001001")
        .unwrap();
    assert_eq!(c["figures"]["roster"].as_u64().unwrap() as usize, total);
    assert_eq!(db.audit_count("roster_decision").await.unwrap(), 2);
    let _ = Value::Int(0);
}
both!(roster_reconciles_and_the_admin_decides);
