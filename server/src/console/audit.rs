//! `GET /console/audit` (district admin): the audit trail, newest first, filtered by action and
//! user, with the chain's check and a CSV download of what is shown.

use axum::extract::{Query, State};
use maud::html;
use serde::Deserialize;

use doorstep_shared::sync::Role;

use super::PageResult;
use super::layout::{self, Nav, Options, time};
use super::session::Session;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

/// `GET /console/audit`.
pub async fn page(
    State(state): State<AppState>,
    s: Session,
    Query(f): Query<Filter>,
) -> PageResult {
    s.require(&[Role::Admin])?;
    let l = s.lang;
    let action = f.action.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let user = f.user.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let rows = state.db.audit_entries(action, user, 500).await?;
    let verified = state.db.audit_verify().await?;
    state
        .db
        .audit_entry(
            &s.caller
                .entry("audit_read", &format!("{} entries (console)", rows.len())),
        )
        .await?;
    let csv = format!(
        "/api/v1/admin/audit?format=csv&limit=100000&action={}&user={}",
        action.unwrap_or(""),
        user.unwrap_or("")
    );
    let body = html! {
        div.title-row {
            h1 { (l.pick("审计记录", "Audit trail")) }
            p id="audit-chain" data-intact=(verified.broken_at.is_none()) {
                @match verified.broken_at {
                    None => (format!("{} {} {}", l.pick("完整：共", "Intact:"), verified.entries, l.pick("条，哈希链校验通过", "entries, the hash chain checks out"))),
                    Some(seq) => strong.bad { (format!("{} {seq}", l.pick("哈希链在此条被改动：", "The hash chain is broken at entry"))) },
                }
            }
        }
        section.panel {
            form method="get" action="/console/audit" {
                label { (l.pick("操作", "Action")) input name="action" value=(action.unwrap_or("")) placeholder="sign_in"; }
                label { (l.pick("用户", "User")) input name="user" value=(user.unwrap_or("")); }
                button.primary type="submit" { (l.pick("筛选", "Filter")) }
                " "
                a href=(csv) { (l.pick("下载 CSV", "Download CSV")) }
            }
            table.data id="audit" {
                thead { tr {
                    th { "#" } th { (l.pick("时间", "When")) } th { (l.pick("用户", "User")) }
                    th { (l.pick("设备", "Device")) } th { (l.pick("地址", "Address")) }
                    th { (l.pick("操作", "Action")) } th { (l.pick("详情", "Detail")) }
                } }
                tbody {
                    @for r in &rows {
                        tr data-action=(r.action) {
                            td.num { (r.seq) }
                            td.time { (time(Some(r.at))) }
                            td { (r.user.as_deref().unwrap_or("—")) }
                            td.mono { (r.device.as_deref().unwrap_or("")) }
                            td.mono { (r.address.as_deref().unwrap_or("")) }
                            td { (r.action) }
                            td { (r.detail) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &s,
        Nav::Admin,
        l.pick("审计记录", "Audit trail"),
        "audit",
        Options::default(),
        body,
    ))
}
