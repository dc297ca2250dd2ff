//! The authorization matrix, generated from the route table (`http::openapi::ROUTES`): every API
//! route × every caller (nobody, a worker, a street supervisor, the district admin) × a person of
//! the caller's own scope and one of another street. A route missing from [`EXPECT`] (or listed
//! there but gone from the table) fails the test by name.
//!
//! A refused caller gets 401 (nobody) or 403 (a role that may not); an allowed one gets anything
//! but those; a person outside a worker's or supervisor's scope is 404, exactly like an unknown
//! one. Bodies are valid, so the role check is what answers; state-changing calls aim at a
//! throwaway account, a foreign community or a year that does not exist.

use std::collections::BTreeSet;

use doorstep_server::http::openapi::ROUTES;
use doorstep_server::testing::Backend;
use serde_json::{Value as Json, json};

use crate::helpers::{Api, Session, spawn};

/// Who may call a route.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum May {
    /// No sign-in needed.
    Public,
    /// Any signed-in role (each within their scope).
    Any,
    /// Supervisors and the admin.
    Reviewers,
    /// The district admin only.
    Admin,
}

/// (method, path, who may, the route names a person (scope is checked)).
const EXPECT: &[(&str, &str, May, bool)] = &[
    ("get", "/healthz", May::Public, false),
    ("get", "/api/openapi.json", May::Public, false),
    ("get", "/metrics", May::Admin, false),
    ("post", "/api/v1/auth/login", May::Public, false),
    ("post", "/api/v1/auth/logout", May::Any, false),
    ("post", "/api/v1/auth/password", May::Any, false),
    (
        "post",
        "/api/v1/admin/users/{username}/deactivate",
        May::Admin,
        false,
    ),
    (
        "post",
        "/api/v1/admin/users/{username}/reactivate",
        May::Admin,
        false,
    ),
    (
        "post",
        "/api/v1/admin/users/{username}/password",
        May::Admin,
        false,
    ),
    ("post", "/api/v1/sync/push", May::Any, false),
    ("get", "/api/v1/sync/pull", May::Any, false),
    ("get", "/api/v1/forms/{version}", May::Any, false),
    ("get", "/api/v1/progress", May::Any, false),
    ("get", "/api/v1/report", May::Any, false),
    ("get", "/api/v1/analysis", May::Reviewers, false),
    (
        "get",
        "/api/v1/analysis/actions/{list}",
        May::Reviewers,
        false,
    ),
    ("get", "/api/v1/records", May::Any, false),
    ("get", "/api/v1/records/{person}", May::Any, true),
    (
        "post",
        "/api/v1/records/{person}/review",
        May::Reviewers,
        true,
    ),
    ("get", "/api/v1/review/stages", May::Any, false),
    ("get", "/api/v1/review/warnings", May::Reviewers, false),
    ("get", "/api/v1/samples", May::Reviewers, false),
    ("post", "/api/v1/samples/draw", May::Admin, false),
    ("post", "/api/v1/samples/{person}/check", May::Admin, true),
    ("get", "/api/v1/follow-ups", May::Reviewers, false),
    ("get", "/api/v1/follow-ups.xlsx", May::Reviewers, false),
    ("post", "/api/v1/follow-ups/{person}", May::Admin, true),
    ("get", "/api/v1/conflicts", May::Reviewers, false),
    (
        "post",
        "/api/v1/conflicts/{person}/{item}/resolve",
        May::Reviewers,
        true,
    ),
    ("post", "/api/v1/admin/roster", May::Admin, false),
    ("get", "/api/v1/admin/users", May::Admin, false),
    ("post", "/api/v1/admin/users", May::Admin, false),
    ("get", "/api/v1/admin/assignments", May::Reviewers, false),
    (
        "delete",
        "/api/v1/admin/assignments/{community}",
        May::Admin,
        false,
    ),
    ("put", "/api/v1/admin/assignments", May::Admin, false),
    ("get", "/api/v1/admin/devices", May::Admin, false),
    ("get", "/api/v1/admin/audit", May::Admin, false),
    ("get", "/api/v1/admin/audit/verify", May::Admin, false),
    ("get", "/api/v1/admin/campaigns", May::Reviewers, false),
    ("post", "/api/v1/admin/campaigns", May::Admin, false),
    (
        "post",
        "/api/v1/admin/campaigns/{year}/close",
        May::Admin,
        false,
    ),
    ("get", "/api/v1/admin/roster/decisions", May::Admin, false),
    (
        "post",
        "/api/v1/admin/roster/decisions/{person}",
        May::Admin,
        true,
    ),
    (
        "post",
        "/api/v1/admin/devices/{id}/revoke",
        May::Admin,
        false,
    ),
    ("get", "/api/v1/export/{file}", May::Reviewers, false),
    ("get", "/api/v1/handover/{file}", May::Reviewers, false),
    (
        "post",
        "/api/v1/handover/keyed/{person}",
        May::Reviewers,
        true,
    ),
];

