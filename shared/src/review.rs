//! The review chain's rules (docs/review.md): review levels as campaign data, what an approval or
//! a return does at each level, per-item notes, the reproducible district sample, agreement
//! rates, and the follow-up cases of persons who could not be surveyed.

use crate::errors::ErrorCode;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::demo::SplitMix64;
use crate::domain::{Outcome, Review};

/// One level of review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Level {
    /// The street (township) supervisor's re-check (复查).
    Street,
    /// The district's review (审核), by the district admin.
    District,
}

impl Level {
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Level::Street => "street",
            Level::District => "district",
        }
    }
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Level::Street => "街道复查",
            Level::District => "区级审核",
        }
    }
    #[must_use]
    pub fn label_en(self) -> &'static str {
        match self {
            Level::Street => "street review",
            Level::District => "district review",
        }
    }
}

/// The levels a campaign runs, in order: street then district, or one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Levels {
    pub street: bool,
    pub district: bool,
}

impl Default for Levels {
    /// One street level: the chain of every campaign opened before levels existed.
    fn default() -> Self {
        Levels {
            street: true,
            district: false,
        }
    }
}

impl Levels {
    /// `street`, `district` or `street,district`.
    ///
    /// # Errors
    /// Anything else, with a bilingual message.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut l = Levels {
            street: false,
            district: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "street" => l.street = true,
                "district" => l.district = true,
                other => {
                    return Err(format!(
                        "审核层级只能是 street、district 或 street,district，不是“{other}” / review \
                         levels are street, district or street,district, not \"{other}\""
                    ));
                }
            }
        }
        if !l.street && !l.district {
            return Err("至少需要一个审核层级 / at least one review level is needed".into());
        }
        Ok(l)
    }

    #[must_use]
    pub fn key(self) -> &'static str {
        match (self.street, self.district) {
            (true, true) => "street,district",
            (false, true) => "district",
            _ => "street",
        }
    }

    /// The levels in order.
    #[must_use]
    pub fn list(self) -> Vec<Level> {
        let mut v = Vec::new();
        if self.street {
            v.push(Level::Street);
        }
        if self.district {
            v.push(Level::District);
        }
        v
    }

    /// The last level: its approval is final.
    #[must_use]
    pub fn last(self) -> Level {
        if self.district {
            Level::District
        } else {
            Level::Street
        }
    }
}

impl TryFrom<String> for Levels {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Levels::parse(&s)
    }
}

impl From<Levels> for String {
    fn from(l: Levels) -> String {
        l.key().to_owned()
    }
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Decision {
    Approve,
    Return,
}

/// Why a review step is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: ErrorCode,
    pub message: String,
}

fn refused(code: ErrorCode, zh: &str, en: &str) -> Refused {
    Refused {
        code,
        message: format!("{zh} / {en}"),
    }
}

/// The stage a record moves to when a reviewer at `level` decides on it, or why not.
/// `submitted` says the record is final (a draft is never reviewed).
///
/// # Errors
/// A refusal with its code: `not_submitted`, `level_off`, `above_level`.
pub fn step(
    levels: Levels,
    level: Level,
    current: Review,
    submitted: bool,
    decision: Decision,
) -> Result<Review, Refused> {
    if !submitted {
        return Err(refused(
            ErrorCode::NotSubmitted,
            "记录尚未提交",
            "only a finalized record can be reviewed",
        ));
    }
    if level == Level::Street && !levels.street {
        return Err(refused(
            ErrorCode::LevelOff,
            "本次调查不设街道复查，由区级审核",
            "this campaign has no street level; the district reviews",
        ));
    }
    // What the reviewer's level may still act on: a street reviewer cannot undo the district.
    let district_done = current == Review::Approved && levels.district;
    if level == Level::Street && (current == Review::StreetApproved || district_done) {
        return Err(refused(
            ErrorCode::AboveLevel,
            "该记录已在区级审核阶段，街道不能再改动",
            "this record is at the district level; the street cannot change it",
        ));
    }
    match decision {
        Decision::Return => Ok(Review::Returned),
        Decision::Approve => {
            // Approving an approved record again (a retried request) changes nothing.
            if current == Review::Approved {
                return Ok(Review::Approved);
            }
            if level == Level::Street && levels.district {
                Ok(Review::StreetApproved)
            } else {
                Ok(Review::Approved)
            }
        }
    }
}

