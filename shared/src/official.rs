//! The national system's numbering and codes (动态1表) as a form carries them, and the coded
//! hand-over row built from them.
//!
//! A form may name its official counterpart ([`OfficialForm`]): then every item says which
//! official item it is (`R3`) or that this is unknown, and every option gives its official code
//! or `"unknown"`. Codes are data of the form year, never made up in code: an unknown code is
//! written as such ([`UNKNOWN_PREFIX`] and the option's wording) in every export.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::carry::{self, ItemChange};
use crate::form::{FormContext, FormDefinition, Item, ItemKind};
use crate::value::{Answers, Value};

/// What an export cell holds in place of a code that is not known: `?` and the option's
/// Chinese wording (e.g. `?大学本科及以上`).
pub const UNKNOWN_PREFIX: &str = "?";

/// An official item number or option code, or the explicit mark that it is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Known(String),
    Unknown,
}

impl Code {
    #[must_use]
    pub fn known(&self) -> Option<&str> {
        match self {
            Code::Known(s) => Some(s),
            Code::Unknown => None,
        }
    }
}

impl fmt::Display for Code {
    /// The code, or `?` when unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.known().unwrap_or(UNKNOWN_PREFIX))
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.known().unwrap_or("unknown"))
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let s = s.trim();
        if s.is_empty() || s == UNKNOWN_PREFIX {
            return Err(serde::de::Error::custom(
                "an official code is its digits (or R-number), or \"unknown\"",
            ));
        }
        Ok(if s == "unknown" {
            Code::Unknown
        } else {
            Code::Known(s.to_string())
        })
    }
}

/// The official form a questionnaire maps to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfficialForm {
    /// Its name, e.g. 动态1表.
    pub form: String,
    /// The year whose numbering the item numbers follow (the numbering moves between years).
    pub numbering_year: i32,
    /// Where the numbers and codes come from.
    pub source: String,
    /// The codes of a yes/no answer.
    pub yes: Code,
    pub no: Code,
}

/// The official item a form item is, if known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfficialItem {
    /// `R3`, or unknown.
    pub item: Code,
    /// The official wording of the item, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub label_zh: Option<String>,
}

impl OfficialItem {
    /// The number part of `R13` (for ordering); `None` when unknown or not of that shape.
    #[must_use]
    pub fn number(&self) -> Option<u32> {
        self.item.known()?.strip_prefix('R')?.parse().ok()
    }
}

/// The item's official number as written in headers: `R3`, or `R?`.
#[must_use]
pub fn item_number(item: &Item) -> String {
    match item.official.as_ref().and_then(|o| o.item.known()) {
        Some(r) => r.to_string(),
        None => "R?".to_string(),
    }
}

/// The wording to key by: the official wording where known, else the form's.
#[must_use]
pub fn item_wording(item: &Item) -> &str {
    item.official
        .as_ref()
        .and_then(|o| o.label_zh.as_deref())
        .unwrap_or(&item.label_zh)
}

/// The items of a hand-over in official order: items with a known R-number by that number, then
/// the others in form order. The `outcome` item is left out (it is the record's survey method).
#[must_use]
pub fn ordered_items(form: &FormDefinition) -> Vec<&Item> {
    let mut items: Vec<(usize, &Item)> = form
        .items()
        .filter(|i| i.key != crate::domain::OUTCOME)
        .enumerate()
        .collect();
    items.sort_by_key(|(pos, i)| {
        (
            i.official
                .as_ref()
                .and_then(OfficialItem::number)
                .unwrap_or(u32::MAX),
            *pos,
        )
    });
    items.into_iter().map(|(_, i)| i).collect()
}

/// The code of one option as an export writes it: the code, or `?` and its wording.
#[must_use]
pub fn option_cell(item: &Item, option: &str) -> String {
    match item.option(option) {
        Some(c) => match c.code.as_ref().and_then(Code::known) {
            Some(code) => code.to_string(),
            None => format!("{UNKNOWN_PREFIX}{}", c.label_zh),
        },
        None => format!("{UNKNOWN_PREFIX}{option}"),
    }
}

/// A yes/no answer as an export writes it: the form's official yes/no code, or 是/否.
#[must_use]
pub fn yes_no_cell(form: &FormDefinition, yes: bool) -> String {
    let code = form
        .official
        .as_ref()
        .map(|o| if yes { &o.yes } else { &o.no });
    match code.and_then(Code::known) {
        Some(c) => c.to_string(),
        None if yes => "是".into(),
        None => "否".into(),
    }
}

