//! Soft consistency checks of a form: answers that are possible but unusual enough to ask the
//! worker to confirm and give a reason (the form's item [`REASON_ITEM`]). They never block a
//! record; the hard rules live in the form's validation ([`crate::form::FormDefinition::validate`]).
//! The app shows the warnings at their items when the worker submits; review shows them with the
//! reason, and the console lists the records finalized over a warning (docs/review.md).
//!
//! A check is data of the form (`checks` in the form JSON): when its condition holds on the
//! answers that apply, it warns about its items.

use serde::{Deserialize, Serialize};

use crate::form::{Condition, FormContext, FormDefinition};
use crate::value::Answers;

/// The form item where the worker states the reason for the warnings of a record.
pub const REASON_ITEM: &str = "check_reason";

/// How a check weighs. Only warnings exist so far: a hard rule is part of validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Warn,
}

/// One soft check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Check {
    pub key: String,
    pub severity: Severity,
    /// Warns when this holds on the answers that apply.
    pub when: Condition,
    /// The items the warning is about (where the app would show it).
    pub items: Vec<String>,
    pub message_zh: String,
    pub message_en: String,
}

/// A warning raised by a check on a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub check: String,
    pub items: Vec<String>,
    pub message_zh: String,
    pub message_en: String,
}

/// The warnings of the form's soft checks for a record, in the form's order. Conditions see
/// only the answers of items that apply (as pruning keeps them), so an answer left behind by
/// skip logic never warns.
#[must_use]
pub fn warnings(form: &FormDefinition, answers: &Answers, ctx: &FormContext) -> Vec<Warning> {
    let kept = form.prune(answers, ctx);
    form.checks
        .iter()
        .filter(|c| c.when.holds(&kept, ctx))
        .map(|c| Warning {
            check: c.key.clone(),
            items: c.items.clone(),
            message_zh: c.message_zh.clone(),
            message_en: c.message_en.clone(),
        })
        .collect()
}

/// The reason the worker gave for a record's warnings, if any (blank counts as none).
#[must_use]
pub fn reason(answers: &Answers) -> Option<&str> {
    answers
        .get(REASON_ITEM)
        .and_then(crate::value::Value::as_text)
        .map(str::trim)
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::ids::{Category, CertificateNumber, Level, ResidentId};
    use crate::value::Value;

    fn ctx(level: u8) -> FormContext {
        let id =
            ResidentId::from_parts("430503", NaiveDate::from_ymd_opt(1980, 3, 15).unwrap(), 11);
        let cert = CertificateNumber::new(id, Category::Physical, Level::new(level).unwrap());
        FormContext::new(cert, NaiveDate::from_ymd_opt(2021, 6, 1).unwrap())
    }

    fn surveyed(pairs: &[(&str, Value)]) -> Answers {
        let mut a: Answers = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        a.insert("outcome".into(), Value::text("home_visit"));
        a
    }

    fn keys(w: &[Warning]) -> Vec<&str> {
        w.iter().map(|w| w.check.as_str()).collect()
    }

    #[test]
    fn every_check_of_the_2021_form_is_a_warning_on_known_items() {
        let form = FormDefinition::dynamic_update_2021();
        assert_eq!(form.checks.len(), 5);
        for c in &form.checks {
            assert_eq!(c.severity, Severity::Warn);
            for i in &c.items {
                assert!(form.item(i).is_some(), "{}: {i}", c.key);
            }
        }
    }

    #[test]
    fn a_severe_person_without_the_nursing_subsidy_is_asked_to_confirm() {
        let form = FormDefinition::dynamic_update_2021();
        let a = surveyed(&[("nursing_subsidy", Value::Bool(false))]);
        assert_eq!(
            keys(&warnings(&form, &a, &ctx(1))),
            ["nursing_subsidy_for_severe"]
        );
        let yes = surveyed(&[("nursing_subsidy", Value::Bool(true))]);
        assert!(warnings(&form, &yes, &ctx(1)).is_empty());
        // Level 3: the item does not apply, so a stale "no" left in the answers never warns.
        assert!(warnings(&form, &a, &ctx(3)).is_empty());
    }

    #[test]
    fn the_living_subsidy_without_dibao_and_rural_items_for_urban_hukou_warn() {
        let form = FormDefinition::dynamic_update_2021();
        let a = surveyed(&[
            ("hukou_type", Value::text("non_agricultural")),
            ("minimum_living", Value::Bool(false)),
            ("living_subsidy", Value::Bool(true)),
            ("housing_safety", Value::text("dangerous")),
            ("dangerous_housing_renovated", Value::Bool(true)),
            ("employed", Value::Bool(true)),
            ("employment_form", Value::text("rural_farming")),
        ]);
        assert_eq!(
            keys(&warnings(&form, &a, &ctx(3))),
            [
                "living_subsidy_without_dibao",
                "rural_renovation_non_agricultural",
                "rural_farming_non_agricultural"
            ]
        );
        // Not surveyed: nothing applies, nothing warns.
        let mut gone = a.clone();
        gone.insert("outcome".into(), Value::text("moved"));
        assert!(warnings(&form, &gone, &ctx(3)).is_empty());
        // The same answers with an agricultural hukou and dibao: no warning.
        let mut fine = a;
        fine.insert("hukou_type".into(), Value::text("agricultural"));
        fine.insert("minimum_living".into(), Value::Bool(true));
        assert!(warnings(&form, &fine, &ctx(3)).is_empty());
    }

    #[test]
    fn the_premium_check_warns_only_where_the_government_pays() {
        let form = FormDefinition::dynamic_update_2021();
        let a = surveyed(&[
            ("minimum_living", Value::Bool(false)),
            ("pension", Value::text("resident_scheme")),
            ("premium_paid_by_government", Value::Bool(false)),
        ]);
        assert_eq!(
            keys(&warnings(&form, &a, &ctx(2))),
            ["premium_paid_for_severe_or_poor"]
        );
        assert!(warnings(&form, &a, &ctx(4)).is_empty());
    }
}
