//! The hand-over to the national system (动态1表): the coded export in official item order, the
//! per-person keying checklist, and the "keyed into the national system" mark. Called by the API
//! (`server/src/http/handover.rs`), the console (`server/src/console/handover.rs`) and the CLI
//! (`coded-export`). See `docs/handover.md`.

use doorstep_shared::errors::ErrorCode;
use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use doorstep_shared::carry::{self, ItemChange};
use doorstep_shared::domain::{outcome_of, status_of};
use doorstep_shared::form::{FormContext, FormDefinition, ItemKind};
use doorstep_shared::official;
use doorstep_shared::sync::Role;
use doorstep_shared::{Campaign, DivisionCode, Review, Status};

use super::{Error, Result};
use crate::db::{KeyedMark, RecordRow, Scope};
use crate::state::AppState;
use crate::tables::Table;

/// The roles that key records into the national system and may mark them keyed.
pub const KEYERS: &[Role] = &[Role::Supervisor, Role::Admin];

pub use super::Who;

/// What a hand-over file or page is asked for (the API's and the console's query string).
#[derive(Debug, Deserialize)]
pub struct HandoverQuery {
    pub year: Option<i32>,
    /// A community (12 digits), street (9) or the district (6); all the caller sees by default.
    pub area: Option<String>,
    /// One person's checklist.
    pub person: Option<String>,
}

/// The form whose codes a hand-over uses: the shipped file of the campaign's form version (so a
/// year's codes added to the file apply to campaigns already open), else the stored one.
#[must_use]
pub fn coded_form(stored: Arc<FormDefinition>) -> Arc<FormDefinition> {
    let shipped = FormDefinition::dynamic_update_2021();
    if shipped.version == stored.version && bare(&shipped) == bare(&stored) {
        Arc::new(shipped)
    } else {
        stored
    }
}

/// The form's sections without their official annotations: its structure.
fn bare(form: &FormDefinition) -> Vec<doorstep_shared::form::Section> {
    let mut sections = form.sections.clone();
    for i in sections.iter_mut().flat_map(|s| s.items.iter_mut()) {
        i.official = None;
        for c in &mut i.options {
            c.code = None;
        }
    }
    sections
}

/// The records of a hand-over: a community, a street or the district (`area`, a division code;
/// `None` for all the caller may see), within the caller's scope.
struct Selection {
    campaign: Campaign,
    form: Arc<FormDefinition>,
    rows: Vec<RecordRow>,
    names: HashMap<String, String>,
    marks: HashMap<String, KeyedMark>,
    full_ids: bool,
}

async fn select(
    state: &AppState,
    who: Who<'_>,
    year: Option<i32>,
    area: Option<&str>,
) -> Result<Selection> {
    let campaign = state.campaign_for(year).await?;
    let area = match area.map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(DivisionCode::parse(a).map_err(|_| {
            Error::invalid(
                ErrorCode::BadArea,
                format!(
                    "“{a}”不是区划代码：应为6位（区县）、9位（街道乡镇）或12位（社区村）数字 / \
                     \"{a}\" is not a division code: 6 (district), 9 (street) or 12 (community) digits"
                ),
            )
        })?),
    };
    let scope = who.scope(state, &campaign).await?;
    if let (Some(a), Scope::Area(p)) = (&area, &scope)
        && !(a.as_str().starts_with(p.as_str()) || p.starts_with(a.as_str()))
    {
        return Err(Error::not_found(
            ErrorCode::NotInScope,
            format!("{a} 不在您负责的范围内 / {a} is outside your area"),
        ));
    }
    let form = coded_form(state.form(&campaign.form_version).await?);
    let cid = campaign.id.to_string();
    let rows = state
        .db
        .records(&cid, &scope, area.as_ref().map(DivisionCode::as_str))
        .await?;
    let mut codes: Vec<String> = rows.iter().map(|r| r.community.clone()).collect();
    codes.sort();
    codes.dedup();
    let mut streets: Vec<String> = codes
        .iter()
        .map(|c| c[..9.min(c.len())].to_string())
        .collect();
    streets.dedup();
    codes.extend(streets);
    let names = state.db.place_names(&codes).await?.into_iter().collect();
    let marks = state
        .db
        .keyed_marks(&cid, &scope, area.as_ref().map(DivisionCode::as_str))
        .await?;
    Ok(Selection {
        campaign,
        form,
        rows,
        names,
        marks,
        full_ids: who.role() == Role::Admin,
    })
}

