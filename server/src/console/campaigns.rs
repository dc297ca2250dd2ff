//! `GET /console/campaigns`: the district's years — open the first campaign on an empty server,
//! open next year from this one, close a year, read a closed year's figures and report next to
//! the open one, and decide on flagged persons. `GET /console/record/{person}`: one record with
//! its per-item diff against last year, its visit, warnings and review stage, and the review
//! panel. Both call the same services as the API and the CLI.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use maud::{Markup, html};

use doorstep_shared::carry::{self, ItemChange};
use doorstep_shared::checks::{self, Warning};
use doorstep_shared::domain::status_of;
use doorstep_shared::form::{FormContext, FormDefinition};
use doorstep_shared::lang::{Label, Lang};
use doorstep_shared::review::{Level, Levels, Notes};
use doorstep_shared::sync::Role;
use doorstep_shared::{Answers, CampaignState, Review, Status, Value};

use super::layout::{self, Nav, Options};
use super::review;
use super::session::Session;
use super::{PageError, PageResult};
use crate::db::{CampaignRow, RecordRow};
use crate::service::{campaigns, progress, roster};
use crate::state::AppState;

fn pct(bp: Option<u64>) -> String {
    bp.map_or("—".into(), |b| format!("{}.{:02}%", b / 100, b % 100))
}

fn open_form(l: Lang, district: &str, district_name: &str, year: i32, years: &[i32]) -> Markup {
    html! {
        form id="open-campaign" {
            div.grid {
                label { (l.pick("区县代码", "District code"))
                    input name="district" required pattern="[0-9]{6}" value=(district) placeholder="430503"; }
                label { (l.pick("区县名称", "District name"))
                    input name="district_name" required maxlength="40" value=(district_name) placeholder="大祥区"; }
                label { (l.pick("年度", "Year"))
                    input name="year" type="number" required min="2000" max="2100" value=(year); }
                label { (l.pick("标题（可不填）", "Title (optional)"))
                    input name="title" maxlength="120"; }
                label { (l.pick("开始日期（默认 3 月 1 日）", "Starts (default March 1)"))
                    input name="starts" type="date"; }
                label { (l.pick("结束日期（默认 11 月 30 日）", "Ends (default November 30)"))
                    input name="ends" type="date"; }
                label { (l.pick("入户率目标 %", "Home-visit target %"))
                    input name="home_visit_target" type="number" min="1" max="100" step="0.01" value="95"; }
                label { (l.pick("审核层级", "Review levels"))
                    select name="review_levels" {
                        option value="street" { (l.pick("街道复查", "street review")) }
                        option value="street,district" { (l.pick("街道复查 → 区级审核", "street, then district review")) }
                        option value="district" { (l.pick("仅区级审核", "district review only")) }
                    }
                }
                label { (l.pick("结转自", "Carry over from"))
                    select name="from" {
                        option value="" { (l.pick("不结转（导入新底册）", "nothing (import a roster)")) }
                        @for y in years {
                            option value=(y) selected[*y == year - 1] { (y) (l.pick(" 年度", "")) }
                        }
                    }
                }
            }
            button.primary type="submit" { (l.pick("开启调查", "Open the campaign")) }
            span.msg id="open-msg" role="status" {}
        }
    }
}

/// The years with their state, figures, exports and report (and, for the admin, "close").
fn campaigns_table(
    l: Lang,
    admin: bool,
    list: &[campaigns::Summary],
    reports: &[String],
) -> Markup {
    html! {
        section.panel {
            table.data id="campaigns" {
                thead { tr {
                    th { (l.pick("年度", "Year")) }
                    th { (l.pick("标题", "Title")) }
                    th { (l.pick("状态", "State")) }
                    th.num { (l.pick("底册", "Roster")) }
                    th.num { (l.pick("已完成", "Done")) }
                    th.num { (l.pick("完成率", "Completion")) }
                    th.num { (l.pick("入户率", "Home visits")) }
                    th { (l.pick("导出", "Exports")) }
                    @if admin { th {} }
                } }
                tbody {
                    @for (c, report) in list.iter().zip(reports) {
                        tr data-year=(c.campaign.campaign.year) data-state=(c.campaign.state.key()) {
                            th scope="row" { (c.campaign.campaign.year) }
                            td { (c.campaign.campaign.name) }
                            td.state { (c.campaign.state.label(l)) }
                            td.num { (c.figures.roster) }
                            td.num { (c.figures.done) }
                            td.num { (pct(c.figures.completion_bp)) }
                            td.num { (pct(c.figures.home_visit_bp)) }
                            td {
                                a href={ "/api/v1/export/progress.xlsx?year=" (c.campaign.campaign.year) } { (l.pick("进度", "Progress")) }
                                " · "
                                a href={ "/api/v1/export/records.xlsx?year=" (c.campaign.campaign.year) } { (l.pick("记录", "Records")) }
                            }
                            @if admin {
                                td {
                                    @if c.campaign.state != CampaignState::Closed {
                                        button.close type="button" data-year=(c.campaign.campaign.year) { (l.pick("关闭", "Close")) }
                                    }
                                }
                            }
                        }
                        tr.report { td colspan="9" { p.report data-year=(c.campaign.campaign.year) { (report) } } }
                    }
                }
            }
            p.muted {
                (l.pick(
                    "开启新年度时，上一年度结束但仍接收手机补交的修改（标记为补交）；“关闭”后不再接收。",
                    "When a new year opens the previous one ends but still takes late edits from phones (marked late); once closed it takes none.",
                ))
            }
        }
    }
}

