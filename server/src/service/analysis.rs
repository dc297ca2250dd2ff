//! The needs and services analysis of a campaign's finalized records (docs/analysis.md): every
//! tallied item's counts and shares by option, by place, by disability category and level,
//! with last year's figures beside them; the action lists; the needs paragraph. For the API,
//! the console page and the exports alike. The rules are in `doorstep_shared::analysis`.

use doorstep_shared::errors::ErrorCode;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use doorstep_shared::analysis::{
    AGE_BANDS, Action, DEVICES, Facts, Filter, Layout, Tally, device_label_zh, missing_devices,
    needs_paragraph, read_pack,
};
use doorstep_shared::form::ItemKind;
use doorstep_shared::ids::{Category, Sex};
use doorstep_shared::progress::Rate;
use doorstep_shared::sync::Role;
use doorstep_shared::{Campaign, Outcome};

use super::{Error, Result};
use crate::auth::Caller;
use crate::db::{Analyzer, CommunityFacts, Db, Scope};
use crate::state::AppState;
use crate::tables::Table;

/// What the caller asked for, as it arrives (query string or form): every field optional, an
/// empty value meaning "all".
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Params {
    #[serde(default)]
    pub year: Option<i32>,
    /// A street or community code within the caller's area.
    #[serde(default)]
    pub place: Option<String>,
    /// Disability category 1–7.
    #[serde(default)]
    pub category: Option<String>,
    /// Disability level 1–4.
    #[serde(default)]
    pub level: Option<String>,
    /// An age band: `0-5`, `6-15`, `16-59`, `60-79`, `80+` (or its index 0–4).
    #[serde(default)]
    pub age: Option<String>,
    /// `male` or `female`.
    #[serde(default)]
    pub sex: Option<String>,
    /// For the device list: one device (`wheelchair`, `hearing_aid`, …).
    #[serde(default)]
    pub device: Option<String>,
}

