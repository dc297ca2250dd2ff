//! Who is calling: the bearer token (or the console's cookie) resolved to an account and a device
//! on every request, and the communities that caller may read and write. Used by the API's
//! routes and the console's pages alike.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use doorstep_shared::errors::ErrorCode;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use doorstep_shared::Campaign;
use doorstep_shared::sync::Role;

use crate::db::{AuthContext, Pusher, RecordRow, Scope};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The console's session cookie.
pub const COOKIE: &str = "doorstep_token";

/// The header the console's script sends with every API call that changes something.
pub const CONSOLE_HEADER: &str = "x-doorstep-console";

/// What the database keeps of a session token: its SHA-256, never the token.
#[must_use]
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated caller of a request, and where the request came from.
#[derive(Debug, Clone)]
pub struct Caller(pub AuthContext, pub ClientAddr);

impl Caller {
    /// An audit entry of this caller's action: who, from which device and address.
    #[must_use]
    pub fn entry(&self, action: &str, detail: &str) -> crate::db::audit::Entry {
        crate::db::audit::Entry {
            user: Some(self.0.user.username.clone()),
            device: Some(self.0.device_id.clone()),
            address: self.1.0.map(|a| a.to_string()),
            action: action.to_string(),
            detail: detail.to_string(),
        }
    }

    /// Loads a record the caller may see, or 404/403.
    ///
    /// # Errors
    /// 404 unknown, 403 outside the caller's scope.
    pub async fn visible(&self, state: &AppState, person: &str) -> ApiResult<RecordRow> {
        let campaign = state.campaign().await?;
        let row = state.db.record(person).await?.ok_or_else(not_yours)?;
        // Unknown and outside the caller's communities look the same.
        if !self.scope(state, &campaign).await?.allows(&row.community) {
            return Err(not_yours());
        }
        Ok(row)
    }

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
    pub async fn scope(
        &self,
        state: &AppState,
        campaign: &Campaign,
    ) -> crate::error::ServiceResult<Scope> {
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
    pub async fn pusher(
        &self,
        state: &AppState,
        campaign: &Campaign,
    ) -> crate::error::ServiceResult<Pusher> {
        let scope = self.scope(state, campaign).await?;
        let history = if self.role() == Role::Worker {
            state
                .db
                .assignment_history(&campaign.id.to_string(), &self.0.user.id)
                .await?
        } else {
            std::collections::HashMap::new()
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
        let token = token_from(parts).ok_or_else(|| {
            ApiError::unauthorized(ErrorCode::MissingToken, "sign in first / 请先登录")
        })?;
        // The console's cookie also reaches the API (its pages' script calls it). A form on
        // another site could make the browser send that cookie, but not a custom header: an API
        // request that changes something with the cookie must carry `X-Doorstep-Console`.
        let by_cookie = !parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION);
        let safe = matches!(
            parts.method,
            axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
        );
        if by_cookie
            && !safe
            && parts.uri.path().starts_with("/api/")
            && !parts.headers.contains_key(CONSOLE_HEADER)
        {
            return Err(ApiError::forbidden(
                "跨站请求被拒绝 / a cross-site request with the console's cookie was refused",
            ));
        }
        let ctx = state.db.auth(&token_hash(&token)).await?.ok_or_else(|| {
            ApiError::unauthorized(
                ErrorCode::InvalidToken,
                "your session is not valid; sign in again / 请重新登录",
            )
        })?;
        if ctx.revoked {
            return Err(ApiError::unauthorized(
                ErrorCode::DeviceRevoked,
                "this device has been revoked; ask the district office / 此设备已停用",
            ));
        }
        if ctx.expires_at < chrono::Utc::now().timestamp_millis() {
            return Err(ApiError::unauthorized(
                ErrorCode::TokenExpired,
                "your session has expired; sign in again / 登录已过期，请重新登录",
            ));
        }
        if !ctx.user.active {
            return Err(ApiError::unauthorized(
                ErrorCode::AccountDisabled,
                "this account is disabled / 账号已停用",
            ));
        }
        let from = ClientAddr::of(parts, state);
        Ok(Caller(ctx, from))
    }
}

/// The caller's network address (when the server was started with connection info), for
/// sign-in throttling and the audit trail.
///
/// Behind a reverse proxy every connection comes from the proxy. When the connecting address is
/// one of the configured trusted proxies (`--trusted-proxy`), the caller is the right-most
/// address of `X-Forwarded-For` that is not itself a trusted proxy: each proxy appends the
/// address it was connected from, so the entries left of the last untrusted one may be forged
/// by the caller and are never believed. Without trusted proxies the header is ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl ClientAddr {
    #[must_use]
    pub fn of(parts: &Parts, state: &AppState) -> Self {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        ClientAddr(peer.map(|p| behind_proxies(p, &parts.headers, &state.trusted_proxies)))
    }
}

/// The client's address as [`ClientAddr`] describes.
#[must_use]
pub fn behind_proxies(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => client = ip,
            Ok(ip) => return ip,
            // A hop a trusted proxy did not write: stop at the last address known good.
            Err(_) => return client,
        }
    }
    client
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::of(parts, state))
    }
}

fn not_yours() -> ApiError {
    ApiError::not_found("此人不在您负责的范围 / no such person in your communities")
}

#[cfg(test)]
mod tests {
    use super::behind_proxies;
    use axum::http::HeaderMap;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_caller_is_the_right_most_untrusted_hop() {
        let proxies = [ip("10.1.0.1"), ip("10.1.0.2")];
        let peer = ip("10.1.0.1");
        // No trusted proxy: the header is ignored.
        assert_eq!(
            behind_proxies(ip("10.9.9.9"), &xff(&["1.2.3.4"]), &proxies),
            ip("10.9.9.9")
        );
        assert_eq!(behind_proxies(peer, &xff(&["1.2.3.4"]), &[]), peer);
        // One proxy; a forged entry on the left is not believed.
        assert_eq!(
            behind_proxies(peer, &xff(&["6.6.6.6, 1.2.3.4"]), &proxies),
            ip("1.2.3.4")
        );
        // Two proxies, the header split over two lines.
        assert_eq!(
            behind_proxies(peer, &xff(&["6.6.6.6, 1.2.3.4", "10.1.0.2"]), &proxies),
            ip("1.2.3.4")
        );
        // IPv6, spaces.
        assert_eq!(
            behind_proxies(peer, &xff(&[" 2001:db8::7 "]), &proxies),
            ip("2001:db8::7")
        );
        // Garbage where a proxy's hop should be: the last good address (the proxy).
        assert_eq!(behind_proxies(peer, &xff(&["nonsense"]), &proxies), peer);
        assert_eq!(
            behind_proxies(peer, &xff(&["1.2.3.4, nonsense, 10.1.0.2"]), &proxies),
            ip("10.1.0.2")
        );
        // No header at all: the proxy itself.
        assert_eq!(behind_proxies(peer, &HeaderMap::new(), &proxies), peer);
    }
}
