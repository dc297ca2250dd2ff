use doorstep_server::http::openapi::ROUTES;
use doorstep_server::testing::Backend;
use doorstep_shared::sync::MutationStatus;

use crate::both;
use crate::helpers::{edit, now, spawn, t};

fn concrete(path: &str) -> String {
    path.replace("{version}", "2021.1")
        .replace("{person}", "00000000-0000-0000-0000-000000000000")
        .replace("{item}", "outcome")
        .replace("{id}", "00000000-0000-0000-0000-000000000000")
        .replace("{file}", "progress.csv")
}

async fn scope_enforced_on_every_route(b: Backend) {
    let api = spawn(b).await;
    // Without a token every protected route answers 401 with the stable body.
    for (method, path, _, auth) in ROUTES {
        let req = api.http.request(
            method.to_uppercase().parse().unwrap(),
            api.url(&concrete(path)),
        );
        let r = req
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        assert_ne!(
            body["error"]["message"], "没有这个页面或接口 / no such page or API route",
            "{method} {path} is documented but not routed"
        );
        assert_ne!(status, 405, "{method} {path}");
        if *auth {
            assert_eq!(status, 401, "{method} {path} without a token");
            assert_eq!(body["error"]["code"], "missing_token");
        }
    }
    let w1 = api.login("w001").await;
    let w2 = api.login("w002").await;
    let mine = api.pull_all(&w1).await;
    let assigned: Vec<String> = w1
        .login
        .account
        .communities
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        mine.values()
            .all(|r| assigned.contains(&r.person.community.to_string()))
    );
    let theirs = api.pull_all(&w2).await;
    let other = theirs.values().next().unwrap();
    // Writing outside one's communities is refused per mutation, nothing applied.
    let r = api
        .push(&w1, vec![edit(other, &[("outcome", t("phone"))], now())])
        .await;
    assert_eq!(r.results[0].status, MutationStatus::Rejected);
    assert_eq!(
        r.results[0].code,
        Some(doorstep_shared::errors::ErrorCode::OutOfScope)
    );
    assert_eq!(api.server.state.db.mutation_count().await.unwrap(), 0);
    // Reading outside looks like reading a person who does not exist (404: nothing tells
    // whether someone is registered); supervisor/admin routes are 403 for a worker.
    assert_eq!(
        api.get(&w1, &format!("/api/v1/records/{}", other.person.id))
            .await
            .status(),
        404
    );
    assert_eq!(
        api.get(&w1, &format!("/api/v1/records/{}", uuid::Uuid::new_v4()))
            .await
            .status(),
        404
    );
    for path in [
        "/api/v1/conflicts",
        "/api/v1/admin/users",
        "/api/v1/admin/devices",
        "/api/v1/export/records.csv",
    ] {
        assert_eq!(api.get(&w1, path).await.status(), 403, "{path}");
    }
    let r = api
        .post(
            &w1,
            &format!(
                "/api/v1/records/{}/review",
                mine.values().next().unwrap().person.id
            ),
            serde_json::json!({"decision": "approved"}),
        )
        .await;
    assert_eq!(r.status(), 403);
    // A supervisor sees only their street.
    let sup = api.login("sup01").await;
    let street = sup.login.account.area.clone().unwrap().to_string();
    let seen = api.pull_all(&sup).await;
    assert!(
        seen.values()
            .all(|r| r.person.community.as_str().starts_with(&street))
    );
    let far = api.login("sup10").await;
    let far_person = api.pull_all(&far).await.into_values().next().unwrap();
    assert_eq!(
        api.get(&sup, &format!("/api/v1/records/{}", far_person.person.id))
            .await
            .status(),
        404
    );
    let prog = api.progress(&sup).await;
    assert!(
        prog["communities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["code"].as_str().unwrap().starts_with(&street))
    );
}
both!(scope_enforced_on_every_route);

async fn revoked_device_refused(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let admin = api.login("admin").await;
    assert_eq!(api.get(&w, "/api/v1/sync/pull").await.status(), 200);
    let r = api
        .post(
            &admin,
            &format!("/api/v1/admin/devices/{}/revoke", w.device),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = api.get(&w, "/api/v1/sync/pull").await;
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "device_revoked");
    // Signing in again on the lost device is refused too; a new device may sign in.
    let r = api
        .try_login("w001", doorstep_server::seed::DEMO_PASSWORD, Some(w.device))
        .await;
    assert_eq!(r.status(), 401);
    let again = api.login("w001").await;
    assert_eq!(api.get(&again, "/api/v1/sync/pull").await.status(), 200);
    // Wrong password: 401, clear code.
    let r = api.try_login("w001", "nope", None).await;
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_credentials");
}
both!(revoked_device_refused);

async fn bad_input_gets_clear_errors(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let push = |body: String| {
        api.http
            .post(api.url("/api/v1/sync/push"))
            .bearer_auth(&w.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = push("{not json".into()).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_json");
    let r = push(r#"{"protocol": 1}"#.into()).await.unwrap();
    assert_eq!(r.status(), 422);
    let r = push(r#"{"protocol": 99, "mutations": []}"#.into())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let recs = api.pull_all(&w).await;
    let p = recs.values().next().unwrap();
    let many: Vec<_> = (0..2001)
        .map(|_| edit(p, &[("outcome", t("phone"))], now()))
        .collect();
    let r = push(serde_json::to_string(&doorstep_shared::sync::PushRequest::new(many)).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Invalid values are rejected per mutation with the item named.
    let r = api
        .push(
            &w,
            vec![
                edit(
                    p,
                    &[("household_size", Some(doorstep_shared::Value::Int(99)))],
                    now(),
                ),
                edit(p, &[("no_such_item", t("x"))], now()),
                edit(p, &[("outcome", t("flying"))], now()),
            ],
        )
        .await;
    for res in &r.results {
        assert_eq!(res.status, MutationStatus::Rejected, "{res:?}");
        assert_eq!(
            res.code,
            Some(doorstep_shared::errors::ErrorCode::InvalidItem)
        );
    }
    assert!(
        r.results[1]
            .message
            .as_deref()
            .unwrap()
            .contains("no_such_item")
    );
    assert_eq!(
        api.get(&w, "/api/v1/sync/pull?cursor=abc").await.status(),
        400
    );
    assert_eq!(api.get(&w, "/api/v1/nowhere").await.status(), 404);
}
both!(bad_input_gets_clear_errors);
