//! `GET /console/admin` (district admin): roster import with progress and the row report, users,
//! community assignments, devices, and keyed-in entry of paper records.

use std::collections::HashMap;

use axum::extract::State;
use maud::{Markup, html};

use doorstep_shared::Outcome;
use doorstep_shared::lang::{Label, Lang};
use doorstep_shared::progress::Progress;
use doorstep_shared::sync::Role;

use super::PageResult;
use super::layout::{self, Nav, Options, time};
use super::session::Session;
use crate::db::{DeviceRow, UserRow};
use crate::service::progress::for_caller as compute;
use crate::state::AppState;

/// `GET /console/admin`.
pub async fn page(State(state): State<AppState>, s: Session) -> PageResult {
    s.require(&[Role::Admin])?;
    let l = s.lang;
    if state.db.current_campaign().await?.is_none() {
        return Ok(axum::response::IntoResponse::into_response(
            axum::response::Redirect::to("/console/campaigns"),
        ));
    }
    let (p, _) = compute(&state, &s.caller, None).await?;
    let users = state.db.users().await?;
    let assignments = state.db.assignments(&p.campaign.id.to_string()).await?;
    let devices = state.db.devices().await?;
    let body = html! {
        (title_row(l, &p))
        (import_panel(l))
        (keyed_panel(l, &p))
        (users_panel(l, &p, &users))
        (assignments_panel(l, &p, &users, &assignments))
        (devices_panel(l, &devices))
    };
    Ok(layout::page(
        &s,
        Nav::Admin,
        l.pick("管理", "Administration"),
        "admin",
        Options::default(),
        body,
    ))
}

/// The title, the campaign and the table of contents.
fn title_row(l: Lang, p: &Progress) -> Markup {
    html! {
        div.title-row {
            h1 { (l.pick("管理", "Administration")) }
            p.muted { (p.campaign.name) }
            nav.toc {
                a href="#import" { (l.pick("导入底册", "Import roster")) }
                a href="#keyed" { (l.pick("录入纸质记录", "Key in paper records")) }
                a href="#users" { (l.pick("账号", "Accounts")) }
                a href="#assignments" { (l.pick("社区分配", "Assignments")) }
                a href="#devices" { (l.pick("设备", "Devices")) }
                a href="/console/audit" { (l.pick("审计记录", "Audit trail")) }
            }
        }
    }
}

/// Roster import: the file, its progress and the row report (filled by the page's script).
fn import_panel(l: Lang) -> Markup {
    html! {
        section.panel id="import" {
            h2 { (l.pick("导入调查底册", "Import the roster")) }
            p.muted {
                (l.pick(
                    "上传 Excel（.xlsx）或 CSV 文件。任何一行有问题都不会导入，并列出所有有问题的行；已有的人员按身份证号更新，调查记录保留。",
                    "Upload an Excel (.xlsx) or CSV file. If any row has a problem nothing is imported and every bad row is listed; known persons (same ID number) are updated and keep their records.",
                ))
            }
            form id="import-form" {
                input id="import-file" type="file" name="file" accept=".xlsx,.csv" required;
                button.primary type="submit" { (l.pick("导入", "Import")) }
                progress id="import-progress" max="100" value="0" hidden {}
                span id="import-status" role="status" {}
            }
            div id="import-result" {}
        }
    }
}

