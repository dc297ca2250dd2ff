//! The deterministic demo district: 大祥区 (430503) with its streets, communities and roster.
//!
//! Everything comes from one seed through a SplitMix64 generator kept in this module, using only
//! integer arithmetic, so the same seed gives the same district on every platform and with every
//! dependency version. Generation is O(n) in the number of persons.

use std::collections::HashSet;

use chrono::NaiveDate;
use uuid::Uuid;

use crate::checks::REASON_ITEM;
use crate::domain::{Campaign, OUTCOME, Outcome, Person, STATUS, VISIT_AT};
use crate::form::{FormContext, FormDefinition, ItemKind};
use crate::ids::{Category, CertificateNumber, Level, ResidentId};
use crate::place::{Community, District, DivisionCode, Street};
use crate::value::{Answers, GeoPoint, Value};

/// Persons on the default demo roster.
pub const DEFAULT_PERSONS: usize = 6_800;
/// Communities and villages in the default demo district.
pub const DEFAULT_COMMUNITIES: usize = 98;
/// Fewest persons on a community's roster.
pub const MIN_COMMUNITY: usize = 20;
/// Most persons on a community's roster.
pub const MAX_COMMUNITY: usize = 200;

/// Level counts among 6,442 certified persons of a real district (level 1 first).
pub const LEVEL_MIX: [usize; 4] = [504, 2688, 1263, 1987];

const DISTRICT_CODE: &str = "430503";
const DISTRICT_NAME: &str = "大祥区";
/// Neighbouring counties where a few residents were first registered.
const NEIGHBOURS: [&str; 4] = ["430502", "430511", "430522", "430523"];

/// The ten streets (街道, urban) and townships (乡/镇, rural) of the default district.
const STREETS: [&str; 10] = [
    "城南街道",
    "城西街道",
    "中心路街道",
    "红旗路街道",
    "翠园街道",
    "学院路街道",
    "板桥乡",
    "蔡锷乡",
    "罗市镇",
    "檀江乡",
];

/// Syllables combined into place names (32 × 32 = 1,024 distinct names).
const PLACE_A: [&str; 32] = [
    "红", "新", "东", "西", "南", "北", "金", "银", "桃", "李", "杨", "枫", "青", "石", "白", "龙",
    "凤", "双", "三", "高", "长", "大", "小", "黄", "马", "田", "花", "竹", "松", "梅", "荷", "云",
];
const PLACE_B: [&str; 32] = [
    "旗", "阳", "光", "华", "桥", "塘", "山", "湾", "坪", "岭", "冲", "江", "溪", "园", "林", "坡",
    "洲", "湖", "泉", "峰", "井", "铺", "口", "坝", "丰", "兴", "安", "和", "平", "福", "星", "河",
];

/// Common surnames, most frequent first (the draw favours the front of the list).
const SURNAMES: [&str; 60] = [
    "刘", "李", "王", "陈", "张", "罗", "谢", "曾", "周", "唐", "彭", "邓", "肖", "胡", "蒋", "黄",
    "贺", "邹", "杨", "赵", "吴", "袁", "姚", "申", "伍", "孙", "马", "朱", "郭", "何", "高", "林",
    "郑", "梁", "宋", "许", "韩", "冯", "曹", "田", "董", "潘", "蔡", "余", "杜", "叶", "程", "苏",
    "魏", "丁", "任", "沈", "卢", "姜", "钟", "谭", "陆", "汪", "范", "石",
];
const MALE_GIVEN: [&str; 40] = [
    "国", "建", "华", "明", "军", "平", "强", "伟", "志", "勇", "文", "海", "林", "春", "生", "福",
    "德", "光", "新", "忠", "贵", "清", "成", "云", "峰", "斌", "辉", "俊", "杰", "浩", "宇", "涛",
    "鹏", "兵", "东", "良", "庆", "荣", "武", "金",
];
const FEMALE_GIVEN: [&str; 40] = [
    "秀", "英", "兰", "桂", "芳", "华", "梅", "珍", "玉", "凤", "丽", "霞", "萍", "娟", "红", "艳",
    "敏", "静", "婷", "琴", "莲", "菊", "翠", "燕", "芬", "慧", "雪", "琳", "佳", "欣", "春", "香",
    "云", "清", "爱", "金", "素", "月", "美", "娥",
];

