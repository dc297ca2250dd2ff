//! Unsent work, the last sync, the sync button and what the last sync said, in plain words.

use chrono::{DateTime, Utc};
use dioxus::prelude::*;

use crate::ui::i18n;
use crate::ui::use_app;

/// The sync card of the home screen.
#[component]
pub fn SyncPanel(unsent: usize, last_sync: Option<DateTime<Utc>>) -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let status = ctx.shared.read().sync.clone();
    let last = last_sync.map_or_else(|| lang.t(i18n::NEVER_SYNCED).to_string(), i18n::time_label);
    let c = ctx.clone();
    let sync = move |_| {
        let c = c.clone();
        c.clear_notice();
        // The outcome shows in this panel (from the shared status), for automatic syncs too.
        spawn(async move {
            let _ = c.services.sync_now(true).await;
        });
    };
    let error = status
        .last_error
        .as_ref()
        .map(|e| i18n::error_text(lang, e));
    rsx! {
        section { class: "card", "data-testid": "sync-panel",
            div { class: "spread",
                div {
                    div { class: "muted", {lang.t(i18n::UNSENT)} }
                    div { class: "big", "data-testid": "unsent-count", "{unsent}" }
                }
                div { style: "text-align:right",
                    div { class: "muted", {lang.t(i18n::LAST_SYNC)} }
                    div { "data-testid": "last-sync", "{last}" }
                }
            }
            p { class: "muted", {i18n::unsent_line(lang, unsent)} }
            button {
                class: "btn primary",
                "data-testid": "sync",
                disabled: status.running,
                onclick: sync,
                if status.running { {lang.t(i18n::SYNCING)} } else { {lang.t(i18n::SYNC_NOW)} }
            }
            if let Some(e) = error {
                p { class: "banner error", role: "alert", "data-testid": "sync-error", "{e}" }
                p { class: "muted", {lang.t(i18n::SYNC_OFFLINE_NOTE)} }
            } else if let Some(r) = status.last_report.as_ref() {
                p { class: "muted", "data-testid": "sync-report", {i18n::sync_report_line(lang, r)} }
            }
        }
    }
}
