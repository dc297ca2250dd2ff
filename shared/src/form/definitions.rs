//! Loading and checking a form definition: the embedded official forms, JSON parsing, and the
//! rules a definition must keep ([`FormError`]): keys, labels, options, the outcome item,
//! well-formed conditions, official codes and soft checks.

use std::collections::{BTreeSet, HashMap};

use super::validation::problem;
use super::{Condition, FormDefinition, Item, ItemKind, is_blank};
use crate::domain::{OUTCOME, Outcome, STATUS};
use crate::official::Code;

/// The embedded 2021 dynamic-update form (动态1表).
const DYNAMIC_UPDATE_2021: &str = include_str!("../../forms/dynamic-update-2021.json");

/// Why a form definition was refused. `at` names the section or item holding the condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("form definition does not read as a form: {0}")]
    Json(String),
    #[error("key {0:?} must be ASCII snake_case starting with a letter")]
    InvalidKey(String),
    #[error("key {0:?} is reserved for the record itself")]
    ReservedKey(String),
    #[error("key {0:?} is used more than once")]
    DuplicateKey(String),
    #[error("{0} has an empty label or title")]
    MissingLabel(String),
    #[error("choice item {0:?} has no options")]
    NoOptions(String),
    #[error("item {0:?} is not a choice item but has options")]
    UnexpectedOptions(String),
    #[error("item {item:?} offers option {option:?} more than once")]
    DuplicateOption { item: String, option: String },
    #[error("item {0:?} has a minimum above its maximum")]
    InvalidRange(String),
    #[error("{at}: condition refers to unknown item {item:?}")]
    UnknownItem { at: String, item: String },
    #[error("{at}: condition refers to item {item:?}, which does not come before it")]
    LaterItem { at: String, item: String },
    #[error("{at}: {reason}")]
    InvalidCondition { at: String, reason: String },
    #[error("item \"outcome\": {0}")]
    OutcomeItem(String),
    #[error("official codes: {0}")]
    Official(String),
    #[error("check {at}: {reason}")]
    InvalidCheck { at: String, reason: String },
}

impl FormDefinition {
    /// The 2021 dynamic-update form (动态1表), embedded in the crate.
    ///
    /// # Panics
    /// Never: a test proves the embedded definition is valid.
    #[must_use]
    pub fn dynamic_update_2021() -> Self {
        Self::parse_json(DYNAMIC_UPDATE_2021).expect("the embedded 2021 form is valid")
    }

    /// The newest form Doorstep ships: what a new campaign uses unless told otherwise. A newer
    /// year's form is added as a JSON file beside the 2021 one and named here.
    #[must_use]
    pub fn newest() -> Self {
        Self::dynamic_update_2021()
    }

    /// Reads a form from JSON and [checks](Self::check) it.
    ///
    /// # Errors
    /// Malformed JSON, or a definition that breaks a rule of [`FormDefinition::check`].
    pub fn parse_json(json: &str) -> Result<Self, FormError> {
        let form: Self = serde_json::from_str(json).map_err(|e| FormError::Json(e.to_string()))?;
        form.check()?;
        Ok(form)
    }

