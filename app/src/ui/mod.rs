//! The worker app's UI (Dioxus): `views/` are the screens, `components/` the widgets they share.
//!
//! The UI only calls the library through [`services::Services`] (one per process, given to the
//! root as a context), reached in components with [`use_app`]. IO never runs inside `rsx!`:
//! event handlers `spawn` plain async functions of the services, which run store calls in
//! `spawn_blocking` and network calls in the async sync engine.
//!
//! Navigation is a [`Screen`] value with a back stack, not URLs: a phone app with one window,
//! where a reload must land on the PIN screen rather than deep inside a record.
//!
//! Run it in a browser through [`liveview`] (the default binary), or in a native window with the
//! `desktop` feature.

use std::sync::Arc;

use dioxus::prelude::*;
use doorstep_shared::lang::{Lang, Tr};
use doorstep_shared::place::DivisionCode;
use uuid::Uuid;

use crate::model::Filter;

pub mod components;
pub mod drive;
pub mod i18n;
pub mod liveview;
pub mod services;
pub mod views;

use i18n::Text;
use services::{Services, Shared};

/// One screen of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    /// First sign-in (no store on the device yet).
    SignIn,
    /// Open the store with the PIN.
    Unlock,
    /// Communities, unsent work, sync; the progress table for a supervisor.
    Home,
    /// The persons of one community (or of all), searched and filtered.
    Persons {
        community: Option<DivisionCode>,
        title: String,
        filter: Filter,
        search: String,
    },
    /// One person: roster facts, outcome, questionnaire.
    Person { id: Uuid },
}

/// How a notice looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Ok,
    Warn,
    Error,
}

impl Tone {
    #[must_use]
    pub fn class(self) -> &'static str {
        match self {
            Tone::Ok => "banner ok",
            Tone::Warn => "banner warn",
            Tone::Error => "banner error",
        }
    }
}

/// A notice shown above the current screen until the next navigation.
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub tone: Tone,
    pub text: Text,
}

/// What every component reaches through [`use_app`]: the services and this window's state.
#[derive(Clone)]
pub struct AppCtx {
    pub services: Arc<Services>,
    pub lang: Signal<Lang>,
    pub screen: Signal<Screen>,
    back_stack: Signal<Vec<Screen>>,
    /// The services' snapshot, mirrored into this window.
    pub shared: Signal<Shared>,
    pub flash: Signal<Option<Flash>>,
}

impl AppCtx {
    /// The text in the current language.
    #[must_use]
    pub fn t(&self, tr: Tr) -> &'static str {
        (self.lang)().t(tr)
    }

    #[must_use]
    pub fn lang(&self) -> Lang {
        (self.lang)()
    }

    /// The data revision: read it inside a resource to reload when the data changes.
    #[must_use]
    pub fn revision(&self) -> u64 {
        self.shared.read().revision
    }

    /// Opens a screen; "back" returns to `from` (the current screen with its state).
    pub fn go_from(&self, from: Screen, to: Screen) {
        let mut back = self.back_stack;
        let mut screen = self.screen;
        let mut flash = self.flash;
        back.write().push(from);
        flash.set(None);
        screen.set(to);
    }

    /// Opens a screen; "back" returns to the current one.
    pub fn go(&self, to: Screen) {
        let from = self.screen.peek().clone();
        self.go_from(from, to);
    }

    /// Replaces the whole navigation (after unlocking, signing in, locking).
    pub fn reset(&self, to: Screen) {
        let mut back = self.back_stack;
        let mut screen = self.screen;
        let mut flash = self.flash;
        back.write().clear();
        flash.set(None);
        screen.set(to);
    }

    /// Whether there is somewhere to go back to.
    #[must_use]
    pub fn can_go_back(&self) -> bool {
        !self.back_stack.read().is_empty()
    }

    /// Returns to the previous screen (keeping any notice just shown).
    pub fn back(&self) {
        let mut back = self.back_stack;
        let mut screen = self.screen;
        let prev = back.write().pop();
        if let Some(prev) = prev {
            screen.set(prev);
        }
    }

    /// Shows a notice.
    pub fn notify(&self, tone: Tone, text: impl Into<Text>) {
        let mut flash = self.flash;
        flash.set(Some(Flash {
            tone,
            text: text.into(),
        }));
    }

    pub fn clear_notice(&self) {
        let mut flash = self.flash;
        flash.set(None);
    }

    pub fn set_lang(&self, lang: Lang) {
        let mut l = self.lang;
        l.set(lang);
        self.services.set_lang(lang);
    }
}

/// The app's context, in any component under [`App`].
#[must_use]
pub fn use_app() -> AppCtx {
    use_context::<AppCtx>()
}

/// The first screen: the PIN when a store exists, the first sign-in otherwise.
fn start_screen(services: &Services) -> Screen {
    if services.store().is_some() {
        Screen::Home
    } else if services.has_store() {
        Screen::Unlock
    } else {
        Screen::SignIn
    }
}

