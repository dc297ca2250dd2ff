//! What the person screen shows, worked out from the record and this visit's edits: the answers
//! as they stand, the relevant items, the outcome card's items, the questionnaire's sections,
//! last year's answers and how this year's stand against them, the soft checks' warnings and the
//! reviewer's notes.

use std::collections::{BTreeMap, BTreeSet};

use doorstep_shared::carry::{self, ItemChange};
use doorstep_shared::checks;
use doorstep_shared::domain::{OUTCOME, Outcome, Review, VISIT_AT, VISIT_GEO, outcome_of};
use doorstep_shared::form::{FormContext, Item};
use doorstep_shared::lang::Lang;
use doorstep_shared::review::locks_worker;
use doorstep_shared::value::{Answers, Value};

use crate::scratch::Edits;
use crate::ui::components::ItemWarning;
use crate::ui::services::PersonData;

/// The answers as the worker sees them now: the record with this visit's edits on top.
pub(super) fn with_edits(base: &Answers, edits: &Edits) -> Answers {
    let mut a = base.clone();
    for (k, v) in edits {
        match v {
            Some(v) => a.insert(k.clone(), v.clone()),
            None => a.remove(k),
        };
    }
    a
}

/// One questionnaire section as shown: its relevant items, and whether "same as last year" is
/// offered (`confirmable`) and holds (`confirmed`).
pub(super) struct SectionView {
    pub key: String,
    pub title: String,
    pub items: Vec<Item>,
    /// The section carries over and has items with last year's value.
    pub confirmable: bool,
    /// Every shown item with last year's value holds it: the section is confirmed.
    pub confirmed: bool,
}

/// A reviewer's note on an item not on the screen now, shown in the returned banner with the
/// item's name.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct UnplacedNote {
    pub item: String,
    pub label: String,
    pub note: String,
}

/// Everything the form renders from, for one render.
pub(super) struct FormView {
    /// The answers as they stand: the record with this visit's edits.
    pub answers: Answers,
    pub outcome: Option<Outcome>,
    /// Last year's answers (a record carried from the previous campaign), or none.
    pub prior: Answers,
    /// Per item, how this year's answers stand against last year's.
    pub changes: BTreeMap<String, ItemChange>,
    /// The soft checks' warnings, by item.
    pub warned: BTreeMap<String, Vec<ItemWarning>>,
    pub warning_count: usize,
    /// The worker has given the reason for the warnings.
    pub reason_given: bool,
    /// With a reviewer or final: read-only on the phone too.
    pub locked: bool,
    /// The reviewer's notes on single items, while the record is returned.
    pub notes: BTreeMap<String, String>,
    /// Items that have an open conflict.
    pub conflicts: BTreeSet<String>,
    /// The outcome section's relevant items, besides the outcome and the visit's time and place.
    pub detail_items: Vec<Item>,
    /// The questionnaire's sections with relevant items.
    pub sections: Vec<SectionView>,
    /// The visit's time and place are relevant.
    pub show_visit: bool,
    pub visit_at: Option<String>,
    pub visit_geo: Option<String>,
    pub unplaced_notes: Vec<UnplacedNote>,
}