    /// Checks the definition itself: keys are ASCII snake_case, item keys unique and not
    /// reserved (`status`, `_…`), section keys unique, labels present, choice items (and only
    /// they) have unique options, integer bounds ordered, the `outcome` item offers exactly the
    /// seven outcomes, and every condition is well-formed and refers only to items that come
    /// before it.
    ///
    /// # Errors
    /// The first rule broken.
    pub fn check(&self) -> Result<(), FormError> {
        let mut all: HashMap<&str, &Item> = HashMap::new();
        let mut section_keys = BTreeSet::new();
        if self.title_zh.trim().is_empty() || self.title_en.trim().is_empty() {
            return Err(FormError::MissingLabel("the form".into()));
        }
        for section in &self.sections {
            check_key(&section.key)?;
            if !section_keys.insert(section.key.as_str()) {
                return Err(FormError::DuplicateKey(section.key.clone()));
            }
            if section.title_zh.trim().is_empty() || section.title_en.trim().is_empty() {
                return Err(FormError::MissingLabel(format!("section {}", section.key)));
            }
            for item in &section.items {
                check_item(item)?;
                if all.insert(&item.key, item).is_some() {
                    return Err(FormError::DuplicateKey(item.key.clone()));
                }
            }
        }
        check_outcome_item(all.get(OUTCOME).copied())?;

        let mut earlier: HashMap<&str, &Item> = HashMap::new();
        for section in &self.sections {
            if let Some(c) = &section.relevant {
                check_condition(c, &format!("section {}", section.key), &earlier, &all)?;
            }
            for item in &section.items {
                if let Some(c) = &item.relevant {
                    check_condition(c, &format!("item {}", item.key), &earlier, &all)?;
                }
                if let Some(c) = &item.required_when {
                    check_condition(c, &format!("item {}", item.key), &earlier, &all)?;
                }
                earlier.insert(&item.key, item);
            }
        }
        check_official(self)?;
        self.check_checks(&all)
    }

    /// Soft checks: unique snake_case keys, messages in both languages, items of this form,
    /// well-formed conditions (which may refer to any item).
    fn check_checks(&self, all: &HashMap<&str, &Item>) -> Result<(), FormError> {
        let mut keys = BTreeSet::new();
        for c in &self.checks {
            check_key(&c.key)?;
            let invalid = |reason: &str| FormError::InvalidCheck {
                at: c.key.clone(),
                reason: reason.to_string(),
            };
            if !keys.insert(c.key.as_str()) {
                return Err(FormError::DuplicateKey(c.key.clone()));
            }
            if c.message_zh.trim().is_empty() || c.message_en.trim().is_empty() {
                return Err(invalid("a message is empty"));
            }
            if c.items.is_empty() || c.items.iter().any(|i| !all.contains_key(i.as_str())) {
                return Err(invalid("items must list items of the form"));
            }
            check_condition(&c.when, &format!("check {}", c.key), all, all)?;
        }
        Ok(())
    }
}

fn is_snake_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_key(key: &str) -> Result<(), FormError> {
    if is_snake_key(key) {
        Ok(())
    } else {
        Err(FormError::InvalidKey(key.to_string()))
    }
}

fn check_item(item: &Item) -> Result<(), FormError> {
    check_key(&item.key)?;
    if item.key == STATUS {
        return Err(FormError::ReservedKey(item.key.clone()));
    }
    if item.label_zh.trim().is_empty() || item.label_en.trim().is_empty() {
        return Err(FormError::MissingLabel(format!("item {}", item.key)));
    }
    if let ItemKind::Integer {
        min: Some(lo),
        max: Some(hi),
    } = item.kind
        && lo > hi
    {
        return Err(FormError::InvalidRange(item.key.clone()));
    }
    match (item.kind.has_options(), item.options.is_empty()) {
        (true, true) => return Err(FormError::NoOptions(item.key.clone())),
        (false, false) => return Err(FormError::UnexpectedOptions(item.key.clone())),
        _ => {}
    }
    let mut seen = BTreeSet::new();
    for choice in &item.options {
        check_key(&choice.key)?;
        if !seen.insert(choice.key.as_str()) {
            return Err(FormError::DuplicateOption {
                item: item.key.clone(),
                option: choice.key.clone(),
            });
        }
        if choice.label_zh.trim().is_empty() || choice.label_en.trim().is_empty() {
            return Err(FormError::MissingLabel(format!(
                "option {} of item {}",
                choice.key, item.key
            )));
        }
    }
    Ok(())
}