fn ids(r: &RecordRow, full: bool) -> (String, String) {
    if full {
        (
            r.person.certificate.to_string(),
            r.person.resident_id.to_string(),
        )
    } else {
        (r.person.certificate.masked(), r.person.resident_id.masked())
    }
}

fn record_state(r: &RecordRow) -> &'static str {
    match (status_of(&r.doc.answers), r.review) {
        (Status::Draft, _) if outcome_of(&r.doc.answers).is_none() => "未调查",
        (Status::Draft, _) => "草稿",
        (Status::Final, Review::Pending) => "已提交待审核",
        (Status::Final, Review::StreetApproved) => "街道已复查待区级审核",
        (Status::Final, Review::Approved) => "已审核通过",
        (Status::Final, Review::Returned) => "已退回",
    }
}

fn method(r: &RecordRow) -> &'static str {
    match (r.final_outcome, r.via_app) {
        (None, _) => "",
        (Some(_), true) => "APP采集",
        (Some(_), false) => "网页录入",
    }
}

/// Milliseconds since the epoch as Beijing time, `YYYY-MM-DD HH:MM`.
#[must_use]
pub fn beijing(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The fixed columns before the item columns of the coded table.
pub const FIXED_COLUMNS: [&str; 14] = [
    "区划代码",
    "街道（乡镇）",
    "社区（村）",
    "姓名",
    "残疾人证号",
    "身份证号",
    "残疾类别",
    "残疾等级",
    "调查结果",
    "采集方式",
    "记录状态",
    "已录入国家系统",
    "录入人",
    "录入时间",
];

/// The coded export of an area: one row per person, the fixed columns then every item in
/// official order as its code (one column per option for a multi choice, blank where skip logic
/// applies) with its changed-since-last-year flag. ID numbers are full only for the admin. The
/// export is audited.
///
/// # Errors
/// A worker asking, a bad area code, an area outside the caller's scope, no such campaign, a
/// database error.
pub async fn coded_table(
    state: &AppState,
    who: Who<'_>,
    year: Option<i32>,
    area: Option<&str>,
) -> Result<Table> {
    if !KEYERS.contains(&who.role()) {
        return Err(keyers_only());
    }
    let sel = select(state, who, year, area).await?;
    let columns = official::columns(&sel.form);
    let mut header: Vec<String> = FIXED_COLUMNS.iter().map(|s| (*s).to_string()).collect();
    header.extend(columns.iter().map(|c| c.header.clone()));
    let rows = sel
        .rows
        .iter()
        .map(|r| {
            let (cert, id) = ids(r, sel.full_ids);
            let mark = sel.marks.get(&r.id);
            let ctx = FormContext::for_person(&r.person, &sel.campaign);
            let mut v = vec![
                r.community.clone(),
                sel.names
                    .get(&r.community[..9.min(r.community.len())])
                    .cloned()
                    .unwrap_or_default(),
                sel.names.get(&r.community).cloned().unwrap_or_default(),
                r.person.name.clone(),
                cert,
                id,
                r.person.certificate.category().label_zh().to_string(),
                r.person.certificate.level().label_zh().to_string(),
                outcome_of(&r.doc.answers).map_or(String::new(), |o| o.label_zh().to_string()),
                method(r).to_string(),
                record_state(r).to_string(),
                if mark.is_some() { "是" } else { "否" }.to_string(),
                mark.map(|m| m.by.clone()).unwrap_or_default(),
                mark.map(|m| beijing(m.at)).unwrap_or_default(),
            ];
            v.extend(official::row(
                &sel.form,
                &columns,
                &r.doc.answers,
                r.prior.as_ref(),
                &ctx,
            ));
            v
        })
        .collect();
    let table = Table { header, rows };
    state
        .db
        .audit_entry(&who.entry(
            "export",
            &format!(
                "handover {} ({} rows, {})",
                area.unwrap_or("all"),
                table.rows.len(),
                if sel.full_ids {
                    "full IDs"
                } else {
                    "masked IDs"
                }
            ),
        ))
        .await?;
    Ok(table)
}

/// One line of a keying checklist: an item that applies, as the national app asks it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChecklistLine {
    /// `R13`, or `R?` when the official number is not known.
    pub number: String,
    pub wording: String,
    /// The answer in words (options joined with 、), blank when not answered.
    pub answer: String,
    /// The code(s) to key; `?…` where the official code is unknown.
    pub code: String,
    /// 变更 / 相同 / 新填 against last year; blank without last year's record.
    pub change: String,
}

