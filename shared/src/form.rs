//! The questionnaire as data: a [`FormDefinition`] of sections and items, relevance
//! [`Condition`]s, pruning and validation.
//!
//! A form is JSON (the 2021 form is embedded, see [`FormDefinition::dynamic_update_2021`]). Answers
//! are plain [`Value`]s keyed by item key: a single choice is the option key as text, a multi
//! choice a set of option keys, yes/no a boolean, a date `YYYY-MM-DD` text.
//!
//! Relevance is computed in form order, and a condition may refer only to items that come before
//! it. An answer to an item that is not relevant is ignored by later conditions, so clearing an
//! answer (or changing the outcome) also switches off everything that depended on it, however
//! deep the chain.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::checks::Check;
use crate::domain::{Campaign, OUTCOME, Outcome, PersonFacts, STATUS, Status, outcome_of};
use crate::ids::{Category, Level};
use crate::official::{Code, OfficialForm, OfficialItem};
use crate::value::{Answers, Value};

/// The embedded 2021 dynamic-update form (动态1表).
const DYNAMIC_UPDATE_2021: &str = include_str!("../forms/dynamic-update-2021.json");

/// A questionnaire: versioned, bilingual, in sections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FormDefinition {
    pub version: String,
    pub title_zh: String,
    pub title_en: String,
    /// The official form this one maps to (动态1表) and its numbering year; with it, every item
    /// names its official item and every option its code, or says that it is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub official: Option<OfficialForm>,
    pub sections: Vec<Section>,
    /// Soft consistency checks (warnings, never blocking): see [`crate::checks`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

/// A titled group of items, with an optional condition that gates all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Section {
    pub key: String,
    pub title_zh: String,
    pub title_en: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub relevant: Option<Condition>,
    /// Whether last year's answers of this section carry into the next year's record as prior
    /// values (the outcome section, about this year's visit, does not).
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub carry: bool,
    pub items: Vec<Item>,
}

fn yes() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_yes(b: &bool) -> bool {
    *b
}

/// One question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Item {
    pub key: String,
    pub label_zh: String,
    pub label_en: String,
    pub kind: ItemKind,
    /// The official item this is (`R3`), or unknown; see [`crate::official`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub official: Option<OfficialItem>,
    #[serde(default)]
    pub required: bool,
    /// Required (when relevant) only while this condition holds: the facts an outcome needs,
    /// such as the deregistration date for 注销 or where to for 外出 and 已搬迁.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub required_when: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub relevant: Option<Condition>,
    /// The choices of a `single` or `multi` item; empty for every other kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub help_zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub help_en: Option<String>,
}

impl Item {
    /// Whether the item must be answered (when relevant) given the answers so far: `required`,
    /// or `required_when` holds.
    #[must_use]
    pub fn is_required(&self, answers: &Answers, ctx: &FormContext) -> bool {
        self.required
            || self
                .required_when
                .as_ref()
                .is_some_and(|c| c.holds(answers, ctx))
    }
}

/// One option of a choice item. The key is what answers store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Choice {
    pub key: String,
    pub label_zh: String,
    pub label_en: String,
    /// The official code of the option for the form's year, or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub code: Option<Code>,
    /// A "无"-type option of a multi choice: chosen, it excludes every other option.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclusive: bool,
}

/// What an item takes, and so which [`Value`] its answer must be.
///
/// JSON is internally tagged: `{"type":"yes_no"}`, `{"type":"integer","min":1,"max":20}`. Any
/// other field (say `max` on a text item) is refused rather than silently ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawKind", into = "RawKind")]
pub enum ItemKind {
    /// Free text: [`Value::Text`].
    Text,
    /// A whole number, optionally bounded (inclusive): [`Value::Int`].
    Integer { min: Option<i64>, max: Option<i64> },
    /// A calendar date `YYYY-MM-DD`: [`Value::Text`].
    Date,
    /// Yes or no: [`Value::Bool`].
    YesNo,
    /// One option key: [`Value::Text`].
    Single,
    /// Any number of option keys: [`Value::Set`].
    Multi,
    /// A mainland mobile or landline number: [`Value::Text`].
    Phone,
    /// A GPS point: [`Value::Geo`].
    Geo,
}

