//! One person: roster facts, the outcome first (seven big buttons), then the questionnaire
//! rendered from the form definition, with relevance, required marks and one message per invalid
//! item; "save draft" or "submit". Saving writes the encrypted store only: never the network.
//! The form's soft checks warn beside their items as the worker answers (amber, never an error):
//! a submit with warnings and no reason (核实说明) goes through and says so in its notice.

use std::collections::{BTreeMap, BTreeSet};

use dioxus::prelude::*;
use doorstep_shared::carry::{self, ItemChange};
use doorstep_shared::checks;
use doorstep_shared::domain::{OUTCOME, Outcome, Review, Status, VISIT_AT, VISIT_GEO, outcome_of};
use doorstep_shared::form::{FormContext, ItemError};
use doorstep_shared::ids::Sex;
use doorstep_shared::review::locks_worker;
use doorstep_shared::value::{Answers, Value};
use uuid::Uuid;

use crate::model::SaveResult;
use crate::scratch::Edits;
use crate::ui::components::geo::{self, WebPosition};
use crate::ui::components::{ItemField, ItemWarning, OutcomePicker, ReviewNote};
use crate::ui::i18n::{self, Lang, Text};
use crate::ui::services::{PersonData, now_label};
use crate::ui::{Tone, use_app};

/// The answers as the worker sees them now: the record with this visit's edits on top.
fn with_edits(base: &Answers, edits: &Edits) -> Answers {
    let mut a = base.clone();
    for (k, v) in edits {
        match v {
            Some(v) => a.insert(k.clone(), v.clone()),
            None => a.remove(k),
        };
    }
    a
}

/// The person screen.
#[component]
pub fn PersonScreen(id: Uuid) -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let services = ctx.services.clone();
    let c = ctx.clone();
    let data = use_resource(move || {
        let _ = c.revision();
        let services = services.clone();
        async move { services.person(id).await }
    });
    let touched = use_signal(Edits::new);
    let errors = use_signal(Vec::<ItemError>::new);
    let busy = use_signal(|| false);
    let generation = use_signal(|| 0u64);
    // Answers given here before and not saved (a reload, back, a killed app) come back first.
    let mut restored = use_signal(|| false);
    let c = ctx.clone();
    use_effect(move || {
        if let Some(Ok(d)) = &*data.read()
            && !*restored.peek()
        {
            let mut touched = touched;
            if !d.scratch.is_empty() && touched.peek().is_empty() {
                touched.set(d.scratch.clone());
                c.notify(Tone::Warn, i18n::RESTORED_INPUT);
            }
            restored.set(true);
        }
    });

    let loaded = data.read().clone();
    match loaded {
        None => rsx! { p { class: "muted", "…" } },
        Some(Err(e)) => {
            rsx! { p { class: "banner error", role: "alert", {i18n::error_text(lang, &e)} } }
        }
        Some(Ok(_)) if !restored() => rsx! { p { class: "muted", "…" } },
        Some(Ok(d)) => rsx! { PersonForm { data: d, touched, errors, busy, generation } },
    }
}

