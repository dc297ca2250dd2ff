//! Validation: [`Strictness`], [`ItemError`], the per-kind checks of one value (dates, phones,
//! ranges, options, text length) with their messages in Chinese and English, and
//! [`FormDefinition::validate`], [`FormDefinition::check_value`] and
//! [`FormDefinition::check_change`].

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{FormContext, FormDefinition, Item, ItemKind, is_blank, is_meta};
use crate::domain::{STATUS, Status};
use crate::value::{Answers, Value};

/// How much [`FormDefinition::validate`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Check only the values present.
    Draft,
    /// Also require every relevant required item.
    Final,
}

impl From<Status> for Strictness {
    fn from(s: Status) -> Self {
        match s {
            Status::Draft => Strictness::Draft,
            Status::Final => Strictness::Final,
        }
    }
}

/// A problem with one answer, in both languages, naming the item by its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemError {
    /// The item key (for an unknown item, the key found in the answers).
    pub item: String,
    pub message_zh: String,
    pub message_en: String,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message_en)
    }
}

/// Whether `s` is a real calendar date written exactly `YYYY-MM-DD`.
#[must_use]
pub fn is_valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, &c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
        && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// Whether `s` is a mainland phone number: an 11-digit mobile (`1[3-9]` + 9 digits) or a
/// landline `area-local` with a 3-digit (`010`, `02x`) or 4-digit (`03xx`–`09xx`) area code and a
/// 7–8 digit local number, e.g. `0739-1234567`.
#[must_use]
pub fn is_valid_phone(s: &str) -> bool {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('-') {
        Some((area, local)) => {
            let a = area.as_bytes();
            let area_ok = digits(area)
                && a[0] == b'0'
                && match a.len() {
                    3 => matches!(a[1], b'1' | b'2'),
                    4 => matches!(a[1], b'3'..=b'9'),
                    _ => false,
                };
            area_ok && digits(local) && matches!(local.len(), 7 | 8) && local.as_bytes()[0] != b'0'
        }
        None => {
            s.len() == 11
                && digits(s)
                && s.as_bytes()[0] == b'1'
                && matches!(s.as_bytes()[1], b'3'..=b'9')
        }
    }
}

/// What is wrong with one present answer.
pub(super) enum Problem {
    Type,
    Options(Vec<String>),
    Range {
        min: Option<i64>,
        max: Option<i64>,
    },
    Date,
    Phone,
    Geo,
    TooLong,
    /// An exclusive option chosen with others: its wording in Chinese and English.
    Exclusive(String, String),
}

/// The longest text answer (a note, an address, "其他" text): a paragraph, not a document.
pub const MAX_TEXT_CHARS: usize = 500;

/// A "无" option chosen with others. Checked where a value enters a record
/// ([`FormDefinition::check_value`]), not on a whole record: two writers' sets merged item by
/// item may still hold both, and such a record is not refused for it (see `docs/handover.md`).
fn exclusive_problem(item: &Item, value: &Value) -> Option<Problem> {
    let set = value.as_set()?;
    item.options
        .iter()
        .find(|c| c.exclusive && set.contains(&c.key) && set.len() > 1)
        .map(|c| Problem::Exclusive(c.label_zh.clone(), c.label_en.clone()))
}