/// The root component. Give it the services as a root context:
/// `VirtualDom::new(App).with_root_context(services)`.
#[component]
pub fn App() -> Element {
    let services: Arc<Services> = use_context();
    let ctx = use_context_provider(|| {
        let lang = services.lang();
        let first = start_screen(&services);
        AppCtx {
            services: services.clone(),
            lang: Signal::new(lang),
            screen: Signal::new(first),
            back_stack: Signal::new(Vec::new()),
            shared: Signal::new(services.snapshot()),
            flash: Signal::new(None),
        }
    });

    // Mirror the services' snapshot into this window; leave a screen that needs the store when
    // it gets locked (here or elsewhere).
    use_hook(|| {
        let mut rx = services.subscribe();
        let mut shared = ctx.shared;
        let ctx = ctx.clone();
        spawn(async move {
            while rx.changed().await.is_ok() {
                let snap = rx.borrow_and_update().clone();
                let needs_store = !matches!(*ctx.screen.peek(), Screen::SignIn | Screen::Unlock);
                if !snap.unlocked && needs_store {
                    ctx.reset(start_screen(&ctx.services));
                }
                shared.set(snap);
            }
        })
    });

    // The native test's scripted walk, when one was given.
    use_hook(|| {
        if let Some(steps) = services.config().drive.clone() {
            spawn(drive::run(steps));
        }
    });

    let screen = ctx.screen.read().clone();
    let lang = ctx.lang();
    let embed_css = services.config().embed_css;
    rsx! {
        if embed_css {
            style { {STYLESHEET} }
        }
        div { class: "app", lang: lang.html(),
            components::TopBar {}
            main {
                components::Notice {}
                match screen {
                    Screen::SignIn => rsx! { views::SignIn {} },
                    Screen::Unlock => rsx! { views::Unlock {} },
                    Screen::Home => rsx! { views::Home {} },
                    Screen::Persons { community, title, filter, search } => {
                        let key = community.as_ref().map_or_else(|| "all".to_string(), ToString::to_string);
                        rsx! { views::Persons { key: "{key}", community, title, filter, search } }
                    }
                    Screen::Person { id } => rsx! { views::PersonScreen { key: "{id}", id } },
                }
            }
        }
    }
}