/// The throwaway account the admin's state-changing calls aim at.
const SPARE: &str = "zz_matrix";

struct Targets {
    spare_device: String,
    foreign_community: String,
}

fn body(path: &str, t: &Targets) -> Option<Json> {
    Some(match path {
        "/api/v1/auth/login" => {
            json!({"username": SPARE, "password": doorstep_server::seed::DEMO_PASSWORD})
        }
        "/api/v1/auth/logout" => json!({}),
        "/api/v1/auth/password" => json!({"old_password": doorstep_server::seed::DEMO_PASSWORD,
                                          "new_password": "matrix-Passw0rd-2026"}),
        "/api/v1/admin/users/{username}/password" => json!({"password": "matrix-Passw0rd-2026"}),
        "/api/v1/sync/push" => {
            json!({"protocol": doorstep_shared::sync::PROTOCOL_VERSION, "mutations": []})
        }
        "/api/v1/records/{person}/review" => json!({"decision": "return", "comment": "matrix"}),
        "/api/v1/samples/draw" => json!({"rate_permille": 1, "seed": 1}),
        "/api/v1/samples/{person}/check" => {
            json!({"checker": "matrix", "method": "call", "reached": false, "confirmed": false})
        }
        "/api/v1/follow-ups/{person}" => json!({"decision": "kept", "decided_on": "2026-10-01"}),
        "/api/v1/conflicts/{person}/{item}/resolve" => json!({"value": null}),
        "/api/v1/admin/users" => {
            json!({"username": SPARE, "display_name": "matrix", "role": "worker",
                                        "password": doorstep_server::seed::DEMO_PASSWORD})
        }
        "/api/v1/admin/assignments" => json!({"community": t.foreign_community, "username": SPARE}),
        "/api/v1/admin/campaigns" => {
            json!({"district": "430503", "district_name": "大祥区", "year": 1999})
        }
        "/api/v1/admin/roster/decisions/{person}" => {
            json!({"decision": "keep", "reason": "matrix"})
        }
        "/api/v1/handover/keyed/{person}" => json!({"keyed": false}),
        _ => return None,
    })
}

fn fill(path: &str, person: &str, t: &Targets) -> String {
    let p = path
        .replace("{person}", person)
        .replace("{item}", "phone")
        .replace("{username}", SPARE)
        .replace("{version}", "2021.1")
        .replace("{list}", "device")
        .replace("{community}", &t.foreign_community)
        .replace("{year}", "1999")
        .replace("{id}", &t.spare_device);
    match path {
        "/api/v1/export/{file}" => p.replace("{file}", "progress.csv"),
        "/api/v1/handover/{file}" => p.replace("{file}", "coded.csv"),
        "/api/v1/sync/pull" => format!("{p}?cursor=0&limit=1"),
        "/api/v1/admin/roster" => format!("{p}?filename=empty.csv"),
        _ => p,
    }
}