/// Mobile number prefixes (13x, 15x, 17x, 18x, 19x).
const PHONE_PREFIXES: [u16; 30] = [
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
    173, 177, 180, 181, 182, 183, 185, 186, 187, 188, 199,
];

/// Category weights per thousand, in [`Category::ALL`] order: physical most common.
const CATEGORY_WEIGHTS: [u64; 7] = [110, 100, 10, 480, 110, 130, 60];

/// A generated district and its roster.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoDistrict {
    pub district: District,
    pub streets: Vec<Street>,
    pub communities: Vec<Community>,
    /// Ordered by community, in the order of `communities`.
    pub persons: Vec<Person>,
}

impl DemoDistrict {
    /// The street a community lies in.
    #[must_use]
    pub fn street_of(&self, community: &Community) -> Option<&Street> {
        self.streets.iter().find(|s| s.code == community.street)
    }
}

/// The default demo district: ~6,800 persons in 98 communities under 10 streets/townships.
#[must_use]
pub fn generate(seed: u64, campaign_id: Uuid) -> DemoDistrict {
    generate_sized(seed, campaign_id, DEFAULT_PERSONS, DEFAULT_COMMUNITIES)
}

/// A demo district of any size, for benchmarks.
///
/// `communities_target` is clamped to 1–998,001 (999 streets of 999 communities) and
/// `persons_target` to what communities of 20–200 persons can hold; within those bounds the
/// counts are exact.
#[must_use]
pub fn generate_sized(
    seed: u64,
    campaign_id: Uuid,
    persons_target: usize,
    communities_target: usize,
) -> DemoDistrict {
    let mut rng = SplitMix64::new(seed);
    let n_comm = communities_target.clamp(1, 999 * 999);
    let n_streets = (n_comm * 10)
        .div_ceil(DEFAULT_COMMUNITIES)
        .clamp(n_comm.div_ceil(999), 999);

    let district_code = DivisionCode::parse(DISTRICT_CODE).expect("valid county code");
    let mut streets = Vec::with_capacity(n_streets);
    let mut communities = Vec::with_capacity(n_comm);
    // Index of each community's street, for addresses.
    let mut street_of: Vec<usize> = Vec::with_capacity(n_comm);
    for s in 0..n_streets {
        let rural = s % 10 >= 6;
        let name = match STREETS.get(s) {
            Some(name) => (*name).to_string(),
            None => {
                let suffix = if rural { "镇" } else { "街道" };
                format!("{}{suffix}", place_name(s, 13, 7))
            }
        };
        let code = district_code.child(seq3(s));
        // Spread communities evenly; the first streets take the remainder.
        let here = n_comm / n_streets + usize::from(s < n_comm % n_streets);
        for c in 0..here {
            let suffix = if rural { "村" } else { "社区" };
            communities.push(Community {
                code: code.child(seq3(c)),
                name: format!("{}{suffix}", place_name(c, 331, s * 101 + 5)),
                street: code.clone(),
            });
            street_of.push(s);
        }
        streets.push(Street { code, name });
    }

    let sizes = community_sizes(&mut rng, persons_target, communities.len());
    let total: usize = sizes.iter().sum();
    let levels = shuffled_levels(&mut rng, total);

    let mut seen: HashSet<u64> = HashSet::with_capacity(total);
    let mut persons = Vec::with_capacity(total);
    let mut level_iter = levels.into_iter();
    for ((community, &size), &s) in communities.iter().zip(&sizes).zip(&street_of) {
        let rural = community.name.ends_with('村');
        for _ in 0..size {
            let level = level_iter.next().expect("one level per person");
            persons.push(person(
                &mut rng,
                &mut seen,
                campaign_id,
                community,
                &streets[s].name,
                rural,
                level,
            ));
        }
    }

    DemoDistrict {
        district: District {
            code: district_code,
            name: DISTRICT_NAME.to_string(),
        },
        streets,
        communities,
        persons,
    }
}

