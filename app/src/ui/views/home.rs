//! Home: unsent work and sync, returned records, what the server merged or flagged, and the
//! worker's communities with their progress (the progress table for a supervisor).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dioxus::prelude::*;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::lang::{Label, Lang};
use doorstep_shared::merge::ItemOutcome;
use doorstep_shared::place::DivisionCode;
use doorstep_shared::progress::{Figures, Progress, Rate};
use doorstep_shared::sync::Role;
use uuid::Uuid;

use crate::error::Result;
use crate::model::{CommunitySummary, Filter, LogKind, Session, SyncLogEntry};
use crate::store::Store;
use crate::ui::components::{ProgressBar, SyncPanel};
use crate::ui::i18n::{self, Text};
use crate::ui::views::SupervisorProgress;
use crate::ui::{Screen, use_app};

/// Everything the home screen shows, read in one go.
#[derive(Debug, Clone, PartialEq)]
struct HomeData {
    session: Option<Session>,
    communities: Vec<CommunitySummary>,
    unsent: usize,
    last_sync: Option<DateTime<Utc>>,
    /// `(person, name, comment)`.
    returned: Vec<(Uuid, String, String)>,
    log: Vec<SyncLogEntry>,
    /// Confirmed by the server, per community: `(done, roster)`.
    server_progress: BTreeMap<DivisionCode, (u64, u64)>,
    progress_at: Option<DateTime<Utc>>,
    form: Option<FormDefinition>,
}

fn load(s: &Store) -> Result<HomeData> {
    let returned = s
        .persons(None, Filter::Returned, "")?
        .into_iter()
        .map(|row| {
            let comment = s.record(row.person_id)?.review_comment.unwrap_or_default();
            Ok((row.person_id, row.name, comment))
        })
        .collect::<Result<Vec<_>>>()?;
    let progress: Option<(Progress, DateTime<Utc>)> = s.cached_progress()?;
    let server_progress = progress
        .as_ref()
        .map(|(r, _)| {
            r.communities
                .iter()
                .map(|c| (c.code.clone(), (c.figures.done, c.figures.roster)))
                .collect()
        })
        .unwrap_or_default();
    Ok(HomeData {
        session: s.session()?,
        communities: s.communities()?,
        unsent: s.unsent_count()?,
        last_sync: s.last_sync_at()?,
        returned,
        log: s.sync_log(8)?,
        server_progress,
        progress_at: progress.map(|(_, at)| at),
        form: s.form()?,
    })
}

/// A rate as `92.56%` (or `—`).
fn rate(r: Rate) -> String {
    r.to_string()
}

/// The label of an item in the worker's language (the key when the form does not know it).
fn item_label(form: Option<&FormDefinition>, lang: Lang, key: &str) -> String {
    form.and_then(|f| f.item(key)).map_or_else(
        || key.to_string(),
        |i| lang.pick(&i.label_zh, &i.label_en).to_string(),
    )
}

/// One line of the sync log in plain words.
fn log_line(e: &SyncLogEntry, form: Option<&FormDefinition>) -> Text {
    let name = e.name.clone().unwrap_or_else(|| "—".into());
    let items = |lang: Lang, want: ItemOutcome| -> String {
        e.items
            .iter()
            .filter(|(_, o)| **o == want)
            .map(|(k, _)| format!("「{}」", item_label(form, lang, k)))
            .collect::<Vec<_>>()
            .join(if lang == Lang::Zh { "、" } else { ", " })
    };
    match e.kind {
        LogKind::Merged => {
            let (mz, me) = (
                items(Lang::Zh, ItemOutcome::SetMerged),
                items(Lang::En, ItemOutcome::SetMerged),
            );
            let (cz, ce) = (
                items(Lang::Zh, ItemOutcome::Conflict),
                items(Lang::En, ItemOutcome::Conflict),
            );
            let mut zh = vec![];
            let mut en = vec![];
            if !mz.is_empty() {
                zh.push(format!("服务器把{mz}与他人的修改合并了"));
                en.push(format!("the server merged {me} with another edit"));
            }
            if !cz.is_empty() {
                zh.push(format!("{cz}与他人的修改冲突，等待街道专干处理"));
                en.push(format!(
                    "{ce} conflicts with another edit; a supervisor will decide"
                ));
            }
            Text::new(
                format!("{name}：{}", zh.join("；")),
                format!("{name}: {}", en.join("; ")),
            )
        }
        LogKind::Reassigned => Text::new(
            format!("{name}：该社区已改派他人，此修改仍被接受"),
            format!("{name}: the community was reassigned; this edit was still accepted"),
        ),
        LogKind::Rejected => {
            let m = e.message.clone().unwrap_or_default();
            Text::new(
                format!("{name}：服务器拒绝了修改（{m}），记录仍在本机"),
                format!("{name}: the server refused the edit ({m}); it stays on this phone"),
            )
        }
    }
}

