//! Accounts and sign-in: password hashing (Argon2id), tokens bound to registered devices. Used
//! by the API's sign-in route, the console's sign-in page and the CLI's `add-user`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use doorstep_shared::sync::{Account, LoginRequest, LoginResponse};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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
