//! The overview (district → streets → communities, charts) and a community's page (its persons,
//! review).

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use maud::{Markup, html};

use doorstep_shared::lang::{Label, Lang};
use doorstep_shared::progress::{Figures, ProgressRow};
use doorstep_shared::review::{Level, Levels};
use doorstep_shared::sync::Role;
use doorstep_shared::{Outcome, Status};

use super::layout::{self, Nav, Options, bp, home_visit_class, time};
use super::review;
use super::session::Session;
use super::{PageError, PageResult};
use crate::service::progress::for_caller as compute;
use crate::service::records::Line;
use crate::state::AppState;

/// The header cells of a figures table; `first` names the first column.
fn fig_head(l: Lang, first: &str, with_street: bool) -> Markup {
    html! {
        thead {
            tr {
                th.name data-sort="text" scope="col" { button.sort type="button" { (first) } }
                @if with_street {
                    th data-sort="text" scope="col" { button.sort type="button" { (l.pick("街道（乡镇）", "Street")) } }
                }
                th.num data-sort="num" scope="col" { button.sort type="button" { (l.pick("底册", "Roster")) } }
                th.num data-sort="num" scope="col" { button.sort type="button" { (l.pick("已完成", "Done")) } }
                @for o in Outcome::ALL {
                    th.num.outcome data-sort="num" scope="col" { button.sort type="button" { (o.label(l)) } }
                }
                th.num data-sort="num" scope="col" { button.sort type="button" { (l.pick("完成率", "Completion")) } }
                th.num data-sort="num" scope="col" title=(l.pick("目标 ≥ 95%", "Target ≥ 95 %")) {
                    button.sort type="button" { (l.pick("入户调查率", "Home visits")) }
                }
                th.num data-sort="num" scope="col" { button.sort type="button" { (l.pick("APP采集比例", "APP ratio")) } }
                th.num data-sort="num" scope="col" title=(l.pick("已录入国家系统的记录", "Records keyed into the national system")) {
                    button.sort type="button" { (l.pick("已录入国家系统", "Keyed")) }
                }
                th.num data-sort="num" scope="col" title=(l.pick("按起止日期匀速推算，今天应完成的人数", "Persons a straight line from start to end expects done by today")) {
                    button.sort type="button" { (l.pick("应完成(至今)", "Expected today")) }
                }
                th.num data-sort="num" scope="col" { button.sort type="button" { (l.pick("进度差", "Ahead / behind")) } }
                th data-sort="num" scope="col" { button.sort type="button" { (l.pick("最近活动", "Last activity")) } }
            }
        }
    }
}

fn sort_bp(b: Option<u64>) -> i64 {
    b.map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX))
}

fn gap(done: u64, expected: u64) -> i64 {
    i64::try_from(done).unwrap_or(0) - i64::try_from(expected).unwrap_or(0)
}

fn gap_text(g: i64) -> String {
    if g > 0 {
        format!("+{g}")
    } else {
        g.to_string()
    }
}

/// The figure cells of one row (the page script fills the same `data-k` cells live).
fn fig_cells(f: &Figures, expected: u64, last: Option<i64>) -> Markup {
    let g = gap(f.done, expected);
    html! {
        td.num data-k="roster" { (f.roster) }
        td.num data-k="done" { (f.done) }
        @for (i, n) in f.outcomes.iter().enumerate() {
            td.num.outcome data-k={ "o" (i) } { (n) }
        }
        td.num data-k="completion" data-sort=(sort_bp(f.completion_bp)) { (bp(f.completion_bp)) }
        td.num data-k="home" data-sort=(sort_bp(f.home_visit_bp)) class=(home_visit_class(f.home_visit_bp)) { (bp(f.home_visit_bp)) }
        td.num data-k="app" data-sort=(sort_bp(f.app_bp)) { (bp(f.app_bp)) }
        td.num data-k="keyed" { (f.keyed) }
        td.num data-k="expected" { (expected) }
        td.num data-k="gap" data-sort=(g) class=(if g < 0 { "behind" } else { "" }) { (gap_text(g)) }
        td.time data-k="last" data-sort=(last.unwrap_or(0)) { (time(last)) }
    }
}

