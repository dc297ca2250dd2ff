//! `GET /console/conflicts`: every open same-item conflict in the caller's area, each candidate
//! side by side with who wrote it and when; the supervisor adopts one or types a value.

use std::collections::HashMap;

use axum::extract::State;
use maud::{Markup, html};

use doorstep_shared::Value;
use doorstep_shared::domain::{OUTCOME, STATUS};
use doorstep_shared::form::{FormDefinition, Item, ItemKind};
use doorstep_shared::lang::Lang;
use doorstep_shared::sync::Role;

use super::PageResult;
use super::layout::{self, Nav, Options, time};
use super::session::Session;
use crate::state::AppState;

/// A value as the supervisor reads it: option labels instead of keys.
fn show(l: Lang, item: Option<&Item>, key: &str, v: Option<&Value>) -> String {
    let label = |k: &str| -> String {
        if key == STATUS {
            return match doorstep_shared::Status::parse(k) {
                Some(doorstep_shared::Status::Final) => l.pick("已提交", "submitted").into(),
                Some(doorstep_shared::Status::Draft) => l.pick("草稿", "draft").into(),
                None => k.into(),
            };
        }
        item.and_then(|i| i.option(k)).map_or_else(
            || k.to_string(),
            |c| l.pick(&c.label_zh, &c.label_en).to_string(),
        )
    };
    match v {
        None => l.pick("（空）", "(empty)").into(),
        Some(Value::Text(k)) => label(k),
        Some(Value::Set(s)) if s.is_empty() => l.pick("（无）", "(none)").into(),
        Some(Value::Set(s)) => s
            .iter()
            .map(|k| label(k))
            .collect::<Vec<_>>()
            .join(l.pick("、", ", ")),
        Some(Value::Bool(true)) => l.pick("是", "yes").into(),
        Some(Value::Bool(false)) => l.pick("否", "no").into(),
        Some(other) => other.display(),
    }
}

/// The kind the page script converts a typed value into.
fn kind_key(item: Option<&Item>, key: &str) -> &'static str {
    if key == STATUS {
        return "single";
    }
    match item.map(|i| i.kind) {
        Some(ItemKind::Integer { .. }) => "integer",
        Some(ItemKind::Date) => "date",
        Some(ItemKind::YesNo) => "yes_no",
        Some(ItemKind::Single) => "single",
        Some(ItemKind::Multi) => "multi",
        Some(ItemKind::Geo) => "geo",
        Some(ItemKind::Text | ItemKind::Phone) | None => "text",
    }
}

/// The control to type (or pick) a value of the item.
fn input(l: Lang, item: Option<&Item>, key: &str) -> Markup {
    let aria = l.pick("输入新的值", "Type a value");
    html! {
        @match kind_key(item, key) {
            "single" => {
                select.input aria-label=(aria) {
                    option value="" { (l.pick("（清空）", "(clear)")) }
                    @if key == STATUS {
                        option value="final" { (l.pick("已提交", "submitted")) }
                        option value="draft" { (l.pick("草稿", "draft")) }
                    } @else if let Some(i) = item {
                        @for c in &i.options { option value=(c.key) { (l.pick(&c.label_zh, &c.label_en)) } }
                    }
                }
            }
            "yes_no" => {
                select.input aria-label=(aria) {
                    option value="" { (l.pick("（清空）", "(clear)")) }
                    option value="true" { (l.pick("是", "yes")) }
                    option value="false" { (l.pick("否", "no")) }
                }
            }
            "multi" => {
                fieldset.input.multi {
                    legend { (aria) }
                    @if let Some(i) = item {
                        @for c in &i.options {
                            label.check { input type="checkbox" value=(c.key); " " (l.pick(&c.label_zh, &c.label_en)) }
                        }
                    }
                }
            }
            "integer" => { input.input type="number" step="1" aria-label=(aria); }
            "date" => { input.input type="date" aria-label=(aria); }
            "geo" => { input.input type="text" placeholder="27.24,111.46" aria-label=(aria); }
            _ => { input.input type="text" placeholder=(aria) aria-label=(aria); }
        }
    }
}

fn item_label<'a>(l: Lang, form: &'a FormDefinition, key: &'a str) -> (&'a str, Option<&'a Item>) {
    let item = form.item(key);
    let label = match item {
        Some(i) => l.pick(&i.label_zh, &i.label_en),
        None if key == STATUS => l.pick("记录状态", "Record status"),
        None => key,
    };
    (label, item)
}

