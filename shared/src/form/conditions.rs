//! Relevance: the [`Condition`]s that gate sections and items, the [`FormContext`] they read
//! (who is surveyed, on which day), which items of a form apply to a record, and pruning.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{FormDefinition, Item, is_blank, is_meta};
use crate::domain::{Campaign, OUTCOME, Outcome, PersonFacts};
use crate::ids::{Category, Level};
use crate::value::{Answers, Value};

/// When a section or item applies. JSON is externally tagged, e.g. `{"outcome_in":["phone"]}`,
/// `{"age_between":[6,15]}`, `{"category_in":[5,6]}`, `{"level_at_most":2}`,
/// `{"equals":{"item":"employed","value":false}}`, `{"contains":{"item":"rehab_needs","option":"device"}}`,
/// `{"answered":"phone"}`, `{"all":[…]}`, `{"any":[…]}`, `{"not":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Condition {
    /// The recorded outcome is one of these.
    OutcomeIn(Vec<Outcome>),
    /// The person's age on the reference date is within `[min, max]` (inclusive).
    AgeBetween(u32, u32),
    /// The certificate's disability category is one of these (digits 1–7 in JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<u8>))]
    CategoryIn(#[serde(with = "category_digits")] Vec<Category>),
    /// The certificate's level is this severe or more (level 1 is the most severe).
    #[cfg_attr(feature = "openapi", schema(value_type = u8))]
    LevelAtMost(Level),
    /// The item's answer equals this value.
    Equals {
        item: String,
        #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Answer))]
        value: Value,
    },
    /// The multi-choice item's answer includes this option.
    Contains { item: String, option: String },
    /// The item has a non-blank answer.
    Answered(String),
    /// Every condition holds.
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    All(Vec<Condition>),
    /// At least one condition holds.
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    Any(Vec<Condition>),
    /// The condition does not hold.
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    Not(Box<Condition>),
}

/// Categories as their certificate digits in JSON.
mod category_digits {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::ids::Category;

    pub fn serialize<S: Serializer>(cats: &[Category], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(cats.iter().map(|c| c.digit()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Category>, D::Error> {
        Vec::<u8>::deserialize(d)?
            .into_iter()
            .map(|n| {
                Category::from_digit(n).ok_or_else(|| {
                    D::Error::custom(format!("disability category must be 1–7, found {n}"))
                })
            })
            .collect()
    }
}

/// Where a condition reads answers: a record's [`Answers`], or (while relevance is worked out)
/// only those of the earlier relevant items ([`Earlier`]).
pub trait Lookup {
    fn answer(&self, key: &str) -> Option<&Value>;
}

impl Lookup for Answers {
    fn answer(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
}

/// A record's answers as a condition sees them while relevance is worked out: an item's answer
/// only if the item comes earlier in the form and is relevant (`flags`, so far).
struct Earlier<'a> {
    form: &'a FormDefinition,
    answers: &'a Answers,
    flags: &'a [bool],
}

impl Lookup for Earlier<'_> {
    fn answer(&self, key: &str) -> Option<&Value> {
        let (at, _) = self.form.find(key)?;
        if *self.flags.get(at)? {
            self.answers.get(key)
        } else {
            None
        }
    }
}

impl Condition {
    /// Evaluates the condition on raw answers (no relevance applied to the answers themselves).
    #[must_use]
    pub fn holds(&self, answers: &impl Lookup, ctx: &FormContext) -> bool {
        match self {
            Condition::OutcomeIn(outcomes) => answers
                .answer(OUTCOME)
                .and_then(Value::as_text)
                .and_then(Outcome::parse)
                .is_some_and(|o| outcomes.contains(&o)),
            Condition::AgeBetween(min, max) => (*min..=*max).contains(&ctx.age()),
            Condition::CategoryIn(cats) => cats.contains(&ctx.facts.category),
            Condition::LevelAtMost(level) => ctx.facts.level <= *level,
            Condition::Equals { item, value } => answers.answer(item) == Some(value),
            Condition::Contains { item, option } => answers
                .answer(item)
                .and_then(Value::as_set)
                .is_some_and(|s| s.contains(option)),
            Condition::Answered(item) => answers.answer(item).is_some_and(|v| !is_blank(v)),
            Condition::All(cs) => cs.iter().all(|c| c.holds(answers, ctx)),
            Condition::Any(cs) => cs.iter().any(|c| c.holds(answers, ctx)),
            Condition::Not(c) => !c.holds(answers, ctx),
        }
    }
}

/// What relevance rules may look at besides the answers: who is surveyed and on which day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormContext {
    /// What the person's numbers say (birth date, sex, category, level).
    pub facts: PersonFacts,
    /// The day ages are computed on (the campaign's reference date).
    pub reference_date: NaiveDate,
}

impl FormContext {
    /// A context for a person with these facts (or this certificate number).
    #[must_use]
    pub fn new(facts: impl Into<PersonFacts>, reference_date: NaiveDate) -> Self {
        Self {
            facts: facts.into(),
            reference_date,
        }
    }

