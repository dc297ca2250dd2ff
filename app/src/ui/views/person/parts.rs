//! The parts of the person form, rendered from a [`FormView`]: the outcome card (with the
//! visit's time and place and the outcome's detail items), the questionnaire's sections, the
//! list of errors and the save/submit bar.

use dioxus::prelude::*;
use doorstep_shared::carry::ItemChange;
use doorstep_shared::domain::{OUTCOME, Outcome, VISIT_AT, VISIT_GEO};
use doorstep_shared::form::{FormDefinition, Item, ItemError};
use doorstep_shared::lang::{Label, Lang};
use doorstep_shared::value::Value;

use super::actions::show_first_warning;
use super::layout::{FormView, SectionView};
use crate::ui::components::{ItemField, OutcomePicker, ReviewNote};
use crate::ui::i18n;

/// What every part renders from, for one render.
pub(super) struct Parts<'a> {
    pub lang: Lang,
    pub view: &'a FormView,
    /// The items the last save refused.
    pub errors: &'a [ItemError],
    /// The fields' key suffix: a save re-creates them.
    pub generation: u64,
    pub busy: bool,
}

impl Parts<'_> {
    fn error_of(&self, key: &str) -> Option<String> {
        self.errors
            .iter()
            .find(|e| e.item == key)
            .map(|e| self.lang.pick(&e.message_zh, &e.message_en).to_string())
    }

    /// One item's field, keyed by item and save: a save re-creates it with the saved value.
    /// `carried`: with last year's value and whether this year's answer differs.
    fn item_field(
        &self,
        item: Item,
        carried: bool,
        set: impl Fn(String, Option<Value>) + Copy + 'static,
    ) -> Element {
        let v = self.view;
        let generation_now = self.generation;
        let (prior, changed) = if carried {
            (v.prior.get(&item.key).cloned(), v.changed(&item.key))
        } else {
            (None, false)
        };
        rsx! {
            ItemField {
                key: "{item.key}-{generation_now}",
                value: v.answers.get(&item.key).cloned(),
                error: self.error_of(&item.key),
                conflict: v.conflicts.contains(&item.key),
                prior,
                changed,
                note: v.note_of(&item.key),
                warnings: v.warnings_of(&item.key),
                reason_given: v.reason_given,
                on_change: {
                    let k = item.key.clone();
                    move |value| set(k.clone(), value)
                },
                item,
            }
        }
    }

    /// The outcome first (seven big buttons), the visit's time and place, the outcome's details.
    pub fn outcome_card(
        &self,
        form: &FormDefinition,
        has_position: bool,
        pick: impl FnMut(Outcome) + 'static,
        set: impl Fn(String, Option<Value>) + Copy + 'static,
    ) -> Element {
        let lang = self.lang;
        let v = self.view;
        rsx! {
            section { class: "card", id: "item-outcome", "data-testid": "outcome",
                h2 { {lang.t(i18n::OUTCOME_FIRST)} }
                p { class: "muted", {lang.t(i18n::OUTCOME_HINT)} }
                if let Some(n) = v.note_of(OUTCOME) {
                    ReviewNote { item: OUTCOME, note: n }
                }
                OutcomePicker { selected: v.outcome, on_pick: pick }
                if let Some(e) = self.error_of(OUTCOME) {
                    p { class: "err", role: "alert", "data-testid": "error-outcome", "{e}" }
                }
                {v.show_visit.then(|| self.visit(form, has_position))}
                // Keyed by item (see `item_field`), as a `for` body would be.
                {v.detail_items.iter().cloned().map(|item| self.item_field(item, false, set))}
            }
        }
    }

    /// The visit's time (recorded with a home visit) and position.
    fn visit(&self, form: &FormDefinition, has_position: bool) -> Element {
        let lang = self.lang;
        let v = self.view;
        rsx! {
            div { class: "field", "data-testid": "visit",
                div { class: "lbl", {form.item(VISIT_AT).map(|i| lang.pick(&i.label_zh, &i.label_en).to_string()).unwrap_or_default()} }
                for k in [VISIT_AT, VISIT_GEO] {
                    if let Some(n) = v.note_of(k) {
                        ReviewNote { key: "{k}", item: k, note: n }
                    }
                }
                p { "data-testid": "visit-time",
                    match v.visit_at.clone() {
                        Some(t) => rsx! { "{t} " span { class: "muted", "（{lang.t(i18n::AUTO_RECORDED)}）" } },
                        None => rsx! { span { class: "muted", {lang.t(i18n::NOT_RECORDED)} } },
                    }
                }
                div { class: "lbl", {lang.t(i18n::POSITION)} }
                if let Some(g) = v.visit_geo.clone() {
                    p { "data-testid": "visit-position", "{g}" }
                } else if has_position {
                    p { class: "muted", "data-testid": "visit-position", {lang.t(i18n::NOT_RECORDED)} }
                } else {
                    p { class: "banner warn", "data-testid": "no-position", {lang.t(i18n::NO_POSITION)} }
                }
            }
        }
    }

    /// The questionnaire's sections, for an outcome that has one.
    pub fn questionnaire(
        &self,
        confirm: &(impl Fn(String) + Clone + 'static),
        set: impl Fn(String, Option<Value>) + Copy + 'static,
    ) -> Element {
        let lang = self.lang;
        rsx! {
            section { class: "card", "data-testid": "questionnaire",
                h2 { {lang.t(i18n::QUESTIONNAIRE)} }
                {self.view.sections.iter().map(|s| self.section(s, confirm, set))}
            }
        }
    }

    /// One section: its title (marked when it stands as last year's), "same as last year" where
    /// offered, its items.
    fn section(
        &self,
        s: &SectionView,
        confirm: &(impl Fn(String) + Clone + 'static),
        set: impl Fn(String, Option<Value>) + Copy + 'static,
    ) -> Element {
        let lang = self.lang;
        let busy_now = self.busy;
        let key = s.key.clone();
        let title = &s.title;
        rsx! {
            div { key: "{key}", "data-section": "{key}",
                h3 { "{title}"
                    if s.confirmed {
                        span { class: "badge done same-tag", "data-testid": "section-unchanged-{key}",
                            "✓ {ItemChange::Unchanged.label(lang)}"
                        }
                    }
                }
                if s.confirmable {
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
                {s.items.iter().cloned().map(|item| self.item_field(item, true, set))}
            }
        }
    }

    /// The messages of the items the last save refused (when there are any).
    pub fn error_list(&self) -> Element {
        let lang = self.lang;
        let error_list: Vec<String> = self
            .errors
            .iter()
            .map(|e| lang.pick(&e.message_zh, &e.message_en).to_string())
            .collect();
        rsx! {
            section { class: "banner error", role: "alert", "data-testid": "errors",
                p { {lang.t(i18n::FIX_BELOW)} }
                ul {
                    for (i, m) in error_list.into_iter().enumerate() {
                        li { key: "{i}", "{m}" }
                    }
                }
            }
        }
    }

    /// The warnings' count, "save draft" and "submit".
    pub fn action_bar(
        &self,
        save_draft: impl FnMut(MouseEvent) + 'static,
        submit: impl FnMut(MouseEvent) + 'static,
    ) -> Element {
        let lang = self.lang;
        let busy_now = self.busy;
        let warning_count = self.view.warning_count;
        rsx! {
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