fn total_cards(l: Lang, t: &Figures, expected: u64) -> Markup {
    let g = gap(t.done, expected);
    html! {
        section.cards aria-label=(l.pick("合计", "Totals")) {
            div.card { span.label { (l.pick("底册人数", "On the roster")) } span.value data-total="roster" { (t.roster) } }
            div.card { span.label { (l.pick("已完成", "Done")) } span.value data-total="done" { (t.done) } }
            div.card { span.label { (l.pick("调查完成率", "Completion")) } span.value data-total="completion" { (bp(t.completion_bp)) } }
            div.card {
                span.label { (l.pick("入户调查率", "Home-visit rate")) " " small { (l.pick("目标 ≥ 95%", "target ≥ 95 %")) } }
                span.value data-total="home" class=(home_visit_class(t.home_visit_bp)) { (bp(t.home_visit_bp)) }
            }
            div.card { span.label { (l.pick("APP采集比例", "APP ratio")) } span.value data-total="app" { (bp(t.app_bp)) } }
            div.card {
                span.label { (l.pick("已录入国家系统", "Keyed into the national system")) }
                span.value { span data-total="keyed" { (t.keyed) } " / " (t.done) }
            }
            div.card {
                span.label { (l.pick("社区（村）完成", "Communities done")) }
                span.value { span data-total="communities_completed" { (t.communities_completed) } " / " span data-total="communities" { (t.communities) } }
            }
            div.card {
                span.label { (l.pick("今日应完成 / 进度差", "Expected today / gap")) }
                span.value { span data-total="expected" { (expected) } " / " span data-total="gap" class=(if g < 0 { "behind" } else { "" }) { (gap_text(g)) } }
            }
        }
        section.outcomes aria-label=(l.pick("各调查结果人数", "Persons per outcome")) {
            @for (i, o) in Outcome::ALL.iter().enumerate() {
                span.chip { (o.label(l)) " " b data-total={ "o" (i) } { (t.outcomes[i]) } }
            }
        }
    }
}

