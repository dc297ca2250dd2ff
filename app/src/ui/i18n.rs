//! The words of the UI in Chinese (the default) and English.
//!
//! The language is [`Lang`] and the labels of outcomes, roles, statuses and the like are
//! [`Label`](doorstep_shared::lang::Label), both from `doorstep_shared::lang`. Fixed texts are [`Tr`] constants, side by side in both languages; texts with numbers are small
//! functions. The questionnaire brings its own labels (`label_zh` / `label_en`), and every
//! [`AppError`] is already written `中文 / English`: [`error_text`] picks one half.

use chrono::{DateTime, Utc};
use doorstep_shared::domain::Review;
use doorstep_shared::lang::{Lang, Tr};

use crate::error::AppError;
use crate::model::{Filter, SyncReport};

/// A message for the worker in both languages (errors, notices), built at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub zh: String,
    pub en: String,
}

impl Text {
    #[must_use]
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            zh: zh.into(),
            en: en.into(),
        }
    }

    #[must_use]
    pub fn get(&self, lang: Lang) -> &str {
        lang.pick(&self.zh, &self.en)
    }
}

impl From<Tr> for Text {
    fn from(t: Tr) -> Self {
        Text::new(t.zh, t.en)
    }
}

impl From<&AppError> for Text {
    /// Library errors read `中文 / English`.
    fn from(e: &AppError) -> Self {
        let s = e.to_string();
        match s.split_once(" / ") {
            Some((zh, en)) => Text::new(zh, en),
            None => Text::new(s.clone(), s),
        }
    }
}

/// An error in the worker's language.
#[must_use]
pub fn error_text(lang: Lang, e: &AppError) -> String {
    Text::from(e).get(lang).to_string()
}

/// A message from the server (a refused edit's reason) in the worker's language: the server
/// writes `中文 / English`; a message not in that shape (or with several ` / `) is shown whole,
/// so nothing of it is lost. Never empty: a refusal without a message says so.
#[must_use]
pub fn server_message(lang: Lang, message: &str) -> String {
    let m = message.trim();
    if m.is_empty() {
        return lang.t(REFUSED_NO_REASON).to_string();
    }
    match m.split_once(" / ") {
        Some((zh, en)) if !en.contains(" / ") && !zh.trim().is_empty() && !en.trim().is_empty() => {
            lang.pick(zh.trim(), en.trim()).to_string()
        }
        _ => m.to_string(),
    }
}

/// Shorthand for a [`Tr`].
const fn tr(zh: &'static str, en: &'static str) -> Tr {
    Tr::new(zh, en)
}

pub const APP_TITLE: Tr = tr("入户调查", "Doorstep survey");
pub const LANG_TOGGLE: Tr = tr("English", "中文");
pub const BACK: Tr = tr("‹ 返回", "‹ Back");
pub const LOCK: Tr = tr("锁定", "Lock");