/// The home screen.
#[component]
pub fn Home() -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let services = ctx.services.clone();
    let c = ctx.clone();
    let data = use_resource(move || {
        let _ = c.revision();
        let services = services.clone();
        async move { services.read(load).await }
    });
    let loaded = data.read().clone();
    let Some(result) = loaded else {
        return rsx! { p { class: "muted", "…" } };
    };
    let d = match result {
        Ok(d) => d,
        Err(e) => {
            return rsx! { p { class: "banner error", {i18n::error_text(lang, &e)} } };
        }
    };
    let role = d.session.as_ref().map(|s| s.account.role);
    let needs_sign_in = d.session.as_ref().is_some_and(|s| !s.signed_in());
    let who = d.session.as_ref().map(|s| {
        format!(
            "{} · {}",
            s.account.display_name,
            s.account.role.label(lang)
        )
    });
    let go_all = {
        let c = ctx.clone();
        move |_| {
            c.go(Screen::Persons {
                community: None,
                title: c.t(i18n::ALL_PERSONS).to_string(),
                filter: Filter::All,
                search: String::new(),
            });
        }
    };
    let form = d.form.clone();
    rsx! {
        if let Some(who) = who {
            p { class: "muted", "data-testid": "who", "{who}" }
        }
        if needs_sign_in || d.session.is_none() {
            SignInAgain { fresh: d.session.is_none() }
        }
        SyncPanel { unsent: d.unsent, last_sync: d.last_sync }
        if d.form.is_none() && !d.communities.is_empty() {
            p { class: "banner warn", {lang.t(i18n::NO_FORM)} }
        }
        if !d.returned.is_empty() {
            section { class: "card", "data-testid": "returned",
                h2 { {lang.t(i18n::RETURNED_TITLE)} }
                for (id, name, comment) in d.returned.clone() {
                    button {
                        key: "{id}",
                        class: "item-row",
                        "data-testid": "returned-{id}",
                        onclick: {
                            let c = ctx.clone();
                            move |_| c.go(Screen::Person { id })
                        },
                        div { class: "name", "{name}" }
                        div { class: "muted", {lang.t(i18n::SUPERVISOR_COMMENT)} "：{comment}" }
                    }
                }
            }
        }
        if !d.log.is_empty() {
            section { class: "card", "data-testid": "server-notes",
                h2 { {lang.t(i18n::SERVER_NOTES)} }
                for e in d.log.iter() {
                    p { key: "{e.mutation}-{e.kind:?}",
                        span { class: "muted", "{i18n::time_label(e.at)} " }
                        {log_line(e, form.as_ref()).get(lang).to_string()}
                    }
                }
            }
        }
        if matches!(role, Some(Role::Supervisor | Role::Admin)) {
            SupervisorProgress {}
        }
        if !d.communities.is_empty() || role == Some(Role::Worker) || role.is_none() {
            h2 { {lang.t(i18n::MY_COMMUNITIES)} }
            if d.communities.is_empty() {
                p { class: "card muted", {lang.t(i18n::NO_COMMUNITIES)} }
            }
            for s in d.communities.clone() {
                CommunityCard {
                    key: "{s.code}",
                    server: d.server_progress.get(&s.code).copied(),
                    progress_at: d.progress_at,
                    summary: s,
                }
            }
            if !d.communities.is_empty() {
                button { class: "btn", "data-testid": "search-all", onclick: go_all, {lang.t(i18n::SEARCH_ALL)} }
            }
        }
    }
}