/// One person's checklist page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChecklistPage {
    pub person: String,
    pub name: String,
    pub community: String,
    pub community_name: String,
    pub certificate: String,
    pub resident_id: String,
    pub outcome: String,
    pub state: String,
    pub lines: Vec<ChecklistLine>,
    pub keyed: Option<KeyedMark>,
}

/// The checklist of a form: its title and numbering year, and the pages.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Checklist {
    pub title: String,
    pub numbering: String,
    pub pages: Vec<ChecklistPage>,
}

fn page(
    form: &FormDefinition,
    campaign: &Campaign,
    r: &RecordRow,
    names: &HashMap<String, String>,
    mark: Option<&KeyedMark>,
    full_ids: bool,
) -> ChecklistPage {
    let ctx = FormContext::for_person(&r.person, campaign);
    let kept = form.prune(&r.doc.answers, &ctx);
    let diff = r
        .prior
        .as_ref()
        .map(|p| carry::diff(form, p, &kept, &ctx))
        .unwrap_or_default();
    let relevant: Vec<&str> = form
        .relevant_items(&r.doc.answers, &ctx)
        .into_iter()
        .map(|i| i.key.as_str())
        .collect();
    let lines = official::ordered_items(form)
        .into_iter()
        .filter(|i| relevant.contains(&i.key.as_str()) && i.kind != ItemKind::Geo)
        .map(|item| {
            let value = kept.get(&item.key);
            let answer = value.map_or(String::new(), |v| match v {
                doorstep_shared::Value::Text(k) if item.kind == ItemKind::Single => item
                    .option(k)
                    .map_or_else(|| k.clone(), |c| c.label_zh.clone()),
                doorstep_shared::Value::Set(s) => s
                    .iter()
                    .map(|k| {
                        item.option(k)
                            .map_or_else(|| k.clone(), |c| c.label_zh.clone())
                    })
                    .collect::<Vec<_>>()
                    .join("、"),
                doorstep_shared::Value::Bool(b) => if *b { "是" } else { "否" }.to_string(),
                other => other.display(),
            });
            let code = match (item.kind, value) {
                (ItemKind::Single | ItemKind::YesNo | ItemKind::Multi, Some(v)) => {
                    official::answer_cell(form, item, v)
                }
                _ => String::new(),
            };
            let change = match diff.get(&item.key) {
                Some(ItemChange::Changed) => "变更",
                Some(ItemChange::New) => "新填",
                Some(ItemChange::Unchanged) => "相同",
                Some(ItemChange::Open) | None => "",
            };
            ChecklistLine {
                number: official::item_number(item),
                wording: official::item_wording(item).to_string(),
                answer,
                code,
                change: change.to_string(),
            }
        })
        .collect();
    let (certificate, resident_id) = ids(r, full_ids);
    ChecklistPage {
        person: r.id.clone(),
        name: r.person.name.clone(),
        community: r.community.clone(),
        community_name: names.get(&r.community).cloned().unwrap_or_default(),
        certificate,
        resident_id,
        outcome: outcome_of(&r.doc.answers).map_or(String::new(), |o| o.label_zh().to_string()),
        state: record_state(r).to_string(),
        lines,
        keyed: mark.cloned(),
    }
}