async fn call(
    api: &Api,
    who: Option<&Session>,
    method: &str,
    path: &str,
    body: Option<Json>,
) -> u16 {
    let url = api.url(path);
    let mut rb = match method {
        "get" => api.http.get(url),
        "post" => api.http.post(url),
        "put" => api.http.put(url),
        "delete" => api.http.delete(url),
        other => panic!("method {other}"),
    };
    if let Some(s) = who {
        rb = rb.bearer_auth(&s.token);
    }
    rb = match body {
        Some(b) => rb.json(&b),
        None if method == "post" => rb.header("content-type", "text/csv").body(""),
        None => rb,
    };
    rb.send().await.unwrap().status().as_u16()
}

async fn matrix(b: Backend) {
    let api = spawn(b).await;
    let listed: BTreeSet<(&str, &str)> = ROUTES.iter().map(|(m, p, ..)| (*m, *p)).collect();
    let expected: BTreeSet<(&str, &str)> = EXPECT.iter().map(|(m, p, ..)| (*m, *p)).collect();
    let missing: Vec<_> = listed.difference(&expected).collect();
    let gone: Vec<_> = expected.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes without an authorization expectation: {missing:?}"
    );
    assert!(
        gone.is_empty(),
        "expectations for routes that no longer exist: {gone:?}"
    );

    let admin = api.login("admin").await;
    let r = api
        .post(
            &admin,
            "/api/v1/admin/users",
            body(
                "/api/v1/admin/users",
                &Targets {
                    spare_device: String::new(),
                    foreign_community: String::new(),
                },
            )
            .unwrap(),
        )
        .await;
    assert!(r.status().is_success(), "the spare account: {}", r.status());
    let spare = api.login(SPARE).await;
    let worker = api.login("w001").await;
    let supervisor = api.login("sup01").await;
    let area = supervisor
        .login
        .account
        .area
        .clone()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let own = api.pull_all(&worker).await.into_values().next().unwrap();
    assert!(
        own.person.community.to_string().starts_with(&area),
        "w001 works in sup01's street"
    );
    let all: Vec<Json> = api
        .get(&admin, "/api/v1/records")
        .await
        .json()
        .await
        .unwrap();
    let foreign = all
        .iter()
        .find(|l| !l["community"].as_str().unwrap().starts_with(&area))
        .expect("a person of another street");
    let t = Targets {
        spare_device: spare.device.to_string(),
        foreign_community: foreign["community"].as_str().unwrap().to_string(),
    };
    let own_id = own.person.id.to_string();
    let foreign_id = foreign["person"].as_str().unwrap().to_string();

    // Sessions end last: sign-out and a password change come after everything else.
    let mut order: Vec<&(&str, &str, May, bool)> = EXPECT.iter().collect();
    order.sort_by_key(|(_, p, ..)| match *p {
        "/api/v1/auth/logout" => 1,
        "/api/v1/auth/password" => 2,
        _ => 0,
    });
    let callers: [(&str, Option<&Session>); 4] = [
        ("nobody", None),
        ("worker", Some(&worker)),
        ("supervisor", Some(&supervisor)),
        ("admin", Some(&admin)),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path, may, scoped) in order {
        for (name, who) in callers {
            let allowed = match (may, name) {
                (May::Public, _) => true,
                (_, "nobody") => false,
                (May::Any, _) => true,
                (May::Reviewers, n) => n != "worker",
                (May::Admin, n) => n == "admin",
            };
            // A password change needs a live session: sign-out came just before.
            let fresh = match (*path, name) {
                ("/api/v1/auth/password", "worker") => Some(api.login("w001").await),
                ("/api/v1/auth/password", "supervisor") => Some(api.login("sup01").await),
                ("/api/v1/auth/password", "admin") => Some(api.login("admin").await),
                _ => None,
            };
            let who = fresh.as_ref().or(who);
            let status = call(&api, who, method, &fill(path, &own_id, &t), body(path, &t)).await;
            checked += 1;
            let ok = if allowed {
                status != 401 && status != 403 && status < 500
            } else if name == "nobody" {
                status == 401
            } else {
                status == 403
            };
            if !ok {
                failures.push(format!(
                    "{method} {path} as {name}: {status} (allowed: {allowed})"
                ));
            }
            // Another street's person: out of scope looks unknown (404) to a worker and a supervisor.
            if *scoped && allowed && (name == "worker" || name == "supervisor") {
                let status = call(
                    &api,
                    who,
                    method,
                    &fill(path, &foreign_id, &t),
                    body(path, &t),
                )
                .await;
                checked += 1;
                if status != 404 {
                    failures.push(format!(
                        "{method} {path} as {name} on another street's person: {status}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 4 * EXPECT.len(), "{checked}");
}
crate::both!(matrix);

/// The console's pages (GET; sign-out is a POST the browser tests cover): nobody is sent to the
/// sign-in page, a worker is refused, a supervisor sees their street only, the admin all.
const PAGES: &[(&str, May, bool)] = &[
    ("/console", May::Reviewers, false),
    ("/console/community/{community}", May::Reviewers, true),
    ("/console/analysis", May::Reviewers, false),
    ("/console/conflicts", May::Reviewers, false),
    ("/console/review", May::Reviewers, false),
    ("/console/admin", May::Admin, false),
    ("/console/campaigns", May::Reviewers, false),
    ("/console/audit", May::Admin, false),
    ("/console/record/{person}", May::Reviewers, true),
    ("/console/exports", May::Reviewers, false),
    ("/console/handover", May::Reviewers, false),
    ("/console/login", May::Public, false),
];

async fn console_matrix(b: Backend) {
    let api = spawn(b).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let admin = api.login("admin").await;
    let worker = api.login("w001").await;
    let supervisor = api.login("sup01").await;
    let area = supervisor
        .login
        .account
        .area
        .clone()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let own = api.pull_all(&worker).await.into_values().next().unwrap();
    let all: Vec<Json> = api
        .get(&admin, "/api/v1/records")
        .await
        .json()
        .await
        .unwrap();
    let foreign = all
        .iter()
        .find(|l| !l["community"].as_str().unwrap().starts_with(&area))
        .unwrap();
    let fill = |page: &str, own_side: bool| {
        let (person, community) = if own_side {
            (own.person.id.to_string(), own.person.community.to_string())
        } else {
            (
                foreign["person"].as_str().unwrap().to_string(),
                foreign["community"].as_str().unwrap().to_string(),
            )
        };
        page.replace("{person}", &person)
            .replace("{community}", &community)
    };
    let get = |path: String, who: Option<&Session>| {
        let mut rb = http.get(api.url(&path));
        if let Some(s) = who {
            rb = rb.bearer_auth(&s.token);
        }
        async move {
            let r = rb.send().await.unwrap();
            let to_login = r
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.starts_with("/console/login"));
            (r.status().as_u16(), to_login)
        }
    };
    let mut failures = Vec::new();
    for (page, may, scoped) in PAGES {
        for (name, who) in [
            ("nobody", None),
            ("worker", Some(&worker)),
            ("supervisor", Some(&supervisor)),
            ("admin", Some(&admin)),
        ] {
            let allowed = match (may, name) {
                (May::Public, _) => true,
                (_, "nobody") => false,
                (May::Any, _) => true,
                (May::Reviewers, n) => n != "worker",
                (May::Admin, n) => n == "admin",
            };
            let (status, to_login) = get(fill(page, true), who).await;
            let ok = if allowed {
                // The sign-in page sends a signed-in user on to the console.
                status == 200 || (*page == "/console/login" && status == 303)
            } else if name == "nobody" {
                to_login
            } else {
                status == 403
            };
            if !ok {
                failures.push(format!("{page} as {name}: {status} (allowed: {allowed})"));
            }
            if *scoped && name == "supervisor" {
                let (status, _) = get(fill(page, false), who).await;
                // A person outside the street looks unknown (404); a community code is public
                // (a statistical division code), so its page may say 403.
                let refused = status == 404 || (page.contains("{community}") && status == 403);
                if !refused {
                    failures.push(format!("{page} as {name} in another street: {status}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
crate::both!(console_matrix);