/// One person of a community, with a resident ID not yet in `seen`.
fn person(
    rng: &mut SplitMix64,
    seen: &mut HashSet<u64>,
    campaign_id: Uuid,
    community: &Community,
    street_name: &str,
    rural: bool,
    level: Level,
) -> Person {
    let resident_id = loop {
        let region = if rng.below(100) < 95 {
            DISTRICT_CODE
        } else {
            NEIGHBOURS[rng.index(NEIGHBOURS.len())]
        };
        let birth = birth_date(rng);
        let seq = u16::try_from(rng.below(1000)).expect("below 1000");
        let key = region.parse::<u64>().expect("digits") * 100_000_000_000
            + birth_key(birth) * 1000
            + u64::from(seq);
        if seen.insert(key) {
            break ResidentId::from_parts(region, birth, seq);
        }
    };
    let male = matches!(resident_id.sex(), crate::ids::Sex::Male);
    let category = Category::ALL[rng.weighted(&CATEGORY_WEIGHTS)];
    let certificate = CertificateNumber::new(resident_id.clone(), category, level);
    // Nursing subsidy: severe (levels 1–2) only, nearly all of them; living subsidy: ~30 %.
    let nursing_subsidy = level.is_severe() && rng.below(1000) < 940;
    let living_subsidy = rng.below(1000) < 295;
    let (group, number) = (rng.below(12) + 1, rng.below(60) + 1);
    let address = if rural {
        format!(
            "{DISTRICT_NAME}{street_name}{}{group}组{number}号",
            community.name
        )
    } else {
        format!(
            "{DISTRICT_NAME}{street_name}{}{group}栋{number}号",
            community.name
        )
    };
    Person {
        id: crate::domain::PersonKeys::Derived.key(campaign_id, &resident_id),
        name: chinese_name(rng, male),
        resident_id,
        certificate,
        community: community.code.clone(),
        address,
        phone: phone(rng),
        nursing_subsidy,
        living_subsidy,
    }
}

/// A 3-digit division sequence (1-based) for a 0-based index below 999.
fn seq3(i: usize) -> u16 {
    u16::try_from(i + 1).expect("at most 999 children")
}

/// A two-syllable place name; `stride` is odd so `i < 1024` gives distinct names.
fn place_name(i: usize, stride: usize, offset: usize) -> String {
    let k = (i * stride + offset) % (PLACE_A.len() * PLACE_B.len());
    format!(
        "{}{}",
        PLACE_A[k % PLACE_A.len()],
        PLACE_B[k / PLACE_A.len()]
    )
}

/// Community sizes in 20–200 summing to `target` (clamped to what they can hold).
fn community_sizes(rng: &mut SplitMix64, target: usize, n: usize) -> Vec<usize> {
    let room = MAX_COMMUNITY - MIN_COMMUNITY;
    let extra_total = target.clamp(MIN_COMMUNITY * n, MAX_COMMUNITY * n) - MIN_COMMUNITY * n;
    // Skewed weights: a few large communities, many small ones.
    let weights: Vec<u64> = (0..n)
        .map(|_| {
            let r = rng.below(100) + 1;
            r * r
        })
        .collect();
    let weight_sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let mut extra: Vec<usize> = weights
        .iter()
        .map(|&w| {
            let share = u128::from(w) * extra_total as u128 / weight_sum;
            usize::try_from(share).unwrap_or(usize::MAX).min(room)
        })
        .collect();
    let mut left = extra_total - extra.iter().sum::<usize>();
    // Rounding leaves fewer than n: one each from a random start; then fill any clamped overflow.
    let start = rng.index(n);
    for pass in 0..2 {
        for i in (start..n).chain(0..start) {
            if left == 0 {
                break;
            }
            let give = if pass == 0 { 1 } else { left }.min(room - extra[i]);
            extra[i] += give;
            left -= give;
        }
    }
    extra.into_iter().map(|e| MIN_COMMUNITY + e).collect()
}

