//! Fixtures shared by the form's tests: contexts on the 2021 reference date (an adult, a
//! child), answer builders and a complete, valid home-visit record.

use chrono::NaiveDate;

use super::{FormContext, FormDefinition};
use crate::domain::{OUTCOME, Outcome, STATUS};
use crate::ids::{Category, CertificateNumber, Level, ResidentId};
use crate::value::{Answers, GeoPoint, Value};

pub(super) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The campaign's reference date used throughout.
pub(super) fn reference() -> NaiveDate {
    day(2021, 6, 1)
}

pub(super) fn ctx(birth: NaiveDate, category: Category, level: u8) -> FormContext {
    let id = ResidentId::from_parts("430503", birth, 11);
    let cert = CertificateNumber::new(id, category, Level::new(level).unwrap());
    FormContext::new(cert, reference())
}

/// 41 years old, physical, level 3: no education, no care, no nursing subsidy.
pub(super) fn adult() -> FormContext {
    ctx(day(1980, 3, 15), Category::Physical, 3)
}

/// 10 years old, intellectual, level 2.
pub(super) fn child() -> FormContext {
    ctx(day(2011, 1, 20), Category::Intellectual, 2)
}

pub(super) fn answers(pairs: &[(&str, Value)]) -> Answers {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

pub(super) fn with_outcome(outcome: Outcome, pairs: &[(&str, Value)]) -> Answers {
    let mut a = answers(pairs);
    a.insert(OUTCOME.into(), Value::text(outcome.key()));
    a
}

pub(super) fn surveyed(pairs: &[(&str, Value)]) -> Answers {
    with_outcome(Outcome::HomeVisit, pairs)
}

pub(super) fn form() -> FormDefinition {
    FormDefinition::dynamic_update_2021()
}

/// A complete, valid home-visit record for [`adult`].
pub(super) fn complete_adult_record() -> Answers {
    surveyed(&[
        (
            "visit_geo",
            Value::Geo(GeoPoint {
                lat: 27.23,
                lon: 111.46,
            }),
        ),
        ("visit_at", Value::text("2021-06-03T10:15:00+08:00")),
        ("ethnicity", Value::text("han")),
        ("hukou_type", Value::text("agricultural")),
        ("marital_status", Value::text("married")),
        ("education_level", Value::text("primary")),
        ("phone", Value::text("13812345678")),
        ("residence_type", Value::text("with_family")),
        ("household_size", Value::Int(3)),
        ("income_level", Value::text("below_5000")),
        ("minimum_living", Value::Bool(false)),
        ("housing_safety", Value::text("safe")),
        ("employed", Value::Bool(true)),
        ("employment_form", Value::text("rural_farming")),
        ("training_received", Value::set(["none"])),
        ("training_wanted", Value::set(["rural_practical"])),
        ("pension", Value::text("resident_scheme")),
        ("medical_insurance", Value::text("resident_scheme")),
        ("living_subsidy", Value::Bool(false)),
        ("family_doctor", Value::Bool(true)),
        ("rehab_services_received", Value::set(["none"])),
        ("rehab_needs", Value::set(["device"])),
        ("devices_needed", Value::set(["wheelchair"])),
        ("home_modification_done", Value::Bool(true)),
        ("culture_participation", Value::Bool(false)),
        ("culture_needs", Value::set(["none"])),
        (STATUS, Value::text("final")),
    ])
}
