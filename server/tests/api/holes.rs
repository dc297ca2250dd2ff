//! The sync and storage holes found from outside (scope changes, reused IDs, durability, one
//! writer across processes): each test here failed on the code before the fix.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use doorstep_server::roster::{self, RosterEntry};
use doorstep_server::testing::Backend;
use doorstep_shared::merge::ItemOutcome;
use doorstep_shared::sync::MutationStatus;
use doorstep_shared::{DivisionCode, Value, demo};
use serde_json::json;
use uuid::Uuid;

use crate::both;
use crate::helpers::{Api, Session, edit, now, spawn, t};

/// Imports roster entries through the API as the admin.
pub async fn import(api: &Api, admin: &Session, entries: &[RosterEntry]) -> serde_json::Value {
    let r = post_roster(api, admin, entries).await;
    assert_eq!(r.status(), 200, "import");
    r.json().await.unwrap()
}

/// Posts the entries as a CSV roster file, whatever the answer.
pub async fn post_roster(api: &Api, admin: &Session, entries: &[RosterEntry]) -> reqwest::Response {
    let mut csv = Vec::new();
    roster::write_csv(entries, &mut csv).unwrap();
    api.http
        .post(api.url("/api/v1/admin/roster?filename=roster.csv"))
        .bearer_auth(&admin.token)
        .body(csv)
        .send()
        .await
        .unwrap()
}

/// `n` new persons (IDs the demo district does not have) in `community`.
pub fn newcomers(seed: u64, n: usize, community: &str) -> Vec<RosterEntry> {
    let other = demo::generate_sized(seed, Uuid::nil(), n, 1);
    let code = DivisionCode::parse(community).unwrap();
    let mut entries = roster::entries_from_demo(&other);
    entries.truncate(n);
    for e in &mut entries {
        e.community = code.clone();
        e.community_name = format!("新社区{}", &community[9..]);
    }
    entries
}

