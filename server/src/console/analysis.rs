//! `GET /console/analysis`: the needs and services analysis (supervisor: their street; admin:
//! the district): filters, the action lists with their XLSX exports, a chart of a list by place
//! stacked by level (its table under it), the needs paragraph, and every tallied item's counts
//! and shares by option beside last year's, broken down by place, category or level.

use axum::extract::{Query, State};
use doorstep_shared::errors::ErrorCode;
use maud::{Markup, html};

use doorstep_shared::analysis::{AGE_BANDS, Action};
use doorstep_shared::ids::{Category, Sex};
use doorstep_shared::lang::{Label, Lang};
use doorstep_shared::sync::Role;

use super::PageResult;
use super::layout::{self, Nav, Options, bp};
use super::session::Session;
use crate::service::analysis::{Analysis, Cell, Group, Params, for_caller};
use crate::state::AppState;

/// The page's query as it arrives (all text: a form's empty selects are "all").
#[derive(Debug, Default, serde::Deserialize)]
pub struct RawQuery {
    #[serde(default)]
    year: Option<String>,
    #[serde(default)]
    place: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    age: Option<String>,
    #[serde(default)]
    sex: Option<String>,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    chart: Option<String>,
}

/// The page's query: the analysis parameters, the breakdown shown, the list charted.
#[derive(Debug, Default)]
pub struct PageQuery {
    pub params: Params,
    /// `place` (default), `category` or `level`.
    pub by: Option<String>,
    /// The action list charted by place (default `device`).
    pub chart: Option<String>,
}

/// The query string of the current selection (for export links and breakdown switches).
fn query(p: &Params, extra: &[(&str, &str)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut add = |k: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", encode(v)));
        }
    };
    add("year", p.year.map(|y| y.to_string()).as_deref());
    add("place", p.place.as_deref());
    add("category", p.category.as_deref());
    add("level", p.level.as_deref());
    add("age", p.age.as_deref());
    add("sex", p.sex.as_deref());
    for (k, v) in extra {
        add(k, Some(v));
    }
    parts.join("&")
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn change(now: u64, last: Option<u64>) -> String {
    match last {
        None => "—".into(),
        Some(l) => {
            let d = i128::from(now) - i128::from(l);
            if d > 0 {
                format!("+{d}")
            } else {
                d.to_string()
            }
        }
    }
}

fn opt(n: Option<u64>) -> String {
    n.map_or_else(|| "—".into(), |n| n.to_string())
}

fn group_name(l: Lang, g: &Group) -> &str {
    l.pick(&g.name_zh, &g.name_en)
}

fn filters(l: Lang, q: &PageQuery, places: &[(String, String)], years: &[i32]) -> Markup {
    let p = &q.params;
    let sel = |cur: Option<&String>, v: &str| cur.is_some_and(|c| c == v);
    html! {
        form.filters id="analysis-filters" method="get" action="/console/analysis" {
            label { (l.pick("年度", "Year")) " "
                select name="year" {
                    @for y in years {
                        option value=(y) selected[p.year == Some(*y)] { (y) }
                    }
                }
            }
            label { (l.pick("地区", "Place")) " "
                select name="place" id="f-place" {
                    option value="" { (l.pick("全部", "All")) }
                    @for (code, name) in places {
                        option value=(code) selected[sel(p.place.as_ref(), code)] { (name) }
                    }
                }
            }
            label { (l.pick("残疾类别", "Category")) " "
                select name="category" id="f-category" {
                    option value="" { (l.pick("全部", "All")) }
                    @for c in Category::ALL {
                        option value=(c.digit()) selected[sel(p.category.as_ref(), &c.digit().to_string())] { (c.label(l)) }
                    }
                }
            }
            label { (l.pick("残疾等级", "Level")) " "
                select name="level" id="f-level" {
                    option value="" { (l.pick("全部", "All")) }
                    @for n in 1..=4u8 {
                        option value=(n) selected[sel(p.level.as_ref(), &n.to_string())] { (n) (l.pick("级", "")) }
                    }
                }
            }
            label { (l.pick("年龄段", "Age")) " "
                select name="age" id="f-age" {
                    option value="" { (l.pick("全部", "All")) }
                    @for (_, _, band) in AGE_BANDS {
                        @let v = band.replace('–', "-");
                        option value=(v) selected[sel(p.age.as_ref(), &v)] { (band) }
                    }
                }
            }
            label { (l.pick("性别", "Sex")) " "
                select name="sex" id="f-sex" {
                    option value="" { (l.pick("全部", "All")) }
                    option value="male" selected[sel(p.sex.as_ref(), "male")] { (Sex::Male.label(l)) }
                    option value="female" selected[sel(p.sex.as_ref(), "female")] { (Sex::Female.label(l)) }
                }
            }
            @if let Some(by) = &q.by { input type="hidden" name="by" value=(by); }
            button.primary type="submit" id="f-apply" { (l.pick("筛选", "Apply")) }
            " " a href="/console/analysis" { (l.pick("清除", "Clear")) }
        }
    }
}

