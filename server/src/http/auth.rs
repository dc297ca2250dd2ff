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
    Router::new()
        // A sign-in is a few hundred bytes: refuse anything bigger, also after decompression.
        .route(
            "/api/v1/auth/login",
            post(login).layer(axum::extract::DefaultBodyLimit::max(16 * 1024)),
        )
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/password", post(change_password))
}

async fn login(
    State(state): State<AppState>,
    from: crate::auth::ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    // Whether a record came "via the app" is the server's call, from where the device signed
    // in: this route is the app's (the console signs in through its own page as "web").
    Ok(Json(sign_in(&state, &req, "app", from.0).await?))
}

/// Ends this session: the token is refused from now on (the app calls it when signing out).
async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
) -> ApiResult<axum::http::StatusCode> {
    if let Some(token) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        // The session's end and its audit entry: one transaction.
        let entry = caller.entry("sign_out", "");
        state
            .db
            .delete_token(&crate::service::accounts::token_hash(token.trim()), &entry)
            .await?;
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct PasswordChange {
    old_password: String,
    new_password: String,
}

/// A user changes their own password; every session of the account ends (sign in again).
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<axum::http::StatusCode> {
    crate::service::accounts::change_password(
        &state,
        &caller,
        &body.old_password,
        &body.new_password,
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
