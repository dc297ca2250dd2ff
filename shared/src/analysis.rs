//! The needs and services analysis (docs/analysis.md): which records count, the per-option
//! tallies, the eligibility rules, the action-list predicates and the needs paragraph of the
//! annual report. Pure: the server stores each finalized record reduced to its [`Facts`] and
//! adds them up here.
//!
//! - A record counts when it has a final outcome ([`crate::domain::final_outcome`]: finalized and
//!   not returned). An item counts for the records it applies to (its relevance, computed on the
//!   record's answers and the person, as the form engine does); every choice item (single,
//!   multi, yes/no) is tallied by option. For a single or yes/no item the options add up to the
//!   records it applies to; a multi item's options may add up to more.
//! - The eligibility rules and the action lists are [`Action`]s.

use serde::{Deserialize, Serialize};

use crate::form::{FormContext, FormDefinition, ItemKind};
use crate::ids::{Category, Sex};
use crate::value::{Answers, Value};

/// Version of the [`Facts`] encoding: stored facts of another version are rebuilt.
pub const FACTS_VERSION: &str = "2";

/// Age bands of the filters and breakdowns: (first age, last age, label).
pub const AGE_BANDS: [(u32, u32, &str); 5] = [
    (0, 5, "0–5"),
    (6, 15, "6–15"),
    (16, 59, "16–59"),
    (60, 79, "60–79"),
    (80, u32::MAX, "80+"),
];

/// The index in [`AGE_BANDS`] of an age.
#[must_use]
pub fn age_band(age: u32) -> usize {
    AGE_BANDS
        .iter()
        .position(|(lo, hi, _)| (*lo..=*hi).contains(&age))
        .unwrap_or(AGE_BANDS.len() - 1)
}

/// The keys of a yes/no item's two options.
pub const YES: &str = "yes";
pub const NO: &str = "no";

/// One tallied item of a form: its options and where they sit in a record's bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutItem {
    pub key: String,
    pub kind: ItemKind,
    /// Option keys (a yes/no item: `yes`, `no`).
    pub options: Vec<String>,
    /// The bit that says the item applies; its options follow it.
    pub slot: usize,
    /// Its place among the form's items ([`FormDefinition::items`]).
    pub index: usize,
}

/// The tallied items of a form (every choice item, in form order) and their bit positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub items: Vec<LayoutItem>,
    slots: usize,
    rules: RuleSlots,
}

/// The bits the action rules read, found once per form (a missing item or option: `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RuleSlots {
    /// Per device of [`DEVICES`]: (needed, received).
    devices: Vec<(Option<usize>, Option<usize>)>,
    home_modification: Option<usize>,
    /// `training_wanted`'s options other than 无.
    training: Vec<usize>,
    job: Option<usize>,
    nursing_no: Option<usize>,
    minimum_living_yes: Option<usize>,
    living_no: Option<usize>,
}

impl Layout {
    #[must_use]
    pub fn of(form: &FormDefinition) -> Self {
        let mut slot = 0;
        let mut items = Vec::new();
        for (index, i) in form.items().enumerate() {
            let options: Vec<String> = match i.kind {
                ItemKind::Single | ItemKind::Multi => {
                    i.options.iter().map(|o| o.key.clone()).collect()
                }
                ItemKind::YesNo => vec![YES.into(), NO.into()],
                _ => continue,
            };
            let n = options.len();
            items.push(LayoutItem {
                key: i.key.clone(),
                kind: i.kind,
                options,
                slot,
                index,
            });
            slot += 1 + n;
        }
        let mut layout = Self {
            items,
            slots: slot,
            rules: RuleSlots::default(),
        };
        layout.rules = RuleSlots {
            devices: DEVICES
                .iter()
                .map(|d| {
                    (
                        layout.option_slot("devices_needed", d),
                        layout.option_slot("devices_received", d),
                    )
                })
                .collect(),
            home_modification: layout.option_slot("home_modification_needed", YES),
            training: layout
                .items
                .iter()
                .find(|i| i.key == "training_wanted")
                .map(|i| {
                    i.options
                        .iter()
                        .enumerate()
                        .filter(|(_, o)| *o != "none")
                        .map(|(p, _)| i.slot + 1 + p)
                        .collect()
                })
                .unwrap_or_default(),
            job: layout.option_slot("employment_help_wanted", YES),
            nursing_no: layout.option_slot("nursing_subsidy", NO),
            minimum_living_yes: layout.option_slot("minimum_living", YES),
            living_no: layout.option_slot("living_subsidy", NO),
        };
        layout
    }

