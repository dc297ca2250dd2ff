//! `GET /console/review` (审核): the review chain of docs/review.md as the supervisor and the
//! district admin see it — the records at each stage per community, the district's sample with
//! its checks and agreement rates (per community and per worker), and the follow-up cases with
//! the county office's decisions. The admin draws the sample, records checks and decides cases
//! here (the page script calls the same API); a supervisor reads their street. The record view
//! (`/console/record/{person}`, in `campaigns.rs`) carries the review panel of one record; the
//! rules of who may act are the shared ones ([`review::step`]).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use doorstep_shared::Review;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::lang::{Label, Lang};
use doorstep_shared::review::{self, CaseDecision, CheckMethod, Decision, Level, Levels};
use doorstep_shared::sync::Role;

use super::PageResult;
use super::layout::{self, Nav, Options, bp, time};
use super::session::Session;
use crate::db::{CaseRow, StageCounts};
use crate::service::review::{self as svc, Agreement};
use crate::service::{Who, progress};
use crate::state::AppState;

/// The level a console user reviews at (as the service decides it): a supervisor the street; the
/// admin the district, or the street where the campaign has no district level.
#[must_use]
pub fn caller_level(role: Role, levels: Levels) -> Option<Level> {
    match role {
        Role::Supervisor => Some(Level::Street),
        Role::Admin if levels.district => Some(Level::District),
        Role::Admin => Some(Level::Street),
        Role::Worker => None,
    }
}

/// What a reviewer at `level` may do with a record at `stage`: approve, return (the shared rule).
#[must_use]
pub fn actions(
    levels: Levels,
    level: Option<Level>,
    stage: Review,
    submitted: bool,
) -> (bool, bool) {
    let Some(level) = level else {
        return (false, false);
    };
    let ok = |d| review::step(levels, level, stage, submitted, d).is_ok();
    (ok(Decision::Approve), ok(Decision::Return))
}

/// Why a reviewer at `level` may not act on a submitted record at `stage` (the rule's message).
#[must_use]
pub fn refusal(levels: Levels, level: Option<Level>, stage: Review) -> Option<String> {
    let level = level?;
    review::step(levels, level, stage, true, Decision::Return)
        .err()
        .or_else(|| review::step(levels, level, stage, true, Decision::Approve).err())
        .map(|r| r.message)
}

/// `街道复查 → 区级审核`.
#[must_use]
pub fn levels_label(l: Lang, levels: Levels) -> String {
    levels
        .list()
        .into_iter()
        .map(|v| v.label(l))
        .collect::<Vec<_>>()
        .join(" → ")
}

#[derive(Deserialize)]
pub struct ReviewQuery {
    year: Option<i32>,
}

/// Community code → (name, street name), from the progress rows the caller may see.
type Names = BTreeMap<String, (String, String)>;

/// The answered item keys of a record.
type Answered = std::collections::BTreeSet<String>;

fn place(names: &Names, code: &str) -> String {
    names
        .get(code)
        .map_or_else(|| code.to_string(), |(n, _)| n.clone())
}

fn item_label(l: Lang, form: &FormDefinition, key: &str) -> String {
    form.item(key).map_or_else(
        || key.to_string(),
        |i| l.pick(&i.label_zh, &i.label_en).to_string(),
    )
}

fn stage_cells(c: &StageCounts) -> Markup {
    let total = c.submitted + c.street_approved + c.approved + c.returned;
    html! {
        td.num data-k="submitted" { (c.submitted) }
        td.num data-k="street_approved" { (c.street_approved) }
        td.num data-k="approved" { (c.approved) }
        td.num data-k="returned" { (c.returned) }
        td.num data-k="total" { (total) }
    }
}