/// `GET /console`: the overview.
pub async fn overview(State(state): State<AppState>, s: Session) -> PageResult {
    s.require(&[Role::Supervisor, Role::Admin])?;
    let l = s.lang;
    if state.db.current_campaign().await?.is_none() {
        // An empty server: the admin is shown how to open the first campaign, others the years.
        return Ok(axum::response::Redirect::to("/console/campaigns").into_response());
    }
    let (p, _) = compute(&state, &s.caller, None).await?;
    let expected: u64 = p.communities.iter().map(|c| c.expected_by_today).sum();
    let area = match (&s.caller.0.user.area, s.role()) {
        (Some(a), Role::Supervisor) => state.db.place_name(a.as_str()).await?,
        _ => None,
    };
    let district = state
        .db
        .place_name(p.campaign.district.as_str())
        .await?
        .unwrap_or_else(|| p.campaign.district.to_string());
    let several_streets = p.streets.len() > 1;
    let body = html! {
        div.title-row {
            h1 {
                (district)
                @if let Some(a) = &area { " › " (a) }
            }
            p.muted {
                (p.campaign.name) " · " (p.campaign.starts) " — " (p.campaign.ends)
                " · " span id="updated" { (l.pick("数据为最新", "Figures are current")) }
            }
        }
        (total_cards(l, &p.total, expected))
        section.charts {
            figure.chart {
                figcaption { (if several_streets { l.pick("各街道（乡镇）完成率", "Completion per street") } else { l.pick("各社区（村）完成率", "Completion per community") }) }
                div.chart-box { canvas id="chart-streets" role="img" aria-label=(l.pick("完成率柱状图", "Completion bar chart")) {} }
            }
            figure.chart {
                figcaption { (l.pick("累计完成（燃尽图）与目标线", "Cumulative done (burn-up) against the target line")) }
                div.chart-box { canvas id="chart-burnup" role="img" aria-label=(l.pick("累计完成折线图", "Burn-up line chart")) {} }
            }
        }
        section {
            h2 { (l.pick("街道（乡镇）", "Streets and townships")) }
            div.scroll {
                table.figures.sortable id="streets" {
                    (fig_head(l, l.pick("街道（乡镇）", "Street"), false))
                    tbody {
                        @for r in &p.streets {
                            tr data-code=(r.code) {
                                th.name scope="row" data-sort=(r.name) { (r.name) }
                                (fig_cells(&r.figures, r.expected_by_today, r.last_activity))
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { (l.pick("社区（村）", "Communities and villages")) }
            div.filters {
                @if several_streets {
                    label {
                        (l.pick("街道", "Street")) " "
                        select id="street-filter" {
                            option value="" { (l.pick("全部", "All")) }
                            @for r in &p.streets { option value=(r.code) { (r.name) } }
                        }
                    }
                }
                label {
                    (l.pick("查找", "Find")) " "
                    input id="community-search" type="search" placeholder=(l.pick("社区名称", "Community name"));
                }
                label.check {
                    input id="behind-only" type="checkbox";
                    " " (l.pick("只看落后的", "Only those behind"))
                }
            }
            div.scroll {
                table.figures.sortable id="communities" {
                    (fig_head(l, l.pick("社区（村）", "Community"), true))
                    tbody {
                        @for r in &p.communities {
                            (community_row(r))
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &s,
        Nav::Overview,
        l.pick("进度概览", "Overview"),
        "overview",
        Options {
            charts: true,
            live: true,
            data: vec![],
        },
        body,
    ))
}

fn community_row(r: &ProgressRow) -> Markup {
    html! {
        tr data-code=(r.code) data-street=(r.street_code) {
            th.name scope="row" data-sort=(r.name) { a href={ "/console/community/" (r.code) } { (r.name) } }
            td data-sort=(r.street_name) { (r.street_name) }
            (fig_cells(&r.figures, r.expected_by_today, r.last_activity))
        }
    }
}

/// A line's status cell: submitted, a draft, or not started (no outcome, nobody touched it).
fn status_cell(l: Lang, line: &Line) -> &'static str {
    match (line.status, &line.outcome, &line.updated_by) {
        (Status::Draft, None, None) => l.pick("未开始", "Not started"),
        (s, _, _) => s.label(l),
    }
}

/// A line's review cell: its stage once submitted, `—` before.
fn review_cell(l: Lang, line: &Line) -> &'static str {
    if line.status == Status::Final {
        line.review.label(l)
    } else {
        "—"
    }
}

/// `GET /console/community/{code}`: a community's figures and persons, with review.
pub async fn community(
    State(state): State<AppState>,
    s: Session,
    Path(code): Path<String>,
) -> PageResult {
    s.require(&[Role::Supervisor, Role::Admin])?;
    let l = s.lang;
    let campaign = state.campaign().await?;
    let scope = s.caller.scope(&state, &campaign).await?;
    if !scope.allows(&code) {
        return Err(PageError::new(layout::error_page(
            l,
            axum::http::StatusCode::FORBIDDEN,
            l.pick("不在您的负责范围", "Outside your area"),
            l.pick(
                "这个社区（村）不属于您负责的街道。",
                "This community is not in the street you oversee.",
            ),
            true,
            true,
        )));
    }
    let (p, _) = compute(&state, &s.caller, None).await?;
    let Some(row) = p.communities.iter().find(|c| c.code.as_str() == code) else {
        return Err(PageError::new(layout::error_page(
            l,
            axum::http::StatusCode::NOT_FOUND,
            l.pick("没有这个社区（村）", "No such community"),
            l.pick(
                "本次调查的底册中没有这个社区代码。",
                "The roster of this campaign has no such community code.",
            ),
            false,
            true,
        )));
    };
    let records = state
        .db
        .records(&campaign.id.to_string(), &scope, Some(&code))
        .await?;
    state
        .db
        .audit_entry(&s.caller.entry("view_community", &code))
        .await?;
    let lines: Vec<Line> = records.iter().map(Line::from).collect();
    // The review level the caller acts at, where the campaign is open (docs/review.md).
    let crow = state
        .db
        .campaigns()
        .await?
        .into_iter()
        .find(|c| c.campaign.id == campaign.id);
    let levels = crow.as_ref().map(|c| c.review_levels).unwrap_or_default();
    let level = crow
        .filter(|c| c.state == doorstep_shared::CampaignState::Open)
        .and_then(|_| review::caller_level(s.role(), levels));
    let body = html! {
        div.title-row {
            p.crumbs {
                a href="/console" { (l.pick("进度概览", "Overview")) } " › " (row.street_name)
            }
            h1 { (row.name) " " small.muted { (row.code) } }
            p.muted { span id="updated" { (l.pick("数据为最新", "Figures are current")) } }
        }
        div.scroll {
            table.figures id="community-figures" {
                (fig_head(l, l.pick("社区（村）", "Community"), false))
                tbody {
                    tr data-code=(row.code) {
                        th.name scope="row" { (row.name) }
                        (fig_cells(&row.figures, row.expected_by_today, row.last_activity))
                    }
                }
            }
        }
        section {
            h2 { (l.pick("调查对象", "Persons")) " " small.muted { (lines.len()) (l.pick(" 人", " persons")) } }
            div.filters {
                label {
                    (l.pick("查找", "Find")) " "
                    input id="person-search" type="search" placeholder=(l.pick("姓名", "Name"));
                }
                label {
                    (l.pick("显示", "Show")) " "
                    select id="person-filter" {
                        option value="" { (l.pick("全部", "All")) }
                        option value="todo" { (l.pick("未完成", "Not done")) }
                        option value="pending" { (l.pick("待审核", "Pending review")) }
                        @if levels.district && levels.street {
                            option value="street_approved" { (l.pick("街道已复查", "Street-approved")) }
                        }
                        option value="returned" { (l.pick("已退回", "Returned")) }
                        option value="conflict" { (l.pick("有冲突", "In conflict")) }
                    }
                }
            }
            div.scroll {
                table.persons.sortable id="persons" {
                    thead {
                        tr {
                            th.name data-sort="text" scope="col" { button.sort type="button" { (l.pick("姓名", "Name")) } }
                            th data-sort="text" scope="col" { button.sort type="button" { (l.pick("身份证号", "ID number")) } }
                            th data-sort="text" scope="col" { button.sort type="button" { (l.pick("调查结果", "Outcome")) } }
                            th data-sort="text" scope="col" { button.sort type="button" { (l.pick("状态", "Status")) } }
                            th data-sort="text" scope="col" { button.sort type="button" { (l.pick("采集人", "Worker")) } }
                            th data-sort="num" scope="col" { button.sort type="button" { (l.pick("更新时间", "Updated")) } }
                            th data-sort="text" scope="col" { button.sort type="button" { (l.pick("审核", "Review")) } }
                            th.num data-sort="num" scope="col" { button.sort type="button" { (l.pick("冲突", "Conflicts")) } }
                            th scope="col" { (l.pick("操作", "Actions")) }
                        }
                    }
                    tbody {
                        @for line in &lines {
                            (person_row(l, line, levels, level))
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &s,
        Nav::Overview,
        &row.name,
        "community",
        Options {
            charts: false,
            live: true,
            data: vec![
                ("community", row.code.to_string()),
                ("review_levels", levels.key().to_string()),
                ("review_level", level.map_or("", |v| v.key()).to_string()),
            ],
        },
        body,
    ))
}

fn person_row(l: Lang, line: &Line, levels: Levels, level: Option<Level>) -> Markup {
    let is_final = line.status == Status::Final;
    let (may_approve, may_return) = review::actions(levels, level, line.review, is_final);
    let outcome = line
        .outcome
        .as_deref()
        .and_then(Outcome::parse)
        .map_or("—", |o| o.label(l));
    let touched = line.updated_by.is_some();
    html! {
        tr data-person=(line.person) data-status=(line.status.key()) data-review=(line.review.key())
            data-outcome=(line.outcome.as_deref().unwrap_or("")) data-conflicts=(line.conflicts) {
            th.name scope="row" data-k="name" { a href={ "/console/record/" (line.person) } { (line.name) } }
            td.mono data-k="id" { (line.id_masked) }
            td data-k="outcome" { (outcome) }
            td data-k="status" { (status_cell(l, line)) }
            td data-k="worker" { (line.collected_by.as_deref().unwrap_or("—")) }
            td.time data-k="time" data-sort=(if touched { line.updated_at } else { 0 }) {
                (if touched { time(Some(line.updated_at)) } else { "—".into() })
            }
            td data-k="review" { (review_cell(l, line)) }
            td.num data-k="conflicts" {
                @if line.conflicts > 0 { a href="/console/conflicts" { (line.conflicts) } } @else { "0" }
            }
            td.actions data-k="actions" {
                div.review-actions hidden[!(may_approve || may_return)] {
                    button.approve type="button" data-act="approve" hidden[!may_approve] {
                        (l.pick("通过", "Approve"))
                    }
                    span.return-box hidden[!may_return || line.review == doorstep_shared::Review::Returned] {
                        input.comment type="text" name="comment" placeholder=(l.pick("退回原因", "What to fix")) aria-label=(l.pick("退回原因", "What to fix"));
                        button.return type="button" data-act="return" { (l.pick("退回", "Return")) }
                    }
                    span.msg role="status" {}
                }
            }
        }
    }
}