fn actions(l: Lang, a: &Analysis, p: &Params) -> Markup {
    html! {
        section id="action-lists" {
            h2 { (l.pick("行动清单", "Action lists")) }
            p.muted { (l.pick("按下列规则从已提交的调查记录中列出需要跟进的人员；导出的 Excel 供负责落实的科室使用，身份证号按角色脱敏，每次导出都会记录。",
                "Persons to act on, listed from the finalized records by the rules below; the Excel export is for the team that acts on it, ID numbers masked as your role requires, every export logged.")) }
            div.scroll {
                table.figures {
                    thead { tr {
                        th scope="col" { (l.pick("清单", "List")) }
                        th scope="col" { (l.pick("规则", "Rule")) }
                        th.num scope="col" { (l.pick("人数", "Persons")) }
                        th.num scope="col" { (l.pick("去年", "Last year")) }
                        th.num scope="col" { (l.pick("变化", "Change")) }
                        th scope="col" { (l.pick("导出", "Export")) }
                    } }
                    tbody {
                        @for x in &a.actions {
                            tr data-list=(x.key) {
                                th scope="row" { (l.pick(x.label_zh, x.label_en)) }
                                td.rule { (l.pick(x.rule_zh, x.rule_en)) }
                                td.num data-k="n" { (x.n) }
                                td.num { (opt(x.last_year)) }
                                td.num { (change(x.n, x.last_year)) }
                                td { a.button.export href={ "/api/v1/analysis/actions/" (x.key) ".xlsx?" (query(p, &[])) } download={ "analysis-" (x.key) ".xlsx" } { "Excel" } }
                            }
                        }
                    }
                }
            }
            h3 { (l.pick("按辅助器具", "By device")) }
            div.scroll {
                table.figures id="devices" {
                    thead { tr {
                        th scope="col" { (l.pick("辅助器具", "Device")) }
                        th.num scope="col" { (l.pick("需要但未获得", "Needed, not received")) }
                        th.num scope="col" { (l.pick("去年", "Last year")) }
                        th.num scope="col" { (l.pick("变化", "Change")) }
                        th scope="col" { (l.pick("导出", "Export")) }
                    } }
                    tbody {
                        @for d in &a.devices {
                            tr {
                                th scope="row" { (d.label_zh) @if l == Lang::En { " (" (d.key) ")" } }
                                td.num { (d.n) }
                                td.num { (opt(d.last_year)) }
                                td.num { (change(d.n, d.last_year)) }
                                td { a.button href={ "/api/v1/analysis/actions/device.xlsx?" (query(p, &[("device", d.key)])) } download={ "analysis-device-" (d.key) ".xlsx" } { "Excel" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The chart's data (labels, one dataset per level) and the same numbers as a table.
fn chart(l: Lang, a: &Analysis, q: &PageQuery) -> (Markup, String) {
    let key = q
        .chart
        .as_deref()
        .and_then(Action::parse)
        .unwrap_or(Action::Device);
    let Some(x) = a.actions.iter().find(|x| x.key == key.key()) else {
        return (html! {}, String::new());
    };
    let data = serde_json::json!({
        "labels": a.places.iter().map(|g| group_name(l, g)).collect::<Vec<_>>(),
        "datasets": (0..4).map(|lv| serde_json::json!({
            "label": format!("{}{}", lv + 1, l.pick("级", "")),
            "data": x.by_place_level.iter().map(|c| c[lv]).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let markup = html! {
        section.charts {
            figure.chart {
                figcaption {
                    (l.pick("各地人数（按残疾等级堆叠）：", "Persons by place, stacked by level: ")) (l.pick(x.label_zh, x.label_en))
                }
                form.filters method="get" action="/console/analysis" {
                    @for (k, v) in [("year", q.params.year.map(|y| y.to_string())), ("place", q.params.place.clone()), ("category", q.params.category.clone()), ("level", q.params.level.clone()), ("age", q.params.age.clone()), ("sex", q.params.sex.clone()), ("by", q.by.clone())] {
                        @if let Some(v) = v.filter(|v| !v.is_empty()) { input type="hidden" name=(k) value=(v); }
                    }
                    label { (l.pick("清单", "List")) " "
                        select name="chart" id="chart-list" {
                            @for y in Action::ALL {
                                option value=(y.key()) selected[y == key] { (y.label(l)) }
                            }
                        }
                    }
                    button type="submit" { (l.pick("显示", "Show")) }
                }
                div.chart-box { canvas id="chart-actions" role="img" aria-label=(l.pick("行动清单人数柱状图", "Action list bar chart")) {} }
                div.scroll {
                    table.figures id="chart-table" {
                        thead { tr {
                            th scope="col" { (l.pick("地区", "Place")) }
                            @for lv in 1..=4 { th.num scope="col" { (lv) (l.pick("级", "")) } }
                            th.num scope="col" { (l.pick("合计", "Total")) }
                        } }
                        tbody {
                            @for (g, c) in a.places.iter().zip(&x.by_place_level) {
                                tr {
                                    th scope="row" { (group_name(l, g)) }
                                    @for n in c { td.num { (n) } }
                                    td.num { (c.iter().sum::<u64>()) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    (markup, data.to_string())
}

fn items(l: Lang, a: &Analysis, q: &PageQuery) -> Markup {
    let by = q.by.as_deref().unwrap_or("place");
    let groups: &[Group] = match by {
        "category" => &a.categories,
        "level" => &a.levels,
        _ => &a.places,
    };
    let cells = |i: &crate::service::analysis::ItemFigures| -> Vec<Cell> {
        match by {
            "category" => i.by_category.clone(),
            "level" => i.by_level.clone(),
            _ => i.by_place.clone(),
        }
    };
    let ly = a.last_year.map(|y| y.to_string());
    html! {
        section id="items" {
            h2 { (l.pick("各项指标", "Every item")) }
            p.muted {
                (l.pick("分母为该项适用的已提交记录数（按调查表的适用条件）；单选与是否题各选项之和等于该数，多选题可以更多。",
                    "Shares are of the finalized records the item applies to (by the form's conditions); a single-choice or yes/no item's options add up to that number, a multi-choice item's may add up to more."))
                @if let Some(y) = &ly { " " (l.pick("对比年度：", "Compared with: ")) (y) }
            }
            p.filters {
                (l.pick("分组：", "Break down by: "))
                @for (k, zh, en) in [("place", "地区", "place"), ("category", "残疾类别", "category"), ("level", "残疾等级", "level")] {
                    @if k == by { b { (l.pick(zh, en)) } } @else {
                        a href={ "/console/analysis?" (query(&q.params, &[("by", k)])) } { (l.pick(zh, en)) }
                    }
                    " "
                }
            }
            @for i in &a.items {
                @let cs = cells(i);
                div.item id={ "item-" (i.key) } {
                    h3 { (l.pick(&i.label_zh, &i.label_en)) " "
                        small.muted { (l.pick("适用", "applies to")) " " span data-k="applies" { (i.applies) } (l.pick("人", "")) @if let Some(n) = i.last_year_applies { "（" (l.pick("去年", "last year")) " " (n) "）" } }
                    }
                    div.scroll {
                        table.figures.item-table data-item=(i.key) {
                            thead { tr {
                                th scope="col" { (l.pick("选项", "Option")) }
                                th.num scope="col" { (l.pick("人数", "Persons")) }
                                th.num scope="col" { (l.pick("占比", "Share")) }
                                @if ly.is_some() {
                                    th.num scope="col" { (l.pick("去年", "Last year")) }
                                    th.num scope="col" { (l.pick("去年占比", "Last year's share")) }
                                    th.num scope="col" { (l.pick("变化", "Change")) }
                                }
                                @for g in groups { th.num scope="col" { (group_name(l, g)) } }
                            } }
                            tbody {
                                @for (k, o) in i.options.iter().enumerate() {
                                    tr data-option=(o.key) {
                                        th scope="row" { (l.pick(&o.label_zh, &o.label_en)) }
                                        td.num data-k="n" { (o.n) }
                                        td.num { (bp(o.share_bp)) }
                                        @if ly.is_some() {
                                            td.num { (opt(o.last_year)) }
                                            td.num { (bp(o.last_year_share_bp)) }
                                            td.num { (change(o.n, o.last_year)) }
                                        }
                                        @for c in &cs { td.num { (c.options.get(k).copied().unwrap_or(0)) } }
                                    }
                                }
                                tr.total {
                                    th scope="row" { (l.pick("适用人数", "Applies to")) }
                                    td.num { (i.applies) }
                                    td.num {}
                                    @if ly.is_some() { td.num { (opt(i.last_year_applies)) } td {} td.num { (change(i.applies, i.last_year_applies)) } }
                                    @for c in &cs { td.num { (c.applies) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/analysis`.
pub async fn page(
    State(state): State<AppState>,
    s: Session,
    Query(raw): Query<RawQuery>,
) -> PageResult {
    s.require(&[Role::Supervisor, Role::Admin])?;
    let l = s.lang;
    let year = match raw.year.as_deref().map(str::trim).filter(|y| !y.is_empty()) {
        None => None,
        Some(y) => Some(y.parse::<i32>().map_err(|_| {
            crate::service::Error::invalid(
                ErrorCode::BadYear,
                format!("年度“{y}”无效 / year {y:?} is not a year"),
            )
        })?),
    };
    let q = PageQuery {
        params: Params {
            year,
            place: raw.place,
            category: raw.category,
            level: raw.level,
            age: raw.age,
            sex: raw.sex,
            device: None,
        },
        by: raw.by,
        chart: raw.chart,
    };
    let a = for_caller(&state, &s.caller, &q.params).await?;
    // The places one may pick: the streets and communities of the caller's area.
    let (progress, _) =
        crate::service::progress::for_caller(&state, &s.caller, q.params.year).await?;
    let mut places: Vec<(String, String)> = Vec::new();
    if s.role() == Role::Admin {
        places.extend(
            progress
                .streets
                .iter()
                .map(|r| (r.code.to_string(), r.name.clone())),
        );
    }
    places.extend(progress.communities.iter().map(|r| {
        (
            r.code.to_string(),
            format!("{} · {}", r.street_name, r.name),
        )
    }));
    let mut years: Vec<i32> = state
        .db
        .campaigns()
        .await?
        .iter()
        .map(|c| c.campaign.year)
        .collect();
    years.sort_unstable_by(|a, b| b.cmp(a));
    let q = PageQuery {
        params: Params {
            year: q.params.year.or(Some(a.campaign.year)),
            ..q.params
        },
        ..q
    };
    let (chart_markup, chart_data) = chart(l, &a, &q);
    let body = html! {
        div.title-row {
            h1 { (l.pick("需求与服务分析", "Needs and services analysis")) }
            p.muted {
                (a.campaign.name) " · " (a.place_name)
                " · " (l.pick("已提交记录", "finalized records")) " " b id="records" { (a.records) }
                @if let (Some(y), Some(n)) = (a.last_year, a.last_year_records) { "（" (y) (l.pick("年 ", ": ")) (n) "）" }
            }
        }
        (filters(l, &q, &places, &years))
        (actions(l, &a, &q.params))
        (chart_markup)
        section {
            h2 { (l.pick("年度报告需求段落", "The annual report's needs paragraph")) }
            textarea id="needs-paragraph" rows="4" readonly { (a.paragraph) }
        }
        (items(l, &a, &q))
    };
    Ok(layout::page(
        &s,
        Nav::Analysis,
        l.pick("需求分析", "Analysis"),
        "analysis",
        Options {
            charts: true,
            live: false,
            data: vec![("chart", chart_data)],
        },
        body,
    ))
}
