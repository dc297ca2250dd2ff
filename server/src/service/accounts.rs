//! Accounts and sign-in: password hashing (Argon2id), tokens bound to registered devices. Used
//! by the API's sign-in route, the console's sign-in page and the CLI's `add-user`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use doorstep_shared::errors::ErrorCode;
use uuid::Uuid;

use doorstep_shared::sync::{Account, LoginRequest, LoginResponse};

pub use crate::auth::token_hash;
use crate::db::audit::Entry;
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

/// Failed sign-ins in a row before an account must wait.
pub const MAX_FAILURES: u32 = 5;
/// Failed sign-ins in a row before an address must wait (an office shares one address).
pub const MAX_FAILURES_PER_ADDRESS: u32 = 20;
/// How long it waits.
pub const LOCKOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The sign-in throttle: failed sign-ins in a row per account and per address, kept in the
/// database (every server process sees them; an admin's unlock from the CLI, the API or the
/// console lifts them everywhere). After [`MAX_FAILURES`] in a row for an account (or
/// [`MAX_FAILURES_PER_ADDRESS`] from an address), sign-in is refused for [`LOCKOUT`].
pub mod throttle {
    use super::{LOCKOUT, MAX_FAILURES, MAX_FAILURES_PER_ADDRESS};
    use crate::db::Failures;

    /// The key of an account.
    #[must_use]
    pub fn key_user(name: &str) -> String {
        format!("u:{}", name.trim().to_lowercase())
    }

    /// The key of an address.
    #[must_use]
    pub fn key_addr(addr: Option<std::net::IpAddr>) -> Option<String> {
        addr.map(|a| format!("a:{a}"))
    }

    /// Milliseconds of [`LOCKOUT`].
    #[must_use]
    pub fn lockout_ms() -> i64 {
        i64::try_from(LOCKOUT.as_millis()).unwrap_or(i64::MAX)
    }

    /// Seconds left of a lockout on any of the keys, at `now` (ms).
    #[must_use]
    pub fn locked(failures: &[Failures], now: i64) -> Option<u64> {
        failures
            .iter()
            .filter(|f| {
                f.failures
                    >= i64::from(if f.key.starts_with("a:") {
                        MAX_FAILURES_PER_ADDRESS
                    } else {
                        MAX_FAILURES
                    })
            })
            .map(|f| f.last_at + lockout_ms() - now)
            .filter(|left| *left > 0)
            .map(|left| u64::try_from(left / 1000).unwrap_or(0).max(1))
            .max()
    }
}

/// A hash of a password nobody has: an unknown user name costs the same work as a known one.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("doorstep: no such user"))
}

/// Password checks run off the async threads, at most two at a time (Argon2 is deliberately
/// slow; a burst of sign-ins must not stall pushes and pulls).
async fn check_password(password: &str, hash: &str) -> bool {
    static PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let Ok(_permit) = PERMITS.acquire().await else {
        return false;
    };
    let (p, h) = (password.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || verify_password(&p, &h))
        .await
        .unwrap_or(false)
}

/// Signs a user in on a device: the app (through the API) or a console browser. `from` is the
/// caller's address, for throttling.
///
/// # Errors
/// 401 on a wrong user or password, or a revoked device; 429 while locked out.
pub async fn sign_in(
    state: &AppState,
    req: &LoginRequest,
    kind: &str,
    from: Option<std::net::IpAddr>,
) -> ApiResult<LoginResponse> {
    let mut keys = vec![throttle::key_user(&req.username)];
    keys.extend(throttle::key_addr(from));
    let now = crate::db::now_ms();
    if let Some(secs) = throttle::locked(&state.db.sign_in_failures(&keys).await?, now) {
        state
            .db
            .audit_entry(&Entry {
                user: Some(req.username.trim().to_string()),
                device: None,
                address: from.map(|a| a.to_string()),
                action: "sign_in_locked".into(),
                detail: String::new(),
            })
            .await?;
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyAttempts,
            format!(
                "登录失败次数过多，请 {} 分钟后再试，或请区残联管理员解锁 / too many failed sign-ins: try again in {} minutes, or ask the district admin to unlock the account",
                secs.div_ceil(60),
                secs.div_ceil(60)
            ),
        ));
    }
    if req.username.chars().count() > 64
        || req.password.len() > 256
        || req
            .device_name
            .as_deref()
            .is_some_and(|n| n.chars().count() > 100)
    {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidCredentials,
            "用户名、密码或设备名过长 / user name, password or device name too long",
        ));
    }
    let user = state.db.user_by_name(req.username.trim()).await?;
    let hash = user
        .as_ref()
        .map_or_else(|| dummy_hash().to_string(), |u| u.password_hash.clone());
    let ok = check_password(&req.password, &hash).await;
    let user = match user {
        Some(u) if ok && u.active => u,
        other => {
            // The failure and its audit entry are one write: a lockout never goes unrecorded.
            state
                .db
                .sign_in_failed(
                    &keys,
                    now - throttle::lockout_ms(),
                    &Entry {
                        user: other.as_ref().map(|u| u.username.clone()),
                        device: None,
                        address: from.map(|a| a.to_string()),
                        action: "sign_in_failed".into(),
                        detail: if other.is_some() {
                            "wrong password or inactive account".into()
                        } else {
                            "unknown user name".into()
                        },
                    },
                )
                .await?;
            return Err(ApiError::unauthorized(
                ErrorCode::BadCredentials,
                "wrong user name or password / 用户名或密码错误",
            ));
        }
    };
    let name = req.device_name.clone().unwrap_or_else(|| "browser".into());
    let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    // A console session (a shared office computer) lasts a working day; a phone's sign-in the
    // configured time (it works offline for weeks).
    let ttl = if kind == "web" {
        chrono::Duration::hours(12).min(state.token_ttl)
    } else {
        state.token_ttl
    };
    let expires_at = chrono::Utc::now() + ttl;
    // The device, the token, the throttle's reset and the audit entry: one transaction.
    let device = state
        .db
        .sign_in(
            &crate::db::SignIn {
                user_id: &user.id,
                device: req.device_id,
                device_name: &name,
                kind,
                token_hash: &token_hash(&token),
                expires_at: expires_at.timestamp_millis(),
                clear: &keys,
            },
            Entry {
                user: Some(user.username.clone()),
                device: None,
                address: from.map(|a| a.to_string()),
                action: "sign_in".into(),
                detail: kind.into(),
            },
        )
        .await
        .map_err(|e| match e {
            crate::db::DbError::Invalid(code) if code == ErrorCode::DeviceRevoked.as_str() => {
                ApiError::unauthorized(
                    ErrorCode::DeviceRevoked,
                    "this device has been revoked; ask the district office / 此设备已停用",
                )
            }
            crate::db::DbError::Invalid(_) => ApiError::forbidden(
                "this device is registered to another user / 此设备属于其他用户",
            ),
            other => other.into(),
        })?;
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

