//! Logs and metrics of a real server process through a field simulation at debug level: every
//! log line of a request carries its request ID, the response echoes it, the separate metrics
//! address answers without a token, and no log line holds a resident's ID number, phone or name.

use std::collections::BTreeSet;
use std::path::PathBuf;

use doorstep_server::testing::{Backend, fresh_url};
use doorstep_tests::field::Field;
use doorstep_tests::server::{Options, ServerProcess};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_field-server"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn debug_logs_of_a_field_run_hold_no_personal_data() {
    let url = fresh_url(Backend::Sqlite);
    ServerProcess::seed_demo(&bin(), &url, 2021).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let opts = Options {
        global_args: vec!["--log-format".into(), "json".into()],
        serve_args: vec!["--metrics-bind".into(), "127.0.0.1:0".into()],
        log_level: Some("debug".into()),
        log_file: Some(log.clone()),
    };
    let mut srv = ServerProcess::start_with(&bin(), &url, "127.0.0.1:0", &opts).unwrap();
    let base = srv.url();

    let mut field = Field::setup_on(&base, dir.path(), 3, 1, 6, 7)
        .await
        .unwrap();
    for _ in 0..2 {
        field.day(25, 20).await.unwrap();
    }
    field.return_some(3).await.unwrap();
    field.finish().await.unwrap();
    field.verify().await.unwrap();

    let http = reqwest::Client::new();
    // Reads that touch personal data: one record, the exports, a wrong password.
    let person = *field.truth.keys().next().unwrap();
    for path in [
        format!("/api/v1/records/{person}"),
        "/api/v1/export/records.csv".to_string(),
        "/api/v1/export/progress.csv".to_string(),
        "/api/v1/records".to_string(),
    ] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(&field.console.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 36, "a UUID request ID: {id}");
    }
    let r = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "w001", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A request ID from the proxy is kept and echoed.
    let r = http
        .get(format!("{base}/api/v1/progress"))
        .bearer_auth(&field.console.token)
        .header("x-request-id", "proxy-req-4711")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "proxy-req-4711");

    // The metrics address answers without a token; the API's needs an admin.
    let m = srv.metrics_addr.expect("metrics address printed");
    let r = http
        .get(format!("http://{m}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("doorstep_pushes_total"));
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let campaign_id = field
        .console
        .get("/api/v1/sync/pull?cursor=0&limit=1")
        .await
        .unwrap()["campaign"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(srv.terminate(std::time::Duration::from_secs(20)).unwrap());
    let text = std::fs::read_to_string(&log).unwrap();

    // Every JSON line parses; every line of the request machinery is inside a request span
    // with its ID; the proxy's ID shows on the lines of its request.
    let mut json_lines = 0;
    let mut request_lines = 0;
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        json_lines += 1;
        let target = v["target"].as_str().unwrap_or_default();
        if target.starts_with("tower_http::trace") {
            request_lines += 1;
            let id = v["span"]["id"].as_str().unwrap_or_default();
            assert!(!id.is_empty() && id != "-", "no request ID: {line}");
            assert!(v["span"]["route"].is_string(), "{line}");
        }
    }
    assert!(request_lines > 100, "{request_lines} request lines");
    assert!(text.contains("proxy-req-4711"));

    // The demo persons: the roster the server was seeded with.
    let demo = doorstep_shared::demo::generate(2021, campaign_id);
    let ids: BTreeSet<_> = demo.persons.iter().map(|p| p.id).collect();
    assert!(
        field.truth.keys().all(|k| ids.contains(k)),
        "the seeded persons"
    );
    // The runs of digits (phones, ID numbers end in a digit or X) and of Chinese characters
    // (names) in the logs, each person's values looked up in them.
    let runs = |keep: fn(char) -> bool| -> BTreeSet<String> {
        text.split(|c: char| !keep(c))
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect()
    };
    let digits = runs(|c| c.is_ascii_digit() || c == 'X' || c == 'x');
    let han = runs(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let mut checked = 0;
    for p in &demo.persons {
        for (what, value, within) in [
            ("resident ID", p.resident_id.as_str().to_string(), &digits),
            ("phone", p.phone.clone(), &digits),
            ("name", p.name.clone(), &han),
        ] {
            if value.is_empty() {
                continue;
            }
            checked += 1;
            assert!(
                !within.iter().any(|r| r.contains(&value)),
                "a {what} in the logs: {}",
                text.lines()
                    .find(|l| l.contains(&value))
                    .unwrap_or_default()
            );
        }
    }
    println!(
        "logs: {} lines ({json_lines} JSON, {request_lines} of requests, {} bytes); {checked} personal values of {} persons absent",
        text.lines().count(),
        text.len(),
        demo.persons.len()
    );
}
