//! The supervisor console's pages through the router: sign-in by form and cookie, redirects when
//! signed out, 403 pages by role and scope, assets, the live event stream, sign-out.

use std::time::Duration;

use doorstep_server::testing::Backend;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};

use crate::helpers::{Api, spawn};

/// An `application/x-www-form-urlencoded` body.
fn form(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn post_form(api: &Api, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(api.url(path))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(fields))
        .send()
        .await
        .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the console's form; returns the `Cookie` header value.
async fn sign_in(api: &Api, user: &str) -> String {
    let r = post_form(
        api,
        "/console/login",
        &[
            ("username", user),
            ("password", doorstep_server::seed::DEMO_PASSWORD),
            ("next", "/console/exports"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in {user}");
    assert_eq!(r.headers()[LOCATION], "/console/exports");
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    cookie.split(';').next().unwrap().to_string()
}

async fn get(api: &Api, cookie: Option<&str>, path: &str) -> reqwest::Response {
    let mut req = client().get(api.url(path));
    if let Some(c) = cookie {
        req = req.header(reqwest::header::COOKIE, c);
    }
    req.send().await.unwrap()
}

async fn community_codes(api: &Api, user: &str) -> Vec<String> {
    let s = api.login(user).await;
    let p = api.progress(&s).await;
    p["communities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_answer_a_supervisor_and_redirect_when_signed_out() {
    let api = spawn(Backend::Sqlite).await;
    // Signed out: the root and every page lead to the sign-in page, which names the way back.
    let r = get(&api, None, "/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/console");
    for path in [
        "/console",
        "/console/conflicts",
        "/console/exports",
        "/console/admin",
    ] {
        let r = get(&api, None, path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        let to = r.headers()[LOCATION].to_str().unwrap().to_string();
        assert_eq!(to, format!("/console/login?next={path}"));
    }
    let r = get(&api, None, "/console/login").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("name=\"password\""));

    let sup = sign_in(&api, "sup01").await;
    let mine = community_codes(&api, "sup01").await;
    let community = format!("/console/community/{}", mine[0]);
    for path in [
        "/console",
        "/console/conflicts",
        "/console/exports",
        community.as_str(),
    ] {
        let r = get(&api, Some(&sup), path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(r.headers()[CACHE_CONTROL], "no-store", "{path}");
        assert!(r.headers().contains_key("content-security-policy"));
        let body = r.text().await.unwrap();
        assert!(body.contains("退出登录"), "{path}: a sign-out");
        assert!(
            !body.contains("/console/admin"),
            "{path}: no admin entry for a supervisor"
        );
    }
    // The overview shows the supervisor's street only, with the outcome labels.
    let body = get(&api, Some(&sup), "/console")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("城南街道"), "the street");
    assert!(!body.contains("城西街道"), "not another street");
    for label in [
        "入户调查",
        "电话调查",
        "查无此人",
        "已搬迁",
        "空挂户",
        "外出",
        "注销",
    ] {
        assert!(body.contains(label), "{label}");
    }
    // Scope and role: another street's community and the admin page are refused politely.
    let all = community_codes(&api, "admin").await;
    let other = all.iter().find(|c| !mine.contains(c)).unwrap();
    let r = get(&api, Some(&sup), &format!("/console/community/{other}")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("不在您的负责范围"));
    let r = get(&api, Some(&sup), "/console/admin").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("仅供区残联管理员"));
    let unknown = format!("/console/community/{}999", &mine[0][..9]);
    let r = get(&api, Some(&sup), &unknown).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = get(&api, Some(&sup), "/console/nothing-here").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The admin sees everything, the admin page too.
    let admin = sign_in(&api, "admin").await;
    let r = get(&api, Some(&admin), "/console/admin").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(body.contains("import-form") && body.contains("keyed-form"));
    let r = get(&api, Some(&admin), &format!("/console/community/{other}")).await;
    assert_eq!(r.status(), StatusCode::OK);

    // The console's cookie also opens the JSON API for the page script.
    let r = get(&api, Some(&sup), "/api/v1/progress").await;
    assert_eq!(r.status(), StatusCode::OK);

    // English on request, remembered in a cookie.
    let r = get(&api, Some(&sup), "/console?lang=en").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("doorstep_lang=en")
    );
    assert!(r.text().await.unwrap().contains("Streets and townships"));
    let both = format!("{sup}; doorstep_lang=en");
    let r = get(&api, Some(&both), "/console/exports").await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Exports and the annual report")
    );

    // Signing out ends the session.
    let r = client()
        .post(api.url("/console/logout"))
        .header(reqwest::header::COOKIE, &sup)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = get(&api, Some(&sup), "/console").await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the old cookie no longer works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_gets_a_polite_403_and_a_wrong_password_the_form_again() {
    let api = spawn(Backend::Sqlite).await;
    let worker = sign_in(&api, "w001").await;
    for path in [
        "/console",
        "/console/conflicts",
        "/console/exports",
        "/console/admin",
    ] {
        let r = get(&api, Some(&worker), path).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = r.text().await.unwrap();
        assert!(body.contains("您的账号无权查看此页面"), "{path}");
        assert!(
            body.contains("/console/logout"),
            "{path}: a way to sign out"
        );
    }
    let r = post_form(
        &api,
        "/console/login",
        &[("username", "sup01"), ("password", "nope")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());
    assert!(r.text().await.unwrap().contains("用户名或密码错误"));
    // No open redirect after signing in.
    let r = post_form(
        &api,
        "/console/login",
        &[
            ("username", "sup01"),
            ("password", doorstep_server::seed::DEMO_PASSWORD),
            ("next", "//evil.example/"),
        ],
    )
    .await;
    assert_eq!(r.headers()[LOCATION], "/console");
    // Another site cannot sign a browser in (login CSRF).
    let r = client()
        .post(api.url("/console/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(form(&[
            ("username", "sup01"),
            ("password", doorstep_server::seed::DEMO_PASSWORD),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get(SET_COOKIE).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_served_with_a_long_cache() {
    let api = spawn(Backend::Sqlite).await;
    for (file, needle) in [
        ("chart.js", "Chart.js v4"),
        ("console.js", "EventSource"),
        ("console.css", "@media"),
    ] {
        let r = get(&api, None, &format!("/console/assets/{file}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{file}");
        let mime = r.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
        assert!(
            mime.starts_with(if file.ends_with(".css") {
                "text/css"
            } else {
                "text/javascript"
            }),
            "{file}: {mime}"
        );
        assert!(
            r.headers()[CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("max-age=31536000")
        );
        assert!(r.text().await.unwrap().contains(needle), "{file}");
    }
    let r = get(&api, None, "/console/assets/secret.txt").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Reads the event stream until `what` appears.
async fn read_until(resp: &mut reqwest::Response, seen: &mut String, what: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains(what) {
            let chunk = resp.chunk().await.unwrap().expect("the stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what:?} in {seen:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_ticks_once_per_burst_of_changes() {
    let api = spawn(Backend::Sqlite).await;
    let r = get(&api, None, "/console/events").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let sup = sign_in(&api, "sup01").await;
    let mut r = get(&api, Some(&sup), "/console/events").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut seen = String::new();
    read_until(&mut r, &mut seen, "event: ready").await;
    // A burst of changes gives one event.
    for _ in 0..5 {
        api.server.state.notify();
    }
    read_until(&mut r, &mut seen, "event: change").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    api.server.state.notify();
    let mut more = String::new();
    read_until(&mut r, &mut more, "event: change").await;
    assert_eq!(seen.matches("event: change").count(), 1, "{seen}");
}

/// The admin's audit page: the trail with its chain check, filters, a CSV link; nobody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_reads_the_audit_trail_in_the_console() {
    let api = spawn(doorstep_server::testing::Backend::Sqlite).await;
    let admin = sign_in(&api, "admin").await;
    let _ = api.try_login("w001", "wrong-password", None).await;
    let r = get(&api, Some(&admin), "/console/audit").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("data-intact=\"true\""),
        "the chain checks out"
    );
    assert!(html.contains("data-action=\"sign_in_failed\""));
    assert!(html.contains("data-action=\"sign_in\""));
    let r = get(&api, Some(&admin), "/console/audit?action=sign_in_failed").await;
    let html = r.text().await.unwrap();
    assert!(html.contains("data-action=\"sign_in_failed\""));
    assert!(!html.contains("data-action=\"sign_in\""), "filtered");
    assert!(html.contains("format=csv"));
    let sup = sign_in(&api, "sup01").await;
    assert_eq!(
        get(&api, Some(&sup), "/console/audit").await.status(),
        StatusCode::FORBIDDEN
    );
}
