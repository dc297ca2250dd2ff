//! The supervisor's view: progress per community from the server, cached for offline.

use dioxus::prelude::*;

use crate::ui::components::ProgressBar;
use crate::ui::i18n;
use crate::ui::use_app;
use crate::ui::views::home::figures_rates;

/// The progress table (the last one fetched; a sync fetches it anew).
#[component]
pub fn SupervisorProgress() -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let services = ctx.services.clone();
    let c = ctx.clone();
    let progress = use_resource(move || {
        let _ = c.revision();
        let services = services.clone();
        async move { services.cached_progress().await }
    });
    let loaded = progress.read().clone();
    let body = match loaded {
        None => rsx! { p { class: "muted", "…" } },
        Some(Err(e)) => rsx! { p { class: "banner error", {i18n::error_text(lang, &e)} } },
        Some(Ok(None)) => rsx! { p { class: "muted", {lang.t(i18n::NO_PROGRESS)} } },
        Some(Ok(Some((report, at)))) => {
            let (total_completion, total_hv) = figures_rates(&report.total);
            rsx! {
                p { class: "muted", {lang.t(i18n::DATA_AS_OF)} " {i18n::time_label(at)}" }
                table { "data-testid": "progress-table",
                    thead {
                        tr {
                            th { {lang.t(i18n::COMMUNITY)} }
                            th { {lang.t(i18n::COMPLETION)} }
                            th { {lang.t(i18n::HOME_VISIT_RATE)} }
                        }
                    }
                    tbody {
                        for row in report.communities.clone() {
                            tr { key: "{row.code}", "data-testid": "progress-row-{row.code}",
                                td {
                                    div { "{row.name}" }
                                    ProgressBar { done: row.figures.done, total: row.figures.roster, testid: format!("sup-progress-{}", row.code) }
                                }
                                td { "{row.figures.done} / {row.figures.roster}" }
                                td { {figures_rates(&row.figures).1} }
                            }
                        }
                        tr {
                            th { {lang.t(i18n::TOTAL)} }
                            th { "{report.total.done} / {report.total.roster} ({total_completion})" }
                            th { "{total_hv}" }
                        }
                    }
                }
            }
        }
    };
    rsx! {
        section { class: "card", "data-testid": "supervisor",
            h2 { {lang.t(i18n::SUPERVISOR_TITLE)} }
            p { class: "muted", {lang.t(i18n::SUPERVISOR_INTRO)} }
            {body}
        }
    }
}