fn given(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// The checked selection: the place prefix (within the caller's area) and the filter.
#[derive(Debug, Clone)]
pub struct Selection {
    pub place: String,
    pub filter: Filter,
    pub device: Option<&'static str>,
}

fn bad(code: ErrorCode, zh: &str, en: &str) -> Error {
    Error::invalid(code, format!("{zh} / {en}"))
}

/// Checks the parameters against the caller's scope.
///
/// # Errors
/// A malformed value, or a place outside the caller's area, with a message in both languages.
pub fn select(p: &Params, scope: &Scope) -> Result<Selection> {
    let area = match scope {
        Scope::Area(a) => a.clone(),
        _ => String::new(),
    };
    let place = match given(p.place.as_ref()) {
        None => area.clone(),
        Some(code) => {
            if !code.bytes().all(|b| b.is_ascii_digit()) || ![6, 9, 12].contains(&code.len()) {
                return Err(bad(
                    ErrorCode::BadPlace,
                    &format!("地区代码“{code}”无效：应为 6、9 或 12 位数字"),
                    &format!("place {code:?} is not a 6-, 9- or 12-digit division code"),
                ));
            }
            if !code.starts_with(&area) {
                return Err(bad(
                    ErrorCode::PlaceOutsideArea,
                    &format!("“{code}”不在您负责的范围内"),
                    &format!("{code} is outside your area"),
                ));
            }
            code.to_string()
        }
    };
    let category = match given(p.category.as_ref()) {
        None => None,
        Some(c) => Some(
            c.parse::<u8>()
                .ok()
                .and_then(Category::from_digit)
                .ok_or_else(|| {
                    bad(
                        ErrorCode::BadCategory,
                        &format!("残疾类别“{c}”无效：应为 1–7"),
                        &format!("category {c:?} is not 1–7"),
                    )
                })?,
        ),
    };
    let level = match given(p.level.as_ref()) {
        None => None,
        Some(l) => Some(
            l.parse::<u8>()
                .ok()
                .filter(|n| (1..=4).contains(n))
                .ok_or_else(|| {
                    bad(
                        ErrorCode::BadLevel,
                        &format!("残疾等级“{l}”无效：应为 1–4"),
                        &format!("level {l:?} is not 1–4"),
                    )
                })?,
        ),
    };
    let age_band = match given(p.age.as_ref()) {
        None => None,
        Some(a) => Some(
            AGE_BANDS
                .iter()
                .position(|(_, _, label)| label.replace('–', "-") == a || *label == a)
                .or_else(|| a.parse::<usize>().ok().filter(|i| *i < AGE_BANDS.len()))
                .ok_or_else(|| {
                    bad(
                        ErrorCode::BadAge,
                        &format!("年龄段“{a}”无效：应为 0-5、6-15、16-59、60-79 或 80+"),
                        &format!("age band {a:?} is not one of 0-5, 6-15, 16-59, 60-79, 80+"),
                    )
                })?,
        ),
    };
    let sex = match given(p.sex.as_ref()) {
        None => None,
        Some("male" | "m" | "男") => Some(Sex::Male),
        Some("female" | "f" | "女") => Some(Sex::Female),
        Some(s) => {
            return Err(bad(
                ErrorCode::BadSex,
                &format!("性别“{s}”无效：应为 male 或 female"),
                &format!("sex {s:?} is not male or female"),
            ));
        }
    };
    let device = match given(p.device.as_ref()) {
        None => None,
        Some(d) => Some(DEVICES.into_iter().find(|x| *x == d).ok_or_else(|| {
            bad(
                ErrorCode::BadDevice,
                &format!("辅助器具“{d}”无效"),
                &format!("device {d:?} is not one of {}", DEVICES.join(", ")),
            )
        })?),
    };
    Ok(Selection {
        place,
        filter: Filter {
            category,
            level,
            age_band,
            sex,
        },
        device,
    })
}

/// The place one level below the selection that a community falls in: streets under a
/// district (or everything), communities under a street.
fn child(place: &str, community: &str) -> String {
    let len = if place.len() < 9 { 9 } else { 12 };
    community.get(..len).unwrap_or(community).to_string()
}

/// The tallies of one campaign for one selection.
pub struct Tallies {
    pub analyzer: Arc<Analyzer>,
    pub total: Tally,
    pub places: BTreeMap<String, Tally>,
    pub categories: Vec<Tally>,
    pub levels: Vec<Tally>,
    /// Per place, per level: persons on each action list.
    pub place_levels: BTreeMap<String, [Vec<u64>; 4]>,
}

/// What one part of a tally pass produced: per place (in order) its tally and its persons on
/// each action list by level; per (category, level) cell, the cell's tally.
struct Part {
    places: Vec<(String, Tally, [Vec<u64>; 4])>,
    cells: Vec<Tally>,
}

/// Adds a place's (category, level) cells into the place, its persons on each list by level and
/// the part's cells, and empties them for the next place.
fn flush(part: &mut Part, scratch: &mut [Tally]) {
    let Some((_, here, levels)) = part.places.last_mut() else {
        return;
    };
    for (i, c) in scratch.iter_mut().enumerate() {
        if c.records == 0 {
            continue;
        }
        here.merge(c);
        part.cells[i].merge(c);
        for (x, y) in levels[i % 4].iter_mut().zip(&c.actions) {
            *x += y;
        }
        c.records = 0;
        c.slots.fill(0);
        c.actions.fill(0);
        c.devices.fill(0);
    }
}

/// Adds up the packs of some communities (in community order): each record decoded once into a
/// reused buffer, its rules evaluated once, counted once into its place's (category, level)
/// cell; a place's cells are added into the place and the part's cells when the place ends.
/// `None` names a community whose pack does not read.
fn tally_part(layout: &Layout, sel: &Selection, rows: &[CommunityFacts]) -> (Part, Option<String>) {
    let width = layout.width();
    let mut part = Part {
        places: Vec::new(),
        cells: vec![Tally::new(layout); 28],
    };
    let mut scratch = vec![Tally::new(layout); 28];
    for row in rows {
        let place = child(&sel.place, &row.community);
        if part.places.last().is_none_or(|(p, _, _)| *p != place) {
            flush(&mut part, &mut scratch);
            part.places.push((
                place,
                Tally::new(layout),
                std::array::from_fn(|_| vec![0; Action::ALL.len()]),
            ));
        }
        let ok = read_pack(row.joined.as_bytes(), width, &sel.filter, |f| {
            let i =
                usize::from(f.subject.category.digit() - 1) * 4 + usize::from(f.subject.level - 1);
            scratch[i].add_with(f, f.actions(layout), f.missing_device_mask(layout));
        });
        if !ok {
            return (part, Some(row.community.clone()));
        }
    }
    flush(&mut part, &mut scratch);
    (part, None)
}

/// Adds up the stored facts of a campaign's finalized records within a scope and selection:
/// one row (a pack) per community, the communities split in two runs of whole places tallied on
/// two threads, each record counted once into its place's (category, level) cell; places,
/// totals, categories and levels are sums of the cells.
///
/// # Errors
/// A database error, or stored facts that do not read.
pub async fn tally(
    db: &Db,
    campaign: &Campaign,
    scope: &Scope,
    sel: &Selection,
) -> Result<Tallies> {
    let cid = campaign.id.to_string();
    let analyzer = db.analyzer(&cid).await?;
    let layout = &analyzer.layout;
    let rows = db.analysis_facts(&cid, scope, &sel.place, false).await?;
    // Two runs of about equal size, cut where a place ends (so no place is in both).
    let total_len: usize = rows.iter().map(|r| r.joined.len()).sum();
    let mut cut = 0;
    let mut acc = 0;
    while cut < rows.len() && acc < total_len / 2 {
        acc += rows[cut].joined.len();
        cut += 1;
    }
    while cut > 0
        && cut < rows.len()
        && child(&sel.place, &rows[cut - 1].community) == child(&sel.place, &rows[cut].community)
    {
        cut += 1;
    }
    let (first, second) = rows.split_at(cut);
    let ((a, bad_a), (b, bad_b)) = if total_len >= 1 << 16 {
        std::thread::scope(|s| {
            let other = s.spawn(|| tally_part(layout, sel, second));
            let mine = tally_part(layout, sel, first);
            (mine, other.join().expect("tally thread"))
        })
    } else {
        (
            tally_part(layout, sel, &rows),
            (
                Part {
                    places: Vec::new(),
                    cells: Vec::new(),
                },
                None,
            ),
        )
    };
    if let Some(c) = bad_a.or(bad_b) {
        return Err(Error::from(crate::db::DbError::Corrupt(format!(
            "analysis facts of {c}"
        ))));
    }
    let mut t = Tallies {
        total: Tally::new(layout),
        places: BTreeMap::new(),
        categories: vec![Tally::new(layout); 7],
        levels: vec![Tally::new(layout); 4],
        place_levels: BTreeMap::new(),
        analyzer: analyzer.clone(),
    };
    for part in [a, b] {
        for (i, c) in part.cells.iter().enumerate() {
            t.total.merge(c);
            t.categories[i / 4].merge(c);
            t.levels[i % 4].merge(c);
        }
        // A place only when some record of it is counted (as when it had no cell before).
        for (place, tally, levels) in part.places {
            if tally.records > 0 {
                t.places.insert(place.clone(), tally);
                t.place_levels.insert(place, levels);
            }
        }
    }
    Ok(t)
}

/// A group of a breakdown (a place, a category, a level) and its records.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub records: u64,
}