// ---- first sign-in and unlock ----
pub const SIGN_IN_TITLE: Tr = tr("首次登录", "First sign-in");
pub const SIGN_IN_INTRO: Tr = tr(
    "请连接网络，用区残联分配的账号登录。登录后名单会下载到本机，之后没有信号也能调查。",
    "Connect to the network and sign in with the account the district gave you. The roster is then kept on this phone, so you can work without signal.",
);
pub const SERVER: Tr = tr("服务器地址", "Server address");
pub const USERNAME: Tr = tr("用户名", "Username");
pub const PASSWORD: Tr = tr("密码", "Password");
pub const NEXT: Tr = tr("下一步", "Next");
pub const CHOOSE_PIN: Tr = tr("设置本机 PIN", "Choose a PIN for this phone");
pub const CHOOSE_PIN_INTRO: Tr = tr(
    "PIN 用来加密并打开本机数据，以后没有网络时用它解锁。请牢记：忘记 PIN 只能清除本机数据。",
    "The PIN encrypts and opens the data on this phone; you unlock with it when offline. Remember it: a forgotten PIN means wiping this phone's data.",
);
pub const PIN: Tr = tr("PIN（至少 6 位）", "PIN (at least 6 characters)");
pub const PIN_AGAIN: Tr = tr("再次输入 PIN", "PIN again");
pub const PASSCODE_TEXT: Tr = tr(
    "使用字母和数字的更长密码（更难被猜中）",
    "Use a longer passcode with letters and digits (harder to guess)",
);
pub const PIN_MISMATCH: Tr = tr("两次输入的 PIN 不一致", "The two PINs differ");
pub const FINISH_SIGN_IN: Tr = tr("登录并下载名单", "Sign in and download the roster");
pub const SIGNING_IN: Tr = tr(
    "正在登录并下载名单…",
    "Signing in and downloading the roster…",
);
pub const FILL_ALL: Tr = tr(
    "请填写服务器地址、用户名和密码",
    "Fill in the server, username and password",
);
pub const UNLOCK_TITLE: Tr = tr("输入 PIN 解锁", "Unlock with your PIN");
pub const UNLOCK_INTRO: Tr = tr(
    "本机数据已加密。输入 PIN 打开，不需要网络。",
    "The data on this phone is encrypted. Enter your PIN to open it; no network needed.",
);
pub const UNLOCK: Tr = tr("解锁", "Unlock");
pub const UNLOCKING: Tr = tr("正在解锁…", "Unlocking…");
pub const FORGOT_PIN: Tr = tr("忘记 PIN？", "Forgot the PIN?");
pub const FORGET_WARNING: Tr = tr(
    "忘记 PIN 只能清除本机全部数据（包括还没上传的记录），然后重新登录下载名单。确定吗？",
    "Without the PIN the only way on is to wipe everything on this phone (unsent records too) and sign in again. Are you sure?",
);
pub const FORGET_CONFIRM: Tr = tr(
    "清除本机数据并重新登录",
    "Wipe this phone's data and sign in again",
);
pub const CANCEL: Tr = tr("取消", "Cancel");
pub const SIGN_IN_AGAIN_TITLE: Tr = tr("需要重新登录", "Please sign in again");
pub const SIGN_IN_AGAIN_INTRO: Tr = tr(
    "登录已失效，暂时无法同步。记录仍保存在本机，可以继续调查。",
    "Your session has ended, so syncing is paused. Your records stay on this phone and you can keep working.",
);
pub const SIGN_IN: Tr = tr("登录", "Sign in");

// ---- home ----
pub const MY_COMMUNITIES: Tr = tr("我的社区", "My communities");
pub const UNSENT: Tr = tr("未上传", "Unsent");
pub const UNSENT_UNIT: Tr = tr("条记录未上传", "records not sent yet");
pub const ALL_SENT: Tr = tr("全部已上传", "Everything is sent");
pub const LAST_SYNC: Tr = tr("上次同步", "Last sync");
pub const NEVER_SYNCED: Tr = tr("从未同步", "Never synced");
pub const SYNC_NOW: Tr = tr("同步", "Sync now");
pub const SYNCING: Tr = tr("正在同步…", "Syncing…");
pub const SYNC_OFFLINE_NOTE: Tr = tr(
    "没有信号也可以继续调查，记录保存在本机；有网络时会自动上传。",
    "You can keep working without signal: records stay on this phone and are sent automatically when the network is back.",
);
pub const RETURNED_TITLE: Tr = tr("被退回的记录", "Records returned to you");
pub const SERVER_NOTES: Tr = tr("服务器处理情况", "What the server did");
pub const SEARCH_ALL: Tr = tr("查找人员（全部社区）", "Find a person (all communities)");
pub const HOME_VISIT_RATE: Tr = tr("入户率", "Home-visit rate");
pub const COMPLETION: Tr = tr("完成", "Done");
pub const NO_COMMUNITIES: Tr = tr(
    "本机还没有名单。请在有网络时点“同步”。",
    "No roster on this phone yet. Press “Sync now” when you have network.",
);
pub const NO_FORM: Tr = tr(
    "还没有下载调查表，请在有网络时同步。",
    "The questionnaire is not downloaded yet: sync when you have network.",
);
pub const SERVER_CONFIRMED: Tr = tr("服务器已确认", "Confirmed by the server");
pub const DATA_AS_OF: Tr = tr("数据时间", "As of");