/// What one column of the coded table holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    /// The item's answer as its code (single, yes/no) or value (number, text, date…).
    Answer,
    /// `1` when the option is chosen, `0` when the item is answered without it.
    Option(String),
    /// `1` changed since last year, `0` the same; blank without last year's record.
    Changed,
}

/// One column of the coded table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub item: String,
    pub kind: ColumnKind,
    pub header: String,
}

/// The item columns of a coded table, in official order: one column per item (one per option for
/// a multi choice), each followed by its changed-since-last-year flag.
#[must_use]
pub fn columns(form: &FormDefinition) -> Vec<Column> {
    let mut out = Vec::new();
    for item in ordered_items(form) {
        let number = item_number(item);
        let wording = item_wording(item);
        if item.kind == ItemKind::Multi {
            for c in &item.options {
                out.push(Column {
                    item: item.key.clone(),
                    kind: ColumnKind::Option(c.key.clone()),
                    header: format!(
                        "{number}-{} {wording}：{}",
                        c.code
                            .as_ref()
                            .map_or_else(|| "?".into(), ToString::to_string),
                        c.label_zh
                    ),
                });
            }
        } else {
            out.push(Column {
                item: item.key.clone(),
                kind: ColumnKind::Answer,
                header: format!("{number} {wording}"),
            });
        }
        out.push(Column {
            item: item.key.clone(),
            kind: ColumnKind::Changed,
            header: format!("{number} {wording}·变更"),
        });
    }
    out
}

/// The coded cells of one record for `columns`: blank where the item does not apply or is not
/// answered (skip logic); the change flags from the per-item diff against `prior`.
#[must_use]
pub fn row(
    form: &FormDefinition,
    columns: &[Column],
    answers: &Answers,
    prior: Option<&Answers>,
    ctx: &FormContext,
) -> Vec<String> {
    let kept = form.prune(answers, ctx);
    let diff: BTreeMap<String, ItemChange> =
        prior.map_or_else(BTreeMap::new, |p| carry::diff(form, p, &kept, ctx));
    columns
        .iter()
        .map(|col| {
            let Some(item) = form.item(&col.item) else {
                return String::new();
            };
            let value = kept.get(&col.item).filter(|v| !is_blank(v));
            match (&col.kind, value) {
                (ColumnKind::Changed, _) => match diff.get(&col.item) {
                    Some(ItemChange::Changed | ItemChange::New) => "1".into(),
                    Some(ItemChange::Unchanged) => "0".into(),
                    Some(ItemChange::Open) | None => String::new(),
                },
                (_, None) => String::new(),
                (ColumnKind::Option(o), Some(v)) => match v.as_set() {
                    Some(set) if set.contains(o) => "1".into(),
                    Some(_) => "0".into(),
                    None => String::new(),
                },
                (ColumnKind::Answer, Some(v)) => answer_cell(form, item, v),
            }
        })
        .collect()
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Text(s) => s.trim().is_empty(),
        Value::Set(s) => s.is_empty(),
        _ => false,
    }
}