/// One group's counts of one item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Cell {
    pub applies: u64,
    pub options: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OptionFigures {
    pub key: String,
    pub label_zh: String,
    pub label_en: String,
    pub n: u64,
    /// Of the records the item applies to, in hundredths of a percent.
    pub share_bp: Option<u64>,
    pub last_year: Option<u64>,
    pub last_year_share_bp: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemFigures {
    pub key: String,
    pub label_zh: String,
    pub label_en: String,
    /// `single`, `multi` or `yes_no`.
    pub kind: &'static str,
    /// Finalized records the item applies to.
    pub applies: u64,
    pub last_year_applies: Option<u64>,
    pub options: Vec<OptionFigures>,
    /// In the order of [`Analysis::places`], [`Analysis::categories`], [`Analysis::levels`].
    pub by_place: Vec<Cell>,
    pub by_category: Vec<Cell>,
    pub by_level: Vec<Cell>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActionFigures {
    pub key: &'static str,
    pub label_zh: &'static str,
    pub label_en: &'static str,
    pub rule_zh: &'static str,
    pub rule_en: &'static str,
    pub n: u64,
    pub last_year: Option<u64>,
    /// Per place (in [`Analysis::places`] order): persons on the list by level 1–4.
    pub by_place_level: Vec<[u64; 4]>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeviceFigures {
    pub key: &'static str,
    pub label_zh: &'static str,
    pub n: u64,
    pub last_year: Option<u64>,
}

/// The analysis of a campaign for a caller and selection.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Analysis {
    pub campaign: Campaign,
    /// The year compared with, when the district ran it.
    pub last_year: Option<i32>,
    pub place: String,
    pub place_name: String,
    pub filter: Filter,
    /// Finalized records counted.
    pub records: u64,
    pub last_year_records: Option<u64>,
    pub places: Vec<Group>,
    pub categories: Vec<Group>,
    pub levels: Vec<Group>,
    pub items: Vec<ItemFigures>,
    pub actions: Vec<ActionFigures>,
    pub devices: Vec<DeviceFigures>,
    /// The needs paragraph of the annual report.
    pub paragraph: String,
}

fn share(n: u64, of: u64) -> Option<u64> {
    Rate::new(n, of).basis_points()
}

fn kind_key(k: ItemKind) -> &'static str {
    match k {
        ItemKind::Multi => "multi",
        ItemKind::YesNo => "yes_no",
        _ => "single",
    }
}

fn cell(t: &Tally, layout: &Layout, item: usize) -> Cell {
    Cell {
        applies: t.applies(layout, item),
        options: t.options(layout, item).to_vec(),
    }
}

/// The district's (or area's) display name.
async fn district_name(db: &Db, campaign: &Campaign) -> Result<String> {
    Ok(if campaign.district_name.is_empty() {
        db.place_name(campaign.district.as_str())
            .await?
            .unwrap_or_else(|| campaign.district.to_string())
    } else {
        campaign.district_name.clone()
    })
}

/// Surveyed records (a questionnaire: home visit or phone) in a tally.
fn surveyed(t: &Tally, layout: &Layout) -> u64 {
    [Outcome::HomeVisit, Outcome::Phone]
        .iter()
        .map(|o| t.option(layout, doorstep_shared::domain::OUTCOME, o.key()))
        .sum()
}

/// The needs paragraph of a campaign within a scope (every record, no filter).
///
/// # Errors
/// A database error.
pub async fn paragraph(db: &Db, campaign: &Campaign, scope: &Scope) -> Result<String> {
    let sel = select(&Params::default(), scope)?;
    let t = tally(db, campaign, scope, &sel).await?;
    let name = district_name(db, campaign).await?;
    Ok(needs_paragraph(
        &name,
        campaign.year,
        surveyed(&t.total, &t.analyzer.layout),
        &t.total,
    ))
}

/// The analysis for a caller: their scope, the open campaign or `?year=`, last year beside it.
///
/// # Errors
/// A worker (403 at the route), a bad parameter, no such campaign, or a database error.
pub async fn for_caller(state: &AppState, caller: &Caller, p: &Params) -> Result<Analysis> {
    require(caller)?;
    let campaign = state.campaign_for(p.year).await?;
    let scope = caller.scope(state, &campaign).await?;
    let last = match state.db.campaign_by_year(campaign.year - 1).await? {
        Some(row) => {
            let ls = caller.scope(state, &row.campaign).await?;
            Some((row.campaign, ls))
        }
        None => None,
    };
    analyse(&state.db, campaign, &scope, last, p).await
}

/// The analysis of a campaign within a scope, with last year's campaign (and the caller's scope
/// in it) beside it when there is one.
///
/// # Errors
/// A bad parameter, or a database error.
pub async fn analyse(
    db: &Db,
    campaign: Campaign,
    scope: &Scope,
    last: Option<(Campaign, Scope)>,
    p: &Params,
) -> Result<Analysis> {
    let sel = select(p, scope)?;
    let t = tally(db, &campaign, scope, &sel).await?;
    let last = match last {
        Some((c, ls)) => Some(tally(db, &c, &ls, &sel).await?),
        None => None,
    };
    let layout = &t.analyzer.layout;
    let form = &t.analyzer.form;
    let place_keys: Vec<String> = t.places.keys().cloned().collect();
    let names: HashMap<String, String> = db
        .place_names(&place_keys)
        .await?
        .into_iter()
        .chain(db.place_names(std::slice::from_ref(&sel.place)).await?)
        .collect();
    let places: Vec<Group> = t
        .places
        .iter()
        .map(|(code, tally)| {
            let name = names.get(code).cloned().unwrap_or_else(|| code.clone());
            Group {
                key: code.clone(),
                name_zh: name.clone(),
                name_en: name,
                records: tally.records,
            }
        })
        .collect();
    let categories = Category::ALL
        .iter()
        .zip(&t.categories)
        .map(|(c, tally)| Group {
            key: c.digit().to_string(),
            name_zh: c.label_zh().to_string(),
            name_en: c.label_en().to_string(),
            records: tally.records,
        })
        .collect();
    let levels = (1..=4u8)
        .zip(&t.levels)
        .map(|(l, tally)| Group {
            key: l.to_string(),
            name_zh: ["一级", "二级", "三级", "四级"][usize::from(l - 1)].to_string(),
            name_en: format!("level {l}"),
            records: tally.records,
        })
        .collect();
    let items = layout
        .items
        .iter()
        .enumerate()
        .map(|(k, li)| {
            let item = form.item(&li.key);
            let applies = t.total.applies(layout, k);
            let last_applies = last.as_ref().and_then(|lt| {
                lt.analyzer
                    .layout
                    .index(&li.key)
                    .map(|i| lt.total.applies(&lt.analyzer.layout, i))
            });
            let options = li
                .options
                .iter()
                .zip(t.total.options(layout, k))
                .map(|(o, n)| {
                    let (zh, en) = match (li.kind, o.as_str()) {
                        (ItemKind::YesNo, "yes") => ("是".to_string(), "yes".to_string()),
                        (ItemKind::YesNo, _) => ("否".to_string(), "no".to_string()),
                        _ => item.and_then(|i| i.option(o)).map_or_else(
                            || (o.clone(), o.clone()),
                            |c| (c.label_zh.clone(), c.label_en.clone()),
                        ),
                    };
                    let ly = last.as_ref().and_then(|lt| {
                        lt.analyzer
                            .layout
                            .index(&li.key)
                            .map(|_| lt.total.option(&lt.analyzer.layout, &li.key, o))
                    });
                    OptionFigures {
                        key: o.clone(),
                        label_zh: zh,
                        label_en: en,
                        n: *n,
                        share_bp: share(*n, applies),
                        last_year: ly,
                        last_year_share_bp: ly.zip(last_applies).and_then(|(n, a)| share(n, a)),
                    }
                })
                .collect();
            ItemFigures {
                key: li.key.clone(),
                label_zh: item.map_or_else(|| li.key.clone(), |i| i.label_zh.clone()),
                label_en: item.map_or_else(|| li.key.clone(), |i| i.label_en.clone()),
                kind: kind_key(li.kind),
                applies,
                last_year_applies: last_applies,
                options,
                by_place: t.places.values().map(|p| cell(p, layout, k)).collect(),
                by_category: t.categories.iter().map(|c| cell(c, layout, k)).collect(),
                by_level: t.levels.iter().map(|c| cell(c, layout, k)).collect(),
            }
        })
        .collect();
    let actions = Action::ALL
        .iter()
        .map(|a| ActionFigures {
            key: a.key(),
            label_zh: a.label_zh(),
            label_en: a.label_en(),
            rule_zh: a.rule_zh(),
            rule_en: a.rule_en(),
            n: t.total.action(*a),
            last_year: last.as_ref().map(|l| l.total.action(*a)),
            by_place_level: t
                .place_levels
                .values()
                .map(|lv| {
                    let i = Action::ALL.iter().position(|x| x == a).unwrap_or(0);
                    [lv[0][i], lv[1][i], lv[2][i], lv[3][i]]
                })
                .collect(),
        })
        .collect();
    let devices = DEVICES
        .iter()
        .enumerate()
        .map(|(i, d)| DeviceFigures {
            key: d,
            label_zh: device_label_zh(d),
            n: t.total.devices[i],
            last_year: last.as_ref().map(|l| l.total.devices[i]),
        })
        .collect();
    let name = district_name(db, &campaign).await?;
    let place_name = if sel.place.is_empty() {
        name.clone()
    } else {
        names
            .get(&sel.place)
            .cloned()
            .unwrap_or_else(|| sel.place.clone())
    };
    let paragraph = needs_paragraph(
        &place_name,
        campaign.year,
        surveyed(&t.total, layout),
        &t.total,
    );
    Ok(Analysis {
        last_year: last.as_ref().map(|_| campaign.year - 1),
        place: sel.place.clone(),
        place_name,
        filter: sel.filter,
        records: t.total.records,
        last_year_records: last.as_ref().map(|l| l.total.records),
        places,
        categories,
        levels,
        items,
        actions,
        devices,
        paragraph,
        campaign,
    })
}

fn require(caller: &Caller) -> Result<()> {
    if matches!(caller.role(), Role::Supervisor | Role::Admin) {
        Ok(())
    } else {
        Err(Error {
            kind: super::Kind::Forbidden,
            code: ErrorCode::Forbidden,
            message: "your role may not do this / 您的角色无权执行此操作".into(),
        })
    }
}

/// One person on an action list. ID numbers are masked unless the caller is the admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListRow {
    pub person_id: String,
    pub community: String,
    pub community_name: String,
    pub name: String,
    pub resident_id: String,
    pub certificate: String,
    pub category: String,
    pub level: u8,
    pub sex: String,
    pub age: u32,
    pub phone: String,
    pub address: String,
    /// What they need (devices, modifications, training), or why they are listed.
    pub detail: String,
}

