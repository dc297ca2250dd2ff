use std::time::Instant;

use doorstep_server::testing::Backend;
use doorstep_shared::merge::ItemOutcome;
use doorstep_shared::sync::MutationStatus;

use crate::both;
use crate::helpers::{Api, Session, edit, now, spawn, t};

/// The sum of every series of `name` whose labels include all of `labels`.
fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            (n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

async fn scrape(api: &Api, admin: &Session) -> (String, std::time::Duration) {
    let started = Instant::now();
    let r = api.get(admin, "/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    (text, started.elapsed())
}

async fn metrics_move_after_a_push(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let w = api.login("w001").await;
    let w2 = api.login("w001").await;
    // Admins only on the API's address.
    assert_eq!(
        api.http
            .get(api.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(api.get(&w, "/metrics").await.status(), 403);
    let (before, _) = scrape(&api, &admin).await;

    let recs = api.pull_all(&w).await;
    let mut it = recs.values();
    let (p, q) = (it.next().unwrap(), it.next().unwrap());
    let t0 = now();
    let r = api
        .push(&w, vec![edit(p, &[("marital_status", t("married"))], t0)])
        .await;
    assert_eq!(r.results[0].status, MutationStatus::Applied);
    let r = api
        .push(
            &w2,
            vec![
                edit(p, &[("marital_status", t("widowed"))], t0 - 1000),
                edit(q, &[("no_such_item", t("x"))], t0),
            ],
        )
        .await;
    assert_eq!(r.results[0].items["marital_status"], ItemOutcome::Conflict);
    assert_eq!(r.results[1].status, MutationStatus::Rejected);

    let mut times = Vec::new();
    let mut after = String::new();
    for _ in 0..5 {
        let (text, took) = scrape(&api, &admin).await;
        times.push(took);
        after = text;
    }
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sum(&after, name, labels) - sum(&before, name, labels)
    };
    assert!(moved("doorstep_pushes_total", &[]) >= 2.0);
    assert!(moved("doorstep_mutations_total", &[("result", "applied")]) >= 2.0);
    assert!(moved("doorstep_mutations_total", &[("result", "rejected")]) >= 1.0);
    assert!(moved("doorstep_mutations_total", &[("result", "conflict")]) >= 1.0);
    assert!(moved("doorstep_pulls_total", &[]) >= 1.0);
    assert!(moved("doorstep_pull_records_total", &[]) >= recs.len() as f64);
    assert!(
        moved(
            "doorstep_http_requests_total",
            &[
                ("route", "/api/v1/sync/push"),
                ("method", "POST"),
                ("status", "200")
            ]
        ) >= 2.0
    );
    // The route is the matched one, never a path with an ID in it.
    assert!(!after.contains(&p.person.id.to_string()));
    assert!(
        moved(
            "doorstep_http_request_duration_seconds_count",
            &[("route", "/api/v1/sync/push")]
        ) >= 2.0
    );
    assert!(moved("doorstep_write_lock_wait_seconds_count", &[]) >= 2.0);
    // This database's one open conflict (gauges are read per scrape).
    assert_eq!(sum(&after, "doorstep_open_conflicts", &[]), 1.0);
    assert!(sum(&after, "doorstep_db_pool_connections", &[("state", "max")]) >= 8.0);
    assert!(sum(&after, "doorstep_db_pool_connections", &[("state", "idle")]) >= 0.0);
    times.sort();
    println!(
        "metrics scrape ({b:?}): median {:.1} ms, max {:.1} ms, {} bytes",
        times[2].as_secs_f64() * 1000.0,
        times[4].as_secs_f64() * 1000.0,
        after.len()
    );
}
both!(metrics_move_after_a_push);