#[component]
fn PersonForm(
    data: PersonData,
    touched: Signal<Edits>,
    errors: Signal<Vec<ItemError>>,
    busy: Signal<bool>,
    generation: Signal<u64>,
) -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let d = data;
    let person = d.view.person.clone();
    let id = person.id;
    let answers = with_edits(&d.view.answers, &touched.read());
    let form_ctx = FormContext::for_person(&person, &d.campaign);
    let relevant: BTreeSet<String> = d
        .form
        .relevant_items(&answers, &form_ctx)
        .into_iter()
        .map(|i| i.key.clone())
        .collect();
    let outcome = outcome_of(&answers);
    // Last year's answers (a record carried from the previous campaign) and, per item, how this
    // year's answers (this visit's edits included) stand against them.
    let prior = d.view.prior.clone().unwrap_or_default();
    let changes: BTreeMap<String, ItemChange> = if prior.is_empty() {
        BTreeMap::new()
    } else {
        carry::diff(&d.form, &prior, &answers, &form_ctx)
    };
    let changed = |key: &str| changes.get(key) == Some(&ItemChange::Changed);
    // The soft checks on the answers as they stand: warnings beside their items, a count above
    // the submit button. They never block a save or a submit.
    let warnings = checks::warnings(&d.form, &answers, &form_ctx);
    let reason_given = checks::reason(&answers).is_some();
    let mut warned: BTreeMap<String, Vec<ItemWarning>> = BTreeMap::new();
    for w in &warnings {
        for item in &w.items {
            warned.entry(item.clone()).or_default().push(ItemWarning {
                check: w.check.clone(),
                message: lang.pick(&w.message_zh, &w.message_en).to_string(),
            });
        }
    }
    let warnings_of = |key: &str| warned.get(key).cloned().unwrap_or_default();
    let warning_count = warnings.len();
    let unexplained = if reason_given { 0 } else { warning_count };
    let error_of = |key: &str| -> Option<String> {
        errors
            .read()
            .iter()
            .find(|e| e.item == key)
            .map(|e| lang.pick(&e.message_zh, &e.message_en).to_string())
    };

    // Recording an answer: the edit, kept on the device at once; the item's old error goes.
    let services = ctx.services.clone();
    let keep = use_callback(move |edits: Edits| {
        let services = services.clone();
        spawn(async move {
            if let Err(e) = services.keep_scratch(id, edits).await {
                tracing::warn!(error = %e, "unsaved answers not kept");
            }
        });
    });
    let set = move |key: String, v: Option<Value>| {
        let mut touched = touched;
        let mut errors = errors;
        errors.write().retain(|e| e.item != key);
        touched.write().insert(key, v);
        keep.call(touched());
    };
    // With a reviewer or final: read-only on the phone too.
    let locked = locks_worker(d.view.review);
    // The reviewer's notes on single items, while the record is returned.
    let notes: BTreeMap<String, String> = if d.view.review == Review::Returned {
        d.view.review_notes.clone()
    } else {
        BTreeMap::new()
    };
    let note_of = |key: &str| notes.get(key).cloned();

    // The outcome; a home visit records its time (and position where the platform has one).
    let view_answers = d.view.answers.clone();
    let services = ctx.services.clone();
    let from_roster = carry::from_roster(&person);
    let prior_keys: BTreeSet<String> = d
        .view
        .prior
        .as_ref()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let pick = move |o: Outcome| {
        let mut touched = touched;
        let mut errors = errors;
        errors.write().retain(|e| e.item != OUTCOME);
        let mut t = touched.write();
        t.insert(OUTCOME.into(), Some(Value::text(o.key())));
        let has = |t: &Edits, k: &str| {
            t.get(k)
                .map_or_else(|| view_answers.contains_key(k), Option::is_some)
        };
        // What the roster already knows (phone, subsidies) is offered, to confirm or change,
        // where neither this year's record nor last year's has a value.
        if o.has_questionnaire() {
            for (k, v) in &from_roster {
                if !has(&t, k) && !prior_keys.contains(k) {
                    t.insert(k.clone(), Some(v.clone()));
                }
            }
        }
        if o == Outcome::HomeVisit {
            if !has(&t, VISIT_AT) {
                t.insert(VISIT_AT.into(), Some(Value::text(now_label())));
            }
            if !has(&t, VISIT_GEO)
                && let Some(p) = services.position()
            {
                t.insert(VISIT_GEO.into(), Some(Value::Geo(p)));
            }
        }
        let ask_webview = o == Outcome::HomeVisit
            && !has(&t, VISIT_GEO)
            && services.config().webview_position
            && !services.position_refused();
        let now = t.clone();
        drop(t);
        keep.call(now);
        if ask_webview {
            let services = services.clone();
            spawn(async move {
                match geo::ask_webview().await {
                    WebPosition::At(p) => {
                        let mut touched = touched;
                        touched
                            .write()
                            .insert(VISIT_GEO.into(), Some(Value::Geo(p)));
                        keep.call(touched());
                    }
                    WebPosition::Refused => services.refuse_position(),
                    WebPosition::Unavailable => {}
                }
            });
        }
    };

    // Save as draft or submit: the store only, then the background sync is nudged.
    let c = ctx.clone();
    let name = person.name.clone();
    let save = move |finalize: bool| {
        let mut busy = busy;
        let mut touched = touched;
        let mut errors = errors;
        if busy() {
            return;
        }
        busy.set(true);
        let c = c.clone();
        let name = name.clone();
        let edits = touched();
        spawn(async move {
            let result = c.services.save(id, edits, finalize).await;
            busy.set(false);
            match result {
                Ok(SaveResult::Saved { .. }) => {
                    touched.set(Edits::new());
                    errors.set(Vec::new());
                    *generation.write() += 1;
                    if finalize && unexplained > 0 {
                        // Submitted all the same; the notice stays and says where the reason goes.
                        c.notify(Tone::Warn, i18n::submitted_unexplained(&name, unexplained));
                        if c.can_go_back() {
                            c.back();
                        }
                    } else if finalize {
                        c.notify(
                            Tone::Ok,
                            Text::new(
                                format!("已提交：{name}。记录已保存在本机，有网络时自动上传。"),
                                format!("Submitted: {name}. Saved on this phone; sent when the network allows."),
                            ),
                        );
                        if c.can_go_back() {
                            c.back();
                        }
                    } else {
                        c.notify(Tone::Ok, i18n::SAVED_DRAFT);
                    }
                }
                Ok(SaveResult::Unchanged) => c.notify(Tone::Warn, i18n::UNCHANGED),
                Ok(SaveResult::Invalid(list)) => {
                    c.clear_notice();
                    show_first(&list);
                    errors.set(list);
                }
                Err(e) => c.notify(Tone::Error, &e),
            }
        });
    };
    let save_draft = {
        let save = save.clone();
        move |_| save(false)
    };
    let submit = move |_| save(true);

    // "Same as last year" on a section: last year's values of its items, with this visit's
    // edits, saved on the device as one edit.
    let c = ctx.clone();
    let confirm = move |section: String| {
        let mut busy = busy;
        let mut touched = touched;
        let mut errors = errors;
        if busy() {
            return;
        }
        busy.set(true);
        let c = c.clone();
        let edits = touched();
        spawn(async move {
            let result = c
                .services
                .save_with(id, move |s| s.confirm_section_with(id, &section, edits))
                .await;
            busy.set(false);
            match result {
                Ok(SaveResult::Saved { .. }) => {
                    touched.set(Edits::new());
                    errors.set(Vec::new());
                    *generation.write() += 1;
                    c.notify(Tone::Ok, i18n::CONFIRMED_SECTION);
                }
                Ok(SaveResult::Unchanged) => c.notify(Tone::Warn, i18n::UNCHANGED),
                Ok(SaveResult::Invalid(list)) => {
                    c.clear_notice();
                    show_first(&list);
                    errors.set(list);
                }
                Err(e) => c.notify(Tone::Error, &e),
            }
        });
    };

    let c = ctx.clone();
    let reopen = move |_| {
        let c = c.clone();
        spawn(async move {
            if let Err(e) = c.services.write(move |s| s.reopen(id)).await {
                c.notify(Tone::Error, &e);
            }
        });
    };

    let outcome_section = d
        .form
        .sections
        .iter()
        .find(|s| s.items.iter().any(|i| i.key == OUTCOME));
    let detail_items: Vec<_> = outcome_section
        .map(|s| {
            s.items
                .iter()
                .filter(|i| {
                    i.key != OUTCOME
                        && i.key != VISIT_AT
                        && i.key != VISIT_GEO
                        && relevant.contains(&i.key)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let sections: Vec<_> = d
        .form
        .sections
        .iter()
        .filter(|s| !s.items.iter().any(|i| i.key == OUTCOME))
        .filter_map(|s| {
            let items: Vec<_> = s
                .items
                .iter()
                .filter(|i| relevant.contains(&i.key))
                .cloned()
                .collect();
            let confirmable = s.carry && s.items.iter().any(|i| prior.contains_key(&i.key));
            // Every shown item with last year's value holds it: the section is confirmed.
            let mut with_prior = items
                .iter()
                .filter(|i| prior.contains_key(&i.key))
                .peekable();
            let confirmed = confirmable
                && with_prior.peek().is_some()
                && with_prior.all(|i| changes.get(&i.key) == Some(&ItemChange::Unchanged));
            (!items.is_empty()).then(|| {
                (
                    s.key.clone(),
                    lang.pick(&s.title_zh, &s.title_en).to_string(),
                    items,
                    confirmable,
                    confirmed,
                )
            })
        })
        .collect();
    let show_visit = relevant.contains(VISIT_AT) || relevant.contains(VISIT_GEO);
    // Notes on items not on the screen now (not relevant to the answers given) go in the
    // returned banner, with the item's name: none is lost.
    let unplaced_notes: Vec<(String, String, String)> = {
        let mut placed: BTreeSet<&str> = BTreeSet::from([OUTCOME]);
        if show_visit {
            placed.extend([VISIT_AT, VISIT_GEO]);
        }
        placed.extend(detail_items.iter().map(|i| i.key.as_str()));
        if outcome.is_some_and(Outcome::has_questionnaire) {
            for (_, _, items, _, _) in &sections {
                placed.extend(items.iter().map(|i| i.key.as_str()));
            }
        }
        notes
            .iter()
            .filter(|(k, _)| !placed.contains(k.as_str()))
            .map(|(k, n)| {
                let label = d.form.item(k).map_or_else(
                    || k.clone(),
                    |i| lang.pick(&i.label_zh, &i.label_en).to_string(),
                );
                (k.clone(), label, n.clone())
            })
            .collect()
    };
    let visit_at = answers.get(VISIT_AT).map(Value::display);
    let visit_geo = match answers.get(VISIT_GEO) {
        Some(Value::Geo(g)) => Some(format!("{:.5}, {:.5}", g.lat, g.lon)),
        _ => None,
    };
    let error_list: Vec<String> = errors
        .read()
        .iter()
        .map(|e| lang.pick(&e.message_zh, &e.message_en).to_string())
        .collect();
    let conflicts = d.view.conflicts.clone();
    let busy_now = busy();
    let generation_now = generation();

    rsx! {
        Facts { data: d.clone(), unplaced_notes }
        if locked {
            p { class: "banner ok", "data-testid": "approved-locked", {i18n::locked_text(lang, d.view.review)} }
        }
        fieldset { class: "plain", disabled: locked, "data-testid": "record-fields",
        section { class: "card", id: "item-outcome", "data-testid": "outcome",
            h2 { {lang.t(i18n::OUTCOME_FIRST)} }
            p { class: "muted", {lang.t(i18n::OUTCOME_HINT)} }
            if let Some(n) = note_of(OUTCOME) {
                ReviewNote { item: OUTCOME, note: n }
            }
            OutcomePicker { selected: outcome, on_pick: pick }
            if let Some(e) = error_of(OUTCOME) {
                p { class: "err", role: "alert", "data-testid": "error-outcome", "{e}" }
            }
            if show_visit {
                div { class: "field", "data-testid": "visit",
                    div { class: "lbl", {d.form.item(VISIT_AT).map(|i| lang.pick(&i.label_zh, &i.label_en).to_string()).unwrap_or_default()} }
                    for k in [VISIT_AT, VISIT_GEO] {
                        if let Some(n) = note_of(k) {
                            ReviewNote { key: "{k}", item: k, note: n }
                        }
                    }
                    p { "data-testid": "visit-time",
                        match visit_at.clone() {
                            Some(t) => rsx! { "{t} " span { class: "muted", "（{lang.t(i18n::AUTO_RECORDED)}）" } },
                            None => rsx! { span { class: "muted", {lang.t(i18n::NOT_RECORDED)} } },
                        }
                    }
                    div { class: "lbl", {lang.t(i18n::POSITION)} }
                    if let Some(g) = visit_geo.clone() {
                        p { "data-testid": "visit-position", "{g}" }
                    } else if ctx.services.has_position() {
                        p { class: "muted", "data-testid": "visit-position", {lang.t(i18n::NOT_RECORDED)} }
                    } else {
                        p { class: "banner warn", "data-testid": "no-position", {lang.t(i18n::NO_POSITION)} }
                    }
                }
            }
            for item in detail_items {
                ItemField {
                    key: "{item.key}-{generation_now}",
                    value: answers.get(&item.key).cloned(),
                    error: error_of(&item.key),
                    conflict: conflicts.contains_key(&item.key),
                    note: note_of(&item.key),
                    warnings: warnings_of(&item.key),
                    reason_given,
                    on_change: {
                        let k = item.key.clone();
                        move |v| set(k.clone(), v)
                    },
                    item,
                }
            }
        }
        if outcome.is_some_and(Outcome::has_questionnaire) {
            section { class: "card", "data-testid": "questionnaire",
                h2 { {lang.t(i18n::QUESTIONNAIRE)} }
                for (key, title, items, confirmable, confirmed) in sections {
                    div { key: "{key}", "data-section": "{key}",
                        h3 { "{title}"
                            if confirmed {
                                span { class: "badge done same-tag", "data-testid": "section-unchanged-{key}",
                                    "✓ {i18n::change_label(lang, ItemChange::Unchanged)}"
                                }
                            }
                        }
                        if confirmable {
                            div { class: "same-as-last-year",
                                button {
                                    class: "btn same",
                                    disabled: busy_now,
                                    "data-testid": "confirm-section-{key}",
                                    onclick: {
                                        let confirm = confirm.clone();
                                        let key = key.clone();
                                        move |_| confirm(key.clone())
                                    },
                                    {lang.t(i18n::SAME_AS_LAST_YEAR)}
                                }
                                p { class: "muted", {lang.t(i18n::SAME_AS_LAST_YEAR_HINT)} }
                            }
                        }
                        for item in items {
                            ItemField {
                                key: "{item.key}-{generation_now}",
                                value: answers.get(&item.key).cloned(),
                                error: error_of(&item.key),
                                conflict: conflicts.contains_key(&item.key),
                                prior: prior.get(&item.key).cloned(),
                                changed: changed(&item.key),
                                note: note_of(&item.key),
                                warnings: warnings_of(&item.key),
                                reason_given,
                                on_change: {
                                    let k = item.key.clone();
                                    move |v| set(k.clone(), v)
                                },
                                item,
                            }
                        }
                    }
                }
            }
        }
        }
        if !error_list.is_empty() {
            section { class: "banner error", role: "alert", "data-testid": "errors",
                p { {lang.t(i18n::FIX_BELOW)} }
                ul {
                    for (i, m) in error_list.into_iter().enumerate() {
                        li { key: "{i}", "{m}" }
                    }
                }
            }
        }
        if d.view.status == Status::Final && d.view.review == Review::Pending {
            button { class: "btn link", "data-testid": "reopen", onclick: reopen, {lang.t(i18n::REOPEN)} }
        }
        if !locked {
        div { class: "actions",
            if warning_count > 0 {
                div {
                    class: "check-summary",
                    role: "status",
                    "data-testid": "check-summary",
                    onclick: move |_| show_first_warning(),
                    {i18n::check_summary_line(lang, warning_count)}
                }
            }
            button {
                class: "btn",
                disabled: busy_now,
                "data-testid": "save-draft",
                onclick: save_draft,
                if busy_now { {lang.t(i18n::SAVING)} } else { {lang.t(i18n::SAVE_DRAFT)} }
            }
            button {
                class: "btn ok",
                disabled: busy_now,
                "data-testid": "finalize",
                onclick: submit,
                {lang.t(i18n::FINALIZE)}
            }
        }
        }
    }
}

/// Brings the first item that needs the worker into view (the outcome, or a questionnaire
/// item), where its message is.
fn show_first(errors: &[ItemError]) {
    if let Some(e) = errors.first() {
        let id = format!("item-{}", e.item);
        let js = format!(
            "const el = document.getElementById({}); if (el) {{ el.scrollIntoView({{block: 'center'}}); const f = el.querySelector('input,select,button'); if (f) f.focus({{preventScroll: true}}); }}",
            serde_json::to_string(&id).unwrap_or_default()
        );
        let _ = document::eval(&js);
    }
}

/// Brings the first warning of a soft check into view, beside its item.
fn show_first_warning() {
    let _ = document::eval(
        "const el = document.querySelector('.check-warning'); if (el) el.scrollIntoView({block: 'center'});",
    );
}

/// The roster facts and the record's state (submitted, returned, unsent, refused, conflicts).
/// `unplaced_notes`: the reviewer's notes on items not on the screen, `(item, label, note)`.
#[component]
fn Facts(data: PersonData, unplaced_notes: Vec<(String, String, String)>) -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let v = &data.view;
    let p = &v.person;
    let id = p.id;
    let age = p.facts.age_on(data.campaign.reference_date());
    let sex = match (lang, p.facts.sex) {
        (Lang::Zh, s) => s.label_zh(),
        (Lang::En, Sex::Male) => "male",
        (Lang::En, Sex::Female) => "female",
    };
    let age_line = match lang {
        Lang::Zh => format!("{sex} · {age} 岁"),
        Lang::En => format!("{sex} · {age} years"),
    };
    let cat = p.facts.category;
    let level = p.facts.level;
    let disability = match lang {
        Lang::Zh => format!("{} · {}", cat.label_zh(), level.label_zh()),
        Lang::En => format!("{} · level {}", cat.label_en(), level.get()),
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
            div { "data-testid": "record-state",
                if v.outcome.is_none() && v.status == Status::Draft {
                    span { class: "badge", {lang.t(i18n::NOT_YET_BADGE)} }
                } else {
                    span { class: if v.status == Status::Final { "badge done" } else { "badge" }, {i18n::status_label(lang, v.status)} }
                }
                if v.status == Status::Final || v.review != Review::Pending {
                    span { class: if v.review == Review::Returned { "badge returned" } else { "badge" }, {i18n::review_label(lang, v.review)} }
                }
                if v.pending > 0 {
                    span { class: "badge unsent", {lang.t(i18n::UNSENT_BADGE)} }
                }
            }
            if v.review == Review::Returned {
                div { class: "banner warn", "data-testid": "review-banner",
                    p { "data-testid": "review-comment",
                        {lang.t(i18n::SUPERVISOR_COMMENT)} "：{v.review_comment.clone().unwrap_or_default()}"
                    }
                    if !v.review_notes.is_empty() {
                        p { "data-testid": "review-notes-count", {i18n::review_notes_line(lang, v.review_notes.len())} }
                    }
                    for (item, label, note) in unplaced_notes {
                        div { key: "{item}", class: "review-note", "data-note-item": "{item}",
                            "「{label}」" {i18n::review_note_line(lang, &note)}
                        }
                    }
                }
            }
            if let Some((code, message)) = v.rejected.clone() {
                div { class: "banner error", "data-testid": "rejected", "data-code": "{code}",
                    p {
                        {lang.t(i18n::REJECTED_INTRO)}
                        " "
                        span { "data-testid": "rejected-message", {i18n::server_message(lang, &message)} }
                        " "
                        span { class: "muted", "data-testid": "rejected-code", "({code})" }
                    }
                    div { class: "row",
                        button { class: "btn", "data-testid": "retry-rejected", onclick: retry, {lang.t(i18n::RETRY)} }
                        button { class: "btn", "data-testid": "discard-rejected", onclick: discard, {lang.t(i18n::DISCARD)} }
                    }
                }
            }
            for label in conflicts {
                p { key: "{label}", class: "badge conflict", "「{label}」" {lang.t(i18n::CONFLICT_NOTE)} }
            }
        }
    }
}