/// A worker may not change a record at these stages (it is with a reviewer, or final).
#[must_use]
pub fn locks_worker(review: Review) -> bool {
    matches!(review, Review::StreetApproved | Review::Approved)
}

/// A reviewer's notes on single items, by item key.
pub type Notes = BTreeMap<String, String>;

/// The longest review comment and item note, in characters.
pub const COMMENT_MAX: usize = 500;
pub const NOTE_MAX: usize = 200;

/// The checks of a decision's comment and notes; `is_item` says whether a key is a form item.
///
/// # Errors
/// A refusal: `comment_required` (a return without a comment), `comment_too_long`,
/// `unknown_item`, `note_too_long`, `notes_on_approval`.
pub fn check_comment(
    decision: Decision,
    comment: Option<&str>,
    notes: &Notes,
    is_item: impl Fn(&str) -> bool,
) -> Result<(), Refused> {
    if comment.is_some_and(|c| c.chars().count() > COMMENT_MAX) {
        return Err(refused(
            ErrorCode::CommentTooLong,
            "意见最多 500 个字",
            "a comment takes at most 500 characters",
        ));
    }
    if decision == Decision::Return && comment.is_none_or(|c| c.trim().is_empty()) {
        return Err(refused(
            ErrorCode::CommentRequired,
            "退回时请填写原因",
            "say what to fix when returning a record",
        ));
    }
    if decision == Decision::Approve && !notes.is_empty() {
        return Err(refused(
            ErrorCode::NotesOnApproval,
            "逐项意见只随退回发出",
            "item notes go with a return only",
        ));
    }
    for (item, note) in notes {
        if !is_item(item) {
            return Err(Refused {
                code: ErrorCode::UnknownItem,
                message: format!("没有调查项目“{item}” / no questionnaire item \"{item}\""),
            });
        }
        if note.chars().count() > NOTE_MAX {
            return Err(refused(
                ErrorCode::NoteTooLong,
                "每项意见最多 200 个字",
                "an item note takes at most 200 characters",
            ));
        }
    }
    Ok(())
}

/// FNV-1a of a text: mixes the community into the seed.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// How many of `eligible` records a rate in per mille samples: rounded up, at least one where
/// there is any, never more than there are.
#[must_use]
pub fn sample_size(eligible: usize, rate_permille: u32) -> usize {
    if eligible == 0 || rate_permille == 0 {
        return 0;
    }
    let n = (eligible as u64 * u64::from(rate_permille)).div_ceil(1000);
    usize::try_from(n).unwrap_or(eligible).clamp(1, eligible)
}

/// The reproducible sample of one community: `eligible` person IDs (any order) are sorted,
/// shuffled by SplitMix64 seeded with `seed` and the community code, and the first
/// [`sample_size`] are taken (returned sorted).
#[must_use]
pub fn draw_sample(
    community: &str,
    eligible: &[String],
    rate_permille: u32,
    seed: u64,
) -> Vec<String> {
    let mut ids: Vec<String> = eligible.to_vec();
    ids.sort();
    ids.dedup();
    let n = sample_size(ids.len(), rate_permille);
    // The demo's generator: integer arithmetic only, the same sequence on every platform and
    // release, so anyone can draw the sample again from its seed.
    let mut rng = SplitMix64::new(seed ^ fnv1a(community));
    // Partial Fisher–Yates: the first n places.
    for i in 0..n {
        let j = i + rng.index(ids.len() - i);
        ids.swap(i, j);
    }
    let mut out: Vec<String> = ids.into_iter().take(n).collect();
    out.sort();
    out
}

/// How a sampled record was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CheckMethod {
    Visit,
    Call,
}

impl CheckMethod {
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            CheckMethod::Visit => "visit",
            CheckMethod::Call => "call",
        }
    }
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "visit" => Some(CheckMethod::Visit),
            "call" => Some(CheckMethod::Call),
            _ => None,
        }
    }
}

/// The result of a verification visit or call: its own small form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    /// Who checked (a name: a third party may do it).
    pub checker: String,
    pub method: CheckMethod,
    /// The person (or their family) was reached.
    pub reached: bool,
    /// The recorded answers were confirmed; false when any item differs.
    pub confirmed: bool,
    /// Items whose answer the check found different.
    #[serde(default)]
    pub differing: Vec<String>,
    #[serde(default)]
    pub note: String,
}

