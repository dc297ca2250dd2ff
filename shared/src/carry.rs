//! The year-over-year update, once: what of last year's record carries into this year's as prior
//! values, and how this year's answers compare with them item by item (the per-item diff the
//! dynamic update is). Used by the server (carry-over, console, exports) and the app (last
//! year's value beside each item, "same as last year" for a section).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::ShownPerson;
use crate::form::{FormContext, FormDefinition};
use crate::value::{Answers, Value};

/// What the roster already says about questionnaire items, offered to the worker when the
/// questionnaire opens (to confirm or change, never saved unseen): the phone number, and the
/// two subsidies the roster records. A blank roster phone offers nothing.
#[must_use]
pub fn from_roster(person: &ShownPerson) -> Answers {
    let mut a = Answers::new();
    if !person.phone.trim().is_empty() {
        a.insert("phone".into(), Value::text(person.phone.trim()));
    }
    a.insert(
        "nursing_subsidy".into(),
        Value::Bool(person.nursing_subsidy),
    );
    a.insert("living_subsidy".into(), Value::Bool(person.living_subsidy));
    a
}

/// Last year's answers that carry into a record of `form`: the items of sections whose `carry`
/// is not `false` and that `form` still has.
#[must_use]
pub fn carried(form: &FormDefinition, last_year: &Answers) -> Answers {
    form.sections
        .iter()
        .filter(|s| s.carry)
        .flat_map(|s| s.items.iter())
        .filter_map(|i| last_year.get(&i.key).map(|v| (i.key.clone(), v.clone())))
        .collect()
}

/// How one item of this year's record stands against last year's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemChange {
    /// Answered with last year's value (confirmed).
    Unchanged,
    /// Answered with another value than last year's.
    Changed,
    /// Answered; last year had no value.
    New,
    /// Last year had a value; not answered yet.
    Open,
}

impl ItemChange {
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            ItemChange::Unchanged => "与去年相同",
            ItemChange::Changed => "已变更",
            ItemChange::New => "新填",
            ItemChange::Open => "待确认",
        }
    }

    #[must_use]
    pub fn label_en(self) -> &'static str {
        match self {
            ItemChange::Unchanged => "same as last year",
            ItemChange::Changed => "changed",
            ItemChange::New => "new",
            ItemChange::Open => "to confirm",
        }
    }
}

/// The per-item diff of a carried record's relevant items in carried sections, in form order.
/// Items without a value either year are left out.
#[must_use]
pub fn diff(
    form: &FormDefinition,
    prior: &Answers,
    answers: &Answers,
    ctx: &FormContext,
) -> BTreeMap<String, ItemChange> {
    let mut out = BTreeMap::new();
    for section in form.sections.iter().filter(|s| s.carry) {
        for item in &section.items {
            if !form.is_relevant(&item.key, answers, ctx) {
                continue;
            }
            let change = match (prior.get(&item.key), answers.get(&item.key)) {
                (Some(p), Some(a)) if p == a => ItemChange::Unchanged,
                (Some(_), Some(_)) => ItemChange::Changed,
                (None, Some(_)) => ItemChange::New,
                (Some(_), None) => ItemChange::Open,
                (None, None) => continue,
            };
            out.insert(item.key.clone(), change);
        }
    }
    out
}

/// The answers that confirm a section as unchanged: last year's value of each of its items that
/// is relevant now (relevance follows the answers as they grow, in form order).
#[must_use]
pub fn confirm_section(
    form: &FormDefinition,
    section: &str,
    prior: &Answers,
    answers: &Answers,
    ctx: &FormContext,
) -> Answers {
    let mut now = answers.clone();
    let mut out = Answers::new();
    let Some(s) = form.sections.iter().find(|s| s.key == section && s.carry) else {
        return out;
    };
    for item in &s.items {
        if let Some(v) = prior.get(&item.key)
            && form.is_relevant(&item.key, &now, ctx)
        {
            now.insert(item.key.clone(), v.clone());
            out.insert(item.key.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{SplitMix64, fill_questionnaire};
    use crate::domain::{Campaign, OUTCOME, Outcome, STATUS};
    use crate::value::Value;

    fn setup() -> (FormDefinition, crate::Person, Campaign) {
        let d = crate::demo::generate_sized(3, uuid::Uuid::nil(), 5, 1);
        let c = Campaign {
            id: uuid::Uuid::nil(),
            district: d.district.code.clone(),
            district_name: d.district.name.clone(),
            year: 2021,
            name: "t".into(),
            starts: chrono::NaiveDate::from_ymd_opt(2021, 3, 1).unwrap(),
            ends: chrono::NaiveDate::from_ymd_opt(2021, 11, 30).unwrap(),
            form_version: "2021.1".into(),
        };
        (
            FormDefinition::dynamic_update_2021(),
            d.persons[0].clone(),
            c,
        )
    }

    #[test]
    fn the_outcome_section_never_carries() {
        let (form, p, c) = setup();
        let last = fill_questionnaire(&form, &p, &c, Outcome::HomeVisit, &mut SplitMix64::new(1));
        let prior = carried(&form, &last);
        assert!(!prior.contains_key(OUTCOME) && !prior.contains_key(STATUS));
        assert!(!prior.contains_key("visit_at"));
        assert_eq!(prior["ethnicity"], last["ethnicity"]);
    }

    #[test]
    fn confirming_a_section_then_changing_one_item_diffs_per_item() {
        let (form, p, c) = setup();
        let ctx = FormContext::for_person(&p, &c);
        let last = fill_questionnaire(&form, &p, &c, Outcome::HomeVisit, &mut SplitMix64::new(2));
        let prior = carried(&form, &last);
        let mut now = Answers::new();
        now.insert(OUTCOME.into(), Value::text("home_visit"));
        let basic = confirm_section(&form, "basic", &prior, &now, &ctx);
        assert_eq!(
            basic.len(),
            form.sections[1]
                .items
                .iter()
                .filter(|i| prior.contains_key(&i.key))
                .count()
        );
        now.extend(basic);
        let other = if prior["marital_status"] == Value::text("married") {
            "widowed"
        } else {
            "married"
        };
        now.insert("marital_status".into(), Value::text(other));
        let d = diff(&form, &prior, &now, &ctx);
        assert_eq!(d["marital_status"], ItemChange::Changed);
        assert_eq!(d["ethnicity"], ItemChange::Unchanged);
        assert_eq!(d["income_level"], ItemChange::Open);
        assert!(confirm_section(&form, "outcome", &prior, &now, &ctx).is_empty());
    }
}

#[cfg(test)]
mod roster_tests {
    use super::*;
    use crate::demo::generate;

    #[test]
    fn roster_facts_are_valid_answers_of_the_form() {
        let form = FormDefinition::dynamic_update_2021();
        let d = generate(7, uuid::Uuid::nil());
        for p in d.persons.iter().take(200) {
            let a = from_roster(&p.shown(crate::Numbers::Masked));
            assert_eq!(
                a.get("nursing_subsidy"),
                Some(&Value::Bool(p.nursing_subsidy))
            );
            for (k, v) in &a {
                form.check_value(k, v).unwrap();
            }
        }
    }
}