    /// Bits a record needs.
    #[must_use]
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Characters of a record's encoded facts ([`Facts::encode`]) under this layout.
    #[must_use]
    pub fn width(&self) -> usize {
        WHO_CHARS + chars_for(self.slots.div_ceil(64))
    }

    /// The position of an item in [`Layout::items`].
    #[must_use]
    pub fn index(&self, key: &str) -> Option<usize> {
        self.items.iter().position(|i| i.key == key)
    }

    fn item_slot(&self, key: &str) -> Option<usize> {
        self.items.iter().find(|i| i.key == key).map(|i| i.slot)
    }

    fn option_slot(&self, key: &str, option: &str) -> Option<usize> {
        let i = self.items.iter().find(|i| i.key == key)?;
        i.options
            .iter()
            .position(|o| o == option)
            .map(|p| i.slot + 1 + p)
    }
}

/// Who a record is about, as far as filters and breakdowns go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub category: Category,
    /// 1–4, 1 the most severe.
    pub level: u8,
    pub sex: Sex,
    /// Whole years on the campaign's reference date.
    pub age: u32,
}

impl Subject {
    #[must_use]
    pub fn of(ctx: &FormContext) -> Self {
        Self {
            category: ctx.facts.category,
            level: ctx.facts.level.get(),
            sex: ctx.facts.sex,
            age: ctx.age(),
        }
    }
}

/// A finalized record reduced to what the analysis counts: who, and one bit per item that
/// applies and per option chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub subject: Subject,
    bits: Vec<u64>,
}

impl Facts {
    /// The facts of a record (the caller decides that it counts: it has a final outcome);
    /// `layout` is `form`'s.
    #[must_use]
    pub fn of(
        layout: &Layout,
        form: &FormDefinition,
        answers: &Answers,
        ctx: &FormContext,
    ) -> Self {
        let mut f = Self {
            subject: Subject::of(ctx),
            bits: vec![0; layout.slots().div_ceil(64)],
        };
        let relevant = form.relevance(answers, ctx);
        for item in &layout.items {
            if !relevant.get(item.index).copied().unwrap_or(false) {
                continue;
            }
            f.set(item.slot);
            let mut choose = |c: &str| {
                if let Some(p) = item.options.iter().position(|o| o == c) {
                    f.set(item.slot + 1 + p);
                }
            };
            match answers.get(&item.key) {
                Some(Value::Text(k)) => choose(k),
                Some(Value::Set(s)) => s.iter().for_each(|c| choose(c)),
                Some(Value::Bool(b)) => choose(if *b { YES } else { NO }),
                _ => {}
            }
        }
        f
    }

    fn set(&mut self, bit: usize) {
        self.bits[bit / 64] |= 1 << (bit % 64);
    }

    /// Whether a bit is set (out of range: no).
    #[must_use]
    pub fn bit(&self, bit: usize) -> bool {
        self.bits
            .get(bit / 64)
            .is_some_and(|w| w & (1 << (bit % 64)) != 0)
    }

    /// Whether the item applies to this record.
    #[must_use]
    pub fn applies(&self, layout: &Layout, item: &str) -> bool {
        layout.item_slot(item).is_some_and(|s| self.bit(s))
    }

    /// Whether the record's answer to the item is (or, a multi item, contains) the option.
    #[must_use]
    pub fn has(&self, layout: &Layout, item: &str, option: &str) -> bool {
        layout
            .option_slot(item, option)
            .is_some_and(|s| self.bit(s))
    }

    /// The action lists the record is on: bit `i` for [`Action::ALL`]`[i]`.
    #[must_use]
    pub fn actions(&self, layout: &Layout) -> u8 {
        Action::ALL
            .iter()
            .enumerate()
            .fold(0, |m, (i, a)| m | u8::from(a.matches(layout, self)) << i)
    }

    /// The devices the record needs and did not receive: bit `i` for [`DEVICES`]`[i]`.
    #[must_use]
    pub fn missing_device_mask(&self, layout: &Layout) -> u16 {
        let on = |s: Option<usize>| s.is_some_and(|s| self.bit(s));
        layout
            .rules
            .devices
            .iter()
            .enumerate()
            .fold(0, |m, (i, (need, got))| {
                m | u16::from(on(*need) && !on(*got)) << i
            })
    }

