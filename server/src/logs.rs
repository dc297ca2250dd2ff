//! The server's log lines: human-readable by default, one JSON object per line as a setting
//! (`--log-format json`), on stderr (stdout carries the addresses a supervisor reads). Every line
//! written while a request runs carries its request ID (the `request` span set in
//! [`crate::http::layers`]). Nothing personal is logged: no names, ID numbers, phones or
//! answers, no request paths with parameters (the span holds the matched route only).

use tracing::Span;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-03-01T08:00:00Z  INFO request{id=… method=POST route=/api/v1/sync/push}: …`
    Human,
    /// One JSON object per line, the request's fields under `span`.
    Json,
}

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "doorstep_server=info,tower_http=warn";

/// Installs the process's subscriber (once; later calls do nothing).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| DEFAULT_FILTER.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// The span of one request: its ID (`x-request-id`, made by the server or kept from the
/// proxy), the method and the matched route — never the path, whose parameters name persons.
pub fn request_span(req: &axum::http::Request<axum::body::Body>) -> Span {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    tracing::info_span!("request", id = %id, method = %req.method(), route = %route)
}

/// The request ID header, set on every request and echoed in every response.
pub const REQUEST_ID: &str = "x-request-id";