/// The labels of the options chosen for an item in a record's facts.
fn chosen(a: &Analyzer, f: &Facts, item: &str, skip: &str) -> Vec<String> {
    let Some(i) = a.layout.index(item) else {
        return Vec::new();
    };
    let li = &a.layout.items[i];
    li.options
        .iter()
        .enumerate()
        .filter(|(p, o)| *o != skip && f.bit(li.slot + 1 + p))
        .map(|(_, o)| {
            a.form
                .item(item)
                .and_then(|it| it.option(o))
                .map_or_else(|| o.clone(), |c| c.label_zh.clone())
        })
        .collect()
}

fn detail(a: &Analyzer, action: Action, f: &Facts) -> String {
    match action {
        Action::Device => missing_devices(&a.layout, f)
            .into_iter()
            .map(device_label_zh)
            .collect::<Vec<_>>()
            .join("、"),
        Action::HomeModification => chosen(a, f, "home_modification_items", "").join("、"),
        Action::Training => chosen(a, f, "training_wanted", "none").join("、"),
        Action::Job => "未就业，需要就业帮扶".into(),
        Action::NursingSubsidy => format!(
            "{}级，未享受护理补贴",
            ["一", "二", "三", "四"][usize::from(f.subject.level.clamp(1, 4) - 1)]
        ),
        Action::LivingSubsidy => "享受低保，未享受生活补贴".into(),
    }
}

