//! Sign-in, bearer tokens bound to devices, and the caller extractor every route uses.

use std::collections::HashSet;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::post;
use axum::{Json, Router};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use doorstep_shared::Campaign;
use doorstep_shared::sync::{Account, LoginRequest, LoginResponse, Role};

use super::error::{ApiError, ApiJson, ApiResult};
use crate::db::{AuthContext, Pusher, Scope};
use crate::state::AppState;

pub const COOKIE: &str = "doorstep_token";

/// Hashes a password with Argon2id and a random salt.
///
/// # Panics
/// Never in practice (hashing into a fresh salt does not fail).
#[must_use]
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(Uuid::new_v4().as_bytes()).expect("16-byte salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing")
        .to_string()
}

#[must_use]
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[must_use]
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/auth/login", post(login))
}

/// Signs a user in on a device: the app (a `device_name` given) or a console browser.
///
/// # Errors
/// 401 on a wrong user or password, or a revoked device.
pub async fn sign_in(state: &AppState, req: &LoginRequest, kind: &str) -> ApiResult<LoginResponse> {
    let user = state.db.user_by_name(req.username.trim()).await?;
    let user = match user {
        Some(u) if u.active && verify_password(&req.password, &u.password_hash) => u,
        _ => {
            return Err(ApiError::unauthorized(
                "bad_credentials",
                "wrong user name or password / 用户名或密码错误",
            ));
        }
    };
    let name = req.device_name.clone().unwrap_or_else(|| "browser".into());
    let device = state
        .db
        .register_device(&user.id, req.device_id, &name, kind)
        .await
        .map_err(|e| match e {
            crate::db::DbError::Invalid(code) if code == "device_revoked" => {
                ApiError::unauthorized(
                    "device_revoked",
                    "this device has been revoked; ask the district office / 此设备已停用",
                )
            }
            crate::db::DbError::Invalid(_) => ApiError::forbidden(
                "this device is registered to another user / 此设备属于其他用户",
            ),
            other => other.into(),
        })?;
    let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let expires_at = chrono::Utc::now() + state.token_ttl;
    state
        .db
        .store_token(&token_hash(&token), &device, expires_at.timestamp_millis())
        .await?;
    let communities = match state.db.current_campaign().await? {
        Some(c) => state.db.assigned(&c.id.to_string(), &user.id).await?,
        None => Vec::new(),
    };
    Ok(LoginResponse {
        token,
        expires_at,
        device_id: Uuid::parse_str(&device).map_err(|e| ApiError::internal(&e))?,
        account: Account {
            username: user.username,
            display_name: user.display_name,
            role: user.role,
            area: user.area,
            communities,
        },
    })
}

async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    // Whether a record came "via the app" is the server's call, from where the device signed
    // in: this route is the app's (the console signs in through its own page as "web").
    Ok(Json(sign_in(&state, &req, "app").await?))
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub AuthContext);

impl Caller {
    #[must_use]
    pub fn role(&self) -> Role {
        self.0.user.role
    }

    /// # Errors
    /// 403 unless the caller has one of the roles.
    pub fn require(&self, roles: &[Role]) -> ApiResult<()> {
        if roles.contains(&self.role()) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "your role may not do this / 您的角色无权执行此操作",
            ))
        }
    }

    /// The communities this caller may read and write in a campaign.
    ///
    /// # Errors
    /// A database error.
    pub async fn scope(&self, state: &AppState, campaign: &Campaign) -> ApiResult<Scope> {
        Ok(match self.role() {
            Role::Admin => Scope::All,
            Role::Supervisor => Scope::Area(
                self.0
                    .user
                    .area
                    .as_ref()
                    .map_or_else(|| campaign.district.to_string(), ToString::to_string),
            ),
            Role::Worker => Scope::Worker {
                user_id: self.0.user.id.clone(),
                communities: state
                    .db
                    .assigned(&campaign.id.to_string(), &self.0.user.id)
                    .await?
                    .into_iter()
                    .map(|c| c.to_string())
                    .collect(),
            },
        })
    }

    /// The caller as a pusher of mutations.
    ///
    /// # Errors
    /// A database error.
    pub async fn pusher(&self, state: &AppState, campaign: &Campaign) -> ApiResult<Pusher> {
        let scope = self.scope(state, campaign).await?;
        let history = if self.role() == Role::Worker {
            state
                .db
                .assignment_history(&campaign.id.to_string(), &self.0.user.id)
                .await?
        } else {
            HashSet::new()
        };
        Ok(Pusher {
            user_id: self.0.user.id.clone(),
            username: self.0.user.username.clone(),
            rank: self.role().rank(),
            device_id: Uuid::parse_str(&self.0.device_id).ok(),
            via_app: self.0.via_app,
            scope,
            history,
        })
    }
}

fn token_from(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        return v
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")
            .map(|s| s.trim().to_string());
    }
    let cookies = parts
        .headers
        .get(axum::http::header::COOKIE)?
        .to_str()
        .ok()?;
    cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_from(parts)
            .ok_or_else(|| ApiError::unauthorized("missing_token", "sign in first / 请先登录"))?;
        let ctx = state.db.auth(&token_hash(&token)).await?.ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_token",
                "your session is not valid; sign in again / 请重新登录",
            )
        })?;
        if ctx.revoked {
            return Err(ApiError::unauthorized(
                "device_revoked",
                "this device has been revoked; ask the district office / 此设备已停用",
            ));
        }
        if ctx.expires_at < chrono::Utc::now().timestamp_millis() {
            return Err(ApiError::unauthorized(
                "token_expired",
                "your session has expired; sign in again / 登录已过期，请重新登录",
            ));
        }
        if !ctx.user.active {
            return Err(ApiError::unauthorized(
                "account_disabled",
                "this account is disabled / 账号已停用",
            ));
        }
        Ok(Caller(ctx))
    }
}
