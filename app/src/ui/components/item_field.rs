//! One questionnaire item as the control that fits its kind: text, number, date and phone
//! inputs, yes/no buttons, single-choice buttons (a select for long lists), multi-choice
//! checkboxes, a GPS point.
//!
//! Typed inputs are uncontrolled (`initial_value`): the page keeps what is typed and sends each
//! change; the app never writes a value back into a field being typed in, which over a slow
//! link would overwrite the keys typed meanwhile. A screen that replaces values from outside
//! (a saved edit, "same as last year") re-creates its fields with a new key.

use std::collections::BTreeSet;
use std::sync::Arc;

use dioxus::prelude::*;
use doorstep_shared::carry::ItemChange;
use doorstep_shared::form::{Item, ItemKind};
use doorstep_shared::lang::{Label, Lang};
use doorstep_shared::value::Value;

use crate::ui::i18n;
use crate::ui::services::Services;
use crate::ui::use_app;

/// Single-choice items with more options than this get a select instead of buttons.
const MAX_CHOICE_BUTTONS: usize = 8;

/// Text as typed into a text-like input: blank clears the answer.
fn text_value(s: String) -> Option<Value> {
    if s.trim().is_empty() {
        None
    } else {
        Some(Value::Text(s))
    }
}

/// A number as typed: a whole number, or the text as typed (validation then says what is
/// wrong with it), or nothing.
fn integer_value(s: &str) -> Option<Value> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.parse::<i64>().map_or_else(|_| Value::text(t), Value::Int))
    }
}

fn input_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::Text(s)) => s.clone(),
        Some(Value::Int(n)) => n.to_string(),
        Some(other) => other.display(),
        None => String::new(),
    }
}

/// A value as the worker reads it: option labels for choices, yes/no in words, a position as
/// coordinates, other values as they are.
#[must_use]
pub fn value_label(lang: Lang, item: &Item, value: &Value) -> String {
    let option = |k: &str| {
        item.options.iter().find(|o| o.key == k).map_or_else(
            || k.to_string(),
            |o| lang.pick(&o.label_zh, &o.label_en).to_string(),
        )
    };
    match value {
        Value::Bool(true) => lang.t(i18n::YES).to_string(),
        Value::Bool(false) => lang.t(i18n::NO).to_string(),
        Value::Text(t) if matches!(item.kind, ItemKind::Single) => option(t),
        Value::Set(set) => set
            .iter()
            .map(|k| option(k))
            .collect::<Vec<_>>()
            .join(lang.pick("、", ", ")),
        Value::Geo(g) => format!("{:.5}, {:.5}", g.lat, g.lon),
        other => other.display(),
    }
}

/// One item with its label, help, control and error; for a record carried from last year, last
/// year's value (`prior`) under the label and a tag when this year's answer differs (`changed`).
#[component]
pub fn ItemField(
    item: Item,
    value: Option<Value>,
    error: Option<String>,
    conflict: bool,
    on_change: EventHandler<Option<Value>>,
    /// Last year's value, for a record carried from the previous campaign.
    #[props(default)]
    prior: Option<Value>,
    /// This year's answer differs from last year's.
    #[props(default)]
    changed: bool,
    /// The reviewer's note on this item, for a returned record.
    #[props(default)]
    note: Option<String>,
    /// The soft checks that warn about this item now (never an error: nothing is blocked).
    #[props(default)]
    warnings: Vec<ItemWarning>,
    /// The worker has given the reason for the warnings (the form's `check_reason`).
    #[props(default)]
    reason_given: bool,
) -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let label = lang.pick(&item.label_zh, &item.label_en).to_string();
    let key = item.key.clone();
    let prior = prior.map(|p| value_label(lang, &item, &p));
    let control = control(lang, &item, value.as_ref(), on_change, &ctx.services);
    let help = match lang {
        Lang::Zh => item.help_zh.clone(),
        Lang::En => item.help_en.clone().or_else(|| item.help_zh.clone()),
    };
    let invalid = error.is_some();
    rsx! {
        div {
            class: if invalid { "field invalid" } else { "field" },
            id: "item-{key}",
            "data-item": "{key}",
            div { class: "lbl",
                "{label}"
                if item.required {
                    span { class: "req", "* {lang.t(i18n::REQUIRED)}" }
                }
                if changed {
                    span { class: "badge changed", "data-testid": "changed-{key}",
                        {ItemChange::Changed.label(lang)}
                    }
                }
            }
            if let Some(h) = help {
                p { class: "help", "{h}" }
            }
            if let Some(p) = prior {
                p { class: "prior", "data-testid": "prior-{key}",
                    {lang.t(i18n::LAST_YEAR)}
                    span { class: "prior-value", "{p}" }
                }
            }
            if let Some(n) = note {
                ReviewNote { item: key.clone(), note: n }
            }
            {control}
            if conflict {
                p { class: "badge conflict", {lang.t(i18n::CONFLICT_NOTE)} }
            }
            for w in warnings {
                CheckWarning { key: "{w.check}", warning: w, reason_given }
            }
            if let Some(e) = error {
                p { class: "err", role: "alert", "data-testid": "error-{key}", "{e}" }
            }
        }
    }
}