/// The JSON shape of [`ItemKind`]: serde ignores stray fields of unit variants in an internally
/// tagged enum, so the tag and bounds are read flat and checked.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKind {
    #[serde(rename = "type")]
    tag: KindTag,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<i64>,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindTag {
    Text,
    Integer,
    Date,
    YesNo,
    Single,
    Multi,
    Phone,
    Geo,
}

impl TryFrom<RawKind> for ItemKind {
    type Error = &'static str;
    fn try_from(raw: RawKind) -> Result<Self, Self::Error> {
        let kind = match raw.tag {
            KindTag::Integer => {
                return Ok(ItemKind::Integer {
                    min: raw.min,
                    max: raw.max,
                });
            }
            KindTag::Text => ItemKind::Text,
            KindTag::Date => ItemKind::Date,
            KindTag::YesNo => ItemKind::YesNo,
            KindTag::Single => ItemKind::Single,
            KindTag::Multi => ItemKind::Multi,
            KindTag::Phone => ItemKind::Phone,
            KindTag::Geo => ItemKind::Geo,
        };
        if raw.min.is_some() || raw.max.is_some() {
            return Err("min and max apply only to integer items");
        }
        Ok(kind)
    }
}

impl From<ItemKind> for RawKind {
    fn from(kind: ItemKind) -> Self {
        let (tag, min, max) = match kind {
            ItemKind::Text => (KindTag::Text, None, None),
            ItemKind::Integer { min, max } => (KindTag::Integer, min, max),
            ItemKind::Date => (KindTag::Date, None, None),
            ItemKind::YesNo => (KindTag::YesNo, None, None),
            ItemKind::Single => (KindTag::Single, None, None),
            ItemKind::Multi => (KindTag::Multi, None, None),
            ItemKind::Phone => (KindTag::Phone, None, None),
            ItemKind::Geo => (KindTag::Geo, None, None),
        };
        RawKind { tag, min, max }
    }
}

impl ItemKind {
    /// Whether items of this kind offer options.
    #[must_use]
    pub fn has_options(self) -> bool {
        matches!(self, ItemKind::Single | ItemKind::Multi)
    }

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

impl Item {
    /// The option with this key, if the item offers it.
    #[must_use]
    pub fn option(&self, key: &str) -> Option<&Choice> {
        self.options.iter().find(|c| c.key == key)
    }