/// `GET /console/conflicts`.
pub async fn page(State(state): State<AppState>, s: Session) -> PageResult {
    s.require(&[Role::Supervisor, Role::Admin])?;
    let l = s.lang;
    let campaign = state.campaign().await?;
    let form = state.form(&campaign.form_version).await?;
    let scope = s.caller.scope(&state, &campaign).await?;
    let conflicts = state.db.conflicts(&campaign.id.to_string(), &scope).await?;
    state
        .db
        .audit_entry(
            &s.caller
                .entry("view_conflicts", &format!("{} open", conflicts.len())),
        )
        .await?;
    let mut codes: Vec<String> = conflicts.iter().map(|c| c.community.clone()).collect();
    codes.sort();
    codes.dedup();
    let places: HashMap<String, String> = state.db.place_names(&codes).await?.into_iter().collect();
    let people: HashMap<String, String> = state
        .db
        .users()
        .await?
        .into_iter()
        .map(|u| (u.username, u.display_name))
        .collect();
    let device_names: HashMap<String, String> = state
        .db
        .devices()
        .await?
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect();
    let device = |d: Option<uuid::Uuid>| -> Option<&String> {
        d.and_then(|d| device_names.get(&d.to_string()))
    };
    let who = |user: &str| -> String {
        match people.get(user) {
            Some(d) if !user.is_empty() => format!("{d}（{user}）"),
            _ if user.is_empty() => l.pick("底册导入", "roster import").into(),
            _ => user.to_string(),
        }
    };
    let body = html! {
        div.title-row {
            h1 { (l.pick("冲突处理", "Conflicts")) }
            p.muted {
                (l.pick(
                    "两台设备从同一个值出发、把同一项改成了不同的值。请选定正确的值；结果会同步回各设备。",
                    "Two devices changed the same item from the same value to different values. Pick the right one; the resolution syncs back to every device.",
                ))
            }
            p.notice id="conflicts-changed" hidden {
                (l.pick("有新的冲突。", "New conflicts arrived."))
                " " a href="/console/conflicts" { (l.pick("刷新", "Reload")) }
            }
        }
        p.empty id="no-conflicts" hidden[!conflicts.is_empty()] { (l.pick("目前没有待处理的冲突。", "No open conflicts.")) }
        div.conflict-list {
            @for c in &conflicts {
                @let (label, item) = item_label(l, &form, &c.item);
                article.conflict data-person=(c.person_id) data-item=(c.item) data-kind=(kind_key(item, &c.item)) {
                    header {
                        h2 {
                            a href={ "/console/community/" (c.community) } { (c.name) }
                            " · " (label)
                        }
                        p.muted {
                            (places.get(&c.community).map_or(c.community.as_str(), String::as_str))
                            " · " (l.pick("原值", "Base value")) ": " b.base { (show(l, item, &c.item, c.conflict.base.as_ref())) }
                            " · " (l.pick("当前暂用", "Provisional")) ": " b.current { (show(l, item, &c.item, c.current.as_ref())) }
                            @if c.item == OUTCOME { " · " (l.pick("影响完成统计", "affects the figures")) }
                        }
                    }
                    div.candidates {
                        @let provisional = c.conflict.provisional().by.key();
                        @for cand in &c.conflict.candidates {
                            @let is_provisional = cand.by.key() == provisional;
                            div.candidate.provisional[is_provisional] {
                                p.value {
                                    (show(l, item, &c.item, cand.value.as_ref()))
                                    @if is_provisional { span.badge { (l.pick("当前暂用", "provisional")) } }
                                }
                                p.by { (who(&cand.by.user)) }
                                @if let Some(d) = device(cand.by.device) {
                                    p.device.muted { (l.pick("设备：", "Device: ")) (d) }
                                }
                                p.when.muted { (time(Some(cand.by.at_ms))) }
                                button.primary.adopt type="button"
                                    data-value=(serde_json::to_string(&cand.value).unwrap_or_else(|_| "null".into())) {
                                    (l.pick("采用此值", "Use this value"))
                                }
                            }
                        }
                        div.candidate.typed {
                            p.value { (l.pick("其他值", "Another value")) }
                            (input(l, item, &c.item))
                            button.adopt-typed type="button" { (l.pick("采用输入的值", "Use the typed value")) }
                        }
                    }
                    p.msg role="status" {}
                }
            }
        }
    };
    Ok(layout::page(
        &s,
        Nav::Conflicts,
        l.pick("冲突处理", "Conflicts"),
        "conflicts",
        Options {
            charts: false,
            live: true,
            data: vec![("count", conflicts.len().to_string())],
        },
        body,
    ))
}
