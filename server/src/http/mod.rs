//! The HTTP API: one router per feature, merged here, with one error type ([`error::ApiError`]).

pub mod admin;
pub mod analysis;
pub mod auth;
pub mod export;
pub mod handover;
pub mod metrics;
pub mod openapi;
pub mod progress;
pub mod review;
pub mod sync;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::{self, ApiResult};
use crate::state::AppState;

/// Largest accepted request body (after decompression): a full district roster fits.
pub const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The API's routes (the console's are merged beside them in [`crate::startup::app`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(auth::router())
        .merge(sync::router())
        .merge(progress::router())
        .merge(review::router())
        .merge(admin::router())
        .merge(export::router())
        .merge(handover::router())
        .merge(analysis::router())
        .merge(openapi::router())
        .merge(metrics::router())
}

/// The layers every request passes: a request ID (kept from the proxy or made here, echoed in
/// the response), the request's log span, metrics, body limit, gzip both ways.
pub fn layers(router: Router<AppState>) -> Router<AppState> {
    let request_id = axum::http::HeaderName::from_static(crate::logs::REQUEST_ID);
    router
        .fallback(|| async {
            error::ApiError::not_found("没有这个页面或接口 / no such page or API route")
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn(known_encoding))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(no_store))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(TraceLayer::new_for_http().make_span_with(crate::logs::request_span))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// A request body compressed other than as the server reads (gzip, zstd) is refused with the
/// stable error body, before the decompression layer would answer an empty 415.
async fn known_encoding(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let encoding = req
        .headers()
        .get(axum::http::header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity" | "gzip" | "x-gzip" | "zstd") => next.run(req).await,
        Some(other) => error::ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            doorstep_shared::errors::ErrorCode::BadContentEncoding,
            format!(
                "不支持的压缩方式 {other}，请用 gzip 或 zstd / the body is compressed as {other}: send it plain, gzip or zstd"
            ),
        )
        .into_response(),
    }
}

/// Nothing the server answers is kept by a browser or a proxy cache: answers carry personal data
/// (the console's assets set their own, long, caching).
async fn no_store(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut res = next.run(req).await;
    res.headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    res
}

async fn healthz(State(state): State<AppState>) -> ApiResult<&'static str> {
    sqlx::query("SELECT 1")
        .execute(state.db.pool())
        .await
        .map_err(|e| error::ApiError::internal(&e))?;
    Ok("ok")
}
