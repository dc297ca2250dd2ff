//! The app's sync engine against the real server (in process, on 127.0.0.1:0, SQLite, the demo
//! district): sign in → pull → edit → push → the server has it; review and conflicts come back;
//! a supervisor's progress is cached; a revoked device is refused.

use doorstep_app::{AppError, Client, Filter, KdfParams, SaveResult, Store, SyncEngine};
use doorstep_server::seed::DEMO_PASSWORD;
use doorstep_server::testing::{Backend, demo_server};
use doorstep_shared::domain::{Outcome, Review};
use doorstep_shared::sync::RecordState;
use doorstep_shared::value::Value;
use serde_json::json;

fn store_in(dir: &tempfile::TempDir, name: &str) -> Store {
    Store::create(
        dir.path().join(name),
        "246810",
        KdfParams::insecure_fast_for_tests(),
    )
    .unwrap()
}

fn changes(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, Option<Value>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Some(Value::text(*v))))
        .collect()
}

struct Admin {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    async fn sign_in(url: &str) -> Admin {
        let login = Client::new(url)
            .unwrap()
            .login("admin", DEMO_PASSWORD, None, "test console")
            .await
            .unwrap();
        Admin {
            url: url.to_string(),
            token: login.token,
            http: reqwest::Client::new(),
        }
    }

    async fn record(&self, person: uuid::Uuid) -> RecordState {
        let resp = self
            .http
            .get(format!("{}/api/v1/records/{person}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        resp.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: serde_json::Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            resp.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn a_worker_syncs_with_the_real_server() {
    let server = demo_server(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let a = store_in(&dir, "a.db");
    let engine = SyncEngine::new();

    assert_eq!(
        engine
            .login(&a, &server.url, "w001", "wrong password", "Redmi 9A")
            .await
            .unwrap_err(),
        AppError::BadCredentials
    );
    let account = engine
        .login(&a, &server.url, "w001", DEMO_PASSWORD, "Redmi 9A")
        .await
        .unwrap();
    assert_eq!(account.communities.len(), 3);

    // First sync: the worker's three communities, with names, and the form.
    let r = engine.sync_once(&a).await.unwrap();
    assert!(r.form_updated);
    let rows = a.persons(None, Filter::All, "").unwrap();
    assert_eq!(r.pulled, rows.len());
    assert!(rows.len() >= 60);
    let communities = a.communities().unwrap();
    assert_eq!(communities.len(), 3);
    for c in &communities {
        assert_ne!(
            c.name,
            c.code.to_string(),
            "community names come with the pull"
        );
    }

    // Edit offline, push: the server has it.
    let todo = a.persons(None, Filter::NotYet, "").unwrap();
    let p = &todo[0];
    let saved = a
        .save_edit(
            p.person_id,
            changes(&[("outcome", "moved"), ("outcome_note", "搬到长沙")]),
            true,
        )
        .unwrap();
    assert!(matches!(saved, SaveResult::Saved { .. }), "{saved:?}");
    assert_eq!(a.unsent_count().unwrap(), 1);
    let r = engine.sync_once(&a).await.unwrap();
    assert_eq!((r.pushed, r.applied, r.rejected), (1, 1, 0));
    assert_eq!(a.unsent_count().unwrap(), 0);
    let admin = Admin::sign_in(&server.url).await;
    let on_server = admin.record(p.person_id).await;
    assert_eq!(on_server.answers["outcome"], Value::text("moved"));
    assert_eq!(on_server.answers["status"], Value::text("final"));
    assert_eq!(a.record(p.person_id).unwrap().version, on_server.version);

    // The supervisor returns it: the worker hears why, fixes it, submits again.
    admin
        .post(
            &format!("/api/v1/records/{}/review", p.person_id),
            json!({"decision": "returned", "comment": "请写明搬迁地址"}),
        )
        .await;
    let r = engine.sync_once(&a).await.unwrap();
    assert_eq!(
        r.returned_records,
        vec![(p.name.clone(), "请写明搬迁地址".to_string())]
    );
    let v = a.record(p.person_id).unwrap();
    assert_eq!((v.review, v.final_outcome), (Review::Returned, None));
    a.save_edit(
        p.person_id,
        changes(&[("outcome_note", "长沙市岳麓区")]),
        true,
    )
    .unwrap();
    engine.sync_once(&a).await.unwrap();
    let on_server = admin.record(p.person_id).await;
    assert_eq!(on_server.review, Review::Pending);
    assert_eq!(
        on_server.answers["outcome_note"],
        Value::text("长沙市岳麓区")
    );
    let v = a.record(p.person_id).unwrap();
    assert_eq!(
        (v.review, v.final_outcome),
        (Review::Pending, Some(Outcome::Moved))
    );

    // A second phone of the same worker edits the same item differently: a conflict both see.
    let b = store_in(&dir, "b.db");
    engine
        .login(&b, &server.url, "w001", DEMO_PASSWORD, "second phone")
        .await
        .unwrap();
    engine.sync_once(&b).await.unwrap();
    let q = todo[1].person_id;
    a.save_edit(q, changes(&[("outcome", "away")]), false)
        .unwrap();
    b.save_edit(q, changes(&[("outcome", "deregistered")]), false)
        .unwrap();
    engine.sync_once(&a).await.unwrap();
    let r = engine.sync_once(&b).await.unwrap();
    assert_eq!((r.applied, r.conflict_items), (1, 1));
    engine.sync_once(&a).await.unwrap();
    let (va, vb) = (a.record(q).unwrap(), b.record(q).unwrap());
    assert_eq!(va.conflicts["outcome"].candidates.len(), 2);
    assert_eq!(va.answers["outcome"], vb.answers["outcome"]);
    assert_eq!(a.persons(None, Filter::Conflicts, "").unwrap().len(), 1);

    // The office revokes phone b: it is told so, and its token is forgotten.
    let device = b.session().unwrap().unwrap().device_id;
    admin
        .post(&format!("/api/v1/admin/devices/{device}/revoke"), json!({}))
        .await;
    assert_eq!(
        engine.sync_once(&b).await.unwrap_err(),
        AppError::DeviceRevoked
    );
    assert!(!b.session().unwrap().unwrap().signed_in());
}

#[tokio::test]
async fn a_supervisor_caches_progress_for_offline_viewing() {
    let server = demo_server(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let s = store_in(&dir, "sup.db");
    let engine = SyncEngine::new();
    engine
        .login(&s, &server.url, "sup01", DEMO_PASSWORD, "supervisor phone")
        .await
        .unwrap();
    let report = engine.fetch_progress(&s).await.unwrap();
    assert!(!report.communities.is_empty());
    assert_eq!(
        report.total.roster,
        report
            .communities
            .iter()
            .map(|c| c.figures.roster)
            .sum::<u64>()
    );
    let (cached, _at) = s.cached_progress().unwrap().unwrap();
    assert_eq!(cached, report);

    // A supervisor's scope is the street: a sync keeps every community under it.
    let r = engine.sync_once(&s).await.unwrap();
    assert_eq!(r.pulled as u64, report.total.roster);
    assert!(r.dropped_communities.is_empty());
    assert_eq!(s.communities().unwrap().len(), report.communities.len());
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let srv = demo_server(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir, "out.db");
    let engine = SyncEngine::new();
    engine
        .login(&store, &srv.url, "w001", DEMO_PASSWORD, "test phone")
        .await
        .unwrap();
    let token = store.session().unwrap().unwrap().token.unwrap();
    engine.sign_out(&store).await.unwrap();
    assert!(store.session().unwrap().unwrap().token.is_none());
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/sync/pull", srv.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the old token is refused by the server");
}