/// With an official form named, every item names its official item (or `unknown`) and every
/// option its code (or `unknown`); known item numbers are unique, and so are an item's known
/// option codes. Without one, no item or option carries official codes. Only a multi choice
/// has exclusive options.
fn check_official(form: &FormDefinition) -> Result<(), FormError> {
    let err = |m: String| Err(FormError::Official(m));
    let mut numbers = BTreeSet::new();
    for item in form.items() {
        if item.options.iter().any(|c| c.exclusive) && item.kind != ItemKind::Multi {
            return err(format!(
                "item {:?}: only a multi choice has exclusive options",
                item.key
            ));
        }
        if form.official.is_none() {
            if item.official.is_some() || item.options.iter().any(|c| c.code.is_some()) {
                return err(format!(
                    "item {:?} has official codes but the form names no official form",
                    item.key
                ));
            }
            continue;
        }
        let Some(official) = &item.official else {
            return err(format!(
                "item {:?} has no official item (write \"unknown\")",
                item.key
            ));
        };
        if let Some(r) = official.item.known()
            && !numbers.insert(r)
        {
            return err(format!("official item {r} is given to more than one item"));
        }
        let mut codes = BTreeSet::new();
        for c in &item.options {
            match &c.code {
                None => {
                    return err(format!(
                        "option {:?} of item {:?} has no code (write \"unknown\")",
                        c.key, item.key
                    ));
                }
                Some(Code::Known(code)) if !codes.insert(code.as_str()) => {
                    return err(format!("item {:?} gives code {code} twice", item.key));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

fn check_outcome_item(item: Option<&Item>) -> Result<(), FormError> {
    let Some(item) = item else {
        return Err(FormError::OutcomeItem(
            "the form has no outcome item".into(),
        ));
    };
    if item.kind != ItemKind::Single {
        return Err(FormError::OutcomeItem("must be a single choice".into()));
    }
    let offered: BTreeSet<&str> = item.options.iter().map(|c| c.key.as_str()).collect();
    let outcomes: BTreeSet<&str> = Outcome::ALL.iter().map(|o| o.key()).collect();
    if offered != outcomes {
        return Err(FormError::OutcomeItem(
            "must offer exactly the seven outcome keys".into(),
        ));
    }
    Ok(())
}

fn check_condition<'a>(
    c: &Condition,
    at: &str,
    earlier: &HashMap<&str, &'a Item>,
    all: &HashMap<&str, &'a Item>,
) -> Result<(), FormError> {
    let invalid = |reason: String| FormError::InvalidCondition {
        at: at.to_string(),
        reason,
    };
    let refer = |key: &str| -> Result<&'a Item, FormError> {
        match (earlier.get(key), all.contains_key(key)) {
            (Some(item), _) => Ok(*item),
            (None, true) => Err(FormError::LaterItem {
                at: at.to_string(),
                item: key.to_string(),
            }),
            (None, false) => Err(FormError::UnknownItem {
                at: at.to_string(),
                item: key.to_string(),
            }),
        }
    };
    match c {
        Condition::OutcomeIn(outcomes) => {
            refer(OUTCOME)?;
            if outcomes.is_empty() {
                return Err(invalid("outcome_in lists no outcome".into()));
            }
        }
        Condition::AgeBetween(min, max) if min > max => {
            return Err(invalid(format!("age_between [{min}, {max}] is empty")));
        }
        Condition::AgeBetween(..) | Condition::LevelAtMost(_) => {}
        Condition::CategoryIn(cats) if cats.is_empty() => {
            return Err(invalid("category_in lists no category".into()));
        }
        Condition::CategoryIn(_) => {}
        Condition::Equals { item, value } => {
            let target = refer(item)?;
            if is_blank(value) || problem(target, value).is_some() {
                return Err(invalid(format!(
                    "equals: the value is not a possible answer to {item:?}"
                )));
            }
        }
        Condition::Contains { item, option } => {
            let target = refer(item)?;
            if target.kind != ItemKind::Multi {
                return Err(invalid(format!("contains: {item:?} is not a multi choice")));
            }
            if target.option(option).is_none() {
                return Err(invalid(format!(
                    "contains: {item:?} has no option {option:?}"
                )));
            }
        }
        Condition::Answered(item) => {
            refer(item)?;
        }
        Condition::All(cs) | Condition::Any(cs) => {
            if cs.is_empty() {
                return Err(invalid("all/any lists no condition".into()));
            }
            for c in cs {
                check_condition(c, at, earlier, all)?;
            }
        }
        Condition::Not(c) => check_condition(c, at, earlier, all)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::test_support::*;

    #[test]
    fn embedded_form_parses_with_35_to_45_items() {
        let f = form();
        let n = f.items().count();
        assert!((35..=45).contains(&n), "{n} items");
        assert_eq!(f.version, "2021.1");
        assert_eq!(f.sections[0].key, "outcome");
        assert_eq!(f.sections[0].items[0].key, OUTCOME);
        let keys: Vec<&str> = f.sections.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "outcome",
                "basic",
                "economy",
                "education",
                "employment",
                "social_security",
                "rehabilitation",
                "accessibility",
                "care",
                "culture"
            ]
        );
        assert!(f.item("marital_status").is_some());
        assert!(f.item("status").is_none());
    }

    #[test]
    fn outcome_item_offers_the_seven_outcomes_with_their_labels() {
        let f = form();
        let item = f.item(OUTCOME).unwrap();
        assert_eq!(item.kind, ItemKind::Single);
        assert!(item.required);
        assert!(item.relevant.is_none() && f.sections[0].relevant.is_none());
        assert_eq!(item.options.len(), Outcome::ALL.len());
        for (choice, o) in item.options.iter().zip(Outcome::ALL) {
            assert_eq!(choice.key, o.key());
            assert_eq!(choice.label_zh, o.label_zh());
            assert_eq!(choice.label_en, o.label_en());
        }
        for key in ["visit_geo", "visit_at"] {
            let it = f.item(key).unwrap();
            assert!(!it.required);
            assert_eq!(
                it.relevant,
                Some(Condition::OutcomeIn(vec![Outcome::HomeVisit]))
            );
        }
        assert_eq!(f.item("visit_geo").unwrap().kind, ItemKind::Geo);
        assert_eq!(f.item("visit_at").unwrap().kind, ItemKind::Text);
    }

    #[test]
    fn every_non_outcome_section_is_gated_on_a_survey_outcome() {
        let f = form();
        let survey = Condition::OutcomeIn(vec![Outcome::HomeVisit, Outcome::Phone]);
        for s in &f.sections[1..] {
            let gated = match &s.relevant {
                Some(c) if *c == survey => true,
                Some(Condition::All(cs)) => cs.contains(&survey),
                _ => false,
            };
            assert!(gated, "section {} is not gated", s.key);
        }
    }

    #[test]
    fn embedded_form_round_trips_through_json() {
        let f = form();
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(FormDefinition::parse_json(&json).unwrap(), f);
    }

    /// The embedded form as a JSON tree, changed by `edit`, then parsed.
    fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> Result<FormDefinition, FormError> {
        let mut tree: serde_json::Value = serde_json::from_str(DYNAMIC_UPDATE_2021).unwrap();
        edit(&mut tree);
        FormDefinition::parse_json(&tree.to_string())
    }

    /// Item `i` of section `s` in the JSON tree.
    fn at(tree: &mut serde_json::Value, s: usize, i: usize) -> &mut serde_json::Value {
        &mut tree["sections"][s]["items"][i]
    }

    #[test]
    fn refuses_a_duplicate_item_key() {
        let e = edited(|t| at(t, 1, 1)["key"] = "ethnicity".into()).unwrap_err();
        assert_eq!(e, FormError::DuplicateKey("ethnicity".into()));
        let e = edited(|t| t["sections"][2]["key"] = "basic".into()).unwrap_err();
        assert_eq!(e, FormError::DuplicateKey("basic".into()));
    }

    #[test]
    fn refuses_a_condition_on_an_unknown_or_later_item() {
        let e = edited(|t| {
            at(t, 4, 1)["relevant"] = serde_json::json!({"equals":{"item":"has_job","value":true}});
        })
        .unwrap_err();
        assert_eq!(
            e,
            FormError::UnknownItem {
                at: "item employment_form".into(),
                item: "has_job".into()
            }
        );
        // Economy may not depend on employment, which comes later.
        let e = edited(|t| {
            at(t, 2, 0)["relevant"] = serde_json::json!({"answered":"employed"});
        })
        .unwrap_err();
        assert_eq!(
            e,
            FormError::LaterItem {
                at: "item income_level".into(),
                item: "employed".into()
            }
        );
        // Nor may an item depend on itself, or a section on its own items.
        let e = edited(|t| {
            at(t, 4, 0)["relevant"] = serde_json::json!({"not":{"answered":"employed"}});
        })
        .unwrap_err();
        assert!(matches!(e, FormError::LaterItem { item, .. } if item == "employed"));
        let e = edited(|t| {
            t["sections"][4]["relevant"] =
                serde_json::json!({"any":[{"equals":{"item":"employed","value":true}}]});
        })
        .unwrap_err();
        assert_eq!(
            e,
            FormError::LaterItem {
                at: "section employment".into(),
                item: "employed".into()
            }
        );
    }

    #[test]
    fn refuses_reserved_and_malformed_keys() {
        let e = edited(|t| at(t, 1, 0)["key"] = "status".into()).unwrap_err();
        assert_eq!(e, FormError::ReservedKey("status".into()));
        let e = edited(|t| at(t, 1, 0)["key"] = "_ethnicity".into()).unwrap_err();
        assert_eq!(e, FormError::InvalidKey("_ethnicity".into()));
        let e = edited(|t| at(t, 1, 0)["key"] = "Ethnicity".into()).unwrap_err();
        assert_eq!(e, FormError::InvalidKey("Ethnicity".into()));
        let e = edited(|t| at(t, 1, 0)["options"][0]["key"] = "汉族".into()).unwrap_err();
        assert_eq!(e, FormError::InvalidKey("汉族".into()));
    }

    #[test]
    fn refuses_bad_options_ranges_and_labels() {
        let e = edited(|t| at(t, 1, 0)["options"] = serde_json::json!([])).unwrap_err();
        assert_eq!(e, FormError::NoOptions("ethnicity".into()));
        let e = edited(|t| {
            at(t, 2, 1)["options"] =
                serde_json::json!([{"key":"yes","label_zh":"是","label_en":"Yes"}]);
        })
        .unwrap_err();
        assert_eq!(e, FormError::UnexpectedOptions("minimum_living".into()));
        let e = edited(|t| at(t, 1, 1)["options"][1]["key"] = "agricultural".into()).unwrap_err();
        assert_eq!(
            e,
            FormError::DuplicateOption {
                item: "hukou_type".into(),
                option: "agricultural".into()
            }
        );
        let e =
            edited(|t| at(t, 1, 6)["kind"] = serde_json::json!({"type":"integer","min":9,"max":2}))
                .unwrap_err();
        assert_eq!(e, FormError::InvalidRange("household_size".into()));
        let e = edited(|t| at(t, 1, 2)["label_en"] = " ".into()).unwrap_err();
        assert_eq!(e, FormError::MissingLabel("item marital_status".into()));
    }

    #[test]
    fn refuses_an_outcome_item_without_the_seven_outcomes() {
        let e = edited(|t| {
            at(t, 0, 0)["options"].as_array_mut().unwrap().pop();
        })
        .unwrap_err();
        assert!(matches!(e, FormError::OutcomeItem(_)));
        let e = edited(|t| at(t, 0, 0)["key"] = "result".into()).unwrap_err();
        assert!(matches!(e, FormError::OutcomeItem(_)));
    }

    #[test]
    fn refuses_ill_formed_conditions() {
        let cases = [
            // A yes/no item compared with text.
            serde_json::json!({"equals":{"item":"minimum_living","value":"yes"}}),
            // A single choice compared with a key it does not offer.
            serde_json::json!({"equals":{"item":"marital_status","value":"single"}}),
            // `contains` on a single choice, and on an option that does not exist.
            serde_json::json!({"contains":{"item":"marital_status","option":"married"}}),
            serde_json::json!({"contains":{"item":"training_received","option":"flying"}}),
            serde_json::json!({"age_between":[15,6]}),
            serde_json::json!({"outcome_in":[]}),
            serde_json::json!({"all":[]}),
        ];
        for case in cases {
            // On "training_wanted", which comes after every item the cases name.
            let e = edited(|t| at(t, 4, 5)["relevant"] = case.clone()).unwrap_err();
            assert!(
                matches!(&e, FormError::InvalidCondition { at, .. } if at == "item training_wanted"),
                "{case}: {e:?}"
            );
        }
    }

    #[test]
    fn refuses_json_that_is_not_a_form() {
        let cases = [
            // A misspelt field must not silently drop a condition.
            serde_json::json!({"relevent":{"level_at_most":2}}),
            serde_json::json!({"relevant":{"category_in":[8]}}),
            serde_json::json!({"relevant":{"level_at_most":5}}),
            serde_json::json!({"relevant":{"outcome_in":["visited"]}}),
            serde_json::json!({"relevant":{"equals":{"item":"employed","value":true,"x":1}}}),
            serde_json::json!({"kind":{"type":"yes_no","min":1}}),
            serde_json::json!({"kind":{"type":"checkbox"}}),
            serde_json::json!({"kind":{"type":"integer","maximum":5}}),
        ];
        for case in cases {
            let result = edited(|t| {
                let item = at(t, 4, 0).as_object_mut().unwrap();
                for (k, v) in case.as_object().unwrap() {
                    item.insert(k.clone(), v.clone());
                }
            });
            assert!(
                matches!(result, Err(FormError::Json(_))),
                "{case} was not refused as JSON"
            );
        }
        assert!(matches!(
            FormDefinition::parse_json("{"),
            Err(FormError::Json(_))
        ));
    }

    #[test]
    fn official_codes_are_all_or_nothing_and_unique() {
        let json = DYNAMIC_UPDATE_2021;
        // An option without its code (neither a code nor "unknown") is refused.
        let no_code = json.replacen(
            r#""label_en": "Agricultural", "code": "1""#,
            r#""label_en": "Agricultural""#,
            1,
        );
        assert!(matches!(
            FormDefinition::parse_json(&no_code),
            Err(FormError::Official(_))
        ));
        // Two options with one code.
        let twice = json.replacen(r#""code": "2""#, r#""code": "1""#, 1);
        assert!(matches!(
            FormDefinition::parse_json(&twice),
            Err(FormError::Official(_))
        ));
        // One R-number for two items.
        let dup = json.replacen(r#""item": "R31""#, r#""item": "R3""#, 1);
        assert!(matches!(
            FormDefinition::parse_json(&dup),
            Err(FormError::Official(_))
        ));
        // A check about an item the form does not have.
        let bad = json.replacen(
            r#""items": ["nursing_subsidy"]"#,
            r#""items": ["nursing"]"#,
            1,
        );
        assert!(matches!(
            FormDefinition::parse_json(&bad),
            Err(FormError::InvalidCheck { .. })
        ));
        // The annotations survive a round trip through the stored JSON.
        let form = FormDefinition::dynamic_update_2021();
        let back = FormDefinition::parse_json(&serde_json::to_string(&form).unwrap()).unwrap();
        assert_eq!(back, form);
    }

    #[test]
    fn every_help_text_has_its_english() {
        let form = FormDefinition::dynamic_update_2021();
        for item in form.sections.iter().flat_map(|s| &s.items) {
            assert_eq!(
                item.help_zh.is_some(),
                item.help_en.is_some(),
                "{}",
                item.key
            );
        }
    }
}
