//! The language of the console and the app, and the label of each domain value in it.
//!
//! [`Lang`] is Chinese unless English was chosen. Two texts side by side are picked with
//! [`Lang::pick`]; a fixed pair kept as a constant is a [`Tr`], read with [`Lang::t`]. [`Label`]
//! gives the label of an outcome, role, review stage, status, review level, category, sex,
//! campaign state, case decision, item change or action in a language: one text per value,
//! shared by the console and the app.

use crate::analysis::Action;
use crate::carry::ItemChange;
use crate::domain::{CampaignState, Outcome, Review, Status};
use crate::ids::{Category, Sex};
use crate::review::{CaseDecision, Level};
use crate::sync::Role;

/// The language of the UI: Chinese unless English was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

/// One fixed text in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    pub zh: &'static str,
    pub en: &'static str,
}

impl Tr {
    /// A pair of texts (for `const` tables of them).
    #[must_use]
    pub const fn new(zh: &'static str, en: &'static str) -> Self {
        Self { zh, en }
    }
}

impl Lang {
    /// A fixed pair's text in this language.
    #[must_use]
    pub fn t(self, tr: Tr) -> &'static str {
        self.pick(tr.zh, tr.en)
    }

    /// One of two texts: `zh` in Chinese, `en` in English.
    #[must_use]
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// `zh` or `en`: the value of `?lang=` and of the cookie.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The HTML `lang` attribute.
    #[must_use]
    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language (the toggle).
    #[must_use]
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The language of a [`key`](Lang::key).
    #[must_use]
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// The label of a value in a language.
pub trait Label {
    fn label(self, lang: Lang) -> &'static str;
}

/// Values whose labels are their own `label_zh` / `label_en`.
macro_rules! label_from_zh_en {
    ($($t:ty),* $(,)?) => {$(
        impl Label for $t {
            fn label(self, lang: Lang) -> &'static str {
                lang.pick(self.label_zh(), self.label_en())
            }
        }
    )*};
}

label_from_zh_en!(
    Outcome,
    Role,
    Review,
    Level,
    Category,
    CampaignState,
    CaseDecision,
    ItemChange,
    Action,
);

impl Label for Status {
    fn label(self, lang: Lang) -> &'static str {
        match self {
            Status::Draft => lang.pick("草稿", "Draft"),
            Status::Final => lang.pick("已提交", "Submitted"),
        }
    }
}

impl Label for Sex {
    fn label(self, lang: Lang) -> &'static str {
        match self {
            Sex::Male => lang.pick(self.label_zh(), "male"),
            Sex::Female => lang.pick(self.label_zh(), "female"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_the_toggle_flips() {
        for l in [Lang::Zh, Lang::En] {
            assert_eq!(Lang::parse(l.key()), Some(l));
            assert_eq!(l.other().other(), l);
            assert_ne!(l.other(), l);
        }
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::default(), Lang::Zh);
        assert_eq!(Lang::Zh.html(), "zh-CN");
    }

    #[test]
    fn pairs_and_labels_are_picked_by_language() {
        const HELLO: Tr = Tr::new("你好", "Hello");
        assert_eq!(Lang::Zh.t(HELLO), "你好");
        assert_eq!(Lang::En.t(HELLO), "Hello");
        assert_eq!(Lang::En.pick("是", "yes"), "yes");
        assert_eq!(Outcome::HomeVisit.label(Lang::Zh), "入户调查");
        assert_eq!(Role::Admin.label(Lang::En), "District admin");
        assert_eq!(Review::Returned.label(Lang::Zh), "已退回");
        assert_eq!(Status::Final.label(Lang::En), "Submitted");
        assert_eq!(Sex::Female.label(Lang::En), "female");
        assert_eq!(Level::Street.label(Lang::Zh), "街道复查");
    }
}