/// Checks one present value against its item; blank text or sets pass (the required rule
/// handles them).
pub(super) fn problem(item: &Item, value: &Value) -> Option<Problem> {
    if let Value::Text(s) = value
        && s.chars().count() > MAX_TEXT_CHARS
    {
        return Some(Problem::TooLong);
    }
    match (item.kind, value) {
        (ItemKind::Integer { min, max }, Value::Int(n)) => {
            let low = min.is_some_and(|m| *n < m);
            let high = max.is_some_and(|m| *n > m);
            (low || high).then_some(Problem::Range { min, max })
        }
        (ItemKind::YesNo, Value::Bool(_)) => None,
        (ItemKind::Geo, Value::Geo(g)) => {
            let ok = g.lat.is_finite()
                && g.lon.is_finite()
                && (-90.0..=90.0).contains(&g.lat)
                && (-180.0..=180.0).contains(&g.lon);
            (!ok).then_some(Problem::Geo)
        }
        (ItemKind::Text | ItemKind::Date | ItemKind::Phone | ItemKind::Single, Value::Text(s))
            if s.trim().is_empty() =>
        {
            None
        }
        (ItemKind::Text, Value::Text(_)) => None,
        (ItemKind::Date, Value::Text(s)) => (!is_valid_date(s)).then_some(Problem::Date),
        (ItemKind::Phone, Value::Text(s)) => (!is_valid_phone(s)).then_some(Problem::Phone),
        (ItemKind::Single, Value::Text(s)) => item
            .option(s)
            .is_none()
            .then(|| Problem::Options(vec![s.clone()])),
        (ItemKind::Multi, Value::Set(set)) => {
            let unknown: Vec<String> = set
                .iter()
                .filter(|k| item.option(k).is_none())
                .cloned()
                .collect();
            (!unknown.is_empty()).then_some(Problem::Options(unknown))
        }
        _ => Some(Problem::Type),
    }
}

impl ItemKind {
    fn expects_zh(self) -> &'static str {
        match self {
            ItemKind::Text => "文本",
            ItemKind::Integer { .. } => "整数",
            ItemKind::Date => "日期（YYYY-MM-DD）",
            ItemKind::YesNo => "“是”或“否”",
            ItemKind::Single => "单个选项",
            ItemKind::Multi => "选项列表",
            ItemKind::Phone => "电话号码",
            ItemKind::Geo => "经纬度坐标",
        }
    }

    fn expects_en(self) -> &'static str {
        match self {
            ItemKind::Text => "text",
            ItemKind::Integer { .. } => "a whole number",
            ItemKind::Date => "a date (YYYY-MM-DD)",
            ItemKind::YesNo => "yes or no",
            ItemKind::Single => "one option",
            ItemKind::Multi => "a list of options",
            ItemKind::Phone => "a phone number",
            ItemKind::Geo => "a GPS point",
        }
    }
}

impl Problem {
    fn error(self, item: &Item) -> ItemError {
        let (zh, en) = (&item.label_zh, &item.label_en);
        let (message_zh, message_en) = match self {
            Problem::Type => (
                format!("「{zh}」应为{}", item.kind.expects_zh()),
                format!("{en} must be {}", item.kind.expects_en()),
            ),
            Problem::Options(keys) => {
                let quoted_zh: Vec<String> = keys.iter().map(|k| format!("“{k}”")).collect();
                let quoted_en: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
                let noun = if keys.len() == 1 { "option" } else { "options" };
                (
                    format!("「{zh}」没有选项{}", quoted_zh.join("、")),
                    format!("{en} has no {noun} {}", quoted_en.join(", ")),
                )
            }
            Problem::Range { min, max } => match (min, max) {
                (Some(lo), Some(hi)) => (
                    format!("「{zh}」应在 {lo} 至 {hi} 之间"),
                    format!("{en} must be between {lo} and {hi}"),
                ),
                (Some(lo), None) => (
                    format!("「{zh}」不能小于 {lo}"),
                    format!("{en} must be at least {lo}"),
                ),
                (None, hi) => {
                    let hi = hi.unwrap_or(i64::MAX);
                    (
                        format!("「{zh}」不能大于 {hi}"),
                        format!("{en} must be at most {hi}"),
                    )
                }
            },
            Problem::Date => (
                format!("「{zh}」不是有效日期，应为 YYYY-MM-DD 格式"),
                format!("{en} is not a valid date (YYYY-MM-DD)"),
            ),
            Problem::Phone => (
                format!(
                    "「{zh}」不是有效电话号码：应为11位手机号，或“区号-号码”格式的座机号，如 0739-1234567"
                ),
                format!(
                    "{en} is not a valid phone number: use an 11-digit mobile number or a landline such as 0739-1234567"
                ),
            ),
            Problem::Geo => (
                format!("「{zh}」坐标超出范围（纬度 −90～90，经度 −180～180）"),
                format!("{en} is out of range (latitude −90 to 90, longitude −180 to 180)"),
            ),
            Problem::Exclusive(opt_zh, opt_en) => (
                format!("「{zh}」选了“{opt_zh}”就不能再选其他选项"),
                format!("{en}: \"{opt_en}\" excludes every other option"),
            ),
            Problem::TooLong => (
                format!("「{zh}」最多 {MAX_TEXT_CHARS} 个字"),
                format!("{en} takes at most {MAX_TEXT_CHARS} characters"),
            ),
        };
        ItemError {
            item: item.key.clone(),
            message_zh,
            message_en,
        }
    }
}