    /// The context of a person (a roster [`Person`], a [`crate::ShownPerson`], or their facts)
    /// in a campaign.
    #[must_use]
    pub fn for_person(person: impl Into<PersonFacts>, campaign: &Campaign) -> Self {
        Self::new(person, campaign.reference_date())
    }

    /// Age in whole years on the reference date.
    #[must_use]
    pub fn age(&self) -> u32 {
        self.facts.age_on(self.reference_date)
    }
}

impl FormDefinition {
    /// Whether the item applies: its section's condition and its own hold, evaluated on the
    /// answers of earlier relevant items. Unknown keys are not relevant.
    #[must_use]
    pub fn is_relevant(&self, key: &str, answers: &Answers, ctx: &FormContext) -> bool {
        self.items()
            .zip(self.relevance(answers, ctx))
            .any(|(item, on)| on && item.key == key)
    }

    /// The items that apply, in form order.
    #[must_use]
    pub fn relevant_items(&self, answers: &Answers, ctx: &FormContext) -> Vec<&Item> {
        self.items()
            .zip(self.relevance(answers, ctx))
            .filter_map(|(item, on)| on.then_some(item))
            .collect()
    }

    /// The answers to keep: those of relevant items, plus `status` and `_`-prefixed keys.
    /// Answers to irrelevant or unknown items are dropped.
    #[must_use]
    pub fn prune(&self, answers: &Answers, ctx: &FormContext) -> Answers {
        let keep: BTreeSet<&str> = self
            .relevant_items(answers, ctx)
            .into_iter()
            .map(|i| i.key.as_str())
            .collect();
        answers
            .iter()
            .filter(|(k, _)| is_meta(k) || keep.contains(k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// One relevance flag per item, in form order ([`FormDefinition::items`]). Conditions see
    /// only the answers of earlier relevant items, so irrelevance cascades.
    #[must_use]
    pub fn relevance(&self, answers: &Answers, ctx: &FormContext) -> Vec<bool> {
        let mut flags = Vec::with_capacity(self.sections.iter().map(|s| s.items.len()).sum());
        let holds = |c: &Condition, flags: &[bool]| {
            c.holds(
                &Earlier {
                    form: self,
                    answers,
                    flags,
                },
                ctx,
            )
        };
        for section in &self.sections {
            let open = section.relevant.as_ref().is_none_or(|c| holds(c, &flags));
            for item in &section.items {
                let on = open && item.relevant.as_ref().is_none_or(|c| holds(c, &flags));
                flags.push(on);
            }
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OUTCOME, Person};
    use crate::form::test_support::*;
    use crate::ids::{CertificateNumber, ResidentId};

    fn relevant_keys(f: &FormDefinition, a: &Answers, c: &FormContext) -> Vec<String> {
        f.relevant_items(a, c)
            .iter()
            .map(|i| i.key.clone())
            .collect()
    }

    #[test]
    fn conditions_read_the_documented_json() {
        let read = |s: &str| serde_json::from_str::<Condition>(s).unwrap();
        let cases = [
            (
                r#"{"outcome_in":["home_visit","phone"]}"#,
                Condition::OutcomeIn(vec![Outcome::HomeVisit, Outcome::Phone]),
            ),
            (r#"{"age_between":[6,15]}"#, Condition::AgeBetween(6, 15)),
            (
                r#"{"category_in":[5,6]}"#,
                Condition::CategoryIn(vec![Category::Intellectual, Category::Mental]),
            ),
            (
                r#"{"level_at_most":2}"#,
                Condition::LevelAtMost(Level::new(2).unwrap()),
            ),
            (
                r#"{"equals":{"item":"employed","value":false}}"#,
                Condition::Equals {
                    item: "employed".into(),
                    value: Value::Bool(false),
                },
            ),
            (
                r#"{"contains":{"item":"rehab_needs","option":"device"}}"#,
                Condition::Contains {
                    item: "rehab_needs".into(),
                    option: "device".into(),
                },
            ),
            (
                r#"{"answered":"phone"}"#,
                Condition::Answered("phone".into()),
            ),
            (
                r#"{"all":[{"answered":"a"},{"any":[{"not":{"answered":"b"}}]}]}"#,
                Condition::All(vec![
                    Condition::Answered("a".into()),
                    Condition::Any(vec![Condition::Not(Box::new(Condition::Answered(
                        "b".into(),
                    )))]),
                ]),
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(read(json), expected, "{json}");
            assert_eq!(serde_json::to_string(&expected).unwrap(), json);
        }
    }

    #[test]
    fn conditions_evaluate_on_raw_answers() {
        let c = adult();
        let a = answers(&[
            ("phone", Value::text("  ")),
            ("note", Value::text("x")),
            ("needs", Value::set(["device"])),
            ("employed", Value::Bool(false)),
        ]);
        assert!(!Condition::Answered("phone".into()).holds(&a, &c));
        assert!(Condition::Answered("note".into()).holds(&a, &c));
        assert!(!Condition::Answered("absent".into()).holds(&a, &c));
        let eq = |item: &str, value: Value| Condition::Equals {
            item: item.into(),
            value,
        };
        assert!(eq("employed", Value::Bool(false)).holds(&a, &c));
        assert!(!eq("employed", Value::Bool(true)).holds(&a, &c));
        assert!(!eq("absent", Value::Bool(false)).holds(&a, &c));
        let contains = |item: &str| Condition::Contains {
            item: item.into(),
            option: "device".into(),
        };
        assert!(contains("needs").holds(&a, &c));
        assert!(!contains("note").holds(&a, &c));
        assert!(!Condition::OutcomeIn(vec![Outcome::Phone]).holds(&a, &c));
        assert!(Condition::Not(Box::new(contains("note"))).holds(&a, &c));
        assert!(Condition::Any(vec![contains("note"), contains("needs")]).holds(&a, &c));
        assert!(!Condition::All(vec![contains("note"), contains("needs")]).holds(&a, &c));
        assert!(Condition::CategoryIn(vec![Category::Physical]).holds(&a, &c));
        assert!(!Condition::LevelAtMost(Level::new(2).unwrap()).holds(&a, &c));
        assert!(Condition::AgeBetween(41, 41).holds(&a, &c));
    }

    #[test]
    fn context_for_a_roster_person_uses_the_campaign_reference_date() {
        let id = ResidentId::from_parts("430503", day(2011, 1, 20), 11);
        let certificate =
            CertificateNumber::new(id.clone(), Category::Intellectual, Level::new(2).unwrap());
        let campaign = Campaign {
            id: uuid::Uuid::nil(),
            district: crate::place::DivisionCode::parse("430503").unwrap(),
            district_name: "大祥区".into(),
            year: 2021,
            name: "2021".into(),
            starts: day(2021, 3, 1),
            ends: day(2021, 9, 30),
            form_version: "2021.1".into(),
        };
        let person = Person {
            id: uuid::Uuid::nil(),
            name: "张三".into(),
            resident_id: id,
            certificate: certificate.clone(),
            community: crate::place::DivisionCode::parse("430503001001").unwrap(),
            address: String::new(),
            phone: String::new(),
            nursing_subsidy: true,
            living_subsidy: false,
        };
        let pc = FormContext::for_person(&person, &campaign);
        assert_eq!(pc.reference_date, day(2021, 3, 1));
        assert_eq!(pc.facts, PersonFacts::from(&certificate));
        assert_eq!(pc.facts.sex, crate::ids::Sex::Male);
        assert_eq!(pc.age(), 10);
        assert_eq!(pc.facts, child().facts);
    }

    #[test]
    fn the_conditional_rules_are_exactly_the_ones_tested_here() {
        // Adding a rule to the form must come with a test below; this list says which exist.
        let f = form();
        let sections: Vec<&str> = f
            .sections
            .iter()
            .filter(|s| s.relevant.is_some())
            .map(|s| s.key.as_str())
            .collect();
        assert_eq!(
            sections,
            [
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
        let items: Vec<&str> = f
            .items()
            .filter(|i| i.relevant.is_some())
            .map(|i| i.key.as_str())
            .collect();
        assert_eq!(
            items,
            [
                "visit_geo",
                "visit_at",
                "outcome_note",
                "deregistered_on",
                "dangerous_housing_renovated",
                "school_type",
                "out_of_school_reason",
                "employment_form",
                "not_working_reason",
                "employment_help_wanted",
                "premium_paid_by_government",
                "nursing_subsidy",
                "devices_received",
                "devices_needed",
                "home_modification_needed",
                "home_modification_items"
            ]
        );
    }

    // ---------------------------------------------------------------- relevance

    #[test]
    fn without_an_outcome_only_the_outcome_item_applies() {
        let f = form();
        assert_eq!(relevant_keys(&f, &Answers::new(), &child()), ["outcome"]);
        // Answers elsewhere do not open anything while the outcome is missing.
        let a = answers(&[
            ("ethnicity", Value::text("han")),
            ("employed", Value::Bool(true)),
        ]);
        assert_eq!(relevant_keys(&f, &a, &adult()), ["outcome"]);
    }

    #[test]
    fn outcome_gates_the_visit_items_the_note_and_every_section() {
        let f = form();
        for o in Outcome::ALL {
            let a = with_outcome(o, &[]);
            let c = child(); // 10 years old: every section but care can open.
            let survey = o.has_questionnaire();
            assert_eq!(
                f.is_relevant("visit_geo", &a, &c),
                o == Outcome::HomeVisit,
                "{o}"
            );
            assert_eq!(
                f.is_relevant("visit_at", &a, &c),
                o == Outcome::HomeVisit,
                "{o}"
            );
            assert_eq!(f.is_relevant("outcome_note", &a, &c), !survey, "{o}");
            assert_eq!(
                f.is_relevant("deregistered_on", &a, &c),
                o == Outcome::Deregistered,
                "{o}"
            );
            for key in [
                "ethnicity",
                "phone",
                "household_size",
                "income_level",
                "in_school",
                "employed",
                "training_wanted",
                "pension",
                "living_subsidy",
                "family_doctor",
                "rehab_needs",
                "home_modification_done",
                "culture_participation",
                "culture_needs",
            ] {
                assert_eq!(f.is_relevant(key, &a, &c), survey, "{key} for {o}");
            }
            let adult_mental = ctx(day(1990, 1, 1), Category::Mental, 3);
            assert_eq!(
                f.is_relevant("care_received", &a, &adult_mental),
                survey,
                "{o}"
            );
            if !survey {
                let expected: &[&str] = if o == Outcome::Deregistered {
                    &["outcome", "outcome_note", "deregistered_on"]
                } else {
                    &["outcome", "outcome_note"]
                };
                assert_eq!(relevant_keys(&f, &a, &c), expected, "{o}");
            }
        }
    }

    #[test]
    fn a_phone_survey_has_the_questionnaire_but_no_visit_items() {
        let f = form();
        let c = adult();
        let visit = relevant_keys(&f, &surveyed(&[]), &c);
        let phone = relevant_keys(&f, &with_outcome(Outcome::Phone, &[]), &c);
        let missing: Vec<&String> = visit.iter().filter(|k| !phone.contains(k)).collect();
        assert_eq!(missing, ["visit_geo", "visit_at"]);
        assert!(phone.iter().all(|k| visit.contains(k)));
    }

    #[test]
    fn education_applies_from_the_6th_to_the_end_of_the_15th_year() {
        let f = form();
        let a = surveyed(&[]);
        // Reference date 2021-06-01: a birthday on that day has already counted.
        let cases = [
            (day(2015, 6, 2), 5, false),
            (day(2015, 6, 1), 6, true),
            (day(2005, 6, 2), 15, true),
            (day(2005, 6, 1), 16, false),
        ];
        for (birth, age, expected) in cases {
            let c = ctx(birth, Category::Hearing, 3);
            assert_eq!(c.age(), age);
            for key in ["in_school", "school_type", "out_of_school_reason"] {
                let a = with_outcome(Outcome::Phone, &[("in_school", Value::Bool(true))]);
                let on = f.is_relevant(key, &a, &c);
                if key == "in_school" || key == "school_type" {
                    assert_eq!(on, expected, "{key} at age {age}");
                } else {
                    assert!(!on, "{key} at age {age}");
                }
            }
            assert_eq!(f.is_relevant("in_school", &a, &c), expected, "age {age}");
        }
    }

    #[test]
    fn education_branches_on_in_school() {
        let f = form();
        let c = child();
        let keys = |in_school: Option<bool>| {
            let mut a = surveyed(&[]);
            if let Some(b) = in_school {
                a.insert("in_school".into(), Value::Bool(b));
            }
            ["school_type", "out_of_school_reason"].map(|k| f.is_relevant(k, &a, &c))
        };
        assert_eq!(keys(None), [false, false]);
        assert_eq!(keys(Some(true)), [true, false]);
        assert_eq!(keys(Some(false)), [false, true]);
    }

    #[test]
    fn employment_branches_on_employed() {
        let f = form();
        let c = adult();
        let keys = |employed: Option<bool>| {
            let mut a = surveyed(&[]);
            if let Some(b) = employed {
                a.insert("employed".into(), Value::Bool(b));
            }
            [
                "employment_form",
                "not_working_reason",
                "employment_help_wanted",
            ]
            .map(|k| f.is_relevant(k, &a, &c))
        };
        assert_eq!(keys(None), [false, false, false]);
        assert_eq!(keys(Some(true)), [true, false, false]);
        assert_eq!(keys(Some(false)), [false, true, true]);
        // Training applies either way.
        for employed in [true, false] {
            let a = surveyed(&[("employed", Value::Bool(employed))]);
            assert!(f.is_relevant("training_received", &a, &c));
            assert!(f.is_relevant("training_wanted", &a, &c));
        }
    }

    #[test]
    fn nursing_subsidy_only_for_levels_1_and_2() {
        let f = form();
        let a = surveyed(&[]);
        for (level, expected) in [(1, true), (2, true), (3, false), (4, false)] {
            let c = ctx(day(1970, 1, 1), Category::Visual, level);
            assert_eq!(
                f.is_relevant("nursing_subsidy", &a, &c),
                expected,
                "level {level}"
            );
            assert!(f.is_relevant("living_subsidy", &a, &c));
        }
    }

    #[test]
    fn premium_paid_by_government_for_residents_scheme_if_severe_or_on_dibao() {
        let f = form();
        let cases = [
            // (level, on dibao, pension scheme, expected)
            (2, false, "resident_scheme", true),
            (3, true, "resident_scheme", true),
            (3, false, "resident_scheme", false),
            (1, true, "employee_scheme", false),
            (1, true, "not_insured", false),
        ];
        for (level, dibao, pension, expected) in cases {
            let c = ctx(day(1970, 1, 1), Category::Physical, level);
            let a = surveyed(&[
                ("minimum_living", Value::Bool(dibao)),
                ("pension", Value::text(pension)),
            ]);
            assert_eq!(
                f.is_relevant("premium_paid_by_government", &a, &c),
                expected,
                "level {level}, dibao {dibao}, {pension}"
            );
        }
    }

    #[test]
    fn renovation_question_only_for_dangerous_housing() {
        let f = form();
        let c = adult();
        for (housing, expected) in [
            ("dangerous", true),
            ("safe", false),
            ("no_own_housing", false),
        ] {
            let a = surveyed(&[("housing_safety", Value::text(housing))]);
            assert_eq!(
                f.is_relevant("dangerous_housing_renovated", &a, &c),
                expected
            );
        }
        assert!(!f.is_relevant("dangerous_housing_renovated", &surveyed(&[]), &c));
    }

    #[test]
    fn device_lists_follow_the_device_options() {
        let f = form();
        let c = adult();
        let a = surveyed(&[
            ("rehab_services_received", Value::set(["medical", "device"])),
            ("rehab_needs", Value::set(["training"])),
        ]);
        assert!(f.is_relevant("devices_received", &a, &c));
        assert!(!f.is_relevant("devices_needed", &a, &c));
        let a = surveyed(&[
            ("rehab_services_received", Value::set(["none"])),
            ("rehab_needs", Value::set(["device"])),
        ]);
        assert!(!f.is_relevant("devices_received", &a, &c));
        assert!(f.is_relevant("devices_needed", &a, &c));
    }

    #[test]
    fn home_modification_questions_chain_and_cascade() {
        let f = form();
        let c = adult();
        let keys = |pairs: &[(&str, Value)]| {
            let a = surveyed(pairs);
            ["home_modification_needed", "home_modification_items"]
                .map(|k| f.is_relevant(k, &a, &c))
        };
        assert_eq!(keys(&[]), [false, false]);
        assert_eq!(
            keys(&[("home_modification_done", Value::Bool(false))]),
            [true, false]
        );
        assert_eq!(
            keys(&[
                ("home_modification_done", Value::Bool(false)),
                ("home_modification_needed", Value::Bool(true)),
            ]),
            [true, true]
        );
        // Once "done" turns true, the stale "needed = yes" no longer opens the item list.
        assert_eq!(
            keys(&[
                ("home_modification_done", Value::Bool(true)),
                ("home_modification_needed", Value::Bool(true)),
            ]),
            [false, false]
        );
    }

    #[test]
    fn care_services_for_16_to_59_intellectual_mental_or_severe() {
        let f = form();
        let a = surveyed(&[]);
        // Reference 2021-06-01: born 2005-06-01 is 16, 1961-06-02 is 59, 1961-06-01 is 60.
        let cases = [
            (day(2005, 6, 2), Category::Intellectual, 4, false), // 15
            (day(2005, 6, 1), Category::Intellectual, 4, true),  // 16
            (day(1961, 6, 2), Category::Mental, 3, true),        // 59
            (day(1961, 6, 1), Category::Mental, 3, false),       // 60
            (day(1980, 1, 1), Category::Physical, 2, true),
            (day(1980, 1, 1), Category::Physical, 3, false),
            (day(1980, 1, 1), Category::Visual, 1, true),
            (day(1980, 1, 1), Category::Hearing, 4, false),
            (day(1980, 1, 1), Category::Multiple, 3, false),
            (day(1950, 1, 1), Category::Physical, 1, false), // severe but 71
        ];
        for (birth, category, level, expected) in cases {
            let c = ctx(birth, category, level);
            for key in ["care_received", "care_needed"] {
                assert_eq!(
                    f.is_relevant(key, &a, &c),
                    expected,
                    "{key}: age {}, {category:?}, level {level}",
                    c.age()
                );
            }
        }
        // And never without the questionnaire.
        let c = ctx(day(1980, 1, 1), Category::Mental, 1);
        assert!(!f.is_relevant("care_received", &with_outcome(Outcome::Away, &[]), &c));
    }

    #[test]
    fn section_gating_overrides_stale_item_answers() {
        let f = form();
        // A 41-year-old with a stale "in school" answer: the education section stays closed,
        // and so does the item that depended on it.
        let a = surveyed(&[("in_school", Value::Bool(true))]);
        assert!(!f.is_relevant("in_school", &a, &adult()));
        assert!(!f.is_relevant("school_type", &a, &adult()));
        // Changing the outcome closes every branch, however deep.
        let record = complete_adult_record();
        let mut moved = record.clone();
        moved.insert(OUTCOME.into(), Value::text("moved"));
        assert_eq!(
            relevant_keys(&f, &moved, &adult()),
            ["outcome", "outcome_note"]
        );
        assert!(f.is_relevant("devices_needed", &record, &adult()));
        assert!(!f.is_relevant("unknown_key", &record, &adult()));
    }

    // ---------------------------------------------------------------- pruning

    #[test]
    fn prune_drops_irrelevant_and_unknown_answers_and_keeps_meta() {
        let f = form();
        let c = adult();
        let mut record = complete_adult_record();
        record.insert("_device".into(), Value::text("phone-7"));
        record.insert("favourite_colour".into(), Value::text("blue"));
        record.insert("in_school".into(), Value::Bool(true));
        record.insert("not_working_reason".into(), Value::text("retired"));
        let pruned = f.prune(&record, &c);
        let mut expected = complete_adult_record();
        expected.insert("_device".into(), Value::text("phone-7"));
        assert_eq!(pruned, expected);

        // Changing the outcome to a non-survey one leaves only outcome and the meta keys.
        record.insert(OUTCOME.into(), Value::text("away"));
        record.insert("outcome_note".into(), Value::text("外出务工"));
        let pruned = f.prune(&record, &c);
        let keys: Vec<&str> = pruned.keys().map(String::as_str).collect();
        assert_eq!(keys, ["_device", "outcome", "outcome_note", "status"]);

        // Cascades: a stale chain under a closed branch goes too.
        let a = surveyed(&[
            ("home_modification_done", Value::Bool(true)),
            ("home_modification_needed", Value::Bool(true)),
            ("home_modification_items", Value::set(["ramp"])),
        ]);
        let pruned = f.prune(&a, &c);
        assert_eq!(
            pruned.keys().map(String::as_str).collect::<Vec<_>>(),
            ["home_modification_done", "outcome"]
        );
        // Pruning is idempotent and leaves nothing for validation to complain about but gaps.
        assert_eq!(f.prune(&pruned, &c), pruned);
    }
}
