//! What the person screen does: record an answer, pick the outcome, save a draft or submit,
//! confirm a section as last year's, reopen a submitted record. Saving writes the encrypted
//! store only, then the background sync is nudged.

use std::collections::BTreeSet;
use std::sync::Arc;

use dioxus::prelude::*;
use doorstep_shared::carry;
use doorstep_shared::domain::{OUTCOME, Outcome, VISIT_AT, VISIT_GEO};
use doorstep_shared::form::ItemError;
use doorstep_shared::value::{Answers, Value};
use uuid::Uuid;

use crate::error::Result;
use crate::model::{RecordView, SaveResult};
use crate::scratch::Edits;
use crate::ui::components::geo::{self, WebPosition};
use crate::ui::i18n::{self, Text};
use crate::ui::services::{Services, now_label};
use crate::ui::{AppCtx, Tone};

/// The form's state, kept by the screen across reloads of the record.
#[derive(Clone, Copy)]
pub(super) struct FormSignals {
    /// This visit's edits, not saved yet.
    pub touched: Signal<Edits>,
    /// The items the last save refused, with their messages.
    pub errors: Signal<Vec<ItemError>>,
    /// A save is under way.
    pub busy: Signal<bool>,
    /// Counts the saves: the fields are re-created with the saved values after each.
    pub generation: Signal<u64>,
}

/// Records an answer: the edit, kept on the device at once (`keep`); the item's old error goes.
pub(super) fn set_answer(s: FormSignals, keep: Callback<Edits>, key: String, v: Option<Value>) {
    let mut touched = s.touched;
    let mut errors = s.errors;
    errors.write().retain(|e| e.item != key);
    touched.write().insert(key, v);
    keep.call(touched());
}

/// What picking an outcome fills in besides the outcome: the stored answers, what the roster
/// knows, and which items last year's record has.
#[derive(Clone)]
pub(super) struct OutcomeDefaults {
    view_answers: Answers,
    from_roster: Answers,
    prior_keys: BTreeSet<String>,
}

impl OutcomeDefaults {
    pub fn of(view: &RecordView) -> OutcomeDefaults {
        OutcomeDefaults {
            view_answers: view.answers.clone(),
            from_roster: carry::from_roster(&view.person),
            prior_keys: view
                .prior
                .as_ref()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }
}

/// Picks the outcome; a home visit records its time (and position where the platform has one,
/// or asks the webview for it).
pub(super) fn pick_outcome(
    s: FormSignals,
    keep: Callback<Edits>,
    services: &Arc<Services>,
    defaults: &OutcomeDefaults,
    o: Outcome,
) {
    let mut touched = s.touched;
    let mut errors = s.errors;
    errors.write().retain(|e| e.item != OUTCOME);
    let mut t = touched.write();
    t.insert(OUTCOME.into(), Some(Value::text(o.key())));
    let has = |t: &Edits, k: &str| {
        t.get(k)
            .map_or_else(|| defaults.view_answers.contains_key(k), Option::is_some)
    };
    // What the roster already knows (phone, subsidies) is offered, to confirm or change,
    // where neither this year's record nor last year's has a value.
    if o.has_questionnaire() {
        for (k, v) in &defaults.from_roster {
            if !has(&t, k) && !defaults.prior_keys.contains(k) {
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
}

/// Saves this visit's edits as a draft, or submits them (`finalize`). `unexplained`: the
/// warnings a submit goes through with, for its notice.
pub(super) fn save(
    c: &AppCtx,
    s: FormSignals,
    id: Uuid,
    name: &str,
    unexplained: usize,
    finalize: bool,
) {
    let mut busy = s.busy;
    if busy() {
        return;
    }
    busy.set(true);
    let c = c.clone();
    let name = name.to_string();
    let edits = (s.touched)();
    spawn(async move {
        let result = c.services.save(id, edits, finalize).await;
        busy.set(false);
        settle(&c, s, result, || {
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
                        format!(
                            "Submitted: {name}. Saved on this phone; sent when the network allows."
                        ),
                    ),
                );
                if c.can_go_back() {
                    c.back();
                }
            } else {
                c.notify(Tone::Ok, i18n::SAVED_DRAFT);
            }
        });
    });
}

/// "Same as last year" on a section: last year's values of its items, with this visit's edits,
/// saved on the device as one edit.
pub(super) fn confirm_section(c: &AppCtx, s: FormSignals, id: Uuid, section: String) {
    let mut busy = s.busy;
    if busy() {
        return;
    }
    busy.set(true);
    let c = c.clone();
    let edits = (s.touched)();
    spawn(async move {
        let result = c
            .services
            .save_with(id, move |st| st.confirm_section_with(id, &section, edits))
            .await;
        busy.set(false);
        settle(&c, s, result, || {
            c.notify(Tone::Ok, i18n::CONFIRMED_SECTION)
        });
    });
}

/// What a save's answer does to the form: saved, the edits and errors go and the fields are
/// re-created (then `saved`); invalid, the errors show and the first comes into view.
fn settle(c: &AppCtx, s: FormSignals, result: Result<SaveResult>, saved: impl FnOnce()) {
    let mut touched = s.touched;
    let mut errors = s.errors;
    let mut generation = s.generation;
    match result {
        Ok(SaveResult::Saved { .. }) => {
            touched.set(Edits::new());
            errors.set(Vec::new());
            *generation.write() += 1;
            saved();
        }
        Ok(SaveResult::Unchanged) => c.notify(Tone::Warn, i18n::UNCHANGED),
        Ok(SaveResult::Invalid(list)) => {
            c.clear_notice();
            show_first(&list);
            errors.set(list);
        }
        Err(e) => c.notify(Tone::Error, &e),
    }
}

/// Takes a submitted record back to a draft (before any review).
pub(super) fn reopen(c: &AppCtx, id: Uuid) {
    let c = c.clone();
    spawn(async move {
        if let Err(e) = c.services.write(move |s| s.reopen(id)).await {
            c.notify(Tone::Error, &e);
        }
    });
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
pub(super) fn show_first_warning() {
    let _ = document::eval(
        "const el = document.querySelector('.check-warning'); if (el) el.scrollIntoView({block: 'center'});",
    );
}
