//! `POST /api/v1/auth/login`: the app's sign-in.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

use doorstep_shared::sync::{LoginRequest, LoginResponse};

use crate::error::{ApiJson, ApiResult};
use crate::service::accounts::sign_in;
use crate::state::AppState;

pub use crate::auth::{COOKIE, Caller};
pub use crate::service::accounts::hash_password;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/auth/login", post(login))
}

async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    // Whether a record came "via the app" is the server's call, from where the device signed
    // in: this route is the app's (the console signs in through its own page as "web").
    Ok(Json(sign_in(&state, &req, "app").await?))
}
