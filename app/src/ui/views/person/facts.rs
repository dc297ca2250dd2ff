//! The roster facts and the record's state on the person screen: submitted, returned (with
//! the supervisor's comment and notes), unsent, refused by the server, in conflict.

use dioxus::prelude::*;
use doorstep_shared::domain::{Review, Status};
use doorstep_shared::lang::{Label, Lang};

use super::layout::UnplacedNote;
use crate::model::RecordView;
use crate::ui::i18n;
use crate::ui::services::PersonData;
use crate::ui::{Tone, use_app};

/// The roster facts and the record's state (submitted, returned, unsent, refused, conflicts).
/// `unplaced_notes`: the reviewer's notes on items not on the screen.
#[component]
pub(super) fn Facts(data: PersonData, unplaced_notes: Vec<UnplacedNote>) -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let v = &data.view;
    let p = &v.person;
    let id = p.id;
    let age = p.facts.age_on(data.campaign.reference_date());
    let sex = p.facts.sex.label(lang);
    let age_line = match lang {
        Lang::Zh => format!("{sex} · {age} 岁"),
        Lang::En => format!("{sex} · {age} years"),
    };
    let cat = p.facts.category;
    let level = p.facts.level;
    let disability = match lang {
        Lang::Zh => format!("{} · {}", cat.label(lang), level.label_zh()),
        Lang::En => format!("{} · level {}", cat.label(lang), level.get()),
    };
    let mut subsidies = Vec::new();
    if p.nursing_subsidy {
        subsidies.push(lang.t(i18n::NURSING_SUBSIDY));
    }
    if p.living_subsidy {
        subsidies.push(lang.t(i18n::LIVING_SUBSIDY));
    }
    let subsidies = if subsidies.is_empty() {
        lang.t(i18n::NONE).to_string()
    } else {
        subsidies.join(if lang == Lang::Zh { "、" } else { ", " })
    };
    let phone = p.phone.clone();
    let tel = format!("tel:{phone}");
    let conflicts: Vec<String> = v
        .conflicts
        .keys()
        .map(|k| {
            data.form.item(k).map_or_else(
                || k.clone(),
                |i| lang.pick(&i.label_zh, &i.label_en).to_string(),
            )
        })
        .collect();
    let c = ctx.clone();
    let retry = move |_| {
        let c = c.clone();
        spawn(async move {
            if let Err(e) = c.services.write(move |s| s.retry_rejected(id)).await {
                c.notify(Tone::Error, &e);
            }
        });
    };
    let c = ctx.clone();
    let discard = move |_| {
        let c = c.clone();
        spawn(async move {
            if let Err(e) = c.services.write(move |s| s.discard_rejected(id)).await {
                c.notify(Tone::Error, &e);
            }
        });
    };
    rsx! {
        section { class: "card", "data-testid": "facts",
            h2 { "data-testid": "person-name", "{p.name}" }
            p { class: "muted", "{age_line}" }
            dl { class: "facts",
                dt { {lang.t(i18n::ID_NUMBER)} }
                dd { "data-testid": "masked-id", {p.masked_id()} }
                dt { {lang.t(i18n::CERTIFICATE)} }
                dd { {p.masked_certificate()} }
                dt { {lang.t(i18n::DISABILITY)} }
                dd { "{disability}" }
                dt { {lang.t(i18n::ADDRESS)} }
                dd { "{p.address}" }
                dt { {lang.t(i18n::PHONE)} }
                dd {
                    if phone.is_empty() { "—" } else { a { href: "{tel}", "{phone}" } }
                }
                dt { {lang.t(i18n::SUBSIDIES)} }
                dd { "{subsidies}" }
            }
            {record_state(lang, v)}
            {(v.review == Review::Returned).then(|| review_banner(lang, v, unplaced_notes))}
            {v.rejected.clone().map(|(code, message)| rejected_banner(lang, &code, &message, retry, discard))}
            for label in conflicts {
                p { key: "{label}", class: "badge conflict", "「{label}」" {lang.t(i18n::CONFLICT_NOTE)} }
            }
        }
    }
}

/// The record's state as badges: not yet visited, draft or submitted, its review, unsent.
fn record_state(lang: Lang, v: &RecordView) -> Element {
    rsx! {
        div { "data-testid": "record-state",
            if v.outcome.is_none() && v.status == Status::Draft {
                span { class: "badge", {lang.t(i18n::NOT_YET_BADGE)} }
            } else {
                span { class: if v.status == Status::Final { "badge done" } else { "badge" }, {v.status.label(lang)} }
            }
            if v.status == Status::Final || v.review != Review::Pending {
                span { class: if v.review == Review::Returned { "badge returned" } else { "badge" }, {i18n::review_status(lang, v.review)} }
            }
            if v.pending > 0 {
                span { class: "badge unsent", {lang.t(i18n::UNSENT_BADGE)} }
            }
        }
    }
}

/// A returned record: the supervisor's comment, how many item notes, and the notes on items not
/// on the screen.
fn review_banner(lang: Lang, v: &RecordView, unplaced_notes: Vec<UnplacedNote>) -> Element {
    rsx! {
        div { class: "banner warn", "data-testid": "review-banner",
            p { "data-testid": "review-comment",
                {lang.t(i18n::SUPERVISOR_COMMENT)} "：{v.review_comment.clone().unwrap_or_default()}"
            }
            if !v.review_notes.is_empty() {
                p { "data-testid": "review-notes-count", {i18n::review_notes_line(lang, v.review_notes.len())} }
            }
            for UnplacedNote { item, label, note } in unplaced_notes {
                div { key: "{item}", class: "review-note", "data-note-item": "{item}",
                    "「{label}」" {i18n::review_note_line(lang, &note)}
                }
            }
        }
    }
}

/// An edit the server refused: its message and code, to send again or discard.
fn rejected_banner(
    lang: Lang,
    code: &str,
    message: &str,
    retry: impl FnMut(MouseEvent) + 'static,
    discard: impl FnMut(MouseEvent) + 'static,
) -> Element {
    rsx! {
        div { class: "banner error", "data-testid": "rejected", "data-code": "{code}",
            p {
                {lang.t(i18n::REJECTED_INTRO)}
                " "
                span { "data-testid": "rejected-message", {i18n::server_message(lang, message)} }
                " "
                span { class: "muted", "data-testid": "rejected-code", "({code})" }
            }
            div { class: "row",
                button { class: "btn", "data-testid": "retry-rejected", onclick: retry, {lang.t(i18n::RETRY)} }
                button { class: "btn", "data-testid": "discard-rejected", onclick: discard, {lang.t(i18n::DISCARD)} }
            }
        }
    }
}