/// The persons awaiting a decision (moved last year, missing from the roster file).
fn decisions_panel(l: Lang, flagged: &[RecordRow]) -> Markup {
    html! {
        section.panel id="decisions" {
            h2 { (l.pick("待处理人员", "Persons awaiting a decision")) }
            @if flagged.is_empty() {
                p.muted { (l.pick("没有待处理的人员。", "Nobody awaits a decision.")) }
            } @else {
                table.data id="decisions-table" {
                    thead { tr {
                        th { (l.pick("姓名", "Name")) } th { (l.pick("社区", "Community")) }
                        th { (l.pick("原因", "Why")) } th { (l.pick("处理", "Decision")) }
                    } }
                    tbody {
                        @for r in flagged {
                            tr data-person=(r.id) {
                                th scope="row" { a href={ "/console/record/" (r.id) } { (r.person.name) } }
                                td { (r.community) }
                                td { (match r.flag.as_deref() {
                                    Some("moved_last_year") => l.pick("上年度已搬迁", "moved last year"),
                                    Some("missing_from_roster") => l.pick("本年度底册中没有", "not in this year's roster"),
                                    _ => "—",
                                }) }
                                td {
                                    button type="button" data-decision="keep" { (l.pick("保留", "Keep")) }
                                    input.reason type="text" maxlength="200" placeholder=(l.pick("移出原因", "Why remove"));
                                    button type="button" data-decision="remove" { (l.pick("移出底册", "Remove")) }
                                    span.msg {}
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/campaigns`.
pub async fn page(State(state): State<AppState>, s: Session) -> PageResult {
    s.require(&[Role::Supervisor, Role::Admin])?;
    let l = s.lang;
    let admin = s.role() == Role::Admin;
    let list = campaigns::list(&state.db).await?;
    let open = list
        .iter()
        .find(|c| c.campaign.state == CampaignState::Open);
    let mut reports = Vec::new();
    for c in &list {
        let scope = s.caller.scope(&state, &c.campaign.campaign).await?;
        reports.push(progress::report(&state.db, &c.campaign.campaign, &scope).await?);
    }
    let flagged = if admin && open.is_some() {
        roster::flagged(&state.db).await?
    } else {
        Vec::new()
    };
    let years: Vec<i32> = list.iter().map(|c| c.campaign.campaign.year).collect();
    let (district, district_name, next_year) = list.first().map_or_else(
        || {
            (
                String::new(),
                String::new(),
                chrono::Datelike::year(&chrono::Utc::now().date_naive()),
            )
        },
        |c| {
            (
                c.campaign.campaign.district.to_string(),
                c.campaign.campaign.district_name.clone(),
                c.campaign.campaign.year + 1,
            )
        },
    );
    let body = html! {
        div.title-row {
            h1 { (l.pick("调查年度", "Campaigns")) }
        }
        @if list.is_empty() {
            section.panel id="first-campaign" {
                h2 { (l.pick("开启第一次调查", "Open the first campaign")) }
                @if admin {
                    ol.steps {
                        li { (l.pick("填写本区代码、名称和年度，开启调查；", "Give the district's code, name and the year, and open the campaign;")) }
                        li { (l.pick("在“管理”中导入调查底册（Excel），创建社区专干账号并分配社区；", "In Admin, import the roster (Excel), create the workers' accounts and assign communities;")) }
                        li { (l.pick("专干在手机上登录即可开始入户调查。", "Workers sign in on their phones and start visiting.")) }
                    }
                    (open_form(l, &district, &district_name, next_year, &years))
                } @else {
                    p { (l.pick("区残联管理员尚未开启调查。", "The district admin has not opened a campaign yet.")) }
                }
            }
        } @else {
            (campaigns_table(l, admin, &list, &reports))
            @if admin {
                section.panel id="open-next" {
                    h2 { (l.pick("开启新年度", "Open the next year")) }
                    (open_form(l, &district, &district_name, next_year, &years))
                }
                (decisions_panel(l, &flagged))
            }
        }
    };
    Ok(layout::page(
        &s,
        Nav::Campaigns,
        l.pick("调查年度", "Campaigns"),
        "campaigns",
        Options::default(),
        body,
    ))
}

fn show(l: Lang, form_item: Option<&doorstep_shared::form::Item>, v: Option<&Value>) -> String {
    let Some(v) = v else { return "—".into() };
    let label = |k: &str| {
        form_item.and_then(|i| i.option(k)).map_or_else(
            || k.to_string(),
            |c| l.pick(&c.label_zh, &c.label_en).to_string(),
        )
    };
    match v {
        Value::Text(k) => label(k),
        Value::Set(s) => s.iter().map(|k| label(k)).collect::<Vec<_>>().join("、"),
        Value::Bool(b) => l
            .pick(if *b { "是" } else { "否" }, if *b { "yes" } else { "no" })
            .into(),
        other => other.display(),
    }
}

/// One line of the record's summary.
fn fact(label: &str, id: &str, value: Markup) -> Markup {
    html! {
        div.fact {
            dt { (label) }
            dd id=(id) { (value) }
        }
    }
}

/// `GET /console/record/{person}`: one record of the caller's scope with last year's value, this
/// year's and how each item stands (the per-item diff of the dynamic update); the visit, the
/// review stage with the last comment and item notes, the soft-check warnings; and, where the
/// caller's review level may act on the submitted record, the review panel (approve, or return
/// with a comment and per-item notes in the items table).
pub async fn record(
    State(state): State<AppState>,
    s: Session,
    Path(person): Path<String>,
) -> PageResult {
    s.require(&[Role::Supervisor, Role::Admin])?;
    let row = s.caller.visible(&state, &person).await?;
    let all = state.db.campaigns().await?;
    let crow = all
        .iter()
        .find(|c| c.campaign.id.to_string() == row.campaign_id)
        .cloned()
        .ok_or_else(|| PageError::from(crate::db::DbError::NotFound("campaign".into())))?;
    let form = state.form(&crow.campaign.form_version).await?;
    state
        .db
        .audit_entry(
            &s.caller
                .entry("view_record", &format!("{person} (console)")),
        )
        .await?;
    let v = RecordView::new(&s, &row, &crow, &form);
    let body = html! {
        (record_title(&v))
        (record_facts(&v))
        (record_warnings(&v))
        (record_items(&v))
        (record_review(&v))
    };
    Ok(layout::page(
        &s,
        Nav::Overview,
        &row.person.name,
        "record",
        Options::default(),
        body,
    ))
}

/// What the record page shows, worked out once for its sections.
struct RecordView<'a> {
    l: Lang,
    row: &'a RecordRow,
    form: &'a FormDefinition,
    year: i32,
    prior: Answers,
    diff: BTreeMap<String, ItemChange>,
    changed: usize,
    warnings: Vec<Warning>,
    warned: BTreeSet<String>,
    submitted: bool,
    levels: Levels,
    open: bool,
    level: Option<Level>,
    may_approve: bool,
    may_return: bool,
    can_act: bool,
    notes: &'a Notes,
    note_column: bool,
}

impl<'a> RecordView<'a> {
    fn new(s: &Session, row: &'a RecordRow, crow: &CampaignRow, form: &'a FormDefinition) -> Self {
        let campaign = &crow.campaign;
        let ctx = FormContext::for_person(&row.person, campaign);
        let prior = row.prior.clone().unwrap_or_default();
        let diff = carry::diff(form, &prior, &row.doc.answers, &ctx);
        let changed = diff.values().filter(|c| **c == ItemChange::Changed).count();
        let warnings = checks::warnings(form, &row.doc.answers, &ctx);
        let submitted = status_of(&row.doc.answers) == Status::Final;
        let levels = crow.review_levels;
        let open = crow.state == CampaignState::Open;
        let level = review::caller_level(s.role(), levels);
        let (may_approve, may_return) = if open {
            review::actions(levels, level, row.review, submitted)
        } else {
            (false, false)
        };
        let can_act = may_approve || may_return;
        let notes = &row.review_notes;
        let warned = warnings
            .iter()
            .flat_map(|w| w.items.iter().cloned())
            .collect();
        Self {
            l: s.lang,
            row,
            form,
            year: campaign.year,
            prior,
            diff,
            changed,
            warnings,
            warned,
            submitted,
            levels,
            open,
            level,
            may_approve,
            may_return,
            can_act,
            notes,
            note_column: can_act || !notes.is_empty(),
        }
    }

    /// An item's answer as shown.
    fn answer(&self, key: &str) -> String {
        show(self.l, self.form.item(key), self.row.doc.answers.get(key))
    }

    /// An item's label, or its key when the form has no such item.
    fn label(&self, key: &str) -> String {
        self.form.item(key).map_or_else(
            || key.to_string(),
            |i| self.l.pick(&i.label_zh, &i.label_en).to_string(),
        )
    }
}

/// The name, the masked ID, the community and the year.
fn record_title(v: &RecordView<'_>) -> Markup {
    let l = v.l;
    html! {
        div.title-row {
            h1 { (v.row.person.name) }
            p.muted {
                (v.row.person.resident_id.masked()) " · " (v.row.community) " · " (v.year) (l.pick(" 年度", ""))
                @if v.can_act { " · " a href="#review-panel" { (l.pick("去审核 ↓", "Review ↓")) } }
            }
        }
    }
}

/// The record's summary: outcome, status, stage, visit, who and when, the last review.
fn record_facts(v: &RecordView<'_>) -> Markup {
    let l = v.l;
    html! {
        section.panel id="record-facts" {
            dl.facts id="record-summary" {
                (fact(l.pick("调查结果", "Outcome"), "record-outcome", html! { (v.answer("outcome")) }))
                (fact(l.pick("记录状态", "Status"), "record-status", html! {
                    (if v.submitted { l.pick("已提交", "Submitted") } else { l.pick("草稿", "Draft") })
                }))
                (fact(l.pick("审核阶段", "Review stage"), "record-stage", html! {
                    span.stage data-review=(v.row.review.key()) class=(v.row.review.key()) {
                        (if v.submitted || v.row.review != Review::Pending { v.row.review.label(l) } else { "—" })
                    }
                }))
                (fact(l.pick("入户时间", "Visit time"), "visit-at", html! { (v.answer("visit_at")) }))
                (fact(l.pick("入户位置", "Visit location"), "visit-geo", html! { (v.answer("visit_geo")) }))
                (fact(l.pick("情况说明", "Outcome note"), "outcome-note", html! { (v.answer("outcome_note")) }))
                (fact(l.pick("采集员", "Collected by"), "collected-by", html! { (v.row.collected_by.as_deref().unwrap_or("—")) }))
                (fact(l.pick("最后修改", "Last change"), "updated", html! {
                    (layout::time(Some(v.row.updated_at)))
                    @if let Some(by) = &v.row.updated_by { " · " (by) }
                }))
                (fact(l.pick("审核层级", "Review levels"), "record-levels", html! { (review::levels_label(l, v.levels)) }))
            }
            @if v.row.review_comment.is_some() || !v.notes.is_empty() {
                div.review-last id="review-last" {
                    @if let Some(c) = &v.row.review_comment {
                        p { strong { (l.pick("审核意见：", "Reviewer's comment: ")) } span id="review-comment" { (c) } }
                    }
                    @if !v.notes.is_empty() {
                        ul id="review-notes" {
                            @for (item, note) in v.notes {
                                li data-note-item=(item) { strong { (v.label(item)) } "：" (note) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The soft-check warnings.
fn record_warnings(v: &RecordView<'_>) -> Markup {
    let l = v.l;
    html! {
        section.panel id="record-warnings" {
            h2 { (l.pick("软校验提示", "Soft-check warnings")) " " small.muted { (v.warnings.len()) } }
            @if v.warnings.is_empty() {
                p.muted id="no-warnings" { (l.pick("没有需要核实的提示。", "Nothing to check.")) }
            } @else {
                ul.warnings {
                    @for w in &v.warnings {
                        li.warning data-check=(w.check) {
                            (l.pick(&w.message_zh, &w.message_en))
                            " " small.muted { "（" (w.items.iter().map(|i| v.label(i)).collect::<Vec<_>>().join("、")) "）" }
                        }
                    }
                }
            }
        }
    }
}

/// Every item with last year's value, this year's and how it stands, and the review notes.
fn record_items(v: &RecordView<'_>) -> Markup {
    let l = v.l;
    html! {
        section.panel {
            @if v.row.prior.is_some() {
                p id="diff-summary" { (l.pick("与去年相比已变更 ", "Changed since last year: ")) strong { (v.changed) } (l.pick(" 项", " items")) }
            } @else {
                p.muted { (l.pick("本记录没有上年度数据。", "This record has no previous year.")) }
            }
            table.data id="record-items" {
                thead { tr {
                    th { (l.pick("调查项目", "Item")) }
                    th { (l.pick("去年", "Last year")) }
                    th { (l.pick("今年", "This year")) }
                    th { (l.pick("变化", "Change")) }
                    @if v.note_column { th.note-col { (l.pick("审核意见", "Note")) } }
                } }
                tbody {
                    @for item in v.form.items() {
                        @let now = v.row.doc.answers.get(&item.key);
                        @let before = v.prior.get(&item.key);
                        @let note = v.notes.get(&item.key);
                        @if now.is_some() || before.is_some() || note.is_some() {
                            tr data-item=(item.key) data-change=(v.diff.get(&item.key).map_or("", |c| match c {
                                ItemChange::Unchanged => "unchanged", ItemChange::Changed => "changed",
                                ItemChange::New => "new", ItemChange::Open => "open" }))
                                class=(if v.warned.contains(item.key.as_str()) { "warned" } else { "" }) {
                                th scope="row" { (l.pick(&item.label_zh, &item.label_en)) }
                                td { (show(l, Some(item), before)) }
                                td { (show(l, Some(item), now)) }
                                td { (v.diff.get(&item.key).map_or("", |c| c.label(l))) }
                                @if v.note_column {
                                    td.note-col {
                                        @if let Some(n) = note { div.note-old { (n) } }
                                        @if v.can_act {
                                            input.note type="text" maxlength="200" data-note-item=(item.key)
                                                aria-label={ (l.pick("审核意见：", "Note: ")) (l.pick(&item.label_zh, &item.label_en)) };
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The review panel where the caller may act; else why not.
fn record_review(v: &RecordView<'_>) -> Markup {
    let l = v.l;
    html! {
        @if v.can_act {
            section.panel id="review-panel" data-person=(v.row.id) data-level=(v.level.map_or("", |v| v.key())) {
                h2 { (l.pick("审核", "Review")) }
                p.muted {
                    (l.pick("您以“", "You review at the "))
                    strong { (v.level.map_or("", |v| v.label(l))) }
                    (l.pick("”层级审核。", " level."))
                    @if v.may_approve && v.levels.district && v.level == Some(Level::Street) {
                        " " (l.pick("街道通过后交区级审核。", "After the street approves, the district reviews."))
                    }
                }
                div.review-buttons {
                    @if v.may_approve {
                        button.approve id="approve" type="button" { (l.pick("审核通过", "Approve")) }
                    }
                }
                @if v.may_return {
                    form id="return-form" novalidate {
                        label { (l.pick("退回原因（必填）", "What to fix (required)"))
                            textarea name="comment" id="return-comment" rows="2" maxlength="500" required {} }
                        p.muted { (l.pick(
                            "可在上表“审核意见”一列逐项填写意见，随退回一起发给采集员。",
                            "Notes on single items go in the table's Note column; they go to the worker with the return."))
                        }
                        button.return type="submit" { (l.pick("退回修改", "Return")) }
                    }
                }
                p.msg id="review-msg" role="status" {}
            }
        } @else if v.submitted {
            section.panel id="review-panel-off" {
                p.muted id="review-locked" {
                    @if !v.open {
                        (l.pick("该记录属于已结束的调查，不能再审核。", "This record belongs to a closed campaign; it is no longer reviewed."))
                    } @else if let Some(m) = review::refusal(v.levels, v.level, v.row.review) {
                        (m)
                    } @else {
                        (l.pick("您不能审核此记录。", "You may not review this record."))
                    }
                }
            }
        } @else {
            p.muted id="review-not-submitted" { (l.pick("记录尚未提交，提交后才能审核。", "The record is not submitted yet; it is reviewed once submitted.")) }
        }
    }
}