/// Exactly proportional levels for `total` persons (largest remainder), shuffled.
fn shuffled_levels(rng: &mut SplitMix64, total: usize) -> Vec<Level> {
    let mix_sum: usize = LEVEL_MIX.iter().sum();
    let mut counts: Vec<usize> = LEVEL_MIX.iter().map(|&w| total * w / mix_sum).collect();
    let mut by_remainder: Vec<usize> = (0..LEVEL_MIX.len()).collect();
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(total * LEVEL_MIX[i] % mix_sum));
    let short = total - counts.iter().sum::<usize>();
    for &i in by_remainder.iter().take(short) {
        counts[i] += 1;
    }
    let mut levels: Vec<Level> = counts
        .iter()
        .zip(1u8..)
        .flat_map(|(&n, l)| std::iter::repeat_n(Level::new(l).expect("1–4"), n))
        .collect();
    for i in (1..levels.len()).rev() {
        levels.swap(i, rng.index(i + 1));
    }
    levels
}

/// A birth date in 1935–2019, most between 1945 and 1985.
fn birth_date(rng: &mut SplitMix64) -> NaiveDate {
    let offset = if rng.below(100) < 85 {
        rng.below(31) + rng.below(31)
    } else {
        40 + rng.below(45)
    };
    let year = 1935 + i32::try_from(offset).expect("small");
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let day = u32::try_from(rng.below(if leap { 366 } else { 365 })).expect("small") + 1;
    NaiveDate::from_yo_opt(year, day).expect("valid ordinal")
}

/// `YYYYMMDD` as a number.
fn birth_key(d: NaiveDate) -> u64 {
    use chrono::Datelike;
    u64::try_from(d.year()).expect("positive year") * 10_000
        + u64::from(d.month()) * 100
        + u64::from(d.day())
}

fn chinese_name(rng: &mut SplitMix64, male: bool) -> String {
    // Favour the front of the surname list: min of two draws.
    let surname = SURNAMES[rng.index(SURNAMES.len()).min(rng.index(SURNAMES.len()))];
    let given = if male { &MALE_GIVEN } else { &FEMALE_GIVEN };
    let mut name = String::from(surname);
    name.push_str(given[rng.index(given.len())]);
    if rng.below(100) < 80 {
        name.push_str(given[rng.index(given.len())]);
    }
    name
}

fn phone(rng: &mut SplitMix64) -> String {
    let prefix = PHONE_PREFIXES[rng.index(PHONE_PREFIXES.len())];
    format!("{prefix}{:08}", rng.below(100_000_000))
}

/// SplitMix64 (Steele, Lea & Flood 2014): small, fast and fixed forever here.
/// The demo's deterministic generator (SplitMix64): the same seed gives the same district,
/// answers and simulations on every machine and crate version.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the tiny bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        u64::try_from((u128::from(self.next_u64()) * u128::from(n)) >> 64).expect("below n")
    }

    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).expect("below len")
    }

    /// An index drawn in proportion to `weights`.
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut r = self.below(weights.iter().sum());
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }
}

/// The outcome mix of a realistic campaign (BRIEF.md): about 88 % home visits, 7 % phone,
/// the other 5 % spread over the five non-survey outcomes.
pub const OUTCOME_MIX: [u64; 7] = [880, 70, 10, 10, 10, 10, 10];

/// An outcome drawn from [`OUTCOME_MIX`].
pub fn pick_outcome(rng: &mut SplitMix64) -> Outcome {
    Outcome::ALL[rng.weighted(&OUTCOME_MIX)]
}

