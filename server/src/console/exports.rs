//! `GET /console/exports`: the Excel/CSV exports and the annual-report paragraph.

use axum::extract::State;
use maud::html;

use doorstep_shared::progress::report_paragraph;
use doorstep_shared::sync::Role;

use super::PageResult;
use super::layout::{self, Nav, Options};
use super::session::Session;
use crate::service::progress::for_caller as compute;
use crate::state::AppState;

/// `GET /console/exports`.
pub async fn page(State(state): State<AppState>, s: Session) -> PageResult {
    s.require(&[Role::Supervisor, Role::Admin])?;
    let l = s.lang;
    let (p, total) = compute(&state, &s.caller, None).await?;
    let district = state
        .db
        .place_name(p.campaign.district.as_str())
        .await?
        .unwrap_or_else(|| p.campaign.district.to_string());
    let paragraph = report_paragraph(&district, p.campaign.year, &total);
    let scope = s.caller.scope(&state, &p.campaign).await?;
    let needs = crate::service::analysis::paragraph(&state.db, &p.campaign, &scope).await?;
    let files = [
        (
            "progress.xlsx",
            l.pick("进度表（Excel）", "Progress (Excel)"),
            l.pick(
                "每个社区、街道和合计的人数与比率",
                "Counts and rates per community, street and in total",
            ),
        ),
        (
            "progress.csv",
            l.pick("进度表（CSV）", "Progress (CSV)"),
            l.pick("同上，CSV 格式（UTF-8）", "The same as CSV (UTF-8)"),
        ),
        (
            "records.xlsx",
            l.pick("调查记录（Excel）", "Records (Excel)"),
            l.pick(
                "每人一行，含问卷各项",
                "One row per person with every questionnaire item",
            ),
        ),
        (
            "records.csv",
            l.pick("调查记录（CSV）", "Records (CSV)"),
            l.pick("同上，CSV 格式（UTF-8）", "The same as CSV (UTF-8)"),
        ),
    ];
    let admin = s.role() == Role::Admin;
    let body = html! {
        div.title-row {
            h1 { (l.pick("导出与报告", "Exports and the annual report")) }
            p.muted {
                (if admin {
                    l.pick("导出包含完整身份证号，请妥善保管。每次导出都会记录。", "Exports carry full ID numbers: keep them safe. Every export is logged.")
                } else {
                    l.pick("身份证号已脱敏。每次导出都会记录。", "ID numbers are masked. Every export is logged.")
                })
            }
        }
        section {
            h2 { (l.pick("下载", "Downloads")) }
            ul.downloads {
                @for (file, title, what) in files {
                    li {
                        a.button href={ "/api/v1/export/" (file) } download=(file) { (title) }
                        " " span.muted { (what) }
                    }
                }
            }
        }
        section {
            h2 { (l.pick("年度绩效报告段落", "Annual performance report paragraph")) }
            p.muted { (l.pick("按当前数据生成，可复制到年度报告中。", "Made from the current figures; copy it into the annual report.")) }
            textarea id="report" rows="6" readonly { (paragraph) }
            p {
                button.primary id="copy-report" type="button" { (l.pick("复制", "Copy")) }
                " " span id="copy-msg" role="status" {}
            }
            h3 { (l.pick("第二段：需求情况", "Second paragraph: needs")) }
            p.muted {
                (l.pick("规则见", "The rules are on the ")) " "
                a href="/console/analysis" { (l.pick("需求分析", "analysis page")) }
            }
            textarea id="needs-report" rows="4" readonly { (needs) }
        }
    };
    Ok(layout::page(
        &s,
        Nav::Exports,
        l.pick("导出与报告", "Exports"),
        "exports",
        Options {
            charts: false,
            live: true,
            data: vec![],
        },
        body,
    ))
}