    /// The stored text (version 2): fixed-width, in the URL-safe base-64 alphabet, six bits a
    /// character, least significant first: three characters of who (category, level − 1, sex,
    /// age) then the bit words ([`Layout::width`] characters for a form). Fixed width, so a
    /// community's records are stored concatenated with no separator (its *pack*).
    #[must_use]
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(WHO_CHARS + chars_for(self.bits.len()));
        let who = u32::from(self.subject.category.digit())
            | u32::from(self.subject.level.clamp(1, 4) - 1) << 3
            | u32::from(self.subject.sex == Sex::Female) << 5
            | self.subject.age.min(4095) << 6;
        for i in 0..WHO_CHARS {
            s.push(char::from(B64[((who >> (6 * i)) & 63) as usize]));
        }
        for i in 0..chars_for(self.bits.len()) {
            let mut v = 0u64;
            for b in 0..6 {
                if self.bit(i * 6 + b) {
                    v |= 1 << b;
                }
            }
            s.push(char::from(B64[v as usize]));
        }
        s
    }

    /// Reads [`Facts::encode`]'s text; `None` for another version or a malformed text.
    #[must_use]
    pub fn decode(s: &str) -> Option<Self> {
        let mut f = Self {
            subject: Subject {
                category: Category::Physical,
                level: 1,
                sex: Sex::Male,
                age: 0,
            },
            bits: Vec::new(),
        };
        f.decode_from(s.as_bytes()).then_some(f)
    }

    /// [`Facts::decode`] into this value, reusing its storage: the hot loop of a tally.
    /// False (and the value unspecified) for a malformed text.
    pub fn decode_from(&mut self, s: &[u8]) -> bool {
        let Some(subject) = subject_of(s) else {
            return false;
        };
        let rest = &s[WHO_CHARS..];
        let words = rest.len() * 6 / 64;
        if chars_for(words) != rest.len() {
            return false;
        }
        self.subject = subject;
        self.bits.clear();
        self.bits.resize(words, 0);
        let mut bad = 0u8;
        for (i, c) in rest.iter().enumerate() {
            let v = UNB64[usize::from(*c)];
            bad |= v;
            let v = u64::from(v & 63);
            let at = i * 6;
            let (w, b) = (at / 64, at % 64);
            if let Some(x) = self.bits.get_mut(w) {
                *x |= v << b;
            }
            if b > 58
                && let Some(x) = self.bits.get_mut(w + 1)
            {
                *x |= v >> (64 - b);
            }
        }
        bad & 0x80 == 0
    }
}

/// Characters of who a record is about, at the start of its encoded facts.
const WHO_CHARS: usize = 3;