fn required_error(item: &Item) -> ItemError {
    ItemError {
        item: item.key.clone(),
        message_zh: format!("「{}」为必填项", item.label_zh),
        message_en: format!("{} is required", item.label_en),
    }
}

fn unknown_item_error(key: &str) -> ItemError {
    ItemError {
        item: key.to_string(),
        message_zh: format!("调查表中没有“{key}”这一项"),
        message_en: format!("Unknown item \"{key}\""),
    }
}

impl FormDefinition {
    /// Checks one value against its item, whatever the item's relevance: the shape, the option
    /// keys, the range, a "无" option chosen alone. Used where values arrive one by one (a sync
    /// push).
    ///
    /// # Errors
    /// An unknown item, or the value's problem, with messages in Chinese and English.
    pub fn check_value(&self, key: &str, value: &Value) -> Result<(), ItemError> {
        let item = self.item(key).ok_or_else(|| unknown_item_error(key))?;
        match problem(item, value).or_else(|| exclusive_problem(item, value)) {
            Some(p) => Err(p.error(item)),
            None => Ok(()),
        }
    }

    /// The one check every value entering a record passes, whoever sends it (a device's push, a
    /// supervisor's conflict resolution, a console entry): the record's status takes only
    /// "draft" or "final"; any other key must be an item of this form and the value must fit it.
    /// `None` (clearing the item) always fits.
    ///
    /// # Errors
    /// The problem, in Chinese and English.
    pub fn check_change(&self, key: &str, value: Option<&Value>) -> Result<(), ItemError> {
        if key == STATUS {
            return match value {
                None => Ok(()),
                Some(Value::Text(s)) if Status::parse(s).is_some() => Ok(()),
                Some(_) => Err(ItemError {
                    item: STATUS.into(),
                    message_zh: "记录状态只能是 \"draft\"（草稿）或 \"final\"（提交）".into(),
                    message_en: "status must be \"draft\" or \"final\"".into(),
                }),
            };
        }
        match value {
            Some(v) => self.check_value(key, v),
            None => self
                .item(key)
                .map(|_| ())
                .ok_or_else(|| unknown_item_error(key)),
        }
    }