// ---- supervisor ----
pub const SUPERVISOR_TITLE: Tr = tr("各社区进度", "Progress by community");
pub const SUPERVISOR_INTRO: Tr = tr(
    "来自服务器的进度，离线时显示上次下载的数据。",
    "Progress from the server; offline, the last download is shown.",
);
pub const NO_PROGRESS: Tr = tr(
    "还没有进度数据，请在有网络时同步。",
    "No progress figures yet: sync when you have network.",
);
pub const TOTAL: Tr = tr("合计", "Total");
pub const COMMUNITY: Tr = tr("社区", "Community");

// ---- person list ----
pub const ALL_PERSONS: Tr = tr("全部人员", "Everyone");
pub const SEARCH: Tr = tr("姓名、身份证号或残疾证号", "Name, ID or certificate number");
pub const NO_MATCH: Tr = tr("没有符合条件的人员", "Nobody matches");
pub const DONE_BADGE: Tr = tr("已完成", "Done");
pub const DRAFT_BADGE: Tr = tr("草稿", "Draft");
pub const RETURNED_BADGE: Tr = tr("被退回", "Returned");
pub const CONFLICT_BADGE: Tr = tr("有冲突", "Conflict");
pub const UNSENT_BADGE: Tr = tr("未上传", "Unsent");
pub const REJECTED_BADGE: Tr = tr("被拒绝", "Refused");
pub const NOT_YET_BADGE: Tr = tr("未调查", "Not yet");
pub const UNSAVED_BADGE: Tr = tr("有未保存的输入", "Unsaved answers");
pub const RESTORED_INPUT: Tr = tr(
    "已恢复上次未保存的输入（保存在本机）。请继续填写，然后保存草稿或提交。",
    "Your unsaved answers from last time are back (kept on this phone). Go on, then save a draft or submit.",
);
pub const APPROVED_LOCKED: Tr = tr(
    "此记录已审核通过，不能再修改。如需更正，请联系督导员退回。",
    "This record is approved and can no longer be changed. To correct it, ask your supervisor to return it.",
);
pub const STREET_APPROVED_LOCKED: Tr = tr(
    "此记录街道已复查通过，正在等待区级审核，不能再修改。如需更正，请联系督导员退回。",
    "This record is approved by the street and awaits the district review: it can no longer be changed. To correct it, ask your supervisor to return it.",
);