/// Keyed-in entry of a paper record's outcome.
fn keyed_panel(l: Lang, p: &Progress) -> Markup {
    html! {
        section.panel id="keyed" {
            h2 { (l.pick("录入纸质记录", "Key in paper records")) }
            p.muted {
                (l.pick(
                    "为未能调查的人员录入纸质记录的调查结果（附去向说明或注销日期）并提交；问卷请在 APP 上填写。网页录入不计入 APP 采集比例。",
                    "Enter the outcome of a person who could not be surveyed, from a paper record, with the note or date it needs. Entries made here do not count as APP collection.",
                ))
            }
            form id="keyed-form" {
                label {
                    (l.pick("社区（村）", "Community"))
                    select id="keyed-community" required {
                        option value="" { (l.pick("请选择", "Choose")) }
                        @for c in &p.communities {
                            option value=(c.code) { (c.street_name) " · " (c.name) }
                        }
                    }
                }
                label {
                    (l.pick("按姓名查找", "Find by name"))
                    input id="keyed-search" type="search" autocomplete="off" placeholder=(l.pick("姓名", "Name"));
                }
                label.wide {
                    (l.pick("调查对象", "Person"))
                    select id="keyed-person" size="6" required {}
                }
                label {
                    (l.pick("调查结果", "Outcome"))
                    select id="keyed-outcome" required {
                        option value="" { (l.pick("请选择", "Choose")) }
                        // A questionnaire is entered on the app; here the outcomes without one.
                        @for o in Outcome::ALL.into_iter().filter(|o| !o.has_questionnaire()) {
                            option value=(o.key()) { (o.label(l)) }
                        }
                    }
                }
                label {
                    (l.pick("情况说明（已搬迁、外出必填去向）", "Note (where to, for moved and away)"))
                    input id="keyed-note" type="text" maxlength="500";
                }
                label {
                    (l.pick("注销日期（注销必填）", "Deregistered on (for 注销)"))
                    input id="keyed-date" type="date";
                }
                button.primary type="submit" { (l.pick("提交（最终）", "Submit as final")) }
                span id="keyed-status" role="status" {}
            }
        }
    }
}

/// The accounts and the form for a new one.
fn users_panel(l: Lang, p: &Progress, users: &[UserRow]) -> Markup {
    let district = p.campaign.district.to_string();
    html! {
        section.panel id="users" {
            h2 { (l.pick("账号", "Accounts")) }
            div.scroll.tall {
                table.sortable id="users-table" {
                    thead { tr {
                        th data-sort="text" { button.sort type="button" { (l.pick("用户名", "User name")) } }
                        th data-sort="text" { button.sort type="button" { (l.pick("姓名", "Name")) } }
                        th data-sort="text" { button.sort type="button" { (l.pick("角色", "Role")) } }
                        th data-sort="text" { button.sort type="button" { (l.pick("负责区域", "Area")) } }
                        th data-sort="text" { button.sort type="button" { (l.pick("状态", "State")) } }
                    } }
                    tbody {
                        @for u in users {
                            tr data-user=(u.username) {
                                td.mono { (u.username) }
                                td { (u.display_name) }
                                td { (u.role.label(l)) }
                                td { (u.area.as_ref().map(ToString::to_string).unwrap_or_default()) }
                                td { (if u.active { l.pick("启用", "active") } else { l.pick("停用", "disabled") }) }
                            }
                        }
                    }
                }
            }
            h3 { (l.pick("新建账号", "New account")) }
            form.grid id="user-form" {
                label { (l.pick("用户名", "User name")) input name="username" required autocomplete="off"; }
                label { (l.pick("姓名", "Name")) input name="display_name" required; }
                label {
                    (l.pick("角色", "Role"))
                    select name="role" {
                        option value="worker" { (Role::Worker.label(l)) }
                        option value="supervisor" { (Role::Supervisor.label(l)) }
                        option value="admin" { (Role::Admin.label(l)) }
                    }
                }
                label {
                    (l.pick("负责区域（街道专干）", "Area (supervisors)"))
                    select name="area" {
                        option value="" { "—" }
                        option value=(district) { (l.pick("全区", "The whole district")) }
                        @for st in &p.streets { option value=(st.code) { (st.name) } }
                    }
                }
                label { (l.pick("初始密码（至少 8 位）", "Password (8+ characters)")) input name="password" type="password" minlength="8" required autocomplete="new-password"; }
                div.form-actions {
                    button.primary type="submit" { (l.pick("创建", "Create")) }
                    span.msg role="status" {}
                }
            }
        }
    }
}