async fn create_worker(api: &Api, admin: &Session, name: &str) {
    let r = api
        .post(
            admin,
            "/api/v1/admin/users",
            json!({"username": name, "display_name": name, "role": "worker",
                   "password": doorstep_server::seed::DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

async fn assign(api: &Api, admin: &Session, community: &str, user: &str) {
    let r = api
        .http
        .put(api.url("/api/v1/admin/assignments"))
        .bearer_auth(&admin.token)
        .json(&json!({"community": community, "username": user}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "assign {community} → {user}");
}

/// Hole 1: a community assigned for the first time after the worker pulled past its persons.
async fn first_assignment_reaches_the_phone(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    create_worker(&api, &admin, "w900").await;
    let mut entries = newcomers(501, 5, "430503001097");
    entries.extend(newcomers(502, 10, "430503001098"));
    import(&api, &admin, &entries).await;
    assign(&api, &admin, "430503001097", "w900").await;
    let w = api.login("w900").await;
    let (held, cursor) = api.pull_from(&w, 0).await;
    assert_eq!(held.len(), 5);
    let one = held.values().next().unwrap();
    let r = api
        .push(&w, vec![edit(one, &[("ethnicity", t("han"))], now())])
        .await;
    assert_eq!(r.results[0].status, MutationStatus::Applied);
    let (_, cursor) = api.pull_from(&w, cursor).await;
    assign(&api, &admin, "430503001098", "w900").await;
    let page = api.pull_page(&w, cursor, 500).await;
    assert!(page.scope.iter().any(|c| c.as_str() == "430503001098"));
    let new: Vec<_> = page
        .records
        .iter()
        .filter(|r| r.person.community.as_str() == "430503001098")
        .collect();
    assert_eq!(
        new.len(),
        10,
        "every person of the newly assigned community"
    );
}
both!(first_assignment_reaches_the_phone);

/// Hole 2 (and the withdrawal half of 1): a re-import that moves a person to another community
/// recounts the old community and tells the old community's phones.
async fn roster_move_recounts_and_withdraws(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let w1 = api.login("w001").await;
    let (held, cursor) = api.pull_from(&w1, 0).await;
    let p = held
        .values()
        .find(|r| r.person.community.as_str() == "430503001001")
        .unwrap()
        .clone();
    let r = api
        .push(
            &w1,
            vec![edit(
                &p,
                &[("outcome", t("not_found")), ("status", t("final"))],
                now(),
            )],
        )
        .await;
    assert_eq!(r.results[0].status, MutationStatus::Applied, "{r:?}");
    let (_, cursor) = api.pull_from(&w1, cursor).await;
    // The admin's file puts the person in a community of another worker.
    let campaign = api
        .server
        .state
        .db
        .current_campaign()
        .await
        .unwrap()
        .unwrap();
    let d = demo::generate(7, campaign.id);
    let mut entry = roster::entries_from_demo(&d)
        .into_iter()
        .find(|e| e.resident_id.as_str() == p.person.resident_id)
        .unwrap();
    let target = "430503002001";
    entry.community = DivisionCode::parse(target).unwrap();
    import(&api, &admin, &[entry]).await;
    let db = &api.server.state.db;
    let id = campaign.id.to_string();
    let maintained: BTreeMap<String, _> = api.progress(&admin).await["communities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["code"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    let recomputed = db.progress_from_records(&id).await.unwrap();
    for code in ["430503001001", target] {
        assert_eq!(
            maintained[code]["figures"]["roster"].as_u64().unwrap(),
            recomputed[code].roster,
            "{code}"
        );
        assert_eq!(
            maintained[code]["figures"]["outcomes"][2].as_u64().unwrap(),
            recomputed[code].outcomes[2],
            "{code}"
        );
    }
    assert_eq!(recomputed["430503001001"].outcomes[2], 0);
    assert_eq!(recomputed[target].outcomes[2], 1);
    // w001's next pull withdraws the person; the new community's worker receives them.
    let page = api.pull_page(&w1, cursor, 500).await;
    assert_eq!(page.removed, vec![p.person.id]);
    assert!(page.records.iter().all(|r| r.person.id != p.person.id));
    let owner = api.server.state.db.assignments(&id).await.unwrap();
    let other = &owner.iter().find(|(c, _)| c == target).unwrap().1;
    let w2 = api.login(other).await;
    let got = api.pull_all(&w2).await;
    assert_eq!(
        got[&p.person.id].answers["outcome"],
        Value::text("not_found"),
        "the record travels with the person"
    );
}
both!(roster_move_recounts_and_withdraws);

/// Hole 3: a mutation ID reused for other content (or by another user) is refused, not
/// answered with the first mutation's result.
async fn reused_mutation_id_is_refused(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let recs = api.pull_all(&w).await;
    let p = recs.values().next().unwrap();
    let m = edit(p, &[("ethnicity", t("han"))], now());
    let first = api.push(&w, vec![m.clone()]).await;
    assert_eq!(first.results[0].status, MutationStatus::Applied);
    let mut other = edit(p, &[("ethnicity", t("miao"))], now());
    other.id = m.id;
    let r = api.push(&w, vec![other]).await;
    assert_eq!(r.results[0].status, MutationStatus::Rejected);
    assert_eq!(
        r.results[0].code,
        Some(doorstep_shared::errors::ErrorCode::MutationIdReused)
    );
    // The same content re-sent is still answered as before.
    assert_eq!(api.push(&w, vec![m.clone()]).await.results, first.results);
    // Another user re-sending the same mutation does not get it either.
    let sup = api.login("sup01").await;
    let r = api.push(&sup, vec![m]).await;
    assert_eq!(
        r.results[0].code,
        Some(doorstep_shared::errors::ErrorCode::MutationIdReused)
    );
    let now_state = &api.pull_all(&w).await[&p.person.id];
    assert_eq!(now_state.answers["ethnicity"], Value::text("han"));
    assert_eq!(api.server.state.db.mutation_count().await.unwrap(), 1);
}
both!(reused_mutation_id_is_refused);

/// Hole 4: a resolution's value passes the same form check as a push's.
async fn resolution_value_is_checked(b: Backend) {
    let api = spawn(b).await;
    let a = api.login("w001").await;
    let bb = api.login("w001").await;
    let sup = api.login("sup01").await;
    let recs = api.pull_all(&a).await;
    let p = recs.values().next().unwrap();
    api.push(
        &a,
        vec![edit(p, &[("marital_status", t("married"))], now())],
    )
    .await;
    let r = api
        .push(
            &bb,
            vec![edit(p, &[("marital_status", t("divorced"))], now())],
        )
        .await;
    assert_eq!(r.results[0].items["marital_status"], ItemOutcome::Conflict);
    let path = format!("/api/v1/conflicts/{}/marital_status/resolve", p.person.id);
    for bad in [
        json!({"value": "spaceship"}),
        json!({"value": 42}),
        json!({"value": ["x"]}),
    ] {
        let r = api.post(&sup, &path, bad.clone()).await;
        assert_eq!(r.status(), 422, "{bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_value");
    }
    let s = &api.pull_all(&sup).await[&p.person.id];
    assert!(s.conflicts.contains_key("marital_status"), "still open");
    let r = api.post(&sup, &path, json!({"value": "married"})).await;
    assert_eq!(r.status(), 200);
}
both!(resolution_value_is_checked);

/// Hole 5: on SQLite a commit is durable before the push is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_commits_are_durable() {
    let api = spawn(Backend::Sqlite).await;
    let pool = api.server.state.db.pool();
    // Every pooled connection: synchronous = FULL (2), journal in WAL.
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(pool.acquire().await.unwrap());
    }
    for c in &mut conns {
        let sync: i64 = sqlx::Row::get(
            &sqlx::query("PRAGMA synchronous")
                .fetch_one(&mut **c)
                .await
                .unwrap(),
            0,
        );
        assert_eq!(sync, 2, "synchronous = FULL");
    }
}

/// Hole 9: an edit of an item already in conflict always moves the record, and every phone's
/// view equals the server's after a full sync — also while the conflict is open.
async fn conflict_join_moves_the_record(b: Backend) {
    let api = spawn(b).await;
    let a = api.login("w001").await;
    let bb = api.login("w001").await;
    let sup = api.login("sup01").await;
    let (recs, cursor_b) = api.pull_from(&bb, 0).await;
    let p = recs
        .values()
        .find(|r| r.person.community.as_str() == "430503001001")
        .unwrap()
        .clone();
    let hs = |n: i64| Some(Value::Int(n));
    api.push(
        &a,
        vec![edit(&p, &[("household_size", hs(3))], now() - 3000)],
    )
    .await;
    let r = api
        .push(
            &sup,
            vec![edit(&p, &[("household_size", hs(5))], now() - 2000)],
        )
        .await;
    assert_eq!(r.results[0].items["household_size"], ItemOutcome::Conflict);
    let v_before = api.pull_all(&sup).await[&p.person.id].version;
    // Phone B of w001, from an old base, sends a value already among the candidates.
    let r = api
        .push(
            &bb,
            vec![edit(&p, &[("household_size", hs(3))], now() - 1000)],
        )
        .await;
    assert_eq!(r.results[0].items["household_size"], ItemOutcome::Conflict);
    assert!(r.results[0].version > v_before, "the record moved");
    let page = api.pull_page(&bb, cursor_b, 500).await;
    let server = api
        .server
        .state
        .db
        .record(&p.person.id.to_string())
        .await
        .unwrap()
        .unwrap();
    let seen = page
        .records
        .iter()
        .find(|r| r.person.id == p.person.id)
        .unwrap();
    assert_eq!(seen.answers, server.doc.answers);
    assert_eq!(seen.conflicts, server.doc.conflicts);
    assert_eq!(
        server.doc.answers["household_size"],
        Value::Int(5),
        "supervisor provisional"
    );
    // One candidate per writer (user and device): the supervisor's newer value replaces theirs.
    let s = &api.pull_all(&sup).await[&p.person.id];
    api.push(&sup, vec![edit(s, &[("household_size", hs(6))], now())])
        .await;
    let server = api
        .server
        .state
        .db
        .record(&p.person.id.to_string())
        .await
        .unwrap()
        .unwrap();
    let c = &server.doc.conflicts["household_size"];
    assert_eq!(server.doc.answers["household_size"], Value::Int(6));
    assert_eq!(
        c.candidates.iter().filter(|c| c.by.user == "sup01").count(),
        1,
        "{c:?}"
    );
}
both!(conflict_join_moves_the_record);

/// Hole 7: a second writer on the same database (a CLI import next to `serve`: its own pool and
/// its own process lock) waits its turn; nobody gets SQLITE_BUSY or a 500.
async fn second_writer_waits_its_turn(b: Backend) {
    let api = spawn(b).await;
    let other = doorstep_server::build(&doorstep_server::Config::new(
        Some(api.server.database_url.clone()),
        std::path::PathBuf::new(),
    ))
    .await
    .unwrap();
    let campaign = other.db.current_campaign().await.unwrap().unwrap();
    let keys = other.db.person_keys(&campaign.id).await.unwrap();
    let entries = newcomers(77, 1500, "430503001099");
    let persons: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.to_person(campaign.id, &keys),
                e.street_name.clone(),
                e.community_name.clone(),
            )
        })
        .collect();
    let w = api.login("w001").await;
    let recs: Vec<_> = api.pull_all(&w).await.into_values().collect();
    let importer = tokio::spawn(async move {
        for _ in 0..3 {
            other
                .db
                .import_persons(&campaign, &persons, &|_, _| {}, &|_| {
                    doorstep_server::db::audit::Entry::by("test", "import_roster", "")
                })
                .await
                .unwrap();
        }
    });
    let mut statuses = Vec::new();
    for (i, r) in recs.iter().take(60).enumerate() {
        let resp = api
            .http
            .post(api.url("/api/v1/sync/push"))
            .bearer_auth(&w.token)
            .json(&doorstep_shared::sync::PushRequest::new(vec![edit(
                r,
                &[("household_size", Some(Value::Int(1 + (i as i64 % 9))))],
                now(),
            )]))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    importer.await.unwrap();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}
both!(second_writer_waits_its_turn);

/// Hole 8: forty large pushes at once must not starve readers of connections.
async fn readers_never_queue_behind_writers(b: Backend) {
    let api = std::sync::Arc::new(spawn(b).await);
    let admin = api.login("admin").await;
    let recs: Vec<_> = api.pull_all(&admin).await.into_values().collect();
    let recs = std::sync::Arc::new(recs);
    let reader = api.login("sup01").await;
    let mut pushers = Vec::new();
    for k in 0..40usize {
        let api = api.clone();
        let admin = admin.clone();
        let recs = recs.clone();
        pushers.push(tokio::spawn(async move {
            let ms: Vec<_> = (0..2000)
                .map(|i| {
                    let r = &recs[(k * 2000 + i) % recs.len()];
                    edit(
                        r,
                        &[("household_size", Some(Value::Int(1 + ((k + i) as i64 % 9))))],
                        now(),
                    )
                })
                .collect();
            let resp = api
                .http
                .post(api.url("/api/v1/sync/push"))
                .bearer_auth(&admin.token)
                .json(&doorstep_shared::sync::PushRequest::new(ms))
                .timeout(Duration::from_secs(600))
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }));
    }
    let mut lat = Vec::new();
    let mut errors = Vec::new();
    let started = Instant::now();
    while pushers.iter().any(|p| !p.is_finished()) && started.elapsed() < Duration::from_secs(600) {
        let t0 = Instant::now();
        let r = api.get(&reader, "/api/v1/progress").await;
        lat.push(t0.elapsed());
        if r.status() != 200 {
            errors.push(r.status().as_u16());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut push_status = Vec::new();
    for p in pushers {
        push_status.push(p.await.unwrap());
    }
    assert!(
        lat.len() >= 10,
        "the reader read while the pushes ran: {} reads",
        lat.len()
    );
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q) as usize];
    println!(
        "{b:?}: 40 pushes × 2,000 mutations in {:.1} s; overview reader: {} reads, p50 {:?}, p99 {:?}, max {:?}",
        started.elapsed().as_secs_f64(),
        lat.len(),
        p(0.5),
        p(0.99),
        lat.last().unwrap()
    );
    assert!(errors.is_empty(), "reader errors: {errors:?}");
    assert!(push_status.iter().all(|s| *s == 200), "{push_status:?}");
    assert!(p(0.99) < Duration::from_secs(5), "reader p99 {:?}", p(0.99));
}
both!(readers_never_queue_behind_writers);

/// Hole 6: `demo` on a database holding anything but the demo refuses and deletes nothing;
/// `--reset` starts a demo database afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_never_deletes_a_district() {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let state = doorstep_server::build(&doorstep_server::Config::new(None, dir.path().into()))
        .await
        .unwrap();
    state
        .db
        .create_user(
            "admin",
            "管理员",
            doorstep_shared::sync::Role::Admin,
            None,
            "x",
            &doorstep_server::db::audit::Entry::by("test", "user_created", "admin"),
        )
        .await
        .unwrap();
    state.db.pool().close().await;
    drop(state);
    for args in [
        vec!["doorstep-server", "--data-dir", &data, "demo", "--no-serve"],
        vec![
            "doorstep-server",
            "--data-dir",
            &data,
            "demo",
            "--no-serve",
            "--reset",
        ],
    ] {
        let err = doorstep_server::cli::run(doorstep_server::cli::Cli::parse_from(args))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("deleted nothing"), "{err}");
    }
    let state = doorstep_server::build(&doorstep_server::Config::new(None, dir.path().into()))
        .await
        .unwrap();
    assert!(
        state.db.user_by_name("admin").await.unwrap().is_some(),
        "still there"
    );
    state.db.pool().close().await;
    drop(state);
    // A demo database: kept without --reset, started afresh with it.
    let demo_dir = tempfile::tempdir().unwrap();
    let demo_data = demo_dir.path().to_str().unwrap().to_string();
    for args in [
        vec![
            "doorstep-server",
            "--data-dir",
            &demo_data,
            "demo",
            "--no-serve",
            "--seed",
            "3",
        ],
        vec![
            "doorstep-server",
            "--data-dir",
            &demo_data,
            "demo",
            "--no-serve",
        ],
        vec![
            "doorstep-server",
            "--data-dir",
            &demo_data,
            "demo",
            "--no-serve",
            "--reset",
        ],
    ] {
        doorstep_server::cli::run(doorstep_server::cli::Cli::parse_from(args))
            .await
            .unwrap();
    }
}

/// A query parameter the route cannot read is a 400 with the stable JSON error body (it was a
/// plain-text body, off the OpenAPI document).
async fn bad_query_parameter_is_a_json_error(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    for path in [
        "/api/v1/sync/pull?cursor=-1",
        "/api/v1/sync/pull?limit=many",
        "/api/v1/progress?year=last",
        "/api/v1/report?year=1e3",
        "/api/v1/export/progress.csv?year=x",
        "/api/v1/admin/audit?limit=all",
    ] {
        let r = api.get(&admin, path).await;
        assert_eq!(r.status(), 400, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_query", "{path}");
    }
}
both!(bad_query_parameter_is_a_json_error);
