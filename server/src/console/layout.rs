//! The page shell (head, navigation, sign-out), error pages, and formatting shared by the pages.

use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use maud::{DOCTYPE, Markup, html};

use doorstep_shared::Outcome;
use doorstep_shared::lang::{Label, Lang};
use doorstep_shared::sync::Role;

use super::session::Session;
pub use super::shell::error_page;
use super::shell::{head, sign_out};

/// The home-visit target: 95 %, in hundredths of a percent.
pub const HOME_VISIT_TARGET_BP: u64 = 9500;

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Analysis,
    Conflicts,
    Review,
    Exports,
    Handover,
    Campaigns,
    Admin,
}

/// What a page needs besides its body.
#[derive(Default)]
pub struct Options {
    /// Load Chart.js.
    pub charts: bool,
    /// Listen to `/console/events` and refresh figures in place.
    pub live: bool,
    /// Extra `data-*` attributes on `<body>` for the page script (name, value).
    pub data: Vec<(&'static str, String)>,
}

/// A full console page with navigation.
#[must_use]
pub fn page(
    s: &Session,
    nav: Nav,
    title: &str,
    page: &str,
    opts: Options,
    body: Markup,
) -> Response {
    let l = s.lang;
    let user = &s.caller.0.user;
    let reviewer = matches!(s.role(), Role::Supervisor | Role::Admin);
    let entries: Vec<(Nav, &str, &str)> = [
        (Nav::Overview, "/console", l.pick("进度概览", "Overview")),
        (
            Nav::Analysis,
            "/console/analysis",
            l.pick("需求分析", "Analysis"),
        ),
        (
            Nav::Conflicts,
            "/console/conflicts",
            l.pick("冲突处理", "Conflicts"),
        ),
    ]
    .into_iter()
    .chain(reviewer.then_some((Nav::Review, "/console/review", l.pick("审核", "Review"))))
    .chain([
        (
            Nav::Exports,
            "/console/exports",
            l.pick("导出与报告", "Exports"),
        ),
        (
            Nav::Handover,
            "/console/handover",
            l.pick("国家系统交接", "Hand-over"),
        ),
        (
            Nav::Campaigns,
            "/console/campaigns",
            l.pick("调查年度", "Campaigns"),
        ),
    ])
    .chain((s.role() == Role::Admin).then_some((
        Nav::Admin,
        "/console/admin",
        l.pick("管理", "Admin"),
    )))
    .collect();
    let markup = html! {
        (DOCTYPE)
        html lang=(l.html()) {
            (head(l, title, opts.charts))
            body data-page=(page) data-lang=(l.key()) data-live=(if opts.live { "1" } else { "0" })
                data-outcomes=(outcome_labels_json(l)) data-target-bp=(HOME_VISIT_TARGET_BP)
                data-extra=(serde_json::Value::Object(opts.data.iter().map(|(k, v)| ((*k).to_string(), serde_json::Value::String(v.clone()))).collect()).to_string()) {
                header.top {
                    a.brand href="/console" { (l.pick("动态更新督导台", "Doorstep console")) }
                    nav.main {
                        @for (n, href, label) in &entries {
                            a href=(href) aria-current=[(*n == nav).then_some("page")] { (label) }
                        }
                    }
                    div.who {
                        span.live id="live" hidden[!opts.live] title=(l.pick("实时更新", "Live updates")) {
                            span.dot {} span.live-text { (l.pick("连接中", "Connecting")) }
                        }
                        span.user { (user.display_name) " · " (user.role.label(l)) }
                        a.lang href={ "?lang=" (l.other().key()) } { (l.pick("English", "中文")) }
                        (sign_out(l))
                    }
                }
                main.content {
                    (body)
                }
            }
        }
    };
    markup.into_response()
}

fn outcome_labels_json(lang: Lang) -> String {
    let map: serde_json::Map<String, serde_json::Value> = Outcome::ALL
        .iter()
        .map(|o| (o.key().to_string(), o.label(lang).into()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// `92.56%` or `—`.
#[must_use]
pub fn bp(b: Option<u64>) -> String {
    doorstep_shared::progress::format_bp(b)
}

/// `MM-DD HH:MM` in China time, or `—`.
#[must_use]
pub fn time(ms: Option<i64>) -> String {
    ms.and_then(DateTime::from_timestamp_millis).map_or_else(
        || "—".into(),
        |t| {
            doorstep_shared::domain::campaign_time(t)
                .format("%m-%d %H:%M")
                .to_string()
        },
    )
}

/// The home-visit rate's class against the 95 % target.
#[must_use]
pub fn home_visit_class(b: Option<u64>) -> &'static str {
    match b {
        Some(b) if b >= HOME_VISIT_TARGET_BP => "good",
        Some(_) => "bad",
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_china_time() {
        // 2021-03-01T00:00:00Z is 08:00 in China.
        assert_eq!(time(Some(1_614_556_800_000)), "03-01 08:00");
        assert_eq!(time(None), "—");
    }

    #[test]
    fn home_visit_is_coloured_against_95() {
        assert_eq!(home_visit_class(Some(9500)), "good");
        assert_eq!(home_visit_class(Some(9499)), "bad");
        assert_eq!(home_visit_class(None), "");
    }
}