    /// Problems with the answers: unknown item keys first, then relevant items in form order.
    /// Draft checks the values present; Final also requires every relevant required item
    /// (blank text and empty sets count as missing). Answers to irrelevant items are not
    /// checked: pruning drops them.
    #[must_use]
    pub fn validate(
        &self,
        answers: &Answers,
        ctx: &FormContext,
        strictness: Strictness,
    ) -> Vec<ItemError> {
        let mut errors: Vec<ItemError> = answers
            .keys()
            .filter(|k| !is_meta(k) && self.item(k).is_none())
            .map(|k| unknown_item_error(k))
            .collect();
        let final_check = strictness == Strictness::Final;
        for item in self.relevant_items(answers, ctx) {
            let must_answer = final_check && item.is_required(answers, ctx);
            match answers.get(&item.key) {
                Some(v) => {
                    if let Some(p) = problem(item, v) {
                        errors.push(p.error(item));
                    } else if must_answer && is_blank(v) {
                        errors.push(required_error(item));
                    }
                }
                None if must_answer => errors.push(required_error(item)),
                None => {}
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::domain::{OUTCOME, Outcome};
    use crate::form::test_support::*;
    use crate::value::GeoPoint;

    fn only_error(errors: &[ItemError]) -> &ItemError {
        assert_eq!(errors.len(), 1, "{errors:?}");
        &errors[0]
    }

    #[test]
    fn items_are_found_by_key_also_after_the_sections_change() {
        let mut f = form();
        let keys: Vec<String> = f.items().map(|i| i.key.clone()).collect();
        for k in &keys {
            assert_eq!(f.item(k).map(|i| &i.key), Some(k));
        }
        assert!(f.item("no_such_item").is_none());
        // A copy whose sections change after its index was made still finds the right items.
        let mut moved = f.sections[0].items.remove(0);
        moved.key = "renamed".into();
        f.sections.last_mut().unwrap().items.push(moved);
        assert!(f.item(&keys[0]).is_none());
        assert_eq!(f.item("renamed").map(|i| i.key.as_str()), Some("renamed"));
        assert_eq!(f.item(&keys[1]).map(|i| &i.key), Some(&keys[1]));
        assert_eq!(
            f.item(&keys[keys.len() - 1]).map(|i| &i.key),
            Some(&keys[keys.len() - 1])
        );
    }

    #[test]
    fn a_complete_record_is_valid_when_final() {
        let f = form();
        let record = complete_adult_record();
        assert_eq!(f.validate(&record, &adult(), Strictness::Final), []);
        assert_eq!(f.prune(&record, &adult()), record);
    }

    #[test]
    fn final_requires_every_relevant_required_item() {
        let f = form();
        let c = adult();
        let mut record = complete_adult_record();
        record.remove("marital_status");
        record.remove("visit_geo"); // not required
        record.remove("phone"); // not required
        let e = only_error(&f.validate(&record, &c, Strictness::Final)).clone();
        assert_eq!(
            e,
            ItemError {
                item: "marital_status".into(),
                message_zh: "「婚姻状况」为必填项".into(),
                message_en: "Marital status is required".into(),
            }
        );
        assert_eq!(f.validate(&record, &c, Strictness::Draft), []);
        // A required branch item: employed = no needs its reason and the help question.
        let mut record = complete_adult_record();
        record.insert("employed".into(), Value::Bool(false));
        let items: Vec<String> = f
            .validate(&record, &c, Strictness::Final)
            .into_iter()
            .map(|e| e.item)
            .collect();
        assert_eq!(items, ["not_working_reason", "employment_help_wanted"]);
    }

    #[test]
    fn draft_checks_values_final_also_completeness() {
        let f = form();
        let c = adult();
        let a = surveyed(&[("ethnicity", Value::text("han"))]);
        assert_eq!(f.validate(&a, &c, Strictness::Draft), []);
        let missing: Vec<String> = f
            .validate(&a, &c, Strictness::Final)
            .into_iter()
            .map(|e| e.item)
            .collect();
        assert_eq!(
            missing,
            [
                "hukou_type",
                "marital_status",
                "education_level",
                "residence_type",
                "household_size",
                "income_level",
                "minimum_living",
                "housing_safety",
                "employed",
                "training_received",
                "training_wanted",
                "pension",
                "medical_insurance",
                "living_subsidy",
                "family_doctor",
                "rehab_services_received",
                "rehab_needs",
                "home_modification_done",
                "culture_participation",
                "culture_needs"
            ]
        );
        // A bad value is reported in both modes.
        let bad = surveyed(&[("household_size", Value::Int(0))]);
        assert_eq!(f.validate(&bad, &c, Strictness::Draft).len(), 1);
        assert!(
            f.validate(&bad, &c, Strictness::Final)
                .iter()
                .any(|e| e.item == "household_size" && e.message_en.contains("between"))
        );
        assert_eq!(Strictness::from(Status::Final), Strictness::Final);
        assert_eq!(Strictness::from(Status::Draft), Strictness::Draft);
    }

    #[test]
    fn a_non_survey_outcome_needs_only_its_own_facts() {
        let f = form();
        for o in Outcome::ALL.into_iter().filter(|o| !o.has_questionnaire()) {
            let a = with_outcome(o, &[]);
            let errors = f.validate(&a, &child(), Strictness::Final);
            let missing: Vec<&str> = errors.iter().map(|e| e.item.as_str()).collect();
            match o {
                // Where to: moved and away need the note; deregistered needs the date.
                Outcome::Moved | Outcome::Away => assert_eq!(missing, ["outcome_note"], "{o}"),
                Outcome::Deregistered => assert_eq!(missing, ["deregistered_on"], "{o}"),
                _ => assert_eq!(errors, [], "{o}"),
            }
        }
        let away = with_outcome(Outcome::Away, &[("outcome_note", Value::text("在外务工"))]);
        assert_eq!(f.validate(&away, &child(), Strictness::Final), []);
        let gone = with_outcome(
            Outcome::Deregistered,
            &[("deregistered_on", Value::text("2021-05-04"))],
        );
        assert_eq!(f.validate(&gone, &child(), Strictness::Final), []);
        let e = only_error(&f.validate(&Answers::new(), &child(), Strictness::Final)).clone();
        assert_eq!(e.item, "outcome");
        assert_eq!(e.message_zh, "「调查结果」为必填项");
        assert_eq!(e.message_en, "Survey outcome is required");
        assert_eq!(f.validate(&Answers::new(), &child(), Strictness::Draft), []);
    }

    #[test]
    fn blank_answers_count_as_missing_when_final() {
        let f = form();
        let c = adult();
        let mut record = complete_adult_record();
        record.insert("marital_status".into(), Value::text(" "));
        record.insert("culture_needs".into(), Value::set(Vec::<String>::new()));
        record.insert("phone".into(), Value::text("")); // optional: blank is fine
        assert_eq!(f.validate(&record, &c, Strictness::Draft), []);
        let items: Vec<String> = f
            .validate(&record, &c, Strictness::Final)
            .into_iter()
            .map(|e| e.item)
            .collect();
        assert_eq!(items, ["marital_status", "culture_needs"]);
    }

    #[test]
    fn wrong_type_names_the_expected_kind() {
        let f = form();
        let c = adult();
        let check = |key: &str, v: Value, zh: &str, en: &str| {
            let a = surveyed(&[(key, v)]);
            let e = only_error(&f.validate(&a, &c, Strictness::Draft)).clone();
            assert_eq!(
                (
                    e.item.as_str(),
                    e.message_zh.as_str(),
                    e.message_en.as_str()
                ),
                (key, zh, en)
            );
        };
        check(
            "household_size",
            Value::text("3"),
            "「家庭人口数」应为整数",
            "Household size must be a whole number",
        );
        check(
            "minimum_living",
            Value::text("yes"),
            "「是否享受城乡最低生活保障（低保）」应为“是”或“否”",
            "Receives the minimum living allowance (dibao) must be yes or no",
        );
        check(
            "rehab_needs",
            Value::text("device"),
            "「康复服务需求」应为选项列表",
            "Rehabilitation needs must be a list of options",
        );
        check(
            "marital_status",
            Value::set(["married"]),
            "「婚姻状况」应为单个选项",
            "Marital status must be one option",
        );
        check(
            "visit_geo",
            Value::text("27.2,111.4"),
            "「入户位置」应为经纬度坐标",
            "Visit location must be a GPS point",
        );
        check(
            "visit_at",
            Value::Int(20_210_603),
            "「入户时间」应为文本",
            "Visit time must be text",
        );
        check(
            "phone",
            Value::Int(13_812_345_678),
            "「联系电话」应为电话号码",
            "Phone number must be a phone number",
        );
    }

    #[test]
    fn unknown_options_are_named() {
        let f = form();
        let c = adult();
        let a = surveyed(&[("marital_status", Value::text("single"))]);
        let e = only_error(&f.validate(&a, &c, Strictness::Draft)).clone();
        assert_eq!(e.message_zh, "「婚姻状况」没有选项“single”");
        assert_eq!(e.message_en, "Marital status has no option \"single\"");
        let a = surveyed(&[
            ("rehab_needs", Value::set(["device"])),
            (
                "devices_needed",
                Value::set(["wheelchair", "jetpack", "hoverboard"]),
            ),
        ]);
        let e = only_error(&f.validate(&a, &c, Strictness::Draft)).clone();
        assert_eq!(e.item, "devices_needed");
        assert_eq!(
            e.message_zh,
            "「需要的辅助器具」没有选项“hoverboard”、“jetpack”"
        );
        assert_eq!(
            e.message_en,
            "Assistive devices needed has no options \"hoverboard\", \"jetpack\""
        );
        let a = answers(&[(OUTCOME, Value::text("visited"))]);
        let e = only_error(&f.validate(&a, &c, Strictness::Draft)).clone();
        assert_eq!(e.message_en, "Survey outcome has no option \"visited\"");
    }

    #[test]
    fn integers_out_of_range() {
        let f = form();
        let c = adult();
        for (n, ok) in [(0, false), (1, true), (20, true), (21, false), (-3, false)] {
            let a = surveyed(&[("household_size", Value::Int(n))]);
            let errors = f.validate(&a, &c, Strictness::Draft);
            if ok {
                assert_eq!(errors, [], "{n}");
            } else {
                let e = only_error(&errors);
                assert_eq!(e.message_zh, "「家庭人口数」应在 1 至 20 之间");
                assert_eq!(e.message_en, "Household size must be between 1 and 20");
            }
        }
    }

    #[test]
    fn one_sided_integer_bounds_say_so() {
        let item = |min, max| Item {
            key: "n".into(),
            label_zh: "人数".into(),
            label_en: "Count".into(),
            kind: ItemKind::Integer { min, max },
            required: false,
            required_when: None,
            relevant: None,
            official: None,
            options: vec![],
            help_zh: None,
            help_en: None,
        };
        let msg = |i: &Item, n| problem(i, &Value::Int(n)).map(|p| p.error(i).message_en);
        assert_eq!(
            msg(&item(Some(0), None), -1).unwrap(),
            "Count must be at least 0"
        );
        assert_eq!(
            msg(&item(None, Some(9)), 10).unwrap(),
            "Count must be at most 9"
        );
        assert_eq!(msg(&item(None, Some(9)), 9), None);
        assert_eq!(msg(&item(None, None), i64::MIN), None);
    }

    #[test]
    fn dates_must_be_real_and_written_yyyy_mm_dd() {
        let f = form();
        let c = adult();
        for (s, ok) in [
            ("2021-05-31", true),
            ("2020-02-29", true),
            ("2021-02-29", false),
            ("2021-02-30", false),
            ("2021-13-01", false),
            ("2021-2-3", false),
            ("20210203", false),
            ("2021/02/03", false),
            ("2021-02-03T00:00", false),
        ] {
            let a = with_outcome(
                Outcome::Deregistered,
                &[("deregistered_on", Value::text(s))],
            );
            let errors = f.validate(&a, &c, Strictness::Draft);
            assert_eq!(errors.is_empty(), ok, "{s}: {errors:?}");
            if !ok {
                assert_eq!(
                    errors[0].message_zh,
                    "「注销日期」不是有效日期，应为 YYYY-MM-DD 格式"
                );
                assert_eq!(
                    errors[0].message_en,
                    "Date of deregistration is not a valid date (YYYY-MM-DD)"
                );
            }
        }
    }

    #[test]
    fn phones_are_mainland_mobiles_or_landlines() {
        for ok in [
            "13812345678",
            "19912345678",
            "0739-1234567",
            "0739-12345678",
            "010-12345678",
            "021-1234567",
        ] {
            assert!(is_valid_phone(ok), "{ok}");
        }
        for bad in [
            "",
            "1381234567",
            "138123456789",
            "12812345678",
            "23812345678",
            "+8613812345678",
            "138 1234 5678",
            "07391234567",
            "0739-123456",
            "0739-123456789",
            "0739-0234567",
            "739-1234567",
            "031-1234567",
            "0239-1234567",
            "07399-1234567",
            "0739-123-4567",
            "-1234567",
        ] {
            assert!(!is_valid_phone(bad), "{bad}");
        }
        let f = form();
        let a = surveyed(&[("phone", Value::text("0739-987654"))]);
        let e = only_error(&f.validate(&a, &adult(), Strictness::Draft)).clone();
        assert_eq!(e.item, "phone");
        assert!(e.message_zh.starts_with("「联系电话」不是有效电话号码"));
        assert!(
            e.message_en
                .starts_with("Phone number is not a valid phone number")
        );
        // The number itself is never echoed into a message.
        assert!(!e.message_zh.contains("987654") && !e.message_en.contains("987654"));
    }

    #[test]
    fn geo_points_must_be_on_earth() {
        let f = form();
        let c = adult();
        for (lat, lon, ok) in [
            (27.2, 111.4, true),
            (-90.0, 180.0, true),
            (90.5, 111.4, false),
            (27.2, -180.5, false),
            (f64::NAN, 111.4, false),
        ] {
            let a = surveyed(&[("visit_geo", Value::Geo(GeoPoint { lat, lon }))]);
            let errors = f.validate(&a, &c, Strictness::Draft);
            assert_eq!(errors.is_empty(), ok, "{lat},{lon}");
            if !ok {
                assert!(
                    errors[0]
                        .message_en
                        .starts_with("Visit location is out of range")
                );
            }
        }
    }

    #[test]
    fn unknown_keys_are_errors_meta_keys_and_irrelevant_answers_are_not() {
        let f = form();
        let c = adult();
        let mut record = complete_adult_record();
        record.insert("favourite_colour".into(), Value::text("blue"));
        record.insert("_client".into(), Value::text("app 1.0"));
        // Irrelevant (employed = yes), and even invalid: ignored, pruning drops it.
        record.insert("not_working_reason".into(), Value::text("bogus"));
        // Irrelevant section (41 years old).
        record.insert("in_school".into(), Value::Int(7));
        let errors = f.validate(&record, &c, Strictness::Final);
        let e = only_error(&errors);
        assert_eq!(e.item, "favourite_colour");
        assert_eq!(e.message_zh, "调查表中没有“favourite_colour”这一项");
        assert_eq!(e.message_en, "Unknown item \"favourite_colour\"");
        assert_eq!(e.to_string(), e.message_en);
    }

    #[test]
    fn a_none_option_excludes_the_others() {
        let form = FormDefinition::dynamic_update_2021();
        let set = |keys: &[&str]| {
            Value::Set(
                keys.iter()
                    .map(|k| (*k).to_string())
                    .collect::<BTreeSet<_>>(),
            )
        };
        assert!(form.check_value("rehab_needs", &set(&["none"])).is_ok());
        assert!(
            form.check_value("rehab_needs", &set(&["training", "device"]))
                .is_ok()
        );
        let e = form
            .check_value("rehab_needs", &set(&["none", "device"]))
            .unwrap_err();
        assert_eq!(
            e.message_zh,
            "「康复服务需求」选了“无需求”就不能再选其他选项"
        );
        assert_eq!(
            e.message_en,
            "Rehabilitation needs: \"None\" excludes every other option"
        );
        // Every multi choice with a "none" option has it exclusive, and only those.
        for item in form.items() {
            for c in &item.options {
                let none_of_multi = item.kind == ItemKind::Multi && c.key == "none";
                assert_eq!(c.exclusive, none_of_multi, "{}.{}", item.key, c.key);
            }
        }
    }

    #[test]
    fn employee_and_resident_schemes_cannot_both_be_recorded() {
        // Official rules R22 养老 ⇒ R23 = 否 and R22 医疗 ⇒ R25 = 否: here the schemes are options
        // of one single choice, so a record can never hold both.
        let form = FormDefinition::dynamic_update_2021();
        for key in ["pension", "medical_insurance"] {
            let item = form.item(key).unwrap();
            assert_eq!(item.kind, ItemKind::Single);
            assert!(item.option("employee_scheme").is_some());
            assert!(item.option("resident_scheme").is_some());
            let both = Value::Set(
                ["employee_scheme", "resident_scheme"]
                    .iter()
                    .map(|k| (*k).to_string())
                    .collect(),
            );
            assert!(form.check_value(key, &both).is_err());
        }
    }
}
