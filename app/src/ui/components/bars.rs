//! The top bar, the notice line and the progress bar.

use dioxus::prelude::*;
use doorstep_shared::lang::Lang;

use crate::ui::i18n;
use crate::ui::{Screen, use_app};

/// Title (with the campaign the device works on, once known), back, language toggle, lock.
#[component]
pub fn TopBar() -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    // The campaign as of the last pull: the worker always sees which year they work on.
    let services = ctx.services.clone();
    let c = ctx.clone();
    let campaign = use_resource(move || {
        let _ = c.revision();
        let services = services.clone();
        async move {
            services
                .read(|s| s.campaign())
                .await
                .ok()
                .flatten()
                .map(|c| (c.year, c.district_name))
        }
    });
    let campaign = campaign
        .read()
        .clone()
        .flatten()
        .map(|(year, district)| i18n::campaign_label(lang, year, &district));
    let screen = ctx.screen.read().clone();
    let title = match &screen {
        Screen::Persons { title, .. } => title.clone(),
        Screen::SignIn => ctx.t(i18n::SIGN_IN_TITLE).to_string(),
        Screen::Unlock => ctx.t(i18n::UNLOCK_TITLE).to_string(),
        _ => ctx.t(i18n::APP_TITLE).to_string(),
    };
    let can_back =
        ctx.can_go_back() && !matches!(screen, Screen::Home | Screen::SignIn | Screen::Unlock);
    let can_lock = matches!(screen, Screen::Home);
    let c_back = ctx.clone();
    let c_lang = ctx.clone();
    let c_lock = ctx.clone();
    rsx! {
        header { class: "topbar",
            if can_back {
                button { "data-testid": "back", onclick: move |_| c_back.back(), {lang.t(i18n::BACK)} }
            }
            div { class: "title",
                h1 { "{title}" }
                if let Some(label) = campaign {
                    p { class: "campaign", "data-testid": "campaign-year", "{label}" }
                }
            }
            button {
                "data-testid": "lang",
                lang: if lang == Lang::Zh { "en" } else { "zh-CN" },
                onclick: move |_| c_lang.set_lang(c_lang.lang().other()),
                {lang.t(i18n::LANG_TOGGLE)}
            }
            if can_lock {
                button {
                    "data-testid": "lock",
                    onclick: move |_| {
                        c_lock.services.lock();
                        c_lock.reset(Screen::Unlock);
                    },
                    {lang.t(i18n::LOCK)}
                }
            }
        }
    }
}

/// The notice of the last action (saved, submitted, failed).
#[component]
pub fn Notice() -> Element {
    let ctx = use_app();
    let flash = ctx.flash.read().clone();
    let lang = ctx.lang();
    match flash {
        Some(f) => rsx! {
            div { class: "{f.tone.class()} notice", role: "status", "data-testid": "notice", {f.text.get(lang).to_string()} }
        },
        None => rsx! {},
    }
}

/// `done / total` as a bar with the numbers.
#[component]
pub fn ProgressBar(done: u64, total: u64, testid: String) -> Element {
    let pct = (done.saturating_mul(100))
        .checked_div(total)
        .unwrap_or(0)
        .min(100);
    rsx! {
        div {
            class: "progress",
            role: "progressbar",
            "aria-valuemin": "0",
            "aria-valuemax": "{total}",
            "aria-valuenow": "{done}",
            "data-testid": "{testid}",
            div { style: "width:{pct}%" }
        }
    }
}