/// A soft check's warning about an item, in the worker's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemWarning {
    /// The check's key.
    pub check: String,
    pub message: String,
}

/// A soft check's warning beside its item, with where to give the reason: amber, not an error.
#[component]
pub fn CheckWarning(warning: ItemWarning, reason_given: bool) -> Element {
    let lang = use_app().lang();
    let hint = lang.t(if reason_given {
        i18n::CHECK_REASON_GIVEN
    } else {
        i18n::CHECK_GIVE_REASON
    });
    rsx! {
        div { class: "check-warning", role: "note", "data-check": "{warning.check}",
            "⚠ {warning.message} "
            span { class: "check-hint", "{hint}" }
        }
    }
}

/// A reviewer's note on one item of a returned record, beside the item.
#[component]
pub fn ReviewNote(item: String, note: String) -> Element {
    let lang = use_app().lang();
    rsx! {
        div { class: "review-note", "data-note-item": "{item}", {i18n::review_note_line(lang, &note)} }
    }
}

/// The control for the item's kind; `data-testid` is `item-<key>` (with `-<option>` on each
/// choice).
fn control(
    lang: Lang,
    item: &Item,
    value: Option<&Value>,
    on_change: EventHandler<Option<Value>>,
    services: &Arc<Services>,
) -> Element {
    let testid = format!("item-{}", item.key);
    match item.kind {
        ItemKind::Text => text_input(value, &testid, on_change),
        ItemKind::Phone => phone_input(value, &testid, on_change),
        ItemKind::Date => date_input(value, &testid, on_change),
        ItemKind::Integer { min, max } => integer_input(value, min, max, &testid, on_change),
        ItemKind::YesNo => yes_no(lang, value, &testid, on_change),
        ItemKind::Single if item.options.len() > MAX_CHOICE_BUTTONS => {
            choice_select(lang, item, value, &testid, on_change)
        }
        ItemKind::Single => choice_buttons(lang, item, value, &testid, on_change),
        ItemKind::Multi => checkboxes(lang, item, value, &testid, on_change),
        ItemKind::Geo => geo_point(lang, value, &testid, on_change, services),
    }
}

fn text_input(
    value: Option<&Value>,
    testid: &str,
    on_change: EventHandler<Option<Value>>,
) -> Element {
    let v = input_text(value);
    rsx! {
        input {
            r#type: "text",
            initial_value: "{v}",
            "data-testid": "{testid}",
            oninput: move |e: FormEvent| on_change.call(text_value(e.value())),
        }
    }
}

/// A phone number: the phone's number keyboard, no autofill; blanks around it are dropped.
fn phone_input(
    value: Option<&Value>,
    testid: &str,
    on_change: EventHandler<Option<Value>>,
) -> Element {
    let v = input_text(value);
    rsx! {
        input {
            r#type: "tel",
            inputmode: "tel",
            autocomplete: "off",
            initial_value: "{v}",
            "data-testid": "{testid}",
            oninput: move |e: FormEvent| on_change.call(text_value(e.value().trim().to_string())),
        }
    }
}

fn date_input(
    value: Option<&Value>,
    testid: &str,
    on_change: EventHandler<Option<Value>>,
) -> Element {
    let v = input_text(value);
    rsx! {
        input {
            r#type: "date",
            initial_value: "{v}",
            "data-testid": "{testid}",
            oninput: move |e: FormEvent| on_change.call(text_value(e.value())),
        }
    }
}

/// A whole number within the item's bounds (when it has them).
fn integer_input(
    value: Option<&Value>,
    min: Option<i64>,
    max: Option<i64>,
    testid: &str,
    on_change: EventHandler<Option<Value>>,
) -> Element {
    let v = input_text(value);
    let min = min.map(|m| m.to_string()).unwrap_or_default();
    let max = max.map(|m| m.to_string()).unwrap_or_default();
    rsx! {
        input {
            r#type: "number",
            inputmode: "numeric",
            min: "{min}",
            max: "{max}",
            initial_value: "{v}",
            "data-testid": "{testid}",
            oninput: move |e: FormEvent| on_change.call(integer_value(&e.value())),
        }
    }
}