/// Characters of `words` 64-bit words of bits, six bits a character.
fn chars_for(words: usize) -> usize {
    (words * 64).div_ceil(6)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// [`B64`] reversed; 0x80 marks a character outside it.
const UNB64: [u8; 256] = {
    let mut t = [0x80u8; 256];
    let mut i = 0;
    while i < 64 {
        t[B64[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Who an encoded record is about, read from its first characters alone (so that a filter can
/// skip a record without decoding its bits).
#[must_use]
pub fn subject_of(s: &[u8]) -> Option<Subject> {
    if s.len() < WHO_CHARS {
        return None;
    }
    let mut who = 0u32;
    for (i, c) in s[..WHO_CHARS].iter().enumerate() {
        let v = UNB64[usize::from(*c)];
        if v & 0x80 != 0 {
            return None;
        }
        who |= u32::from(v) << (6 * i);
    }
    Some(Subject {
        category: Category::from_digit((who & 7) as u8)?,
        level: ((who >> 3) & 3) as u8 + 1,
        sex: if (who >> 5) & 1 == 1 {
            Sex::Female
        } else {
            Sex::Male
        },
        age: who >> 6,
    })
}

/// Reads a pack (the encoded facts of some records, concatenated: `width` characters each) and
/// calls `each` with every record the filter keeps, decoded into one reused [`Facts`]; a
/// record the filter drops is not decoded past who it is about. False when the pack does not
/// read (a length that is not a multiple of the width, a character outside the alphabet).
pub fn read_pack(pack: &[u8], width: usize, filter: &Filter, mut each: impl FnMut(&Facts)) -> bool {
    if width <= WHO_CHARS || !pack.len().is_multiple_of(width) {
        return false;
    }
    let mut f = Facts {
        subject: Subject {
            category: Category::Physical,
            level: 1,
            sex: Sex::Male,
            age: 0,
        },
        bits: Vec::new(),
    };
    for rec in pack.chunks_exact(width) {
        if !filter.is_empty() {
            let Some(s) = subject_of(rec) else {
                return false;
            };
            if !filter.matches(&s) {
                continue;
            }
        }
        if !f.decode_from(rec) {
            return false;
        }
        each(&f);
    }
    true
}

/// What the figures are narrowed to (the place is applied by the caller's query).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Filter {
    pub category: Option<Category>,
    pub level: Option<u8>,
    /// An index into [`AGE_BANDS`].
    pub age_band: Option<usize>,
    pub sex: Option<Sex>,
}

impl Filter {
    /// No narrowing: every record matches.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.category.is_none()
            && self.level.is_none()
            && self.age_band.is_none()
            && self.sex.is_none()
    }

    #[must_use]
    pub fn matches(&self, s: &Subject) -> bool {
        self.category.is_none_or(|c| c == s.category)
            && self.level.is_none_or(|l| l == s.level)
            && self.age_band.is_none_or(|b| b == age_band(s.age))
            && self.sex.is_none_or(|x| x == s.sex)
    }
}

/// Counts over a set of records: how many, and per bit of [`Layout`] how many records have it
/// (an item's bit: the records it applies to; an option's bit: the records that chose it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub records: u64,
    pub slots: Vec<u64>,
    /// Per [`Action`] (in [`Action::ALL`] order): persons on the list.
    pub actions: Vec<u64>,
    /// Per device of [`DEVICES`]: persons who need it and did not receive it.
    pub devices: Vec<u64>,
}

impl Tally {
    #[must_use]
    pub fn new(layout: &Layout) -> Self {
        Self {
            records: 0,
            slots: vec![0; layout.slots()],
            actions: vec![0; Action::ALL.len()],
            devices: vec![0; DEVICES.len()],
        }
    }

    /// Counts one record: only its set bits are visited.
    pub fn add(&mut self, layout: &Layout, f: &Facts) {
        let (actions, devices) = (f.actions(layout), f.missing_device_mask(layout));
        self.add_with(f, actions, devices);
    }

    /// Counts one record whose action lists ([`Facts::actions`]) and missing devices
    /// ([`Facts::missing_device_mask`]) are known, so that a record counted into several
    /// tallies has its rules evaluated once.
    pub fn add_with(&mut self, f: &Facts, actions: u8, devices: u16) {
        self.records += 1;
        for (w, word) in f.bits.iter().enumerate() {
            let mut x = *word;
            while x != 0 {
                let b = x.trailing_zeros() as usize;
                if let Some(n) = self.slots.get_mut(w * 64 + b) {
                    *n += 1;
                }
                x &= x - 1;
            }
        }
        if actions != 0 {
            for (i, n) in self.actions.iter_mut().enumerate() {
                *n += u64::from(actions >> i & 1);
            }
        }
        if devices != 0 {
            for (i, n) in self.devices.iter_mut().enumerate() {
                *n += u64::from(devices >> i & 1);
            }
        }
    }

    /// Adds another tally of the same layout.
    pub fn merge(&mut self, o: &Tally) {
        self.records += o.records;
        for (x, y) in self.slots.iter_mut().zip(&o.slots) {
            *x += y;
        }
        for (x, y) in self.actions.iter_mut().zip(&o.actions) {
            *x += y;
        }
        for (x, y) in self.devices.iter_mut().zip(&o.devices) {
            *x += y;
        }
    }

    /// Records the item (by its position in [`Layout::items`]) applies to.
    #[must_use]
    pub fn applies(&self, layout: &Layout, item: usize) -> u64 {
        self.slots[layout.items[item].slot]
    }

    /// Per option of an item (by position): records that chose it.
    #[must_use]
    pub fn options(&self, layout: &Layout, item: usize) -> &[u64] {
        let i = &layout.items[item];
        &self.slots[i.slot + 1..=i.slot + i.options.len()]
    }

    /// The count of one option of one item (0 when the form has no such item or option).
    #[must_use]
    pub fn option(&self, layout: &Layout, item: &str, option: &str) -> u64 {
        layout
            .option_slot(item, option)
            .map_or(0, |s| self.slots[s])
    }

    /// Persons on an action list.
    #[must_use]
    pub fn action(&self, a: Action) -> u64 {
        Action::ALL
            .iter()
            .position(|x| *x == a)
            .map_or(0, |i| self.actions[i])
    }
}

/// The assistive devices of the form, for the per-device lists.
pub const DEVICES: [&str; 9] = [
    "wheelchair",
    "crutches",
    "walker",
    "prosthesis",
    "orthosis",
    "hearing_aid",
    "white_cane",
    "low_vision_aid",
    "other",
];

/// An action list: persons someone should act on. The eligibility rules are two of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    /// Needs an assistive device they did not receive this year (`devices_needed` holds a
    /// device that `devices_received` does not).
    Device,
    /// Needs a home modification (`home_modification_needed` = yes).
    HomeModification,
    /// Wants vocational training (`training_wanted` holds anything but 无).
    Training,
    /// Not employed and wants help finding work (`employment_help_wanted` = yes).
    Job,
    /// Looks eligible for the 重度残疾人护理补贴 and does not receive it: level 1 or 2 (severe)
    /// and `nursing_subsidy` = no.
    NursingSubsidy,
    /// Looks eligible for the 困难残疾人生活补贴 and does not receive it: the household has 低保
    /// (`minimum_living` = yes) and `living_subsidy` = no.
    LivingSubsidy,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Device,
        Action::HomeModification,
        Action::Training,
        Action::Job,
        Action::NursingSubsidy,
        Action::LivingSubsidy,
    ];

    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Action::Device => "device",
            Action::HomeModification => "home_modification",
            Action::Training => "training",
            Action::Job => "job",
            Action::NursingSubsidy => "nursing_subsidy",
            Action::LivingSubsidy => "living_subsidy",
        }
    }

    #[must_use]
    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.key() == key)
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Action::Device => "需要辅助器具但尚未获得",
            Action::HomeModification => "需要家庭无障碍改造",
            Action::Training => "有职业培训需求",
            Action::Job => "需要就业帮扶",
            Action::NursingSubsidy => "疑似符合重度残疾人护理补贴条件但未享受",
            Action::LivingSubsidy => "疑似符合困难残疾人生活补贴条件但未享受",
        }
    }

    #[must_use]
    pub fn label_en(self) -> &'static str {
        match self {
            Action::Device => "need an assistive device not received",
            Action::HomeModification => "need a home modification",
            Action::Training => "want vocational training",
            Action::Job => "want help finding work",
            Action::NursingSubsidy => "look eligible for the nursing subsidy, not receiving it",
            Action::LivingSubsidy => "look eligible for the living subsidy, not receiving it",
        }
    }

    /// The rule, stated for the page and the docs.
    #[must_use]
    pub fn rule_zh(self) -> &'static str {
        match self {
            Action::Device => "“需要的辅助器具”中有、而“获得的辅助器具”中没有的器具",
            Action::HomeModification => "“是否需要家庭无障碍改造”为“是”",
            Action::Training => "“职业培训需求”中有“无”以外的选项",
            Action::Job => "未就业且“是否需要就业帮扶”为“是”",
            Action::NursingSubsidy => {
                "残疾等级为一级或二级（重度），且“是否享受重度残疾人护理补贴”为“否”"
            }
            Action::LivingSubsidy => {
                "享受城乡最低生活保障（低保），且“是否享受困难残疾人生活补贴”为“否”"
            }
        }
    }

    #[must_use]
    pub fn rule_en(self) -> &'static str {
        match self {
            Action::Device => "a device in “devices needed” that is not in “devices received”",
            Action::HomeModification => "“needs a home modification” is yes",
            Action::Training => "“training wanted” holds an option other than none",
            Action::Job => "not employed and “wants help finding work” is yes",
            Action::NursingSubsidy => {
                "disability level 1 or 2 (severe) and “receives the nursing subsidy” is no"
            }
            Action::LivingSubsidy => {
                "the household receives 低保 (minimum living allowance) and “receives the \
                 living subsidy” is no"
            }
        }
    }

    /// Whether a record is on this list.
    #[must_use]
    pub fn matches(self, layout: &Layout, f: &Facts) -> bool {
        let r = &layout.rules;
        let on = |s: Option<usize>| s.is_some_and(|s| f.bit(s));
        match self {
            Action::Device => r.devices.iter().any(|(n, g)| on(*n) && !on(*g)),
            Action::HomeModification => on(r.home_modification),
            Action::Training => r.training.iter().any(|s| f.bit(*s)),
            Action::Job => on(r.job),
            Action::NursingSubsidy => f.subject.level <= 2 && on(r.nursing_no),
            Action::LivingSubsidy => on(r.minimum_living_yes) && on(r.living_no),
        }
    }
}

