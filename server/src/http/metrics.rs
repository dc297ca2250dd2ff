//! `GET /metrics`: the Prometheus text exposition ([`crate::metrics`]), for an admin's bearer
//! token on the API's address, or without a token on the separate `--metrics-bind` address.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use doorstep_shared::sync::Role;

use super::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The route on the API's address: admins only.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(admin_metrics))
}

/// The router of the separate metrics address (`--metrics-bind`): no token, so bind it where
/// only the monitoring reaches (localhost or a private network).
pub fn open_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(open_metrics))
        .with_state(state)
}

async fn admin_metrics(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require(&[Role::Admin])?;
    exposition(&state).await
}

async fn open_metrics(State(state): State<AppState>) -> ApiResult<Response> {
    exposition(&state).await
}

async fn exposition(state: &AppState) -> ApiResult<Response> {
    let text = crate::metrics::render(state)
        .await
        .map_err(ApiError::from)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
