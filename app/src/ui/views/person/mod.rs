//! One person: roster facts, the outcome first (seven big buttons), then the questionnaire
//! rendered from the form definition, with relevance, required marks and one message per invalid
//! item; "save draft" or "submit". Saving writes the encrypted store only: never the network.
//! The form's soft checks warn beside their items as the worker answers (amber, never an error):
//! a submit with warnings and no reason (核实说明) goes through and says so in its notice.
//!
//! - `layout`: what the screen shows, worked out from the record and this visit's edits;
//! - `parts`: the outcome card, the questionnaire's sections, the errors, the save/submit bar;
//! - `actions`: answering, picking the outcome, saving, confirming a section, reopening;
//! - `facts`: the roster facts and the record's state.

mod actions;
mod facts;
mod layout;
mod parts;

use dioxus::prelude::*;
use doorstep_shared::domain::{Outcome, Review, Status};
use doorstep_shared::form::ItemError;
use uuid::Uuid;

use self::actions::{FormSignals, OutcomeDefaults};
use self::facts::Facts;
use self::layout::FormView;
use self::parts::Parts;
use crate::scratch::Edits;
use crate::ui::i18n;
use crate::ui::services::PersonData;
use crate::ui::{Tone, use_app};

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
    let id = d.view.person.id;
    let sig = FormSignals {
        touched,
        errors,
        busy,
        generation,
    };
    let view = FormView::new(&d, &touched.read(), lang);

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
    let set = move |key: String, v| actions::set_answer(sig, keep, key, v);
    let pick = {
        let services = ctx.services.clone();
        let defaults = OutcomeDefaults::of(&d.view);
        move |o: Outcome| actions::pick_outcome(sig, keep, &services, &defaults, o)
    };
    let save = {
        let c = ctx.clone();
        let name = d.view.person.name.clone();
        let unexplained = view.unexplained();
        move |finalize: bool| actions::save(&c, sig, id, &name, unexplained, finalize)
    };
    let save_draft = {
        let save = save.clone();
        move |_| save(false)
    };
    let submit = move |_| save(true);
    let confirm = {
        let c = ctx.clone();
        move |section: String| actions::confirm_section(&c, sig, id, section)
    };
    let reopen = {
        let c = ctx.clone();
        move |_| actions::reopen(&c, id)
    };

    let errors_now = errors.read().clone();
    let parts = Parts {
        lang,
        view: &view,
        errors: &errors_now,
        generation: generation(),
        busy: busy(),
    };
    let locked = view.locked;
    let has_position = ctx.services.has_position();

    rsx! {
        Facts { data: d.clone(), unplaced_notes: view.unplaced_notes.clone() }
        if locked {
            p { class: "banner ok", "data-testid": "approved-locked", {i18n::locked_text(lang, d.view.review)} }
        }
        fieldset { class: "plain", disabled: locked, "data-testid": "record-fields",
            {parts.outcome_card(&d.form, has_position, pick, set)}
            {view.outcome.is_some_and(Outcome::has_questionnaire).then(|| parts.questionnaire(&confirm, set))}
        }
        {(!errors_now.is_empty()).then(|| parts.error_list())}
        if d.view.status == Status::Final && d.view.review == Review::Pending {
            button { class: "btn link", "data-testid": "reopen", onclick: reopen, {lang.t(i18n::REOPEN)} }
        }
        {(!locked).then(|| parts.action_bar(save_draft, submit))}
    }
}