// ---- one person ----
pub const ROSTER_FACTS: Tr = tr("底册信息", "Roster facts");
pub const ID_NUMBER: Tr = tr("身份证号", "ID number");
pub const CERTIFICATE: Tr = tr("残疾证号", "Certificate");
pub const DISABILITY: Tr = tr("残疾类别/等级", "Category / level");
pub const ADDRESS: Tr = tr("地址", "Address");
pub const PHONE: Tr = tr("电话", "Phone");
pub const SUBSIDIES: Tr = tr("补贴", "Subsidies");
pub const NURSING_SUBSIDY: Tr = tr("护理补贴", "Nursing subsidy");
pub const LIVING_SUBSIDY: Tr = tr("生活补贴", "Living subsidy");
pub const NONE: Tr = tr("无", "None");
pub const OUTCOME_FIRST: Tr = tr("① 调查结果", "① Outcome");
pub const OUTCOME_HINT: Tr = tr(
    "先选择本次调查的结果。入户或电话调查才需要填写问卷。",
    "Choose the outcome first. Only a home visit or a phone survey needs the questionnaire.",
);
pub const QUESTIONNAIRE: Tr = tr("② 调查问卷", "② Questionnaire");
pub const REQUIRED: Tr = tr("必填", "required");
pub const YES: Tr = tr("是", "Yes");
pub const NO: Tr = tr("否", "No");
pub const CHOOSE: Tr = tr("请选择", "Choose");
pub const SAVE_DRAFT: Tr = tr("保存草稿", "Save draft");
pub const FINALIZE: Tr = tr("提交", "Submit");
pub const SAVING: Tr = tr("正在保存…", "Saving…");
pub const REOPEN: Tr = tr("撤回提交，改为草稿", "Withdraw: back to draft");
pub const REVIEW_PENDING: Tr = tr("待审核", "Awaiting review");
pub const REVIEW_STREET_APPROVED: Tr = tr(
    "街道已复查，待区级审核",
    "street-approved, awaiting district review",
);
pub const REVIEW_APPROVED: Tr = tr("已通过", "Approved");
pub const REVIEW_RETURNED: Tr = tr("被退回", "Returned");
pub const SUPERVISOR_COMMENT: Tr = tr("审核意见", "Reviewer's comment");
/// Before a reviewer's note on one item (see [`review_note_line`]).
pub const REVIEW_NOTE: Tr = tr("审核意见：", "Reviewer's note: ");
/// Beside a soft check's warning, when no reason is given yet (see [`check_hint`]).
pub const CHECK_GIVE_REASON: Tr = tr(
    "如情况属实，请在「核实说明」中说明原因。",
    "If it is right, give the reason in “Reason for the warnings”.",
);
/// Beside a soft check's warning, once a reason is given.
pub const CHECK_REASON_GIVEN: Tr = tr("已填写核实说明。", "A reason is given.");
pub const FIX_BELOW: Tr = tr("以下内容需要修改：", "Please fix the following:");
pub const SAVED_DRAFT: Tr = tr(
    "草稿已保存在本机，有网络时自动上传。",
    "Draft saved on this phone; it is sent when the network allows.",
);
pub const UNCHANGED: Tr = tr("没有需要保存的修改。", "Nothing to save.");
pub const REJECTED_INTRO: Tr = tr(
    "服务器没有接受此记录的修改：",
    "The server refused an edit of this record:",
);
pub const REFUSED_NO_REASON: Tr = tr("服务器未说明原因", "the server gave no reason");
pub const RETRY: Tr = tr("重新发送", "Send again");
pub const DISCARD: Tr = tr("放弃这次修改", "Discard the edit");
pub const CONFLICT_NOTE: Tr = tr(
    "与他人的修改冲突，等待街道专干处理",
    "conflicts with another edit; a supervisor will decide",
);
pub const POSITION: Tr = tr("位置", "Position");
pub const NO_POSITION: Tr = tr(
    "此设备（浏览器）无法获取位置，只记录入户时间。",
    "This device (a browser) cannot give a position: only the time of the visit is recorded.",
);
pub const GET_POSITION: Tr = tr("获取当前位置", "Take the current position");
pub const AUTO_RECORDED: Tr = tr("已自动记录", "recorded automatically");
pub const NOT_RECORDED: Tr = tr("未记录", "not recorded");

// ---- last year (a record carried from the previous campaign) ----
pub const LAST_YEAR: Tr = tr("去年：", "Last year: ");
pub const SAME_AS_LAST_YEAR: Tr = tr("与去年相同", "Same as last year");
pub const SAME_AS_LAST_YEAR_HINT: Tr = tr(
    "本部分情况没有变化时，点一下即按去年填写；有变化的项再单独修改。",
    "If nothing in this part changed, one tap fills it in as last year; then change what did.",
);
pub const CONFIRMED_SECTION: Tr = tr(
    "已按去年填写本部分，已保存在本机。",
    "Filled in as last year; saved on this phone.",
);

/// The campaign the device works on: `2022年度 · 大祥区` / `2022 update · 大祥区`.
#[must_use]
pub fn campaign_label(lang: Lang, year: i32, district_name: &str) -> String {
    let name = district_name.trim();
    match (lang, name.is_empty()) {
        (Lang::Zh, false) => format!("{year}年度 · {name}"),
        (Lang::Zh, true) => format!("{year}年度"),
        (Lang::En, false) => format!("{year} update · {name}"),
        (Lang::En, true) => format!("{year} update"),
    }
}

