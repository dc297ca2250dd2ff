//! Console sessions: the page extractor (redirects to the sign-in page when signed out), roles,
//! the language choice, sign-in and sign-out.

use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use doorstep_shared::lang::Lang;
use doorstep_shared::sync::{LoginRequest, Role};

use super::PageError;
use super::lang::{ConsoleLang, lang_of};
use super::shell as layout;
use crate::auth::{COOKIE, Caller};
use crate::service::accounts::sign_in;
use crate::state::AppState;

/// A signed-in console user and the page language. Signed out → a redirect to the sign-in page
/// that comes back here afterwards.
pub struct Session {
    pub caller: Caller,
    pub lang: Lang,
}

impl Session {
    #[must_use]
    pub fn role(&self) -> Role {
        self.caller.role()
    }

    /// A polite 403 page unless the user has one of the roles.
    ///
    /// # Errors
    /// The 403 page.
    pub fn require(&self, roles: &[Role]) -> Result<(), PageError> {
        if roles.contains(&self.role()) {
            return Ok(());
        }
        let l = self.lang;
        let message = if self.role() == Role::Worker {
            l.pick(
                "督导台供街道专干和区残联使用。社区专干请在手机应用中记录调查结果。",
                "The console is for street supervisors and the district office. Community workers \
                 record outcomes in the Doorstep app on their phones.",
            )
        } else {
            l.pick(
                "此页面仅供区残联管理员使用。",
                "This page is for the district administrator only.",
            )
        };
        Err(PageError::new(layout::error_page(
            l,
            StatusCode::FORBIDDEN,
            l.pick(
                "您的账号无权查看此页面",
                "Your account may not open this page",
            ),
            message,
            true,
            self.role() != Role::Worker,
        )))
    }
}

/// Percent-encodes a path and query for a `next=` parameter.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Only console paths are followed after signing in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/console" || n.starts_with("/console/") || n.starts_with("/console?"))
                && !n.contains("//")
                && !n.contains('\\')
                && !n.starts_with("/console/login")
                && !n.starts_with("/console/logout") =>
        {
            n.to_string()
        }
        _ => "/console".into(),
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let lang = lang_of(parts);
        match Caller::from_request_parts(parts, state).await {
            Ok(caller) => Ok(Session { caller, lang }),
            Err(e) if e.status == StatusCode::UNAUTHORIZED => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map_or("/console", axum::http::uri::PathAndQuery::as_str);
                Err(PageError::new(
                    Redirect::to(&format!("/console/login?next={}", encode(here))).into_response(),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

fn login_markup(lang: Lang, error: Option<&str>, username: &str, next: &str) -> Markup {
    let l = lang;
    let body = html! {
        main.login {
            h1 { (l.pick("残疾人动态更新 · 督导台", "Doorstep · Supervisor console")) }
            p.muted { (l.pick("使用与手机应用相同的账号登录。", "Sign in with the same account as the app.")) }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form method="post" action="/console/login" {
                input type="hidden" name="next" value=(next);
                label {
                    (l.pick("用户名", "User name"))
                    input name="username" autocomplete="username" required autofocus value=(username);
                }
                label {
                    (l.pick("密码", "Password"))
                    input name="password" type="password" autocomplete="current-password" required;
                }
                button.primary type="submit" { (l.pick("登录", "Sign in")) }
            }
            p.lang-switch {
                a href={ "/console/login?lang=" (l.other().key()) } { (l.pick("English", "中文")) }
            }
        }
    };
    layout::bare(lang, l.pick("登录", "Sign in"), "login", body)
}

/// `GET /console/login`.
pub async fn login_page(
    ConsoleLang(lang): ConsoleLang,
    caller: Result<Caller, crate::error::ApiError>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if caller.is_ok() {
        return Redirect::to(&next).into_response();
    }
    login_markup(lang, None, "", &next).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Whether a form post comes from another site, as the browser says (`Sec-Fetch-Site`; proxies
/// leave it alone): refused, so no other site can sign a browser in to an account of its choosing.
fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
}

/// `POST /console/login`: signs in as a console (web) device and sets the session cookie.
pub async fn login(
    State(state): State<AppState>,
    ConsoleLang(lang): ConsoleLang,
    from: crate::auth::ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    if cross_site(&headers) {
        return (
            StatusCode::FORBIDDEN,
            login_markup(
                lang,
                Some(lang.pick(
                    "请从本站的登录页登录。",
                    "Sign in from this site's sign-in page.",
                )),
                &f.username,
                &next,
            ),
        )
            .into_response();
    }
    let req = LoginRequest {
        username: f.username.clone(),
        password: f.password,
        device_id: None,
        device_name: None,
    };
    match sign_in(&state, &req, "web", from.0).await {
        Ok(r) => {
            let max_age = (r.expires_at - chrono::Utc::now()).num_seconds().max(0);
            let cookie = format!(
                "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
                r.token,
                if state.secure_cookies { "; Secure" } else { "" }
            );
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, next), (header::SET_COOKIE, cookie)],
            )
                .into_response()
        }
        Err(e) => {
            let message = if e.status == StatusCode::UNAUTHORIZED {
                lang.pick("用户名或密码错误。", "Wrong user name or password.")
                    .to_string()
            } else {
                e.message.clone()
            };
            (
                e.status,
                login_markup(lang, Some(&message), &f.username, &next),
            )
                .into_response()
        }
    }
}

/// `POST /console/logout`: ends the console session (its browser device is retired, so the token
/// is refused from now on) and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    caller: Result<Caller, crate::error::ApiError>,
) -> Response {
    if let Ok(c) = caller
        && !c.0.via_app
    {
        let entry = c.entry("sign_out", "web");
        let _ = state.db.revoke_device(&c.0.device_id, &entry).await;
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/console/login".to_string()),
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
            ),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::lang::lang_in_query;

    #[test]
    fn next_stays_in_the_console() {
        assert_eq!(safe_next(Some("/console/conflicts")), "/console/conflicts");
        assert_eq!(safe_next(Some("/console?lang=en")), "/console?lang=en");
        assert_eq!(safe_next(Some("https://evil.example/")), "/console");
        assert_eq!(safe_next(Some("//evil.example/console")), "/console");
        assert_eq!(safe_next(Some("/console//evil")), "/console");
        assert_eq!(safe_next(Some("/consolex")), "/console");
        assert_eq!(safe_next(None), "/console");
    }

    #[test]
    fn sign_in_posts_from_other_sites_are_refused() {
        let mut h = HeaderMap::new();
        assert!(!cross_site(&h), "no header (older browsers, curl)");
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(!cross_site(&h));
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(cross_site(&h));
    }

    #[test]
    fn lang_is_read_from_the_query() {
        assert_eq!(lang_in_query(Some("a=1&lang=en")), Some(Lang::En));
        assert_eq!(lang_in_query(Some("lang=fr")), None);
        assert_eq!(lang_in_query(None), None);
        assert_eq!(encode("/console?x=1&y"), "/console%3Fx%3D1%26y");
    }
}
