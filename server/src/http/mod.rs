//! The HTTP API: one router per feature, merged here, with one error type ([`error::ApiError`]).

pub mod admin;
pub mod analysis;
pub mod auth;
pub mod export;
pub mod openapi;
pub mod progress;
pub mod review;
pub mod sync;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
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
        .merge(analysis::router())
        .merge(openapi::router())
}

/// The layers every request passes: body limit, gzip both ways, tracing.
pub fn layers(router: Router<AppState>) -> Router<AppState> {
    router
        .fallback(|| async { error::ApiError::not_found("no such page or API route") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestDecompressionLayer::new())
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}

async fn healthz(State(state): State<AppState>) -> ApiResult<&'static str> {
    sqlx::query("SELECT 1")
        .execute(state.db.pool())
        .await
        .map_err(|e| error::ApiError::internal(&e))?;
    Ok("ok")
}