/// A filter's name.
#[must_use]
pub fn filter_label(lang: Lang, f: Filter) -> &'static str {
    match lang {
        Lang::Zh => f.label_zh(),
        Lang::En => match f {
            Filter::NotYet => "Not yet",
            Filter::Done => "Done",
            Filter::Returned => "Returned",
            Filter::Conflicts => "Conflicts",
            Filter::Unsent => "Unsent",
            Filter::All => "All",
        },
    }
}

/// The key of a filter, for test hooks and HTML.
#[must_use]
pub fn filter_key(f: Filter) -> &'static str {
    match f {
        Filter::NotYet => "not_yet",
        Filter::Done => "done",
        Filter::Returned => "returned",
        Filter::Conflicts => "conflicts",
        Filter::Unsent => "unsent",
        Filter::All => "all",
    }
}

/// Where the worker's record stands in review (the badge on the person screen): longer than the
/// stage's [`Label`](doorstep_shared::lang::Label), it says what comes next.
#[must_use]
pub fn review_status(lang: Lang, r: Review) -> &'static str {
    lang.t(match r {
        Review::Pending => REVIEW_PENDING,
        Review::StreetApproved => REVIEW_STREET_APPROVED,
        Review::Approved => REVIEW_APPROVED,
        Review::Returned => REVIEW_RETURNED,
    })
}

