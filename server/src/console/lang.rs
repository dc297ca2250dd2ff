//! The console's language: Chinese unless English was chosen (`?lang=en`, remembered in a cookie).
//! The language itself is [`doorstep_shared::lang::Lang`]; this module reads it off a request.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use doorstep_shared::lang::Lang;

/// The cookie remembering the console language.
pub const LANG_COOKIE: &str = "doorstep_lang";

/// `lang=zh|en` in a query string.
pub fn lang_in_query(query: Option<&str>) -> Option<Lang> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "lang")
        .and_then(|(_, v)| Lang::parse(v))
}

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get(header::COOKIE)?
        .to_str()
        .ok()?
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The language of a request: `?lang=`, else the cookie, else Chinese.
#[must_use]
pub fn lang_of(parts: &Parts) -> Lang {
    lang_in_query(parts.uri.query())
        .or_else(|| cookie(parts, LANG_COOKIE).and_then(Lang::parse))
        .unwrap_or_default()
}

/// The request's language as an extractor (see [`lang_of`]).
#[derive(Debug, Clone, Copy)]
pub struct ConsoleLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for ConsoleLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ConsoleLang(lang_of(parts)))
    }
}