/// The one stylesheet: a phone layout (at most 480 px wide), large type and touch targets.
pub const STYLESHEET: &str = r#"
*{box-sizing:border-box}
html,body{margin:0;background:#e9edf1}
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;font-size:18px;line-height:1.5;color:#1b1f23;-webkit-text-size-adjust:100%}
.app{max-width:480px;margin:0 auto;min-height:100vh;background:#f6f7f9;padding-bottom:150px}
.topbar{position:sticky;top:0;z-index:5;display:flex;align-items:center;gap:8px;background:#0d5bb5;color:#fff;padding:6px 10px;min-height:58px}
.topbar h1{flex:1;font-size:20px;margin:0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.topbar .title{flex:1;min-width:0}
.topbar .campaign{margin:0;font-size:14px;line-height:1.3;opacity:.9;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.topbar button{background:transparent;color:#fff;border:1px solid rgba(255,255,255,.7);border-radius:10px;min-height:46px;min-width:46px;font-size:16px;padding:0 12px}
main{padding:12px}
h2{font-size:20px;margin:4px 0 10px}
h3{font-size:18px;margin:14px 0 8px}
p{margin:6px 0}
.card{background:#fff;border-radius:14px;padding:14px;margin-bottom:12px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
button{font:inherit;cursor:pointer;touch-action:manipulation}
.btn{display:block;width:100%;min-height:54px;border-radius:12px;border:none;font-size:19px;font-weight:600;padding:10px 14px;background:#e1e6ec;color:#1b1f23;margin:8px 0}
.btn.primary{background:#0d5bb5;color:#fff}
.btn.ok{background:#2e7d32;color:#fff}
.btn.danger{background:#c62828;color:#fff}
.btn.link{background:none;color:#0d5bb5;min-height:46px;font-weight:500;text-decoration:underline}
.btn:disabled{opacity:.55}
.row{display:flex;gap:10px;align-items:center}
.row>.btn{flex:1}
.spread{display:flex;justify-content:space-between;align-items:baseline;gap:8px}
label.lbl,.lbl{display:block;font-weight:600;margin:12px 0 6px}
input[type=text],input[type=password],input[type=number],input[type=tel],input[type=date],input[type=url],input[type=search],select{width:100%;min-height:54px;font-size:19px;padding:8px 12px;border:2px solid #c3cbd4;border-radius:12px;background:#fff;color:inherit}
input:focus,select:focus{outline:none;border-color:#0d5bb5}
.progress{height:16px;background:#e1e6ec;border-radius:8px;overflow:hidden;margin:6px 0}
.progress>div{height:100%;background:#2e7d32}
.choices{display:grid;grid-template-columns:1fr 1fr;gap:8px}
.choice{min-height:54px;border-radius:12px;border:2px solid #c3cbd4;background:#fff;font-size:18px;padding:8px;color:inherit}
.choice[aria-pressed=true]{border-color:#0d5bb5;background:#0d5bb5;color:#fff;font-weight:700}
.outcomes .choice{min-height:66px;font-size:20px;font-weight:600}
.outcomes .choice.survey{border-color:#2e7d32}
.outcomes .choice.survey[aria-pressed=true]{background:#2e7d32;border-color:#2e7d32}
.checks{display:flex;flex-direction:column;gap:6px}
.check{display:flex;align-items:center;gap:12px;min-height:50px;padding:6px 10px;border:2px solid #e1e6ec;border-radius:12px;background:#fff;font-size:18px}
.check input{width:28px;height:28px;flex:none}
.field{padding:10px 0;border-bottom:1px solid #eef1f4}
.field.invalid{background:#fff5f5;margin:0 -14px;padding:10px 14px}
.req{color:#c62828;margin-left:4px;font-size:15px}
.err{color:#c62828;font-weight:600;margin-top:6px}
.help{color:#5f6b76;font-size:15px}
.banner{padding:12px 14px;border-radius:12px;margin:0 0 12px;font-weight:600}
.notice{position:sticky;top:64px;z-index:6;box-shadow:0 2px 8px rgba(0,0,0,.15)}
fieldset.plain{border:0;margin:0;padding:0;min-width:0}
.banner.ok{background:#e6f4ea;color:#1b5e20}
.banner.warn{background:#fff6dc;color:#7a5b00}
.banner.error{background:#fdecec;color:#b71c1c}
.badge{display:inline-block;border-radius:999px;padding:1px 10px;font-size:14px;margin:2px 6px 2px 0;background:#e1e6ec;font-weight:600}
.badge.done{background:#e6f4ea;color:#1b5e20}
.badge.unsent{background:#fff0dc;color:#a04a00}
.badge.returned,.badge.rejected{background:#fdecec;color:#b71c1c}
.badge.conflict{background:#f3e5f5;color:#6a1b9a}
.badge.changed{background:#fff0dc;color:#a04a00;margin-left:8px}
.prior{color:#5f6b76;font-size:15px;margin:0 0 6px}
.prior-value{color:#1b1f23;font-weight:600}
.review-note{border-left:4px solid #f08c00;background:#fff6dc;color:#7a4a00;font-size:16px;font-weight:600;padding:6px 10px;margin:4px 0 8px;border-radius:0 8px 8px 0}
.check-warning{border:2px dashed #e0a800;background:#fffbe6;color:#6b4f00;font-size:16px;padding:6px 10px;margin:6px 0;border-radius:8px}
.check-hint{display:block;font-size:15px;color:#7a5b00}
.check-summary{flex-basis:100%;text-align:center;background:#fffbe6;color:#6b4f00;border:2px dashed #e0a800;border-radius:10px;padding:4px 8px;font-size:16px;font-weight:600;cursor:pointer}
.same-as-last-year{margin:0 0 6px}
.same-tag{margin-left:8px;font-weight:600}
.btn.same{background:#e6f4ea;color:#1b5e20;border:2px solid #2e7d32}
.muted{color:#5f6b76;font-size:15px}
.big{font-size:34px;font-weight:700;line-height:1.1}
.actions{position:fixed;bottom:0;left:0;right:0;max-width:480px;margin:0 auto;background:#fff;padding:8px 12px;box-shadow:0 -2px 8px rgba(0,0,0,.12);display:flex;flex-wrap:wrap;gap:8px 10px;z-index:4}
.actions .btn{flex:1;margin:0}
.filters{display:flex;flex-wrap:wrap;gap:6px;margin:10px 0}
.filters button{min-height:46px;border-radius:23px;border:2px solid #c3cbd4;background:#fff;padding:0 14px;font-size:16px;color:inherit}
.filters button[aria-pressed=true]{background:#0d5bb5;border-color:#0d5bb5;color:#fff;font-weight:700}
.list{background:#fff;border-radius:14px;overflow:hidden;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.item-row{display:block;width:100%;text-align:left;background:#fff;border:none;border-bottom:1px solid #eef1f4;padding:12px 14px;min-height:66px;color:inherit}
.item-row:active{background:#eef4fb}
.item-row .name{font-size:19px;font-weight:700}
.community{display:block;width:100%;text-align:left;border:none;background:#fff;color:inherit;border-radius:14px;padding:14px;margin-bottom:12px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.facts{display:grid;grid-template-columns:auto 1fr;gap:4px 12px;margin:0}
.facts dt{color:#5f6b76}
.facts dd{margin:0;font-weight:600;word-break:break-all}
table{width:100%;border-collapse:collapse;font-size:15px}
td,th{padding:6px 4px;border-bottom:1px solid #eef1f4;text-align:left}
a{color:#0d5bb5}
"#;