/// An action list for a caller: the persons of their scope and selection on it, in community
/// order. The caller's route audits it.
///
/// # Errors
/// A worker, a bad parameter or list, no such campaign, or a database error.
pub async fn action_list(
    state: &AppState,
    caller: &Caller,
    p: &Params,
    list: &str,
) -> Result<(Campaign, Action, Vec<ListRow>)> {
    require(caller)?;
    let campaign = state.campaign_for(p.year).await?;
    let scope = caller.scope(state, &campaign).await?;
    let admin = caller.role() == Role::Admin;
    let rows = action_list_in(&state.db, &campaign, &scope, admin, p, list).await?;
    let action = Action::parse(list).unwrap_or(Action::Device);
    Ok((campaign, action, rows))
}

/// An action list of a campaign within a scope; `full_ids` for the admin (else masked).
///
/// # Errors
/// A bad parameter or list, or a database error.
pub async fn action_list_in(
    db: &Db,
    campaign: &Campaign,
    scope: &Scope,
    full_ids: bool,
    p: &Params,
    list: &str,
) -> Result<Vec<ListRow>> {
    let action = Action::parse(list).ok_or_else(|| {
        Error::not_found(
            ErrorCode::NoSuchList,
            format!(
                "没有名为“{list}”的行动清单 / no action list {list:?}: use one of {}",
                Action::ALL.map(Action::key).join(", ")
            ),
        )
    })?;
    let sel = select(p, scope)?;
    let cid = campaign.id.to_string();
    let a = db.analyzer(&cid).await?;
    let mut hits: Vec<(String, String, Facts)> = Vec::new();
    for row in db.analysis_facts(&cid, scope, &sel.place, true).await? {
        for entry in row.joined.split(' ') {
            let (id, text) = entry.split_once('=').unwrap_or(("", entry));
            let f = Facts::decode(text).ok_or_else(|| {
                Error::from(crate::db::DbError::Corrupt(format!(
                    "analysis facts of {id}"
                )))
            })?;
            let device_ok = sel
                .device
                .is_none_or(|d| missing_devices(&a.layout, &f).contains(&d));
            if sel.filter.matches(&f.subject) && action.matches(&a.layout, &f) && device_ok {
                hits.push((row.community.clone(), id.to_string(), f));
            }
        }
    }
    hits.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    let ids: Vec<String> = hits.iter().map(|h| h.1.clone()).collect();
    let records: HashMap<String, crate::db::RecordRow> = db
        .records_by_ids(&ids)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut codes: Vec<String> = hits.iter().map(|h| h.0.clone()).collect();
    codes.dedup();
    let names: HashMap<String, String> = db.place_names(&codes).await?.into_iter().collect();
    let admin = full_ids;
    let rows = hits
        .iter()
        .filter_map(|(community, id, f)| {
            let r = records.get(id)?;
            let p = &r.person;
            Some(ListRow {
                person_id: id.clone(),
                community: community.clone(),
                community_name: names.get(community).cloned().unwrap_or_default(),
                name: p.name.clone(),
                resident_id: if admin {
                    p.resident_id.to_string()
                } else {
                    p.resident_id.masked()
                },
                certificate: if admin {
                    p.certificate.to_string()
                } else {
                    p.certificate.masked()
                },
                category: f.subject.category.label_zh().to_string(),
                level: f.subject.level,
                sex: match f.subject.sex {
                    Sex::Male => "男".into(),
                    Sex::Female => "女".into(),
                },
                age: f.subject.age,
                phone: p.phone.clone(),
                address: p.address.clone(),
                detail: detail(&a, action, f),
            })
        })
        .collect();
    Ok(rows)
}

/// The column headers of an action list's export.
pub const LIST_HEADER: [&str; 12] = [
    "社区代码",
    "社区",
    "姓名",
    "身份证号",
    "残疾证号",
    "残疾类别",
    "残疾等级",
    "性别",
    "年龄",
    "联系电话",
    "住址",
    "需求/说明",
];

impl ListRow {
    /// The row's cells, in [`LIST_HEADER`] order.
    #[must_use]
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.community.clone(),
            self.community_name.clone(),
            self.name.clone(),
            self.resident_id.clone(),
            self.certificate.clone(),
            self.category.clone(),
            self.level.to_string(),
            self.sex.clone(),
            self.age.to_string(),
            self.phone.clone(),
            self.address.clone(),
            self.detail.clone(),
        ]
    }
}

/// An action list's table, as exported (the API's and the CLI's `.xlsx`).
#[must_use]
pub fn list_table(rows: &[ListRow]) -> Table {
    Table {
        header: LIST_HEADER.iter().map(|h| (*h).to_string()).collect(),
        rows: rows.iter().map(ListRow::cells).collect(),
    }
}
