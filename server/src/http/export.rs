//! Exports: progress and records as XLSX and CSV. ID numbers are masked unless the caller is the
//! district admin; every export is audited.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use doorstep_shared::Outcome;
use doorstep_shared::progress::format_bp;
use doorstep_shared::sync::Role;

use super::auth::Caller;
use super::progress::compute;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::tables::{Table, to_csv, to_xlsx};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/export/{file}", get(export))
}

/// The progress table: one row per community, then streets, then the total.
///
/// # Errors
/// As [`compute`].
pub async fn progress_table(
    state: &AppState,
    caller: &Caller,
    year: Option<i32>,
) -> ApiResult<Table> {
    let (p, _) = compute(state, caller, year).await?;
    let mut header: Vec<String> = [
        "级别",
        "代码",
        "名称",
        "所属街道（乡镇）",
        "底册人数",
        "已完成",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    header.extend(Outcome::ALL.iter().map(|o| o.label_zh().to_string()));
    header.extend(["APP采集", "调查完成率", "入户调查率", "APP采集比例"].map(String::from));
    let line = |level: &str,
                code: &str,
                name: &str,
                street: &str,
                f: &doorstep_shared::progress::Figures| {
        let mut v = vec![
            level.to_string(),
            code.to_string(),
            name.to_string(),
            street.to_string(),
            f.roster.to_string(),
            f.done.to_string(),
        ];
        v.extend(f.outcomes.iter().map(ToString::to_string));
        v.push(f.via_app.to_string());
        v.push(format_bp(f.completion_bp));
        v.push(format_bp(f.home_visit_bp));
        v.push(format_bp(f.app_bp));
        v
    };
    let mut rows: Vec<Vec<String>> = p
        .communities
        .iter()
        .map(|c| line("社区", c.code.as_str(), &c.name, &c.street_name, &c.figures))
        .collect();
    rows.extend(
        p.streets
            .iter()
            .map(|s| line("街道", s.code.as_str(), &s.name, "", &s.figures)),
    );
    rows.push(line(
        "合计",
        p.campaign.district.as_str(),
        &p.campaign.name,
        "",
        &p.total,
    ));
    Ok(Table { header, rows })
}

/// The records table: one row per person, masked IDs unless admin.
///
/// # Errors
/// A database error.
pub async fn records_table(
    state: &AppState,
    caller: &Caller,
    year: Option<i32>,
) -> ApiResult<Table> {
    let campaign = state.campaign_for(year).await?;
    let form = state.form(&campaign.form_version).await?;
    let scope = caller.scope(state, &campaign).await?;
    let rows = state
        .db
        .records(&campaign.id.to_string(), &scope, None)
        .await?;
    let admin = caller.role() == Role::Admin;
    let items: Vec<_> = form
        .items()
        .filter(|i| i.key != doorstep_shared::domain::OUTCOME)
        .collect();
    let names: std::collections::HashMap<String, String> = {
        let mut codes: Vec<String> = rows.iter().map(|r| r.community.clone()).collect();
        codes.sort();
        codes.dedup();
        state.db.place_names(&codes).await?.into_iter().collect()
    };
    let mut header: Vec<String> = [
        "社区代码",
        "社区",
        "采集人",
        "姓名",
        "身份证号",
        "残疾证号",
        "调查结果",
        "状态",
        "审核",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    header.extend(items.iter().map(|i| i.label_zh.clone()));
    let out = rows
        .iter()
        .map(|r| {
            let (id, cert) = if admin {
                (
                    r.person.resident_id.to_string(),
                    r.person.certificate.to_string(),
                )
            } else {
                (r.person.resident_id.masked(), r.person.certificate.masked())
            };
            let mut v = vec![
                r.community.clone(),
                names.get(&r.community).cloned().unwrap_or_default(),
                r.collected_by.clone().unwrap_or_default(),
                r.person.name.clone(),
                id,
                cert,
                doorstep_shared::domain::outcome_of(&r.doc.answers)
                    .map_or(String::new(), |o| o.label_zh().to_string()),
                match doorstep_shared::domain::status_of(&r.doc.answers) {
                    doorstep_shared::Status::Final => "已提交".into(),
                    doorstep_shared::Status::Draft => "草稿".into(),
                },
                r.review.label_zh().into(),
            ];
            v.extend(items.iter().map(|i| {
                let val = r.doc.answers.get(&i.key);
                val.map_or(String::new(), |v| match v {
                    doorstep_shared::Value::Text(k) => i
                        .option(k)
                        .map_or_else(|| k.clone(), |c| c.label_zh.clone()),
                    doorstep_shared::Value::Set(s) => s
                        .iter()
                        .map(|k| {
                            i.option(k)
                                .map_or_else(|| k.clone(), |c| c.label_zh.clone())
                        })
                        .collect::<Vec<_>>()
                        .join("、"),
                    other => other.display(),
                })
            }));
            v
        })
        .collect();
    Ok(Table { header, rows: out })
}

async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(file): Path<String>,
    crate::error::ApiQuery(q): crate::error::ApiQuery<super::progress::YearQuery>,
) -> ApiResult<Response> {
    caller.require(&[Role::Supervisor, Role::Admin])?;
    let (table, sheet) = match file.split_once('.').map(|(n, _)| n) {
        Some("progress") => (progress_table(&state, &caller, q.year).await?, "进度"),
        Some("records") => (records_table(&state, &caller, q.year).await?, "调查记录"),
        _ => {
            return Err(ApiError::not_found(format!(
                "没有导出文件 {file}，可用 progress.xlsx、progress.csv、records.xlsx、records.csv / no export {file}: use progress.xlsx, progress.csv, records.xlsx or records.csv"
            )));
        }
    };
    let (bytes, mime) = if file.ends_with(".xlsx") {
        (
            to_xlsx(&table, sheet).map_err(|e| ApiError::internal(&e))?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    } else if file.ends_with(".csv") {
        (
            to_csv(&table).map_err(|e| ApiError::internal(&e))?,
            "text/csv; charset=utf-8",
        )
    } else {
        return Err(ApiError::not_found(format!(
            "没有导出文件 {file}，请用 .xlsx 或 .csv / no export {file}: use .xlsx or .csv"
        )));
    };
    state
        .db
        .audit_entry(&caller.entry("export", &format!("{file} ({} rows)", table.rows.len())))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