/// One community: progress bar, home-visit rate, what needs attention.
#[component]
fn CommunityCard(
    summary: CommunitySummary,
    server: Option<(u64, u64)>,
    progress_at: Option<DateTime<Utc>>,
) -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let s = summary;
    let code = s.code.clone();
    let name = s.name.clone();
    let open = {
        let c = ctx.clone();
        let code = code.clone();
        let name = name.clone();
        move |_| {
            c.go(Screen::Persons {
                community: Some(code.clone()),
                title: name.clone(),
                filter: Filter::NotYet,
                search: String::new(),
            });
        }
    };
    rsx! {
        button { class: "community", "data-testid": "community-{code}", onclick: open,
            div { class: "spread",
                strong { style: "font-size:20px", "{name}" }
                span { "data-testid": "done-{code}", "{s.done} / {s.total}" }
            }
            ProgressBar { done: s.done, total: s.total, testid: format!("progress-{code}") }
            div { class: "spread muted",
                span { {lang.t(i18n::COMPLETION)} " {rate(s.completion_rate)}" }
                span { "data-testid": "hv-rate-{code}", {lang.t(i18n::HOME_VISIT_RATE)} " {rate(s.home_visit_rate)}" }
            }
            div {
                if s.unsent > 0 {
                    span { class: "badge unsent", {lang.t(i18n::UNSENT_BADGE)} " {s.unsent}" }
                }
                if s.returned > 0 {
                    span { class: "badge returned", {lang.t(i18n::RETURNED_BADGE)} " {s.returned}" }
                }
                if s.conflicts > 0 {
                    span { class: "badge conflict", {lang.t(i18n::CONFLICT_BADGE)} " {s.conflicts}" }
                }
            }
            if let Some((done, roster)) = server {
                div { class: "muted", "data-testid": "server-done-{code}",
                    {lang.t(i18n::SERVER_CONFIRMED)} " {done} / {roster}"
                    if let Some(at) = progress_at {
                        " ({i18n::time_label(at)})"
                    }
                }
            }
        }
    }
}

/// Sign in again after the session ended (the store and its records stay); `fresh` when the
/// store never had a session (a first sign-in cut short): then the account is asked too.
#[component]
fn SignInAgain(fresh: bool) -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let mut server = use_signal(|| ctx.services.config().server_url.clone().unwrap_or_default());
    let mut username = use_signal(String::new);
    let mut password = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<Text>);
    let c = ctx.clone();
    let submit = move |_| {
        busy.set(true);
        let c = c.clone();
        spawn(async move {
            let r = if fresh {
                c.services.sign_in(server(), username(), password()).await
            } else {
                c.services.sign_in_again(password()).await
            };
            busy.set(false);
            password.set(String::new());
            match r {
                Ok(_) => error.set(None),
                Err(e) => error.set(Some((&e).into())),
            }
        });
    };
    rsx! {
        section { class: "card", "data-testid": "sign-in-again",
            if fresh {
                h2 { {lang.t(i18n::SIGN_IN)} }
                p { {lang.t(i18n::SIGN_IN_INTRO)} }
                label { class: "lbl", r#for: "again-server", {lang.t(i18n::SERVER)} }
                input {
                    id: "again-server",
                    r#type: "url",
                    value: "{server}",
                    oninput: move |e: FormEvent| server.set(e.value()),
                }
                label { class: "lbl", r#for: "again-username", {lang.t(i18n::USERNAME)} }
                input {
                    id: "again-username",
                    r#type: "text",
                    autocapitalize: "none",
                    value: "{username}",
                    oninput: move |e: FormEvent| username.set(e.value()),
                }
            } else {
                h2 { {lang.t(i18n::SIGN_IN_AGAIN_TITLE)} }
                p { {lang.t(i18n::SIGN_IN_AGAIN_INTRO)} }
            }
            label { class: "lbl", r#for: "again-password", {lang.t(i18n::PASSWORD)} }
            input {
                id: "again-password",
                r#type: "password",
                value: "{password}",
                oninput: move |e: FormEvent| password.set(e.value()),
            }
            if let Some(e) = error() {
                p { class: "banner error", role: "alert", {e.get(lang).to_string()} }
            }
            button { class: "btn primary", disabled: busy(), onclick: submit, {lang.t(i18n::SIGN_IN)} }
        }
    }
}

/// Figures of a progress row (used by the supervisor table).
#[must_use]
pub(crate) fn figures_rates(f: &Figures) -> (String, String) {
    (
        doorstep_shared::progress::format_bp(f.completion_bp),
        doorstep_shared::progress::format_bp(f.home_visit_bp),
    )
}