/// The keying checklist of an area (normally a community) or of one person (`person`): a page
/// per person in official item order with the official wording and codes. Supervisors and the
/// admin only (they key records); audited as a record view.
///
/// # Errors
/// A worker asking, a bad area, a person outside the caller's scope, a database error.
pub async fn checklist(
    state: &AppState,
    who: Who<'_>,
    year: Option<i32>,
    area: Option<&str>,
    person: Option<&str>,
) -> Result<Checklist> {
    if !KEYERS.contains(&who.role()) {
        return Err(keyers_only());
    }
    let sel = select(state, who, year, area).await?;
    let pages: Vec<ChecklistPage> = sel
        .rows
        .iter()
        .filter(|r| person.is_none_or(|p| p == r.id))
        .map(|r| {
            page(
                &sel.form,
                &sel.campaign,
                r,
                &sel.names,
                sel.marks.get(&r.id),
                sel.full_ids,
            )
        })
        .collect();
    if let Some(p) = person
        && pages.is_empty()
    {
        return Err(Error::not_found(
            ErrorCode::NoSuchPerson,
            format!("没有这个人员，或不在您负责的范围内：{p} / no such person in your area: {p}"),
        ));
    }
    state
        .db
        .audit_entry(&who.entry(
            "view",
            &format!(
                "handover checklist {} ({} persons)",
                person.or(area).unwrap_or("all"),
                pages.len()
            ),
        ))
        .await?;
    let numbering = sel.form.official.as_ref().map_or_else(
        || "官方编号未知 / official numbering unknown".to_string(),
        |o| format!("{}，{} 年编号", o.form, o.numbering_year),
    );
    Ok(Checklist {
        title: sel.form.title_zh.clone(),
        numbering,
        pages,
    })
}

fn keyers_only() -> Error {
    Error {
        kind: super::Kind::Invalid,
        code: ErrorCode::Forbidden,
        message: "只有街道专干和区残联管理员录入国家系统 / only supervisors and the district admin key records into the national system".into(),
    }
}

/// Marks a record keyed into the national system (`keyed`), or clears the mark. Only a record
/// with a final outcome is keyed. Audited.
///
/// # Errors
/// A worker asking, an unknown person or one outside the caller's scope, a record without a
/// final outcome, a database error.
pub async fn mark_keyed(
    state: &AppState,
    who: Who<'_>,
    person: &str,
    keyed: bool,
) -> Result<Option<KeyedMark>> {
    if !KEYERS.contains(&who.role()) {
        return Err(keyers_only());
    }
    let campaign = state.campaign_for(None).await?;
    let scope = who.scope(state, &campaign).await?;
    let row = state
        .db
        .record(person)
        .await?
        .filter(|r| r.campaign_id == campaign.id.to_string() && scope.allows(&r.community))
        .ok_or_else(|| {
            Error::not_found(
                ErrorCode::NoSuchPerson,
                format!("没有这个人员，或不在您负责的范围内：{person} / no such person in your area: {person}"),
            )
        })?;
    let by = who.name();
    let cid = campaign.id.to_string();
    if keyed {
        if row.final_outcome.is_none() {
            return Err(Error::conflict(
                ErrorCode::NotFinal,
                format!(
                    "{} 的记录还没有最终调查结果，不能标记为已录入国家系统 / {}'s record has no final outcome yet: it cannot be marked keyed",
                    row.person.name, row.person.name
                ),
            ));
        }
        let mark = KeyedMark {
            by: by.clone(),
            at: crate::db::now_ms(),
        };
        state.db.set_keyed(&cid, person, Some(&mark)).await?;
    } else {
        state.db.set_keyed(&cid, person, None).await?;
    }
    state
        .db
        .audit_entry(&who.entry(
            "handover",
            &format!("{} {person}", if keyed { "keyed" } else { "unkeyed" }),
        ))
        .await?;
    let _ = state.changes.send(());
    Ok(state
        .db
        .keyed_marks(&cid, &scope, Some(&row.community))
        .await?
        .remove(person))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_time_is_utc_plus_eight() {
        assert_eq!(beijing(0), "1970-01-01 08:00");
    }

    #[test]
    fn the_stored_form_of_the_shipped_version_takes_the_shipped_codes() {
        let mut stored = FormDefinition::dynamic_update_2021();
        for s in &mut stored.sections {
            for i in &mut s.items {
                i.official = None;
                for c in &mut i.options {
                    c.code = None;
                }
            }
        }
        stored.official = None;
        let coded = coded_form(Arc::new(stored.clone()));
        assert!(coded.official.is_some());
        // Another structure (a changed form under the same version) keeps what was stored.
        stored.sections[1].items.pop();
        assert!(coded_form(Arc::new(stored)).official.is_none());
    }
}