/// The devices a record needs and did not receive, in form order.
#[must_use]
pub fn missing_devices(layout: &Layout, f: &Facts) -> Vec<&'static str> {
    let on = |s: Option<usize>| s.is_some_and(|s| f.bit(s));
    DEVICES
        .into_iter()
        .zip(&layout.rules.devices)
        .filter(|(_, (n, g))| on(*n) && !on(*g))
        .map(|(d, _)| d)
        .collect()
}

/// Labels of the devices (for the lists and the paragraph).
#[must_use]
pub fn device_label_zh(key: &str) -> &'static str {
    match key {
        "wheelchair" => "轮椅",
        "crutches" => "拐杖",
        "walker" => "助行器",
        "prosthesis" => "假肢",
        "orthosis" => "矫形器",
        "hearing_aid" => "助听器",
        "white_cane" => "盲杖",
        "low_vision_aid" => "助视器",
        _ => "其他辅具",
    }
}

/// The needs paragraph of the annual report, after the progress paragraph.
/// `surveyed` is the number of finalized records with a questionnaire; devices are named with
/// the persons missing each (those with at least one).
#[must_use]
pub fn needs_paragraph(district: &str, year: i32, surveyed: u64, t: &Tally) -> String {
    let named: Vec<String> = DEVICES
        .iter()
        .zip(&t.devices)
        .filter(|(_, n)| **n > 0)
        .map(|(d, n)| format!("{}{n}人", device_label_zh(d)))
        .collect();
    let devices = if named.is_empty() {
        String::new()
    } else {
        format!("（{}）", named.join("、"))
    };
    format!(
        "{year}年{district}完成问卷调查的{surveyed}名持证残疾人中，需要辅助器具但尚未获得的{dev}人{devices}，\
         需要家庭无障碍改造的{home}人，有职业培训需求的{training}人，需要就业帮扶的{job}人；\
         一、二级重度残疾人未享受护理补贴的{nursing}人，享受低保但未享受困难残疾人生活补贴的{living}人。",
        dev = t.action(Action::Device),
        home = t.action(Action::HomeModification),
        training = t.action(Action::Training),
        job = t.action(Action::Job),
        nursing = t.action(Action::NursingSubsidy),
        living = t.action(Action::LivingSubsidy),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::NaiveDate;

    use super::*;
    use crate::domain::{OUTCOME, STATUS};
    use crate::ids::{CertificateNumber, ResidentId};

    fn ctx(category: u8, level: u8, birth_year: i32) -> FormContext {
        let id = ResidentId::from_parts(
            "430503",
            NaiveDate::from_ymd_opt(birth_year, 5, 1).unwrap(),
            11,
        );
        let cert = CertificateNumber::parse(&format!("{}{category}{level}", id.as_str())).unwrap();
        FormContext::new(cert, NaiveDate::from_ymd_opt(2021, 3, 1).unwrap())
    }

    fn surveyed(extra: &[(&str, Value)]) -> Answers {
        let mut a = Answers::new();
        a.insert(OUTCOME.into(), Value::text("home_visit"));
        a.insert(STATUS.into(), Value::text("final"));
        for (k, v) in extra {
            a.insert((*k).into(), v.clone());
        }
        a
    }

    fn set(items: &[&str]) -> Value {
        Value::Set(
            items
                .iter()
                .map(|s| (*s).to_string())
                .collect::<BTreeSet<_>>(),
        )
    }

    #[test]
    fn facts_round_trip_and_relevance_decides_what_applies() {
        let form = FormDefinition::dynamic_update_2021();
        let layout = Layout::of(&form);
        let c = ctx(4, 1, 1950);
        let a = surveyed(&[
            ("rehab_needs", set(&["device"])),
            ("devices_needed", set(&["wheelchair", "walker"])),
            ("rehab_services_received", set(&["none"])),
            ("nursing_subsidy", Value::Bool(false)),
            // Not relevant: nothing was received, so this answer is not counted.
            ("devices_received", set(&["wheelchair"])),
        ]);
        let f = Facts::of(&layout, &form, &a, &c);
        assert_eq!(Facts::decode(&f.encode()), Some(f.clone()));
        assert!(f.applies(&layout, "devices_needed"));
        assert!(!f.applies(&layout, "devices_received"));
        // The education section is for 6–15-year-olds only.
        assert!(!f.applies(&layout, "in_school"));
        assert!(f.has(&layout, "nursing_subsidy", NO));
        assert_eq!(missing_devices(&layout, &f), vec!["wheelchair", "walker"]);
        assert!(Action::Device.matches(&layout, &f));
        assert!(Action::NursingSubsidy.matches(&layout, &f));
        assert!(!Action::LivingSubsidy.matches(&layout, &f));
        assert_eq!(f.subject.age, 70);
        assert_eq!(Facts::decode("0:411m70:00"), None);
        assert_eq!(Facts::decode("1:911m70:0000000000000000"), None);
    }

    #[test]
    fn a_received_device_leaves_the_list() {
        let form = FormDefinition::dynamic_update_2021();
        let layout = Layout::of(&form);
        let a = surveyed(&[
            ("rehab_services_received", set(&["device"])),
            ("devices_received", set(&["hearing_aid"])),
            ("rehab_needs", set(&["device"])),
            ("devices_needed", set(&["hearing_aid"])),
        ]);
        let f = Facts::of(&layout, &form, &a, &ctx(2, 3, 1980));
        assert!(missing_devices(&layout, &f).is_empty());
        assert!(!Action::Device.matches(&layout, &f));
    }

    #[test]
    fn nursing_rule_is_for_severe_levels_only() {
        let form = FormDefinition::dynamic_update_2021();
        let layout = Layout::of(&form);
        let a = surveyed(&[("nursing_subsidy", Value::Bool(false))]);
        // Level 3: the item does not apply, so the answer is not counted and the rule does not hold.
        let f = Facts::of(&layout, &form, &a, &ctx(4, 3, 1960));
        assert!(!f.applies(&layout, "nursing_subsidy"));
        assert!(!Action::NursingSubsidy.matches(&layout, &f));
        let f = Facts::of(&layout, &form, &a, &ctx(4, 2, 1960));
        assert!(Action::NursingSubsidy.matches(&layout, &f));
        let b = surveyed(&[("nursing_subsidy", Value::Bool(true))]);
        assert!(
            !Action::NursingSubsidy
                .matches(&layout, &Facts::of(&layout, &form, &b, &ctx(4, 1, 1960)))
        );
    }

    #[test]
    fn living_training_job_and_home_rules() {
        let form = FormDefinition::dynamic_update_2021();
        let layout = Layout::of(&form);
        let c = ctx(5, 3, 1990);
        let a = surveyed(&[
            ("minimum_living", Value::Bool(true)),
            ("living_subsidy", Value::Bool(false)),
            ("employed", Value::Bool(false)),
            ("employment_help_wanted", Value::Bool(true)),
            ("training_wanted", set(&["none"])),
            ("home_modification_done", Value::Bool(false)),
            ("home_modification_needed", Value::Bool(true)),
        ]);
        let f = Facts::of(&layout, &form, &a, &c);
        assert!(Action::LivingSubsidy.matches(&layout, &f));
        assert!(Action::Job.matches(&layout, &f));
        assert!(!Action::Training.matches(&layout, &f));
        assert!(Action::HomeModification.matches(&layout, &f));
        // Employed: the help item does not apply, whatever the stale answer says.
        let mut b = a.clone();
        b.insert("employed".into(), Value::Bool(true));
        b.insert("training_wanted".into(), set(&["job_guidance"]));
        let g = Facts::of(&layout, &form, &b, &c);
        assert!(!Action::Job.matches(&layout, &g));
        assert!(Action::Training.matches(&layout, &g));
    }

    #[test]
    fn single_items_add_up_to_the_records_they_apply_to() {
        let form = FormDefinition::dynamic_update_2021();
        let layout = Layout::of(&form);
        let campaign = crate::Campaign {
            id: uuid::Uuid::nil(),
            district: crate::DivisionCode::parse("430503").unwrap(),
            district_name: "大祥区".into(),
            year: 2021,
            name: "t".into(),
            starts: NaiveDate::from_ymd_opt(2021, 3, 1).unwrap(),
            ends: NaiveDate::from_ymd_opt(2021, 11, 30).unwrap(),
            form_version: form.version.clone(),
        };
        let d = crate::demo::generate_sized(3, campaign.id, 400, 4);
        let mut rng = crate::demo::SplitMix64::new(9);
        let mut t = Tally::new(&layout);
        let mut all = Vec::new();
        for p in &d.persons {
            let o = crate::demo::pick_outcome(&mut rng);
            let a = crate::demo::fill_questionnaire(&form, p, &campaign, o, &mut rng);
            let f = Facts::of(&layout, &form, &a, &FormContext::for_person(p, &campaign));
            t.add(&layout, &f);
            all.push(f);
        }
        assert_eq!(t.records, 400);
        let outcome = layout.index(OUTCOME).unwrap();
        assert_eq!(t.applies(&layout, outcome), 400);
        let mut halves = (Tally::new(&layout), Tally::new(&layout));
        for (k, item) in layout.items.iter().enumerate() {
            let applies = t.applies(&layout, k);
            let sum: u64 = t.options(&layout, k).iter().sum();
            if item.kind == ItemKind::Multi {
                assert!(sum >= applies, "{}", item.key);
            } else {
                assert_eq!(sum, applies, "{}", item.key);
            }
        }
        for (n, f) in all.iter().enumerate() {
            if n % 2 == 0 {
                halves.0.add(&layout, f)
            } else {
                halves.1.add(&layout, f)
            }
        }
        halves.0.merge(&halves.1);
        assert_eq!(halves.0, t);
        let by_list: u64 = all
            .iter()
            .filter(|f| Action::Device.matches(&layout, f))
            .count() as u64;
        assert_eq!(t.action(Action::Device), by_list);
        let wheelchairs = all
            .iter()
            .filter(|f| missing_devices(&layout, f).contains(&"wheelchair"))
            .count() as u64;
        assert_eq!(t.devices[0], wheelchairs);
        let p = needs_paragraph("大祥区", 2021, 300, &t);
        assert!(p.contains(&format!("轮椅{wheelchairs}人")), "{p}");
        assert!(
            p.contains(&format!("需要辅助器具但尚未获得的{by_list}人")),
            "{p}"
        );
        assert!(p.contains("完成问卷调查的300名"), "{p}");
    }

    #[test]
    fn packs_read_back_every_record_and_filter_on_who_alone() {
        let form = FormDefinition::dynamic_update_2021();
        let layout = Layout::of(&form);
        let mut rng = crate::demo::SplitMix64::new(5);
        let mut all = Vec::new();
        let mut pack = String::new();
        for n in 0..500u32 {
            let mut f = Facts {
                subject: Subject {
                    category: Category::from_digit((n % 7) as u8 + 1).unwrap(),
                    level: (n % 4) as u8 + 1,
                    sex: if n % 3 == 0 { Sex::Female } else { Sex::Male },
                    age: n % 120,
                },
                bits: vec![0; layout.slots().div_ceil(64)],
            };
            for w in &mut f.bits {
                *w = rng.next_u64();
            }
            let text = f.encode();
            assert_eq!(text.len(), layout.width());
            assert_eq!(Facts::decode(&text).as_ref(), Some(&f));
            assert_eq!(subject_of(text.as_bytes()), Some(f.subject));
            pack.push_str(&text);
            all.push(f);
        }
        let filter = Filter {
            level: Some(2),
            sex: Some(Sex::Male),
            ..Filter::default()
        };
        for filter in [Filter::default(), filter] {
            let mut read = Vec::new();
            assert!(read_pack(pack.as_bytes(), layout.width(), &filter, |f| {
                read.push(f.clone())
            }));
            let want: Vec<Facts> = all
                .iter()
                .filter(|f| filter.matches(&f.subject))
                .cloned()
                .collect();
            assert_eq!(read, want);
        }
        // A pack cut short, or a character outside the alphabet, does not read.
        assert!(!read_pack(
            &pack.as_bytes()[1..],
            layout.width(),
            &Filter::default(),
            |_| {}
        ));
        let mut bad = pack.clone().into_bytes();
        bad[layout.width() + 7] = b' ';
        assert!(!read_pack(&bad, layout.width(), &Filter::default(), |_| {}));
        assert!(read_pack(b"", layout.width(), &Filter::default(), |_| {}));
    }

    #[test]
    fn filters_and_bands() {
        assert_eq!(age_band(0), 0);
        assert_eq!(age_band(15), 1);
        assert_eq!(age_band(16), 2);
        assert_eq!(age_band(80), 4);
        let s = Subject {
            category: Category::Physical,
            level: 2,
            sex: Sex::Female,
            age: 70,
        };
        assert!(Filter::default().matches(&s));
        let f = Filter {
            category: Some(Category::Physical),
            level: Some(2),
            age_band: Some(3),
            sex: Some(Sex::Female),
        };
        assert!(f.matches(&s));
        assert!(
            !Filter {
                level: Some(1),
                ..f
            }
            .matches(&s)
        );
        assert!(
            !Filter {
                sex: Some(Sex::Male),
                ..f
            }
            .matches(&s)
        );
        assert!(
            !Filter {
                age_band: Some(2),
                ..f
            }
            .matches(&s)
        );
    }
}
