//! The visit position from the webview (`navigator.geolocation`), for the native renderer on a
//! phone: the platform asks the worker for the permission once; a refusal is remembered for
//! this start and never blocks a save.

use dioxus::prelude::*;
use doorstep_shared::value::GeoPoint;
use serde::Deserialize;

/// What the webview answered.
#[derive(Debug, Clone, PartialEq)]
pub enum WebPosition {
    At(GeoPoint),
    /// The worker refused the permission.
    Refused,
    /// No fix (no signal indoors, a timeout, no geolocation at all).
    Unavailable,
}

#[derive(Deserialize)]
struct Answer {
    lat: Option<f64>,
    lon: Option<f64>,
    denied: Option<bool>,
}

const SCRIPT: &str = r"
return await new Promise((resolve) => {
  if (!navigator.geolocation) { resolve({}); return; }
  navigator.geolocation.getCurrentPosition(
    (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }),
    (e) => resolve({ denied: e.code === 1 }),
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 },
  );
});
";

/// Asks the webview for the position.
pub async fn ask_webview() -> WebPosition {
    match document::eval(SCRIPT).join::<Answer>().await {
        Ok(Answer {
            lat: Some(lat),
            lon: Some(lon),
            ..
        }) => WebPosition::At(GeoPoint { lat, lon }),
        Ok(Answer {
            denied: Some(true), ..
        }) => WebPosition::Refused,
        _ => WebPosition::Unavailable,
    }
}