/// A complete, valid answer set for a person with an outcome, as a worker would enter it:
/// every relevant item answered (in form order, so relevance follows the answers), `status`
/// final. Deterministic for a seed.
#[must_use]
pub fn fill_questionnaire(
    form: &FormDefinition,
    person: &impl crate::domain::Respondent,
    campaign: &Campaign,
    outcome: Outcome,
    rng: &mut SplitMix64,
) -> Answers {
    let ctx = FormContext::for_person(person.facts(), campaign);
    let mut answers = Answers::new();
    answers.insert(OUTCOME.to_string(), Value::text(outcome.key()));
    let keys: Vec<String> = form.items().map(|i| i.key.clone()).collect();
    for key in keys {
        if key == OUTCOME || key == REASON_ITEM || !form.is_relevant(&key, &answers, &ctx) {
            continue;
        }
        let item = form.item(&key).expect("listed item");
        let value = match &item.kind {
            ItemKind::Text => Value::text(if key == VISIT_AT {
                format!("{}T10:{:02}:00+08:00", campaign.starts, rng.below(60))
            } else {
                "已核实".to_string()
            }),
            ItemKind::Integer { min, max } => {
                let lo = min.unwrap_or(0);
                let hi = max.unwrap_or(lo + 10).max(lo);
                Value::Int(
                    lo + i64::try_from(rng.below(u64::try_from(hi - lo + 1).unwrap_or(1)))
                        .unwrap_or(0),
                )
            }
            ItemKind::Date => Value::text(campaign.starts.to_string()),
            ItemKind::YesNo => Value::Bool(rng.below(2) == 0),
            ItemKind::Single => {
                Value::text(item.options[rng.index(item.options.len())].key.clone())
            }
            ItemKind::Multi => {
                let n = 1 + rng.index(item.options.len().min(3));
                let mut set = std::collections::BTreeSet::new();
                for _ in 0..n {
                    set.insert(item.options[rng.index(item.options.len())].key.clone());
                }
                // A "无" option excludes the others: drawn with them, it is dropped.
                if set.len() > 1 {
                    set.retain(|k| !item.option(k).is_some_and(|c| c.exclusive));
                }
                Value::Set(set)
            }
            ItemKind::Phone => Value::text(person.phone()),
            ItemKind::Geo => Value::Geo(GeoPoint {
                lat: 27.2 + f64::from(u32::try_from(rng.below(1000)).unwrap_or(0)) / 10_000.0,
                lon: 111.4 + f64::from(u32::try_from(rng.below(1000)).unwrap_or(0)) / 10_000.0,
            }),
        };
        answers.insert(key, value);
    }
    // A worker states the reason when the soft checks warn (the form's 核实说明).
    if form.item(REASON_ITEM).is_some() && !crate::checks::warnings(form, &answers, &ctx).is_empty()
    {
        answers.insert(REASON_ITEM.to_string(), Value::text("已核实，情况属实"));
    }
    answers.insert(STATUS.to_string(), crate::Status::Final.value());
    answers
}

