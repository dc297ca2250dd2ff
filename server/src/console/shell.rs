//! The page shell without a session: the head, bare pages (sign-in, errors) and the error page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use doorstep_shared::lang::Lang;

use super::assets;

pub(super) fn head(lang: Lang, title: &str, charts: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light";
            link rel="icon" href="data:,";
            title { (title) " · " (lang.pick("动态更新督导台", "Doorstep console")) }
            link rel="stylesheet" href=(assets::url("console.css"));
            @if charts {
                script src=(assets::url("chart.js")) defer {}
            }
            script src=(assets::url("console.js")) defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
#[must_use]
pub fn bare(lang: Lang, title: &str, page: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.html()) {
            (head(lang, title, false))
            body data-page=(page) data-lang=(lang.key()) { (body) }
        }
    }
}

pub(super) fn sign_out(lang: Lang) -> Markup {
    html! {
        form.signout method="post" action="/console/logout" {
            button.link type="submit" { (lang.pick("退出登录", "Sign out")) }
        }
    }
}

/// A polite error page; `signed_in` adds a sign-out button (a worker may want another account),
/// `back` a link to the overview.
#[must_use]
pub fn error_page(
    lang: Lang,
    status: StatusCode,
    title: &str,
    message: &str,
    signed_in: bool,
    back: bool,
) -> Response {
    let l = lang;
    let body = html! {
        main.error-page {
            h1 { (title) }
            p { (message) }
            p.actions {
                @if back {
                    a.button href="/console" { (l.pick("返回概览", "Back to the overview")) }
                }
                @if signed_in {
                    (sign_out(l))
                }
            }
        }
    };
    (status, bare(lang, title, "error", body)).into_response()
}