impl FormView {
    pub fn new(d: &PersonData, edits: &Edits, lang: Lang) -> FormView {
        let answers = with_edits(&d.view.answers, edits);
        let form_ctx = FormContext::for_person(&d.view.person, &d.campaign);
        let relevant: BTreeSet<String> = d
            .form
            .relevant_items(&answers, &form_ctx)
            .into_iter()
            .map(|i| i.key.clone())
            .collect();
        let prior = d.view.prior.clone().unwrap_or_default();
        let changes: BTreeMap<String, ItemChange> = if prior.is_empty() {
            BTreeMap::new()
        } else {
            carry::diff(&d.form, &prior, &answers, &form_ctx)
        };
        // The soft checks on the answers as they stand: warnings beside their items, a count
        // above the submit button. They never block a save or a submit.
        let warnings = checks::warnings(&d.form, &answers, &form_ctx);
        let mut warned: BTreeMap<String, Vec<ItemWarning>> = BTreeMap::new();
        for w in &warnings {
            for item in &w.items {
                warned.entry(item.clone()).or_default().push(ItemWarning {
                    check: w.check.clone(),
                    message: lang.pick(&w.message_zh, &w.message_en).to_string(),
                });
            }
        }
        let notes = if d.view.review == Review::Returned {
            d.view.review_notes.clone()
        } else {
            BTreeMap::new()
        };
        let mut view = FormView {
            outcome: outcome_of(&answers),
            reason_given: checks::reason(&answers).is_some(),
            warning_count: warnings.len(),
            warned,
            locked: locks_worker(d.view.review),
            notes,
            conflicts: d.view.conflicts.keys().cloned().collect(),
            detail_items: detail_items(d, &relevant),
            sections: Vec::new(),
            show_visit: relevant.contains(VISIT_AT) || relevant.contains(VISIT_GEO),
            visit_at: answers.get(VISIT_AT).map(Value::display),
            visit_geo: match answers.get(VISIT_GEO) {
                Some(Value::Geo(g)) => Some(format!("{:.5}, {:.5}", g.lat, g.lon)),
                _ => None,
            },
            unplaced_notes: Vec::new(),
            answers,
            prior,
            changes,
        };
        view.sections = view.questionnaire_sections(d, &relevant, lang);
        view.unplaced_notes = view.unplaced(d, lang);
        view
    }

    /// This year's answer to `key` differs from last year's.
    pub fn changed(&self, key: &str) -> bool {
        self.changes.get(key) == Some(&ItemChange::Changed)
    }

    pub fn warnings_of(&self, key: &str) -> Vec<ItemWarning> {
        self.warned.get(key).cloned().unwrap_or_default()
    }

    pub fn note_of(&self, key: &str) -> Option<String> {
        self.notes.get(key).cloned()
    }

    /// Warnings a submit would go through with: all of them, unless the reason is given.
    pub fn unexplained(&self) -> usize {
        if self.reason_given {
            0
        } else {
            self.warning_count
        }
    }

    fn questionnaire_sections(
        &self,
        d: &PersonData,
        relevant: &BTreeSet<String>,
        lang: Lang,
    ) -> Vec<SectionView> {
        let prior = &self.prior;
        d.form
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
                    && with_prior.all(|i| self.changes.get(&i.key) == Some(&ItemChange::Unchanged));
                (!items.is_empty()).then(|| SectionView {
                    key: s.key.clone(),
                    title: lang.pick(&s.title_zh, &s.title_en).to_string(),
                    items,
                    confirmable,
                    confirmed,
                })
            })
            .collect()
    }

    /// Notes on items not on the screen now (not relevant to the answers given) go in the
    /// returned banner, with the item's name: none is lost.
    fn unplaced(&self, d: &PersonData, lang: Lang) -> Vec<UnplacedNote> {
        let mut placed: BTreeSet<&str> = BTreeSet::from([OUTCOME]);
        if self.show_visit {
            placed.extend([VISIT_AT, VISIT_GEO]);
        }
        placed.extend(self.detail_items.iter().map(|i| i.key.as_str()));
        if self.outcome.is_some_and(Outcome::has_questionnaire) {
            for s in &self.sections {
                placed.extend(s.items.iter().map(|i| i.key.as_str()));
            }
        }
        self.notes
            .iter()
            .filter(|(k, _)| !placed.contains(k.as_str()))
            .map(|(k, n)| {
                let label = d.form.item(k).map_or_else(
                    || k.clone(),
                    |i| lang.pick(&i.label_zh, &i.label_en).to_string(),
                );
                UnplacedNote {
                    item: k.clone(),
                    label,
                    note: n.clone(),
                }
            })
            .collect()
    }
}

/// The outcome section's relevant items other than the outcome and the visit's time and place.
fn detail_items(d: &PersonData, relevant: &BTreeSet<String>) -> Vec<Item> {
    d.form
        .sections
        .iter()
        .find(|s| s.items.iter().any(|i| i.key == OUTCOME))
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
        .unwrap_or_default()
}