/// A mutation that surveys a person completely, as a worker finalizing on a phone would: the
/// outcome and every item it makes relevant (from [`fill_questionnaire`], seeded by the person's
/// key), `status` final — for tests and simulations.
#[must_use]
pub fn survey_mutation(
    campaign: &Campaign,
    base: &crate::sync::RecordState,
    outcome: Outcome,
) -> crate::sync::Mutation {
    let form = FormDefinition::dynamic_update_2021();
    let mut key = [0u8; 8];
    key.copy_from_slice(&base.person.id.as_bytes()[..8]);
    let answers = fill_questionnaire(
        &form,
        &base.person,
        campaign,
        outcome,
        &mut SplitMix64::new(u64::from_le_bytes(key)),
    );
    crate::sync::Mutation {
        id: Uuid::now_v7(),
        person: base.person.id,
        base_version: base.version,
        hlc: crate::hlc::Hlc {
            wall: chrono::Utc::now().timestamp_millis(),
            counter: 0,
        },
        changes: answers
            .into_iter()
            .map(|(k, v)| {
                let change = crate::merge::Change {
                    base: base.answers.get(&k).cloned(),
                    value: Some(v),
                };
                (k, change)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const CAMPAIGN: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_2025);

    #[test]
    fn same_seed_same_district_and_different_seed_differs() {
        let a = generate(42, CAMPAIGN);
        assert_eq!(a, generate(42, CAMPAIGN));
        let b = generate(43, CAMPAIGN);
        assert_ne!(a.persons, b.persons);
        // The place tree does not depend on the seed.
        assert_eq!(a.communities, b.communities);
    }

    #[test]
    fn output_is_pinned() {
        // Demo data must never drift: these values are fixed forever.
        let d = generate(1, CAMPAIGN);
        let show = |p: &Person| format!("{} {} {} {}", p.name, p.certificate, p.phone, p.address);
        let nursing = d.persons.iter().filter(|p| p.nursing_subsidy).count();
        let living = d.persons.iter().filter(|p| p.living_subsidy).count();
        let got = format!(
            "{} | {} | {nursing} {living}",
            show(&d.persons[0]),
            show(&d.persons[d.persons.len() - 1])
        );
        assert_eq!(
            got,
            "赵梅英 43050319540311350142 15535380379 大祥区城南街道北旗社区7栋25号 | \
             罗凤芬 43050319641004286542 15742919526 大祥区檀江乡杨坡村8组18号 | 3168 2043"
        );
    }

    #[test]
    fn places_and_counts() {
        let d = generate(7, CAMPAIGN);
        assert_eq!(d.district.code.as_str(), "430503");
        assert_eq!(d.district.name, "大祥区");
        assert_eq!(d.streets.len(), 10);
        assert_eq!(d.streets[0].code.as_str(), "430503001");
        assert_eq!(d.streets[9].code.as_str(), "430503010");
        assert_eq!(d.communities.len(), 98);
        assert_eq!(d.persons.len(), 6_800);

        let mut sizes: HashMap<&DivisionCode, usize> = HashMap::new();
        for p in &d.persons {
            *sizes.entry(&p.community).or_default() += 1;
        }
        assert_eq!(sizes.len(), 98);
        for c in &d.communities {
            let n = sizes[&c.code];
            assert!(
                (MIN_COMMUNITY..=MAX_COMMUNITY).contains(&n),
                "{} has {n}",
                c.name
            );
            assert!(c.street.contains(&c.code));
            let street = d.street_of(c).unwrap();
            if street.name.ends_with("街道") {
                assert!(c.name.ends_with("社区"), "{}", c.name);
            } else {
                assert!(c.name.ends_with('村'), "{}", c.name);
            }
        }
        let names: HashSet<&str> = d.communities.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), 98, "community names are distinct");
    }

    #[test]
    fn every_number_reparses_and_ids_are_unique() {
        let d = generate(11, CAMPAIGN);
        let mut ids = HashSet::new();
        for p in &d.persons {
            let id = ResidentId::parse(p.resident_id.as_str()).unwrap();
            assert!(ids.insert(id.clone()), "duplicate ID");
            let cert = CertificateNumber::parse(&p.certificate.to_string()).unwrap();
            assert_eq!(cert.resident_id(), &id);
            assert_eq!(p.id, crate::domain::PersonKeys::Derived.key(CAMPAIGN, &id));
            let year = chrono::Datelike::year(&id.birth_date());
            assert!((1935..=2019).contains(&year));
            assert!(id.region() == "430503" || NEIGHBOURS.contains(&id.region()));
            assert_eq!(p.phone.len(), 11);
            assert!(p.phone.bytes().all(|b| b.is_ascii_digit()));
            assert!(["13", "15", "17", "18", "19"].contains(&&p.phone[..2]));
            assert!(p.address.starts_with("大祥区"));
            assert!(!p.name.is_empty() && p.name.chars().count() <= 3);
            assert!(!p.nursing_subsidy || p.certificate.level().is_severe());
        }
        let neighbours = d
            .persons
            .iter()
            .filter(|p| p.resident_id.region() != "430503")
            .count();
        assert!(neighbours > 0 && neighbours < d.persons.len() / 10);
    }

    #[test]
    fn level_category_and_subsidy_mix() {
        let d = generate(3, CAMPAIGN);
        let n = d.persons.len() as f64;
        let mix_sum = LEVEL_MIX.iter().sum::<usize>() as f64;
        for (i, &w) in LEVEL_MIX.iter().enumerate() {
            let level = u8::try_from(i + 1).unwrap();
            let count = d
                .persons
                .iter()
                .filter(|p| p.certificate.level().get() == level)
                .count();
            let (got, want) = (count as f64 / n, w as f64 / mix_sum);
            assert!((got - want).abs() < 0.02, "level {level}: {got} vs {want}");
        }
        let mut by_cat: HashMap<Category, usize> = HashMap::new();
        for p in &d.persons {
            *by_cat.entry(p.certificate.category()).or_default() += 1;
        }
        let most = by_cat.iter().max_by_key(|(_, n)| **n).unwrap().0;
        assert_eq!(*most, Category::Physical);
        assert_eq!(by_cat.len(), 7);

        let nursing = d.persons.iter().filter(|p| p.nursing_subsidy).count() as f64 / n;
        let living = d.persons.iter().filter(|p| p.living_subsidy).count() as f64 / n;
        assert!((0.43..0.51).contains(&nursing), "nursing {nursing}");
        assert!((0.26..0.34).contains(&living), "living {living}");
    }

    #[test]
    fn filled_questionnaires_are_valid_finals() {
        let form = FormDefinition::dynamic_update_2021();
        let d = generate(3, CAMPAIGN);
        let campaign = Campaign {
            id: CAMPAIGN,
            district: d.district.code.clone(),
            district_name: d.district.name.clone(),
            year: 2021,
            name: "t".into(),
            starts: NaiveDate::from_ymd_opt(2021, 3, 1).unwrap(),
            ends: NaiveDate::from_ymd_opt(2021, 6, 30).unwrap(),
            form_version: form.version.clone(),
        };
        let mut rng = SplitMix64::new(9);
        let mut counts = [0usize; 7];
        for p in d.persons.iter().take(400) {
            let o = pick_outcome(&mut rng);
            counts[o.index()] += 1;
            let a = fill_questionnaire(&form, p, &campaign, o, &mut rng);
            let ctx = FormContext::for_person(p, &campaign);
            let errors = form.validate(&a, &ctx, crate::form::Strictness::Final);
            assert!(errors.is_empty(), "{o:?}: {errors:?}");
            assert_eq!(
                crate::domain::final_outcome(&a, crate::Review::Pending),
                Some(o)
            );
        }
        assert!(counts[0] > 300 && counts[1] > 10, "{counts:?}");
    }

    #[test]
    fn sized_generation_scales() {
        let d = generate_sized(5, CAMPAIGN, 20_000, 300);
        assert_eq!(d.communities.len(), 300);
        assert_eq!(d.persons.len(), 20_000);
        let codes: HashSet<&DivisionCode> = d.communities.iter().map(|c| &c.code).collect();
        assert_eq!(codes.len(), 300);
        // Clamped to what the communities can hold.
        assert_eq!(generate_sized(5, CAMPAIGN, 10, 2).persons.len(), 40);
        assert_eq!(generate_sized(5, CAMPAIGN, 10_000, 2).persons.len(), 400);
        // Province scale: more than 999 streets' worth of communities still gets valid codes.
        let big = generate_sized(5, CAMPAIGN, 0, 15_000);
        assert_eq!(big.communities.len(), 15_000);
        assert!(big.streets.len() <= 999);
        assert!(big.communities.iter().all(|c| c.code.as_str().len() == 12));
    }
}