fn stages_section(l: Lang, st: &svc::Stages, names: &Names) -> Markup {
    html! {
        section.panel id="review-stages" {
            h2 { (l.pick("审核进度", "Review stages")) }
            p id="review-levels" data-levels=(st.levels.key()) {
                (l.pick("本次调查的审核层级：", "This campaign's review levels: "))
                strong { (levels_label(l, st.levels)) }
                @if !st.levels.district {
                    span.muted { (l.pick("（街道通过即为最终通过）", " (the street's approval is final)")) }
                }
            }
            @if st.communities.is_empty() {
                p.muted id="no-stages" { (l.pick("还没有提交的记录。", "No record has been submitted yet.")) }
            }
            div.scroll {
                table.figures.sortable id="stages" {
                    thead { tr {
                        th.name data-sort="text" scope="col" { button.sort type="button" { (l.pick("社区（村）", "Community")) } }
                        th data-sort="text" scope="col" { button.sort type="button" { (l.pick("街道（乡镇）", "Street")) } }
                        th.num data-sort="num" scope="col" { button.sort type="button" { (l.pick("已提交待审核", "Submitted, to review")) } }
                        th.num data-sort="num" scope="col" class=(if st.levels.street && st.levels.district { "" } else { "muted" }) {
                            button.sort type="button" { (l.pick("街道已复查", "Street-approved")) }
                        }
                        th.num data-sort="num" scope="col" { button.sort type="button" { (l.pick("已通过", "Approved")) } }
                        th.num data-sort="num" scope="col" { button.sort type="button" { (l.pick("已退回", "Returned")) } }
                        th.num data-sort="num" scope="col" { button.sort type="button" { (l.pick("合计", "Total")) } }
                    } }
                    tbody {
                        @for c in &st.communities {
                            tr data-code=(c.community) {
                                th.name scope="row" data-sort=(place(names, &c.community)) {
                                    a href={ "/console/community/" (c.community) } { (place(names, &c.community)) }
                                }
                                td { (names.get(&c.community).map_or("", |(_, s)| s.as_str())) }
                                (stage_cells(c))
                            }
                        }
                    }
                    tfoot {
                        tr.total data-code="total" {
                            th scope="row" { (l.pick("合计", "Total")) }
                            td {}
                            (stage_cells(&st.total))
                        }
                    }
                }
            }
        }
    }
}

