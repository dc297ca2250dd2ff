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

mod conditions;
mod definitions;
#[cfg(test)]
mod test_support;
mod validation;

pub use conditions::{Condition, FormContext, Lookup};
pub use definitions::FormError;
pub use validation::{ItemError, MAX_TEXT_CHARS, Strictness, is_valid_date, is_valid_phone};

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::checks::Check;
use crate::domain::STATUS;
use crate::official::{Code, OfficialForm, OfficialItem};
use crate::value::{Answers, Value};

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
    /// Where each item sits, found on the first lookup ([`FormDefinition::item`]).
    #[serde(skip)]
    index: ItemIndex,
}

/// Item key → (section, item, form order) position: not part of the form (equal forms may differ in it),
/// and only a shortcut ([`FormDefinition::item`] checks the item it points at).
#[derive(Clone, Default)]
struct ItemIndex(OnceLock<HashMap<String, (usize, usize, usize)>>);

impl PartialEq for ItemIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ItemIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ItemIndex")
    }
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

impl FormDefinition {
    /// Every item, in form order.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }

    /// The item with this key.
    #[must_use]
    pub fn item(&self, key: &str) -> Option<&Item> {
        self.find(key).map(|(_, item)| item)
    }

    /// The item with this key and its position in form order ([`FormDefinition::items`]).
    pub(crate) fn find(&self, key: &str) -> Option<(usize, &Item)> {
        let index = self.index.0.get_or_init(|| {
            let mut at = 0;
            let mut index = HashMap::new();
            for (s, sec) in self.sections.iter().enumerate() {
                for (i, item) in sec.items.iter().enumerate() {
                    index.entry(item.key.clone()).or_insert((s, i, at));
                    at += 1;
                }
            }
            index
        });
        let indexed = index.get(key).and_then(|&(s, i, at)| {
            let item = self.sections.get(s)?.items.get(i)?;
            (item.key == key).then_some((at, item))
        });
        // Not in the index, or the sections were changed after it was made: look through.
        indexed.or_else(|| self.items().enumerate().find(|(_, i)| i.key == key))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