/// One answer as its official code (single, yes/no) or as written (everything else).
#[must_use]
pub fn answer_cell(form: &FormDefinition, item: &Item, v: &Value) -> String {
    match (item.kind, v) {
        (ItemKind::Single, Value::Text(k)) => option_cell(item, k),
        (ItemKind::YesNo, Value::Bool(b)) => yes_no_cell(form, *b),
        (ItemKind::Multi, Value::Set(s)) => s
            .iter()
            .map(|k| option_cell(item, k))
            .collect::<Vec<_>>()
            .join(","),
        (_, other) => other.display(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::NaiveDate;

    use super::*;
    use crate::ids::{Category, CertificateNumber, Level, ResidentId};

    /// 41 years old, physical, level 3.
    fn adult() -> FormContext {
        let id =
            ResidentId::from_parts("430503", NaiveDate::from_ymd_opt(1980, 3, 15).unwrap(), 11);
        let cert = CertificateNumber::new(id, Category::Physical, Level::new(3).unwrap());
        FormContext::new(cert, NaiveDate::from_ymd_opt(2021, 6, 1).unwrap())
    }

    fn set(keys: &[&str]) -> Value {
        Value::Set(
            keys.iter()
                .map(|s| (*s).to_string())
                .collect::<BTreeSet<_>>(),
        )
    }

    #[test]
    fn the_2021_form_carries_what_the_brief_lists_and_marks_the_rest_unknown() {
        let form = FormDefinition::dynamic_update_2021();
        let official = form.official.as_ref().unwrap();
        assert_eq!(official.numbering_year, 2017);
        let code = |item: &str, opt: &str| option_cell(form.item(item).unwrap(), opt);
        assert_eq!(code("hukou_type", "agricultural"), "1");
        assert_eq!(code("hukou_type", "non_agricultural"), "2");
        assert_eq!(code("education_level", "senior_secondary"), "4");
        // 本科 (6) and 研究生 (7) are one option here: no code is made up for it.
        assert_eq!(
            code("education_level", "bachelor_or_above"),
            "?大学本科及以上"
        );
        assert_eq!(code("employment_form", "quota"), "1");
        assert_eq!(code("employment_form", "centralized"), "2");
        assert_eq!(
            code("employment_form", "public_welfare_post"),
            "?公益性岗位就业"
        );
        assert_eq!(code("not_working_reason", "unable_to_work"), "5");
        assert_eq!(code("rehab_needs", "none"), "6");
        assert_eq!(item_number(form.item("family_doctor").unwrap()), "R31");
        assert_eq!(item_number(form.item("ethnicity").unwrap()), "R?");
        assert_eq!(yes_no_cell(&form, true), "1");
        assert_eq!(yes_no_cell(&form, false), "2");
        // Every item and every option says what it is, or that it is unknown.
        for item in form.items() {
            assert!(item.official.is_some(), "{}", item.key);
            for c in &item.options {
                assert!(c.code.is_some(), "{}.{}", item.key, c.key);
            }
        }
    }

    #[test]
    fn items_come_in_official_order_then_form_order() {
        let form = FormDefinition::dynamic_update_2021();
        let keys: Vec<&str> = ordered_items(&form)
            .iter()
            .map(|i| i.key.as_str())
            .collect();
        assert_eq!(
            &keys[..6],
            &[
                "hukou_type",
                "education_level",
                "employment_form",
                "not_working_reason",
                "family_doctor",
                "rehab_needs"
            ]
        );
        assert_eq!(keys[6], "visit_geo");
        assert!(!keys.contains(&"outcome"));
    }

    #[test]
    fn a_row_codes_answers_blanks_skipped_items_and_spreads_a_multi_choice() {
        let form = FormDefinition::dynamic_update_2021();
        let cols = columns(&form);
        let mut a = Answers::new();
        a.insert("outcome".into(), Value::text("home_visit"));
        a.insert("hukou_type".into(), Value::text("non_agricultural"));
        a.insert("employed".into(), Value::Bool(false));
        a.insert("not_working_reason".into(), Value::text("retired"));
        // Not relevant (not employed): must be blank even though a value is stored.
        a.insert("employment_form".into(), Value::text("quota"));
        a.insert("rehab_needs".into(), set(&["training", "device"]));
        a.insert("family_doctor".into(), Value::Bool(true));
        let mut prior = Answers::new();
        prior.insert("hukou_type".into(), Value::text("agricultural"));
        prior.insert("family_doctor".into(), Value::Bool(true));
        let cells = row(&form, &cols, &a, Some(&prior), &adult());
        let cell = |item: &str, kind: ColumnKind| {
            let i = cols
                .iter()
                .position(|c| c.item == item && c.kind == kind)
                .unwrap();
            cells[i].clone()
        };
        assert_eq!(cell("hukou_type", ColumnKind::Answer), "2");
        assert_eq!(cell("hukou_type", ColumnKind::Changed), "1");
        assert_eq!(cell("family_doctor", ColumnKind::Answer), "1");
        assert_eq!(cell("family_doctor", ColumnKind::Changed), "0");
        assert_eq!(cell("not_working_reason", ColumnKind::Answer), "2");
        assert_eq!(cell("employment_form", ColumnKind::Answer), "");
        assert_eq!(
            cell("rehab_needs", ColumnKind::Option("training".into())),
            "1"
        );
        assert_eq!(
            cell("rehab_needs", ColumnKind::Option("device".into())),
            "1"
        );
        assert_eq!(cell("rehab_needs", ColumnKind::Option("none".into())), "0");
        // Unanswered: blank, option columns too.
        assert_eq!(cell("culture_needs", ColumnKind::Option("none".into())), "");
        // Without last year's record, no change flag.
        let cells = row(&form, &cols, &a, None, &adult());
        let i = cols
            .iter()
            .position(|c| c.item == "hukou_type" && c.kind == ColumnKind::Changed)
            .unwrap();
        assert_eq!(cells[i], "");
    }

    #[test]
    fn a_code_is_digits_or_the_word_unknown() {
        assert_eq!(
            serde_json::from_str::<Code>("\"unknown\"").unwrap(),
            Code::Unknown
        );
        assert!(serde_json::from_str::<Code>("\"\"").is_err());
        assert!(serde_json::from_str::<Code>("\"?\"").is_err());
        assert_eq!(
            serde_json::to_string(&Code::Known("7".into())).unwrap(),
            "\"7\""
        );
    }
}