fn agreement_table(
    l: Lang,
    id: &str,
    first: &str,
    rows: &[Agreement],
    name: impl Fn(&str) -> String,
) -> Markup {
    html! {
        div.scroll {
            table.data id=(id) {
                thead { tr {
                    th scope="col" { (first) }
                    th.num scope="col" { (l.pick("抽查", "Sampled")) }
                    th.num scope="col" { (l.pick("已核查", "Checked")) }
                    th.num scope="col" { (l.pick("联系上", "Reached")) }
                    th.num scope="col" { (l.pick("一致", "Confirmed")) }
                    th.num scope="col" { (l.pick("一致率", "Agreement")) }
                    th.num scope="col" { (l.pick("阈值", "Threshold")) }
                    th scope="col" { (l.pick("结论", "Result")) }
                } }
                tbody {
                    @for a in rows {
                        tr data-key=(a.key) data-flagged=(a.flagged) class=(if a.flagged { "flagged" } else { "" }) {
                            th scope="row" { (name(&a.key)) }
                            td.num data-k="sampled" { (a.sampled) }
                            td.num data-k="checked" { (a.checked) }
                            td.num data-k="reached" { (a.reached) }
                            td.num data-k="confirmed" { (a.confirmed) }
                            td.num data-k="agreement" class=(if a.flagged { "bad" } else if a.agreement_bp.is_some() { "good" } else { "" }) {
                                (bp(a.agreement_bp))
                            }
                            td.num data-k="threshold" { (bp(Some(a.threshold_bp))) }
                            td data-k="flag" {
                                @if a.flagged {
                                    strong.flag { (l.pick("低于阈值", "below threshold")) }
                                } @else if a.agreement_bp.is_some() {
                                    (l.pick("达标", "meets the threshold"))
                                } @else {
                                    span.muted { (l.pick("尚无核查", "not checked yet")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn check_text(l: Lang, form: &FormDefinition, c: &review::Verification) -> String {
    let method = match c.method {
        CheckMethod::Visit => l.pick("入户", "visit"),
        CheckMethod::Call => l.pick("电话", "call"),
    };
    let mut parts = vec![c.checker.clone(), method.to_string()];
    if !c.reached {
        parts.push(l.pick("未联系上", "not reached").into());
    } else if c.confirmed {
        parts.push(l.pick("一致", "confirmed").into());
    } else {
        parts.push(l.pick("不一致", "differs").into());
        parts.push(
            c.differing
                .iter()
                .map(|k| item_label(l, form, k))
                .collect::<Vec<_>>()
                .join("、"),
        );
    }
    if !c.note.is_empty() {
        parts.push(c.note.clone());
    }
    parts.join(" · ")
}

/// The check form of one sampled record; the differing items to choose from are the record's
/// answered items (all of the form's when it has none).
fn check_form(l: Lang, form: &FormDefinition, answered: Option<&Answered>) -> Markup {
    let offer = |key: &str| answered.is_none_or(|a| a.is_empty() || a.contains(key));
    html! {
        details.check-box {
            summary { (l.pick("录入核查结果", "Record the check")) }
            form.check {
                label { (l.pick("核查人", "Checker"))
                    input name="checker" type="text" required maxlength="50"; }
                label { (l.pick("方式", "Method"))
                    select name="method" {
                        option value="visit" { (l.pick("入户", "Visit")) }
                        option value="call" { (l.pick("电话", "Call")) }
                    }
                }
                label.check { input name="reached" type="checkbox" checked; " " (l.pick("联系上本人或家属", "Reached the person or family")) }
                label.check { input name="confirmed" type="checkbox" checked; " " (l.pick("记录与实际一致", "The answers are confirmed")) }
                label.wide { (l.pick("不符的项目（可多选）", "Items that differ (choose any)"))
                    select name="differing" multiple size="5" {
                        @for item in form.items().filter(|i| offer(&i.key)) {
                            option value=(item.key) { (l.pick(&item.label_zh, &item.label_en)) }
                        }
                    }
                }
                label.wide { (l.pick("备注", "Note"))
                    input name="note" type="text" maxlength="500"; }
                div.form-actions {
                    button.primary type="submit" { (l.pick("保存核查", "Save the check")) }
                    span.msg role="status" {}
                }
            }
        }
    }
}

fn sample_section(
    l: Lang,
    admin_acts: bool,
    report: &svc::SampleReport,
    names: &Names,
    persons: &BTreeMap<String, (String, Answered)>,
    form: &FormDefinition,
) -> Markup {
    let seed = chrono::Utc::now().timestamp() % 100_000;
    html! {
        section.panel id="sample" {
            h2 { (l.pick("区级抽查", "District sample")) }
            @if admin_acts {
                form.grid id="draw-sample" {
                    label { (l.pick("抽查比例（‰）", "Rate (‰)"))
                        input name="rate_permille" type="number" min="1" max="1000" required value="50"; }
                    label { (l.pick("随机种子", "Seed"))
                        input name="seed" type="number" min="0" required value=(seed); }
                    label { (l.pick("一致率阈值（%）", "Agreement threshold (%)"))
                        input name="threshold_percent" type="number" min="1" max="100" step="0.1" value="95"; }
                    div.form-actions {
                        button.primary type="submit" { (l.pick("抽取样本", "Draw the sample")) }
                        span.msg id="draw-msg" role="status" {}
                    }
                }
                p.muted { (l.pick(
                    "按各社区已提交（未退回）且尚未抽中的记录抽取，至少 1 条；同一种子对同样的记录抽出同样的样本，换种子再抽会追加。",
                    "Drawn per community from its submitted records (not returned) not sampled yet, at least one; the same seed over the same records draws the same sample, another seed adds to it."))
                }
            }
            @if report.samples.is_empty() {
                p.muted id="no-sample" { (l.pick("尚未抽查。", "No sample drawn yet.")) }
            } @else {
                h3 { (l.pick("各社区一致率", "Agreement per community")) }
                (agreement_table(l, "agreement-communities", l.pick("社区（村）", "Community"), &report.communities, |k| place(names, k)))
                h3 { (l.pick("各采集员一致率", "Agreement per worker")) }
                (agreement_table(l, "agreement-workers", l.pick("采集员", "Worker"), &report.workers, |k| if k.is_empty() { "—".into() } else { k.to_string() }))
                h3 { (l.pick("抽查名单", "The sample")) " " small.muted { (report.samples.len()) (l.pick(" 条", " records")) } }
                div.scroll {
                    table.data id="samples" {
                        thead { tr {
                            th scope="col" { (l.pick("姓名", "Name")) }
                            th scope="col" { (l.pick("社区（村）", "Community")) }
                            th scope="col" { (l.pick("采集员", "Worker")) }
                            th scope="col" { (l.pick("抽取", "Drawn")) }
                            th scope="col" { (l.pick("核查结果", "Check")) }
                        } }
                        tbody {
                            @for smp in &report.samples {
                                tr data-person=(smp.person_id) data-checked=(smp.check.is_some()) {
                                    th scope="row" {
                                        a href={ "/console/record/" (smp.person_id) } {
                                            (persons.get(&smp.person_id).map_or(smp.person_id.as_str(), |(n, _)| n.as_str()))
                                        }
                                    }
                                    td { (place(names, &smp.community)) }
                                    td { (smp.collected_by.as_deref().unwrap_or("—")) }
                                    td.time { (time(Some(smp.drawn_at))) " · " (smp.rate_permille) "‰" }
                                    td.check-cell {
                                        @match &smp.check {
                                            Some(c) => {
                                                span.check-result data-reached=(c.reached) data-confirmed=(c.confirmed) { (check_text(l, form, c)) }
                                                @if let Some(at) = smp.checked_at { " " small.muted { (time(Some(at))) } }
                                            }
                                            None => {
                                                @if admin_acts { (check_form(l, form, persons.get(&smp.person_id).map(|(_, a)| a))) } @else { span.muted { (l.pick("待核查", "to check")) } }
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
}

fn case_form(l: Lang, today: &str) -> Markup {
    html! {
        form.case {
            label { (l.pick("处理结果", "Decision"))
                select name="decision" required {
                    option value="" { (l.pick("请选择", "Choose")) }
                    option value="transferred" { (CaseDecision::Transferred.label(l)) }
                    option value="deregistered" { (CaseDecision::Deregistered.label(l)) }
                    option value="kept" { (CaseDecision::Kept.label(l)) }
                }
            }
            label.county hidden { (l.pick("迁入区县", "County moved to"))
                input name="county" type="text" maxlength="40" placeholder=(l.pick("如：邵东市", "e.g. 邵东市")); }
            label { (l.pick("处理日期", "Date"))
                input name="decided_on" type="date" required value=(today); }
            label { (l.pick("说明", "Note"))
                input name="note" type="text" maxlength="500"; }
            button.primary type="submit" { (l.pick("保存", "Save")) }
            span.msg role="status" {}
        }
    }
}

fn cases_section(l: Lang, admin_acts: bool, year: i32, rows: &[CaseRow], names: &Names) -> Markup {
    let today = doorstep_shared::domain::campaign_time(chrono::Utc::now())
        .date_naive()
        .to_string();
    let open = rows.iter().filter(|r| r.decision.is_none()).count();
    html! {
        section.panel id="follow-ups" {
            h2 { (l.pick("后续处理", "Follow-up cases")) " " small.muted { (l.pick("待处理 ", "open: ")) span id="open-cases" { (open) } " / " (rows.len()) } }
            p.muted { (l.pick(
                "已提交的 已搬迁、注销、查无此人、空挂户 人员，由区县办理迁移证明或注销；“迁出”和“注销”的人员下一年度不再结转。",
                "Submitted persons who moved, were deregistered, were not found or are registered only: the county issues a transfer or deregisters; those transferred or deregistered are not carried into next year."))
            }
            p { a.button id="cases-xlsx" href={ "/api/v1/follow-ups.xlsx?year=" (year) } download { (l.pick("下载后续处理清单（Excel）", "Download the cases (Excel)")) } }
            @if rows.is_empty() {
                p.muted id="no-cases" { (l.pick("没有需要后续处理的人员。", "No follow-up cases.")) }
            }
            @for o in svc::case_outcomes() {
                @let group: Vec<&CaseRow> = rows.iter().filter(|r| r.outcome == o.key()).collect();
                @if !group.is_empty() {
                    section.case-group data-outcome=(o.key()) {
                        h3 { (o.label(l)) " " small.muted { (group.len()) (l.pick(" 人", " persons")) } }
                        div.scroll {
                            table.data.cases {
                                thead { tr {
                                    th scope="col" { (l.pick("姓名", "Name")) }
                                    th scope="col" { (l.pick("社区（村）", "Community")) }
                                    th scope="col" { (l.pick("身份证号", "ID number")) }
                                    th scope="col" { (l.pick("情况说明", "Note")) }
                                    th scope="col" { (l.pick("处理", "Decision")) }
                                } }
                                tbody {
                                    @for r in group {
                                        tr data-person=(r.person_id) data-decision=(r.decision.map_or("", CaseDecision::key)) {
                                            th scope="row" { a href={ "/console/record/" (r.person_id) } { (r.name) } }
                                            td { (place(names, &r.community)) }
                                            td.mono { (r.id_masked) }
                                            td.note { (r.note) }
                                            td.decision {
                                                @match r.decision {
                                                    Some(d) => {
                                                        strong { (d.label(l)) }
                                                        @if let Some(c) = &r.county { " · " (c) }
                                                        @if let Some(on) = &r.decided_on { " · " (on) }
                                                        @if let Some(n) = r.decision_note.as_deref().filter(|n| !n.is_empty()) { " · " (n) }
                                                        @if let Some(by) = &r.decided_by { " " small.muted { "(" (by) ")" } }
                                                    }
                                                    None => {
                                                        @if admin_acts { (case_form(l, &today)) } @else { span.muted { (l.pick("待处理", "open")) } }
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
        }
    }
}

/// `GET /console/review[?year=Y]`.
/// The records finalized over a soft check's warning (docs/review.md, "Soft checks").
fn warned_section(l: Lang, rows: &[svc::Warned], names: &Names) -> Markup {
    let unexplained = rows.iter().filter(|r| r.reason.is_none()).count();
    html! {
        section.panel id="warned" {
            h2 { (l.pick("提交时带有核实提示的记录", "Records finalized over a warning")) }
            p.muted {
                (l.pick("共 ", "")) strong id="warned-count" { (rows.len()) }
                (l.pick(" 条，其中未填写核实说明 ", " records; without a reason: "))
                strong id="warned-unexplained" { (unexplained) }
                (l.pick(" 条。", "."))
            }
            @if !rows.is_empty() {
                table.data {
                    thead { tr {
                        th { (l.pick("姓名", "Name")) }
                        th { (l.pick("社区", "Community")) }
                        th { (l.pick("提示", "Warnings")) }
                        th { (l.pick("核实说明", "Reason")) }
                        th { (l.pick("审核", "Review")) }
                    } }
                    tbody {
                        @for r in rows {
                            tr data-person=(r.person_id) class=[r.reason.is_none().then_some("unexplained")] {
                                td { a href={ "/console/record/" (r.person_id) } { (r.name) } }
                                td { (names.get(&r.community).map_or(r.community.as_str(), |n| n.0.as_str())) }
                                td { ul.plain { @for w in &r.warnings {
                                    li data-check=(w.check) { (l.pick(&w.message_zh, &w.message_en)) }
                                } } }
                                td { @match &r.reason {
                                    Some(t) => { (t) }
                                    None => { span.muted { (l.pick("未填写", "none")) } }
                                } }
                                td { (r.review.label(l)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<ReviewQuery>,
) -> PageResult {
    s.require(&[Role::Supervisor, Role::Admin])?;
    let l = s.lang;
    let who = Who::Caller(&s.caller);
    let stages = svc::stages(&state, who, q.year).await?;
    let report = svc::samples(&state, who, q.year).await?;
    let cases = svc::cases(&state, who, q.year, None, false).await?;
    let warned = svc::warned(&state, who, q.year, false).await?;
    let (p, _) = progress::for_caller(&state, &s.caller, q.year).await?;
    let names: Names = p
        .communities
        .iter()
        .map(|r| (r.code.to_string(), (r.name.clone(), r.street_name.clone())))
        .collect();
    let form = state.form(&p.campaign.form_version).await?;
    let mut persons = BTreeMap::new();
    for smp in &report.samples {
        if let Some(r) = state.db.record(&smp.person_id).await? {
            let answered = r.doc.answers.keys().cloned().collect();
            persons.insert(smp.person_id.clone(), (r.person.name, answered));
        }
    }
    let open = state
        .db
        .open_campaign_row()
        .await?
        .is_some_and(|c| c.campaign.id == p.campaign.id);
    let admin_acts = open && s.role() == Role::Admin;
    let body = html! {
        div.title-row {
            h1 { (l.pick("审核", "Review")) }
            p.muted {
                (p.campaign.name)
                @if !open { " · " (l.pick("已结束的调查，只读", "a closed campaign: read only")) }
                @if s.role() == Role::Supervisor { " · " (l.pick("本街道范围", "your street")) }
            }
            nav.toc {
                a href="#review-stages" { (l.pick("审核进度", "Stages")) }
                a href="#sample" { (l.pick("区级抽查", "Sample")) }
                a href="#warned" { (l.pick("提示记录", "Warnings")) }
                a href="#follow-ups" { (l.pick("后续处理", "Follow-up cases")) }
            }
        }
        (stages_section(l, &stages, &names))
        (sample_section(l, admin_acts, &report, &names, &persons, &form))
        (warned_section(l, &warned, &names))
        (cases_section(l, admin_acts, stages.year, &cases, &names))
    };
    Ok(layout::page(
        &s,
        Nav::Review,
        l.pick("审核", "Review"),
        "review",
        Options::default(),
        body,
    ))
}
