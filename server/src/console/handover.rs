//! `GET /console/handover`: the hand-over to the national system — per community, how many
//! records are keyed; a community's persons with their "keyed" marks; the coded export and the
//! checklist (printable HTML `GET /console/handover/checklist`, PDF from the API).

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use maud::{DOCTYPE, Markup, html};

use super::PageResult;
use super::layout::{self, Nav, Options};
use super::session::Session;
use crate::service::handover::{self, Checklist, HandoverQuery, KEYERS, Who, beijing};
use crate::service::progress::for_caller as compute;
use crate::state::AppState;

fn downloads(s: &Session, area: &str) -> Markup {
    let l = s.lang;
    let q = format!("?area={area}");
    html! {
        ul.downloads {
            li { a.button href={ "/console/handover/checklist" (q) } target="_blank" { (l.pick("核对单（网页，可打印）", "Checklist (printable page)")) } }
            li { a.button href={ "/api/v1/handover/checklist.pdf" (q) } download { (l.pick("核对单（PDF）", "Checklist (PDF)")) } }
            li { a.button href={ "/api/v1/handover/coded.xlsx" (q) } download { (l.pick("编码导出（Excel）", "Coded export (Excel)")) } }
            li { a.button href={ "/api/v1/handover/coded.csv" (q) } download { (l.pick("编码导出（CSV）", "Coded export (CSV)")) } }
        }
    }
}

/// `GET /console/handover[?area=community]`.
pub async fn page(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<HandoverQuery>,
) -> PageResult {
    s.require(KEYERS)?;
    let l = s.lang;
    let Some(area) = q.area.filter(|a| a.len() == 12) else {
        let (p, _) = compute(&state, &s.caller, q.year).await?;
        let body = html! {
            div.title-row {
                h1 { (l.pick("国家系统交接", "Hand-over to the national system")) }
                p.muted { (l.pick(
                    "按动态1表编码导出，逐人核对录入国家系统，录入后标记“已录入”。",
                    "Export with the official 动态1表 codes, key each person into the national app, then mark the record keyed."))
                }
            }
            section.cards {
                div.card { span.label { (l.pick("已录入国家系统", "Keyed into the national system")) }
                    span.value { span data-total="keyed" { (p.total.keyed) } " / " span data-total="done" { (p.total.done) } } }
            }
            (downloads(&s, p.campaign.district.as_str()))
            table.figures.sortable id="handover-communities" {
                thead { tr {
                    th scope="col" { (l.pick("社区（村）", "Community")) }
                    th scope="col" { (l.pick("街道（乡镇）", "Street")) }
                    th.num scope="col" { (l.pick("已完成", "Done")) }
                    th.num scope="col" { (l.pick("已录入", "Keyed")) }
                    th.num scope="col" { (l.pick("待录入", "To key")) }
                } }
                tbody {
                    @for c in &p.communities {
                        tr data-code=(c.code) {
                            td { a href={ "/console/handover?area=" (c.code) } { (c.name) } }
                            td { (c.street_name) }
                            td.num { (c.figures.done) }
                            td.num data-k="keyed" { (c.figures.keyed) }
                            td.num { (c.figures.done.saturating_sub(c.figures.keyed)) }
                        }
                    }
                }
            }
        };
        return Ok(layout::page(
            &s,
            Nav::Handover,
            l.pick("国家系统交接", "Hand-over"),
            "handover",
            Options::default(),
            body,
        ));
    };
    let list =
        handover::checklist(&state, Who::Caller(&s.caller), q.year, Some(&area), None).await?;
    let name = state
        .db
        .place_name(&area)
        .await?
        .unwrap_or_else(|| area.clone());
    let keyed = list.pages.iter().filter(|p| p.keyed.is_some()).count();
    let body = html! {
        div.title-row {
            h1 { a href="/console/handover" { (l.pick("国家系统交接", "Hand-over")) } " › " (name) }
            p.muted { (list.numbering) " · " (l.pick("已录入", "Keyed")) " " span id="keyed-count" { (keyed) } " / " (list.pages.len()) }
        }
        (downloads(&s, &area))
        table.persons id="handover-persons" {
            thead { tr {
                th scope="col" { (l.pick("姓名", "Name")) }
                th scope="col" { (l.pick("残疾人证号", "Certificate")) }
                th scope="col" { (l.pick("调查结果", "Outcome")) }
                th scope="col" { (l.pick("记录状态", "State")) }
                th scope="col" { (l.pick("国家系统", "National system")) }
                th scope="col" {}
            } }
            tbody {
                @for p in &list.pages {
                    tr data-person=(p.person) {
                        td { a href={ "/console/handover/checklist?area=" (area) "&person=" (p.person) } target="_blank" { (p.name) } }
                        td { (p.certificate) }
                        td { (p.outcome) }
                        td { (p.state) }
                        td.keyed { @match &p.keyed {
                            Some(m) => { (l.pick("已录入", "Keyed")) " · " (m.by) " · " (beijing(m.at)) }
                            None => { span.muted { (l.pick("未录入", "Not keyed")) } }
                        } }
                        td {
                            button type="button" data-keyed=(if p.keyed.is_some() { "false" } else { "true" }) disabled[p.outcome.is_empty()] {
                                (if p.keyed.is_some() { l.pick("撤销标记", "Unmark") } else { l.pick("标记已录入", "Mark keyed") })
                            }
                            " " span.msg role="status" {}
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &s,
        Nav::Handover,
        l.pick("国家系统交接", "Hand-over"),
        "handover",
        Options::default(),
        body,
    ))
}

/// `GET /console/handover/checklist?area=…[&person=…]`: a page per person for browser print.
pub async fn checklist(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<HandoverQuery>,
) -> PageResult {
    s.require(KEYERS)?;
    let list = handover::checklist(
        &state,
        Who::Caller(&s.caller),
        q.year,
        q.area.as_deref(),
        q.person.as_deref(),
    )
    .await?;
    Ok(print_page(&list).into_response())
}

/// The printable checklist: one sheet per person.
#[must_use]
pub fn print_page(list: &Checklist) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                title { "录入国家系统核对单" }
                link rel="stylesheet" href=(super::assets::url("checklist.css"));
            }
            body {
                @if list.pages.is_empty() { p { "没有需要录入的人员 / nobody to key" } }
                @for p in &list.pages {
                    section.sheet data-person=(p.person) {
                        h1 { (list.title) }
                        p.muted { (list.numbering) " · 录入国家系统核对单" }
                        p { "姓名：" b { (p.name) } "　残疾人证号：" (p.certificate) "　身份证号：" (p.resident_id) }
                        p { "社区（村）：" (p.community) " " (p.community_name) "　调查结果：" (p.outcome) "　记录状态：" (p.state) }
                        table {
                            thead { tr { th { "编号" } th { "指标" } th { "回答" } th { "代码" } th { "与去年比" } th { "已录" } } }
                            tbody {
                                @for line in &p.lines {
                                    tr { td { (line.number) } td { (line.wording) } td { (line.answer) } td.code { (line.code) } td { (line.change) } td { "□" } }
                                }
                            }
                        }
                        p.foot {
                            @match &p.keyed {
                                Some(m) => { "已录入国家系统：" (m.by) "，" (beijing(m.at)) }
                                None => { "未录入国家系统" }
                            }
                            "　录入人：__________　日期：__________"
                        }
                        p.muted { "代码以“?”开头者官方代码未知，请按文字选项录入；未列出的项目按跳转规则不填。" }
                    }
                }
            }
        }
    }
}