/// Two buttons, yes and no.
fn yes_no(
    lang: Lang,
    value: Option<&Value>,
    testid: &str,
    on_change: EventHandler<Option<Value>>,
) -> Element {
    let cur = value.and_then(Value::as_bool);
    rsx! {
        div { class: "choices", role: "group",
            button {
                class: "choice",
                "aria-pressed": if cur == Some(true) { "true" } else { "false" },
                "data-testid": "{testid}-yes",
                onclick: move |_| on_change.call(Some(Value::Bool(true))),
                {lang.t(i18n::YES)}
            }
            button {
                class: "choice",
                "aria-pressed": if cur == Some(false) { "true" } else { "false" },
                "data-testid": "{testid}-no",
                onclick: move |_| on_change.call(Some(Value::Bool(false))),
                {lang.t(i18n::NO)}
            }
        }
    }
}

/// The chosen option's key, or empty.
fn chosen(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_text)
        .unwrap_or_default()
        .to_string()
}

/// One choice among many options: a select.
fn choice_select(
    lang: Lang,
    item: &Item,
    value: Option<&Value>,
    testid: &str,
    on_change: EventHandler<Option<Value>>,
) -> Element {
    let cur = chosen(value);
    let options = item.options.clone();
    rsx! {
        select {
            "data-testid": "{testid}",
            onchange: move |e: FormEvent| on_change.call(text_value(e.value())),
            option { value: "", selected: cur.is_empty(), {lang.t(i18n::CHOOSE)} }
            for c in options {
                option {
                    key: "{c.key}",
                    value: "{c.key}",
                    selected: cur == c.key,
                    {lang.pick(&c.label_zh, &c.label_en).to_string()}
                }
            }
        }
    }
}

/// One choice among a few options: a button each.
fn choice_buttons(
    lang: Lang,
    item: &Item,
    value: Option<&Value>,
    testid: &str,
    on_change: EventHandler<Option<Value>>,
) -> Element {
    let cur = chosen(value);
    let options = item.options.clone();
    rsx! {
        div { class: "choices", role: "group",
            for c in options {
                button {
                    key: "{c.key}",
                    class: "choice",
                    "aria-pressed": if cur == c.key { "true" } else { "false" },
                    "data-testid": "{testid}-{c.key}",
                    onclick: {
                        let k = c.key.clone();
                        move |_| on_change.call(Some(Value::text(k.clone())))
                    },
                    {lang.pick(&c.label_zh, &c.label_en).to_string()}
                }
            }
        }
    }
}

/// Any number of options: a checkbox each; none checked clears the answer.
fn checkboxes(
    lang: Lang,
    item: &Item,
    value: Option<&Value>,
    testid: &str,
    on_change: EventHandler<Option<Value>>,
) -> Element {
    let cur: BTreeSet<String> = value.and_then(Value::as_set).cloned().unwrap_or_default();
    let options = item.options.clone();
    rsx! {
        div { class: "checks", role: "group",
            for c in options {
                label { key: "{c.key}", class: "check",
                    input {
                        r#type: "checkbox",
                        checked: cur.contains(&c.key),
                        "data-testid": "{testid}-{c.key}",
                        onchange: {
                            let k = c.key.clone();
                            let cur = cur.clone();
                            let item = item.clone();
                            move |_| {
                                let next = item.toggle(&cur, &k);
                                on_change.call(if next.is_empty() { None } else { Some(Value::Set(next)) });
                            }
                        },
                    }
                    span { {lang.pick(&c.label_zh, &c.label_en).to_string()} }
                }
            }
        }
    }
}

/// A GPS point: the position taken, and a button to take it where the platform has one.
fn geo_point(
    lang: Lang,
    value: Option<&Value>,
    testid: &str,
    on_change: EventHandler<Option<Value>>,
    services: &Arc<Services>,
) -> Element {
    let has_position = services.has_position();
    let services = services.clone();
    let shown = match value {
        Some(Value::Geo(g)) => format!("{:.5}, {:.5}", g.lat, g.lon),
        _ => lang.t(i18n::NOT_RECORDED).to_string(),
    };
    rsx! {
        p { "data-testid": "{testid}", "{shown}" }
        if has_position {
            button {
                class: "btn",
                onclick: move |_| {
                    if let Some(p) = services.position() {
                        on_change.call(Some(Value::Geo(p)));
                    }
                },
                {lang.t(i18n::GET_POSITION)}
            }
        } else {
            p { class: "muted", "data-testid": "no-position", {lang.t(i18n::NO_POSITION)} }
        }
    }
}