impl Verification {
    /// The check's own rules.
    ///
    /// # Errors
    /// A refusal with its code.
    pub fn check(&self, is_item: impl Fn(&str) -> bool) -> Result<(), Refused> {
        if self.checker.trim().is_empty() || self.checker.chars().count() > 50 {
            return Err(refused(
                ErrorCode::CheckerRequired,
                "请填写核查人姓名（最多 50 个字）",
                "name the checker (at most 50 characters)",
            ));
        }
        if self.note.chars().count() > COMMENT_MAX {
            return Err(refused(
                ErrorCode::NoteTooLong,
                "备注最多 500 个字",
                "a note takes at most 500 characters",
            ));
        }
        if !self.reached && (self.confirmed || !self.differing.is_empty()) {
            return Err(refused(
                ErrorCode::NotReached,
                "未联系上时不能确认或列出不符项",
                "a check that reached no one confirms nothing and finds no difference",
            ));
        }
        if self.confirmed && !self.differing.is_empty() {
            return Err(refused(
                ErrorCode::ConfirmedWithDifferences,
                "有不符项时不能记为一致",
                "a check with differing items is not confirmed",
            ));
        }
        if self.reached && !self.confirmed && self.differing.is_empty() {
            return Err(refused(
                ErrorCode::DifferencesRequired,
                "记录不一致时请选出不符的项目",
                "name the items that differ when the answers are not confirmed",
            ));
        }
        if let Some(bad) = self.differing.iter().find(|i| !is_item(i)) {
            return Err(Refused {
                code: ErrorCode::UnknownItem,
                message: format!("没有调查项目“{bad}” / no questionnaire item \"{bad}\""),
            });
        }
        Ok(())
    }
}

/// Agreement over checks: confirmed among reached, in basis points (None with nothing reached).
#[must_use]
pub fn agreement_bp(reached: u64, confirmed: u64) -> Option<u64> {
    (reached > 0).then(|| confirmed * 10_000 / reached)
}

/// The default agreement threshold below which a community is flagged (basis points).
pub const DEFAULT_THRESHOLD_BP: u64 = 9_500;

/// The outcomes that become follow-up cases for the county office.
#[must_use]
pub fn needs_follow_up(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Moved | Outcome::Deregistered | Outcome::NotFound | Outcome::RegisteredOnly
    )
}

/// The county office's decision on a follow-up case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CaseDecision {
    /// A transfer certificate (迁移证明) went to the new county.
    Transferred,
    /// Verified and deregistered.
    Deregistered,
    /// Still on the roster.
    Kept,
}