/// The shortest password an account may have.
pub const MIN_PASSWORD: usize = 8;

fn check_new_password(password: &str) -> super::Result<()> {
    if password.chars().count() < MIN_PASSWORD || password.len() > 256 {
        return Err(super::Error::invalid(
            ErrorCode::WeakPassword,
            format!(
                "密码至少 {MIN_PASSWORD} 个字符 / a password needs at least {MIN_PASSWORD} characters"
            ),
        ));
    }
    Ok(())
}

/// Deactivates or reactivates an account. Deactivating ends every session of the account at
/// once (its tokens are deleted; a deactivated account cannot sign in); reactivating also lifts a
/// sign-in lockout.
///
/// # Errors
/// No such user, the last active admin, or a database error.
pub async fn set_active(
    state: &AppState,
    username: &str,
    active: bool,
    by: super::Who<'_>,
) -> super::Result<()> {
    let user = state.db.user_by_name(username).await?.ok_or_else(|| {
        super::Error::not_found(
            ErrorCode::NoSuchUser,
            format!("没有用户 {username} / no user {username}"),
        )
    })?;
    if !active && user.role == doorstep_shared::sync::Role::Admin {
        let admins = state
            .db
            .users()
            .await?
            .iter()
            .filter(|u| u.role == doorstep_shared::sync::Role::Admin && u.active)
            .count();
        if admins <= 1 {
            return Err(super::Error::conflict(
                ErrorCode::LastAdmin,
                "不能停用最后一个管理员 / the last active admin cannot be deactivated",
            ));
        }
    }
    let lift = if active {
        vec![throttle::key_user(username)]
    } else {
        Vec::new()
    };
    state
        .db
        .set_active(
            &user.id,
            active,
            &lift,
            &by.entry(
                if active {
                    "account_reactivated"
                } else {
                    "account_deactivated"
                },
                username,
            ),
        )
        .await?;
    Ok(())
}

/// An admin sets a new password for an account (a worker who forgot theirs, a departed one):
/// every session of the account ends; a lockout is lifted.
///
/// # Errors
/// No such user, a weak password, or a database error.
pub async fn reset_password(
    state: &AppState,
    username: &str,
    password: &str,
    by: super::Who<'_>,
) -> super::Result<()> {
    check_new_password(password)?;
    let user = state.db.user_by_name(username).await?.ok_or_else(|| {
        super::Error::not_found(
            ErrorCode::NoSuchUser,
            format!("没有用户 {username} / no user {username}"),
        )
    })?;
    let hash = hash_in_background(password).await;
    state
        .db
        .set_password(
            &user.id,
            &hash,
            &[throttle::key_user(username)],
            &by.entry("password_reset", username),
        )
        .await?;
    Ok(())
}

/// A user changes their own password (the old one confirms it is them); their other sessions end.
///
/// # Errors
/// A wrong old password, a weak new one, or a database error.
pub async fn change_password(
    state: &AppState,
    caller: &crate::auth::Caller,
    old: &str,
    new: &str,
) -> super::Result<()> {
    check_new_password(new)?;
    let (user_id, username) = (&caller.0.user.id, &caller.0.user.username);
    let user = state.db.user_by_name(username).await?.ok_or_else(|| {
        super::Error::not_found(
            ErrorCode::NoSuchUser,
            format!("没有用户 {username} / no user {username}"),
        )
    })?;
    if user.id != *user_id || !check_password(old, &user.password_hash).await {
        return Err(super::Error::invalid(
            ErrorCode::BadCredentials,
            "原密码不正确 / the current password is wrong",
        ));
    }
    let hash = hash_in_background(new).await;
    state
        .db
        .set_password(
            &user.id,
            &hash,
            &[],
            &caller.entry("password_changed", username),
        )
        .await?;
    Ok(())
}

async fn hash_in_background(password: &str) -> String {
    let p = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&p))
        .await
        .unwrap_or_default()
}