    /// A multi choice's set after ticking or unticking `key`: ticking an exclusive ("无") option
    /// clears the others, ticking another clears the exclusive ones.
    #[must_use]
    pub fn toggle(&self, current: &BTreeSet<String>, key: &str) -> BTreeSet<String> {
        let mut next = current.clone();
        if next.remove(key) {
            return next;
        }
        let exclusive = self.option(key).is_some_and(|c| c.exclusive);
        next.retain(|k| !exclusive && !self.option(k).is_some_and(|c| c.exclusive));
        next.insert(key.to_string());
        next
    }
}

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

impl Condition {
    /// Evaluates the condition on raw answers (no relevance applied to the answers themselves).
    #[must_use]
    pub fn holds(&self, answers: &Answers, ctx: &FormContext) -> bool {
        match self {
            Condition::OutcomeIn(outcomes) => {
                outcome_of(answers).is_some_and(|o| outcomes.contains(&o))
            }
            Condition::AgeBetween(min, max) => (*min..=*max).contains(&ctx.age()),
            Condition::CategoryIn(cats) => cats.contains(&ctx.facts.category),
            Condition::LevelAtMost(level) => ctx.facts.level <= *level,
            Condition::Equals { item, value } => answers.get(item) == Some(value),
            Condition::Contains { item, option } => answers
                .get(item)
                .and_then(Value::as_set)
                .is_some_and(|s| s.contains(option)),
            Condition::Answered(item) => answers.get(item).is_some_and(|v| !is_blank(v)),
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

/// Keys that belong to the record, not to the questionnaire: kept by pruning, not validated.
fn is_meta(key: &str) -> bool {
    key == STATUS || key.starts_with('_')
}

/// Blank text or an empty set counts as unanswered.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Text(s) => s.trim().is_empty(),
        Value::Set(s) => s.is_empty(),
        _ => false,
    }
}

fn is_snake_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
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
enum Problem {
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
fn problem(item: &Item, value: &Value) -> Option<Problem> {
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

    /// Every item, in form order.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }

    /// The item with this key.
    #[must_use]
    pub fn item(&self, key: &str) -> Option<&Item> {
        self.items().find(|i| i.key == key)
    }

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

    /// One relevance flag per item, in form order. Conditions see only the answers of earlier
    /// relevant items, so irrelevance cascades.
    fn relevance(&self, answers: &Answers, ctx: &FormContext) -> Vec<bool> {
        let mut seen = Answers::new();
        let mut flags = Vec::new();
        for section in &self.sections {
            let open = section
                .relevant
                .as_ref()
                .is_none_or(|c| c.holds(&seen, ctx));
            for item in &section.items {
                let on = open && item.relevant.as_ref().is_none_or(|c| c.holds(&seen, ctx));
                if on && let Some(v) = answers.get(&item.key) {
                    seen.insert(item.key.clone(), v.clone());
                }
                flags.push(on);
            }
        }
        flags
    }
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
    use crate::domain::Person;
    use crate::ids::{CertificateNumber, ResidentId};
    use crate::value::GeoPoint;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// The campaign's reference date used throughout.
    fn reference() -> NaiveDate {
        day(2021, 6, 1)
    }

    fn ctx(birth: NaiveDate, category: Category, level: u8) -> FormContext {
        let id = ResidentId::from_parts("430503", birth, 11);
        let cert = CertificateNumber::new(id, category, Level::new(level).unwrap());
        FormContext::new(cert, reference())
    }

    /// 41 years old, physical, level 3: no education, no care, no nursing subsidy.
    fn adult() -> FormContext {
        ctx(day(1980, 3, 15), Category::Physical, 3)
    }

    /// 10 years old, intellectual, level 2.
    fn child() -> FormContext {
        ctx(day(2011, 1, 20), Category::Intellectual, 2)
    }

    fn answers(pairs: &[(&str, Value)]) -> Answers {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect()
    }

    fn with_outcome(outcome: Outcome, pairs: &[(&str, Value)]) -> Answers {
        let mut a = answers(pairs);
        a.insert(OUTCOME.into(), Value::text(outcome.key()));
        a
    }

    fn surveyed(pairs: &[(&str, Value)]) -> Answers {
        with_outcome(Outcome::HomeVisit, pairs)
    }

    fn form() -> FormDefinition {
        FormDefinition::dynamic_update_2021()
    }

    fn relevant_keys(f: &FormDefinition, a: &Answers, c: &FormContext) -> Vec<String> {
        f.relevant_items(a, c)
            .iter()
            .map(|i| i.key.clone())
            .collect()
    }

    /// A complete, valid home-visit record for [`adult`].
    fn complete_adult_record() -> Answers {
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

    // ---------------------------------------------------------------- the definition

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
    fn item_kinds_are_internally_tagged() {
        let cases = [
            (r#"{"type":"yes_no"}"#, ItemKind::YesNo),
            (
                r#"{"type":"integer","min":1,"max":20}"#,
                ItemKind::Integer {
                    min: Some(1),
                    max: Some(20),
                },
            ),
            (
                r#"{"type":"integer"}"#,
                ItemKind::Integer {
                    min: None,
                    max: None,
                },
            ),
            (r#"{"type":"multi"}"#, ItemKind::Multi),
        ];
        for (json, kind) in cases {
            assert_eq!(serde_json::from_str::<ItemKind>(json).unwrap(), kind);
            assert_eq!(serde_json::to_string(&kind).unwrap(), json);
        }
        assert!(serde_json::from_str::<ItemKind>(r#"{"type":"text","max":5}"#).is_err());
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

    // ---------------------------------------------------------------- validation

    fn only_error(errors: &[ItemError]) -> &ItemError {
        assert_eq!(errors.len(), 1, "{errors:?}");
        &errors[0]
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
    fn ticking_none_clears_the_others_and_back() {
        let form = FormDefinition::dynamic_update_2021();
        let item = form.item("rehab_needs").unwrap();
        let s = |keys: &[&str]| {
            keys.iter()
                .map(|k| (*k).to_string())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(
            item.toggle(&s(&["training", "device"]), "none"),
            s(&["none"])
        );
        assert_eq!(item.toggle(&s(&["none"]), "device"), s(&["device"]));
        assert_eq!(
            item.toggle(&s(&["device"]), "training"),
            s(&["device", "training"])
        );
        assert_eq!(
            item.toggle(&s(&["device", "training"]), "device"),
            s(&["training"])
        );
    }
}

#[cfg(test)]
mod help_tests {
    use super::*;

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