impl CaseDecision {
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            CaseDecision::Transferred => "transferred",
            CaseDecision::Deregistered => "deregistered",
            CaseDecision::Kept => "kept",
        }
    }
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "transferred" => Some(CaseDecision::Transferred),
            "deregistered" => Some(CaseDecision::Deregistered),
            "kept" => Some(CaseDecision::Kept),
            _ => None,
        }
    }
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            CaseDecision::Transferred => "已迁出",
            CaseDecision::Deregistered => "已注销",
            CaseDecision::Kept => "保留",
        }
    }
    #[must_use]
    pub fn label_en(self) -> &'static str {
        match self {
            CaseDecision::Transferred => "transferred",
            CaseDecision::Deregistered => "deregistered",
            CaseDecision::Kept => "kept on the roster",
        }
    }
    /// The person leaves the roster: next year's campaign does not carry them.
    #[must_use]
    pub fn leaves_roster(self) -> bool {
        matches!(self, CaseDecision::Transferred | CaseDecision::Deregistered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_print() {
        assert_eq!(
            Levels::parse("street,district").unwrap().key(),
            "street,district"
        );
        assert_eq!(Levels::parse(" district ").unwrap().key(), "district");
        assert_eq!(Levels::parse("street").unwrap(), Levels::default());
        assert!(Levels::parse("").is_err());
        assert!(Levels::parse("county").is_err());
    }

    #[test]
    fn the_chain_moves_one_level_at_a_time() {
        let both = Levels::parse("street,district").unwrap();
        let s = step(
            both,
            Level::Street,
            Review::Pending,
            true,
            Decision::Approve,
        )
        .unwrap();
        assert_eq!(s, Review::StreetApproved);
        assert_eq!(
            step(both, Level::Street, s, true, Decision::Return)
                .unwrap_err()
                .code,
            ErrorCode::AboveLevel
        );
        let d = step(both, Level::District, s, true, Decision::Approve).unwrap();
        assert_eq!(d, Review::Approved);
        assert_eq!(
            step(both, Level::Street, d, true, Decision::Return)
                .unwrap_err()
                .code,
            ErrorCode::AboveLevel
        );
        assert_eq!(
            step(both, Level::District, d, true, Decision::Return).unwrap(),
            Review::Returned
        );
        // One street level: its approval is final and it may take it back.
        let one = Levels::default();
        let a = step(one, Level::Street, Review::Pending, true, Decision::Approve).unwrap();
        assert_eq!(a, Review::Approved);
        assert_eq!(
            step(one, Level::Street, a, true, Decision::Return).unwrap(),
            Review::Returned
        );
        // The street switched off.
        let district = Levels::parse("district").unwrap();
        assert_eq!(
            step(
                district,
                Level::Street,
                Review::Pending,
                true,
                Decision::Approve
            )
            .unwrap_err()
            .code,
            ErrorCode::LevelOff
        );
        assert_eq!(
            step(
                district,
                Level::District,
                Review::Pending,
                true,
                Decision::Approve
            )
            .unwrap(),
            Review::Approved
        );
        assert_eq!(
            step(
                both,
                Level::District,
                Review::Pending,
                false,
                Decision::Approve
            )
            .unwrap_err()
            .code,
            ErrorCode::NotSubmitted
        );
    }

    #[test]
    fn samples_are_reproducible_and_sized_by_rate() {
        let ids: Vec<String> = (0..200).map(|i| format!("p{i:03}")).collect();
        let a = draw_sample("430503001001", &ids, 50, 7);
        assert_eq!(a.len(), 10);
        let mut shuffled = ids.clone();
        shuffled.reverse();
        assert_eq!(draw_sample("430503001001", &shuffled, 50, 7), a);
        assert_ne!(draw_sample("430503001001", &ids, 50, 8), a);
        assert_ne!(draw_sample("430503001002", &ids, 50, 7), a);
        assert_eq!(sample_size(3, 50), 1);
        assert_eq!(sample_size(0, 50), 0);
        assert_eq!(sample_size(21, 50), 2);
        assert_eq!(sample_size(5, 1000), 5);
        // Every member is eligible and distinct.
        let mut seen = a.clone();
        seen.dedup();
        assert_eq!(seen.len(), a.len());
        assert!(a.iter().all(|x| ids.contains(x)));
    }

    #[test]
    fn a_verification_is_consistent() {
        let ok = Verification {
            checker: "李四".into(),
            method: CheckMethod::Call,
            reached: true,
            confirmed: false,
            differing: vec!["phone".into()],
            note: String::new(),
        };
        assert!(ok.check(|i| i == "phone").is_ok());
        let mut bad = ok.clone();
        bad.confirmed = true;
        assert_eq!(
            bad.check(|_| true).unwrap_err().code,
            ErrorCode::ConfirmedWithDifferences
        );
        bad = ok.clone();
        bad.differing.clear();
        assert_eq!(
            bad.check(|_| true).unwrap_err().code,
            ErrorCode::DifferencesRequired
        );
        bad = ok.clone();
        bad.reached = false;
        assert_eq!(bad.check(|_| true).unwrap_err().code, ErrorCode::NotReached);
        assert_eq!(
            ok.check(|_| false).unwrap_err().code,
            ErrorCode::UnknownItem
        );
        assert_eq!(agreement_bp(4, 3), Some(7_500));
        assert_eq!(agreement_bp(0, 0), None);
    }

    #[test]
    fn comments_and_notes_are_checked() {
        let mut notes = Notes::new();
        assert_eq!(
            check_comment(Decision::Return, Some(" "), &notes, |_| true)
                .unwrap_err()
                .code,
            ErrorCode::CommentRequired
        );
        notes.insert("phone".into(), "号码少一位".into());
        assert!(
            check_comment(Decision::Return, Some("请核对"), &notes, |i| i
                == "phone")
            .is_ok()
        );
        assert_eq!(
            check_comment(Decision::Approve, None, &notes, |_| true)
                .unwrap_err()
                .code,
            ErrorCode::NotesOnApproval
        );
        notes.insert("nope".into(), "x".into());
        assert_eq!(
            check_comment(Decision::Return, Some("x"), &notes, |i| i == "phone")
                .unwrap_err()
                .code,
            ErrorCode::UnknownItem
        );
    }
}
