//! Prometheus metrics: one process-wide recorder (`metrics` + `metrics-exporter-prometheus`),
//! the request middleware (counts and latencies by matched route), and the figures the sync
//! routes and the database record. Rendered at `GET /metrics` (admin) or on `--metrics-bind`
//! (`server/src/http/metrics.rs`, which also sets the gauges read from the database).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use doorstep_shared::merge::ItemOutcome;
use doorstep_shared::sync::{MutationResult, MutationStatus};

/// Latency buckets in seconds: a page read in milliseconds, a full district pull in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use. `None` when another recorder was installed
/// first (then nothing is recorded here).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "doorstep_http_requests_total",
        "HTTP requests by method, matched route and status"
    );
    describe_histogram!(
        "doorstep_http_request_duration_seconds",
        "HTTP request latency by method and matched route"
    );
    describe_counter!("doorstep_pushes_total", "Accepted push requests");
    describe_counter!(
        "doorstep_mutations_total",
        "Pushed mutations by result: applied, rejected, conflict (applied with an item in conflict)"
    );
    describe_counter!(
        "doorstep_push_batches_prepared_total",
        "Push batches whose rules ran while the batch before them was written: applied as prepared (used), or prepared in vain (stale: something else was committed in between)"
    );
    describe_counter!("doorstep_pulls_total", "Pull pages served");
    describe_counter!("doorstep_pull_records_total", "Records sent in pull pages");
    describe_gauge!(
        "doorstep_open_conflicts",
        "Open same-item conflicts in open and late campaigns"
    );
    describe_histogram!(
        "doorstep_write_lock_wait_seconds",
        "Time a write waited for the writers' lock (this process's queue and the database's)"
    );
    describe_gauge!(
        "doorstep_db_pool_connections",
        "Database pool connections by state (idle, in_use) and the maximum"
    );
}

/// Middleware: counts and times every request by its matched route (`unmatched` for the
/// fallback, so paths with IDs never make new series).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    counter!("doorstep_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    histogram!("doorstep_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// Counts one accepted push and its mutations' results.
pub fn push(results: &[MutationResult]) {
    counter!("doorstep_pushes_total").increment(1);
    let (mut applied, mut rejected, mut conflict) = (0u64, 0u64, 0u64);
    for r in results {
        match r.status {
            MutationStatus::Rejected => rejected += 1,
            MutationStatus::Applied => {
                applied += 1;
                if r.items.values().any(|o| *o == ItemOutcome::Conflict) {
                    conflict += 1;
                }
            }
        }
    }
    counter!("doorstep_mutations_total", "result" => "applied").increment(applied);
    counter!("doorstep_mutations_total", "result" => "rejected").increment(rejected);
    counter!("doorstep_mutations_total", "result" => "conflict").increment(conflict);
}

/// Counts a push batch prepared while the batch before it was written: `used` (applied as
/// prepared) or stale.
pub fn prepared(used: bool) {
    let outcome = if used { "used" } else { "stale" };
    counter!("doorstep_push_batches_prepared_total", "outcome" => outcome).increment(1);
}

/// Counts one pull page and the records it sent.
pub fn pull(records: usize) {
    counter!("doorstep_pulls_total").increment(1);
    counter!("doorstep_pull_records_total").increment(records as u64);
}

/// Records how long a write waited for the writers' lock.
pub fn write_lock_wait(waited: Duration) {
    histogram!("doorstep_write_lock_wait_seconds").record(waited.as_secs_f64());
}