/// The community assignments and the form for a new one.
fn assignments_panel(
    l: Lang,
    p: &Progress,
    users: &[UserRow],
    assignments: &[(String, String)],
) -> Markup {
    let names: HashMap<&str, (&str, &str)> = p
        .communities
        .iter()
        .map(|c| (c.code.as_str(), (c.name.as_str(), c.street_name.as_str())))
        .collect();
    let display: HashMap<&str, &str> = users
        .iter()
        .map(|u| (u.username.as_str(), u.display_name.as_str()))
        .collect();
    html! {
        section.panel id="assignments" {
            h2 { (l.pick("社区分配", "Community assignments")) }
            div.scroll.tall {
                table.sortable id="assignments-table" {
                    thead { tr {
                        th data-sort="text" { button.sort type="button" { (l.pick("社区代码", "Code")) } }
                        th data-sort="text" { button.sort type="button" { (l.pick("社区（村）", "Community")) } }
                        th data-sort="text" { button.sort type="button" { (l.pick("街道（乡镇）", "Street")) } }
                        th data-sort="text" { button.sort type="button" { (l.pick("社区专干", "Worker")) } }
                    } }
                    tbody {
                        @for (code, user) in assignments {
                            @let (name, street) = names.get(code.as_str()).copied().unwrap_or(("", ""));
                            tr data-community=(code) {
                                td.mono { (code) }
                                td { (name) }
                                td { (street) }
                                td { (user) @if let Some(d) = display.get(user.as_str()) { " · " (d) } }
                            }
                        }
                    }
                }
            }
            h3 { (l.pick("分配社区", "Assign a community")) }
            form.grid id="assign-form" {
                label {
                    (l.pick("社区（村）", "Community"))
                    select name="community" required {
                        option value="" { (l.pick("请选择", "Choose")) }
                        @for c in &p.communities { option value=(c.code) { (c.street_name) " · " (c.name) } }
                    }
                }
                label {
                    (l.pick("社区专干", "Worker"))
                    select name="username" required {
                        option value="" { (l.pick("请选择", "Choose")) }
                        @for u in users.iter().filter(|u| u.role == Role::Worker && u.active) {
                            option value=(u.username) { (u.username) " · " (u.display_name) }
                        }
                    }
                }
                div.form-actions {
                    button.primary type="submit" { (l.pick("分配", "Assign")) }
                    span.msg role="status" {}
                }
            }
        }
    }
}

/// The devices, each revocable.
fn devices_panel(l: Lang, devices: &[DeviceRow]) -> Markup {
    html! {
        section.panel id="devices" {
            h2 { (l.pick("设备", "Devices")) }
            p.muted { (l.pick("手机丢失时停用其设备：该设备将无法再同步。", "Revoke a lost phone: it can no longer sync.")) }
            div.scroll.tall {
                table.sortable id="devices-table" {
                    thead { tr {
                        th data-sort="text" { button.sort type="button" { (l.pick("用户", "User")) } }
                        th data-sort="text" { button.sort type="button" { (l.pick("设备", "Device")) } }
                        th data-sort="text" { button.sort type="button" { (l.pick("类型", "Kind")) } }
                        th data-sort="num" { button.sort type="button" { (l.pick("最近同步", "Last seen")) } }
                        th { (l.pick("状态", "State")) }
                    } }
                    tbody {
                        // Signed-out console sessions are retired devices; they are not listed.
                        @for d in devices.iter().filter(|d| d.kind == "app" || !d.revoked) {
                            tr data-device=(d.id) {
                                td { (d.username) }
                                td { (d.name) " " small.mono.muted { (d.id.get(..8).unwrap_or(&d.id)) } }
                                td { (if d.kind == "app" { l.pick("手机应用", "app") } else { l.pick("网页", "web") }) }
                                td.time data-sort=(d.last_seen) { (time(Some(d.last_seen))) }
                                td {
                                    span.state { (if d.revoked { l.pick("已停用", "revoked") } else { l.pick("正常", "active") }) }
                                    " "
                                    @if !d.revoked {
                                        button.danger.revoke type="button" data-device=(d.id) { (l.pick("停用", "Revoke")) }
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
