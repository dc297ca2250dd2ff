//! Static files embedded in the binary: Chart.js (vendored, `server/assets/chart.umd.js`), the
//! console's script and style sheet. Served with a long cache; pages link them with a content
//! hash so a new build is fetched at once.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Chart.js 4.6.1 (MIT), `package/dist/chart.umd.js` of the npm package.
const CHART_JS: &str = include_str!("../../assets/chart.umd.js");
const CONSOLE_JS: &str = include_str!("../../assets/console.js");
const CONSOLE_CSS: &str = include_str!("../../assets/console.css");
const CHECKLIST_CSS: &str = include_str!("../../assets/checklist.css");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

fn file(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "chart.js" => Some((CHART_JS, JS)),
        "console.js" => Some((CONSOLE_JS, JS)),
        "console.css" => Some((CONSOLE_CSS, CSS)),
        "checklist.css" => Some((CHECKLIST_CSS, CSS)),
        _ => None,
    }
}

/// The URL of an asset with its content hash, e.g. `/console/assets/console.js?v=1a2b3c4d`.
#[must_use]
pub fn url(name: &'static str) -> String {
    static HASHES: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let hashes = HASHES.get_or_init(|| {
        ["chart.js", "console.js", "console.css", "checklist.css"]
            .into_iter()
            .filter_map(|n| {
                file(n).map(|(body, _)| (n, hex::encode(&Sha256::digest(body.as_bytes())[..4])))
            })
            .collect()
    });
    let v = hashes
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, h)| h.as_str());
    format!("/console/assets/{name}?v={v}")
}

/// `GET /console/assets/{file}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match file(&name) {
        Some((body, mime)) => (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