/// A moment in the campaign's zone (China time, as the console shows it), `MM-DD HH:MM` (with
/// the year when not this year).
#[must_use]
pub fn time_label(t: DateTime<Utc>) -> String {
    let local = doorstep_shared::domain::campaign_time(t);
    if local.format("%Y").to_string()
        == doorstep_shared::domain::campaign_time(Utc::now())
            .format("%Y")
            .to_string()
    {
        local.format("%m-%d %H:%M").to_string()
    } else {
        local.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// Why the worker cannot change a record at this review stage (see
/// `doorstep_shared::review::locks_worker`).
#[must_use]
pub fn locked_text(lang: Lang, r: Review) -> &'static str {
    lang.t(match r {
        Review::StreetApproved => STREET_APPROVED_LOCKED,
        Review::Pending | Review::Approved | Review::Returned => APPROVED_LOCKED,
    })
}

/// "3 items have notes": how many items of a returned record the reviewer wrote a note on.
#[must_use]
pub fn review_notes_line(lang: Lang, n: usize) -> String {
    match (lang, n) {
        (Lang::Zh, _) => format!("{n} 项有审核意见"),
        (Lang::En, 1) => "1 item has a note".to_string(),
        (Lang::En, _) => format!("{n} items have notes"),
    }
}

/// A reviewer's note on one item: "审核意见：…" / "Reviewer's note: …".
#[must_use]
pub fn review_note_line(lang: Lang, note: &str) -> String {
    format!("{}{note}", lang.t(REVIEW_NOTE))
}

/// "2 warnings to check": how many soft checks warn on the answers (above the submit button).
#[must_use]
pub fn check_summary_line(lang: Lang, n: usize) -> String {
    match (lang, n) {
        (Lang::Zh, _) => format!("{n} 项提示待核实"),
        (Lang::En, 1) => "1 warning to check".to_string(),
        (Lang::En, _) => format!("{n} warnings to check"),
    }
}

/// The notice after submitting a record whose warnings have no reason: submitted all the same,
/// and where to give the reason.
#[must_use]
pub fn submitted_unexplained(name: &str, n: usize) -> Text {
    Text::new(
        format!(
            "已提交：{name}。有 {n} 项提示未填写核实说明：请打开此记录，在「核实说明」中填写原因后再次提交。记录已保存在本机，有网络时自动上传。"
        ),
        format!(
            "Submitted: {name}, with {n} {} and no reason: open the record, give the reason in “Reason for the warnings” and submit again. Saved on this phone; sent when the network allows.",
            if n == 1 { "warning" } else { "warnings" }
        ),
    )
}

/// "3 records not sent yet".
#[must_use]
pub fn unsent_line(lang: Lang, n: usize) -> String {
    if n == 0 {
        lang.t(ALL_SENT).to_string()
    } else {
        format!("{n} {}", lang.t(UNSENT_UNIT))
    }
}

/// What a successful sync did, in a sentence.
#[must_use]
pub fn sync_report_line(lang: Lang, r: &SyncReport) -> String {
    let mut parts = Vec::new();
    match lang {
        Lang::Zh => {
            parts.push(format!(
                "同步完成：上传 {} 条，下载 {} 条",
                r.applied, r.pulled
            ));
            if r.merged_items > 0 {
                parts.push(format!("服务器合并了 {} 项", r.merged_items));
            }
            if r.conflict_items > 0 {
                parts.push(format!("{} 项与他人冲突，等待街道处理", r.conflict_items));
            }
            if r.rejected > 0 {
                parts.push(format!("{} 条被服务器拒绝", r.rejected));
            }
            if !r.returned_records.is_empty() {
                parts.push(format!("{} 条记录被退回", r.returned_records.len()));
            }
            if r.form_updated {
                parts.push("调查表已更新".into());
            }
            parts.join("；")
        }
        Lang::En => {
            parts.push(format!("Synced: {} sent, {} received", r.applied, r.pulled));
            if r.merged_items > 0 {
                parts.push(format!("the server merged {} items", r.merged_items));
            }
            if r.conflict_items > 0 {
                parts.push(format!(
                    "{} items conflict with another edit (a supervisor will decide)",
                    r.conflict_items
                ));
            }
            if r.rejected > 0 {
                parts.push(format!("{} refused by the server", r.rejected));
            }
            if !r.returned_records.is_empty() {
                parts.push(format!("{} records returned", r.returned_records.len()));
            }
            if r.form_updated {
                parts.push("questionnaire updated".into());
            }
            parts.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_split_into_languages() {
        let t = Text::from(&AppError::WrongPin);
        assert_eq!(t.zh, "PIN 不正确");
        assert_eq!(t.en, "Wrong PIN");
        assert_eq!(
            error_text(Lang::En, &AppError::NotSignedIn),
            "Not signed in: please sign in"
        );
    }

    #[test]
    fn every_review_stage_has_a_label_and_notes_are_counted() {
        assert_eq!(
            review_status(Lang::Zh, Review::StreetApproved),
            "街道已复查，待区级审核"
        );
        assert_eq!(
            review_status(Lang::En, Review::StreetApproved),
            "street-approved, awaiting district review"
        );
        let labels: std::collections::BTreeSet<_> = [
            Review::Pending,
            Review::StreetApproved,
            Review::Approved,
            Review::Returned,
        ]
        .into_iter()
        .map(|r| review_status(Lang::Zh, r))
        .collect();
        assert_eq!(labels.len(), 4);
        assert_eq!(review_notes_line(Lang::Zh, 3), "3 项有审核意见");
        assert_eq!(review_notes_line(Lang::En, 3), "3 items have notes");
        assert_eq!(review_notes_line(Lang::En, 1), "1 item has a note");
        assert_eq!(review_note_line(Lang::Zh, "请核实"), "审核意见：请核实");
        assert_eq!(
            review_note_line(Lang::En, "check it"),
            "Reviewer's note: check it"
        );
    }

    #[test]
    fn warnings_are_counted_and_the_notice_says_where_to_give_the_reason() {
        assert_eq!(check_summary_line(Lang::Zh, 2), "2 项提示待核实");
        assert_eq!(check_summary_line(Lang::En, 1), "1 warning to check");
        assert_eq!(check_summary_line(Lang::En, 3), "3 warnings to check");
        let t = submitted_unexplained("张三", 2);
        assert!(t.zh.starts_with("已提交：张三。有 2 项提示"), "{}", t.zh);
        assert!(t.zh.contains("核实说明"));
        assert!(t.en.contains("2 warnings and no reason"), "{}", t.en);
    }

    #[test]
    fn filter_keys_are_distinct() {
        let keys: std::collections::BTreeSet<_> =
            Filter::ALL.iter().map(|f| filter_key(*f)).collect();
        assert_eq!(keys.len(), Filter::ALL.len());
    }
}
