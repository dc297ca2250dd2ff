//! A real district from an empty server, only through the command line and the API, on SQLite
//! and on PostgreSQL: the first admin, the 2021 campaign of 大祥区, a roster of 6,819 persons in
//! 98 communities (IDs made here, not by the demo generator), workers and their phones, the
//! survey with the annual report's outcome mix, the report; then 2022 opened from 2021 with the
//! roster and last year's answers carried over, and a phone's unsent 2021 edit delivered late.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Parser;
use serde_json::{Value as Json, json};

use doorstep_app::Filter;
use doorstep_server::cli::{Cli, run};
use doorstep_server::testing::{Backend, fresh_url};
use doorstep_shared::demo::SplitMix64;
use doorstep_shared::{Outcome, Value};
use doorstep_tests::field::Device;

const PASSWORD: &str = doorstep_server::seed::DEMO_PASSWORD;

/// A resident ID by GB 11643-1999, computed here (not by the project's own code).
fn resident_id(region: &str, birth: &str, seq: u32) -> String {
    let body = format!("{region}{birth}{seq:03}");
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(weights)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    let check = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize];
    format!("{body}{check}")
}

/// 98 communities under 10 streets: (street code, street name, community code, community name).
fn places() -> Vec<(String, String, String, String)> {
    let streets = [
        "城南街道",
        "城西街道",
        "城北街道",
        "红旗街道",
        "中河街道",
        "学院街道",
        "板桥乡",
        "蔡锷乡",
        "罗市镇",
        "檀江街道",
    ];
    let mut out = Vec::new();
    for (s, name) in streets.iter().enumerate() {
        let n = if s < 8 { 10 } else { 9 };
        for c in 1..=n {
            let street = format!("430503{:03}", s + 1);
            out.push((
                street.clone(),
                (*name).to_string(),
                format!("{street}{c:03}"),
                format!("{}第{c}社区", name.trim_end_matches("街道")),
            ));
        }
    }
    assert_eq!(out.len(), 98);
    out
}

/// The roster file as a district office would send it, and each person's outcome.
fn roster() -> (String, Vec<(String, Outcome)>) {
    let mix = [
        (Outcome::HomeVisit, 5981),
        (Outcome::Phone, 481),
        (Outcome::NotFound, 45),
        (Outcome::Moved, 95),
        (Outcome::RegisteredOnly, 57),
        (Outcome::Away, 155),
        (Outcome::Deregistered, 5),
    ];
    let mut outcomes: Vec<Outcome> = mix
        .iter()
        .flat_map(|(o, n)| std::iter::repeat_n(*o, *n))
        .collect();
    assert_eq!(outcomes.len(), 6819);
    let mut rng = SplitMix64::new(2021);
    for i in (1..outcomes.len()).rev() {
        outcomes.swap(i, rng.index(i + 1));
    }
    let places = places();
    let surnames = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
    let given = [
        "建国", "秀英", "桂兰", "志强", "丽华", "海燕", "德明", "春生", "玉梅", "光辉",
    ];
    let mut csv = String::from(
        "序号,姓名,身份证号,残疾证号,街道（乡镇）,社区（村）,社区代码,住址,联系电话,护理补贴,生活补贴\n",
    );
    let mut persons = Vec::new();
    let start = chrono::NaiveDate::from_ymd_opt(1940, 1, 1).unwrap();
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let (_, street, community, cname) = &places[i % 98];
        let birth = start + chrono::Duration::days((i as i64 / 400) * 17 + 3);
        let id = resident_id(
            "430503",
            &birth.format("%Y%m%d").to_string(),
            u32::try_from(i % 400).unwrap() * 2 + 1,
        );
        let cert = format!("{id}{}{}", 1 + i % 7, 1 + (i / 7) % 4);
        csv.push_str(&format!(
            "{},{}{},{id},{cert},{street},{cname},{community},邵阳市大祥区{cname}{}号,139{:08},{},{}\n",
            i + 1,
            surnames[i % 10],
            given[(i / 10) % 10],
            i % 300 + 1,
            i,
            if i % 2 == 0 { "是" } else { "否" },
            if i % 3 == 0 { "是" } else { "否" },
        ));
        persons.push((id, outcome));
    }
    (csv, persons)
}

async fn cli(url: &str, data: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut all = vec![
        "doorstep-server",
        "--database-url",
        url,
        "--data-dir",
        data.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    run(Cli::parse_from(all)).await
}

struct Admin {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Admin {
    async fn login(url: &str) -> Self {
        let http = reqwest::Client::new();
        let r: Json = http
            .post(format!("{url}/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            http,
            url: url.to_string(),
            token: r["token"].as_str().unwrap().to_string(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Json {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Json::Null)
    }
}

async fn district(backend: Backend) {
    let url = fresh_url(backend);
    let dir = tempfile::tempdir().unwrap();
    // The first admin, on an empty database; opening without one is refused.
    let err = cli(
        &url,
        dir.path(),
        &[
            "open-campaign",
            "--district",
            "430503",
            "--district-name",
            "大祥区",
            "--year",
            "2021",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("add-user"), "{err}");
    cli(
        &url,
        dir.path(),
        &[
            "add-user",
            "admin",
            "--role",
            "admin",
            "--name",
            "区残联管理员",
            "--password",
            PASSWORD,
        ],
    )
    .await
    .unwrap();
    cli(
        &url,
        dir.path(),
        &[
            "open-campaign",
            "--district",
            "430503",
            "--district-name",
            "大祥区",
            "--year",
            "2021",
        ],
    )
    .await
    .unwrap();
    let (csv, persons) = roster();
    let file = dir.path().join("2021年调查底册.csv");
    std::fs::write(&file, csv).unwrap();
    cli(&url, dir.path(), &["import-roster", file.to_str().unwrap()])
        .await
        .unwrap();
    // The server, as `serve` runs it.
    let state = doorstep_server::build(&doorstep_server::Config::new(
        Some(url.clone()),
        dir.path().into(),
    ))
    .await
    .unwrap();
    let addr = doorstep_server::spawn(state.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let server = format!("http://{addr}");
    let admin = Admin::login(&server).await;
    // Workers, three communities each, through the API.
    let communities: Vec<String> = places().into_iter().map(|p| p.2).collect();
    let mut workers = Vec::new();
    for (i, chunk) in communities.chunks(3).enumerate() {
        let name = format!("w{:03}", i + 1);
        admin
            .call(
                reqwest::Method::POST,
                "/api/v1/admin/users",
                Some(
                    json!({"username": name, "display_name": format!("专干{}", i + 1),
                            "role": "worker", "password": PASSWORD}),
                ),
            )
            .await;
        for c in chunk {
            admin
                .call(
                    reqwest::Method::PUT,
                    "/api/v1/admin/assignments",
                    Some(json!({"community": c, "username": name})),
                )
                .await;
        }
        workers.push(name);
    }
    // Every worker's phone surveys their persons with the planned outcome and syncs.
    let outcome_of: BTreeMap<String, Outcome> = persons.into_iter().collect();
    let phones_dir = tempfile::tempdir().unwrap();
    let mut phones = Vec::new();
    let mut rng = SplitMix64::new(7);
    for w in &workers {
        let phone = Device::sign_in(phones_dir.path(), w, w, &server)
            .await
            .unwrap();
        let rows = phone.store.persons(None, Filter::All, "").unwrap();
        for r in &rows {
            let view = phone.store.record(r.person_id).unwrap();
            let o = outcome_of[view.person.resident_id.as_str()];
            phone.survey(r.person_id, o, &mut rng).unwrap();
        }
        phone.sync().await.unwrap();
        phones.push(phone);
    }
    let report = admin
        .call(reqwest::Method::GET, "/api/v1/report", None)
        .await;
    let p = report["paragraph"].as_str().unwrap();
    for want in [
        "2021年，大祥区共完成6819名",
        "底册6819人",
        "调查完成率100.00%",
        "入户调查率92.56%",
        "APP采集比例100.00%",
        "98个社区（村）中已完成98个",
        "入户调查5981人",
        "电话调查481人",
        "注销5人",
    ] {
        assert!(p.contains(want), "{want:?} not in {p}");
    }

    // A phone keeps an unsent 2021 edit while the district opens 2022 from 2021.
    let phone = &phones[0];
    let surveyed = phone
        .store
        .persons(None, Filter::All, "")
        .unwrap()
        .into_iter()
        .find(|r| r.outcome == Some(Outcome::HomeVisit))
        .unwrap();
    assert!(
        phone
            .edit(
                surveyed.person_id,
                &[("phone", Some(Value::text("13800000001")))]
            )
            .unwrap()
    );
    cli(
        &url,
        dir.path(),
        &[
            "open-campaign",
            "--district",
            "430503",
            "--district-name",
            "大祥区",
            "--year",
            "2022",
            "--from",
            "2021",
        ],
    )
    .await
    .unwrap();
    let list = admin
        .call(reqwest::Method::GET, "/api/v1/admin/campaigns", None)
        .await;
    let states: Vec<(i64, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["year"].as_i64().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [(2022, "open"), (2021, "late")]);
    let prog = admin
        .call(reqwest::Method::GET, "/api/v1/progress", None)
        .await;
    assert_eq!(
        prog["total"]["roster"], 6814,
        "everyone but the 5 deregistered"
    );
    assert_eq!(prog["campaign"]["year"], 2022);
    // Last year's answers are there as prior values.
    let db = &state.db;
    let c2022 = db.current_campaign().await.unwrap().unwrap();
    let rows = db
        .records(
            &c2022.id.to_string(),
            &doorstep_server::db::Scope::All,
            None,
        )
        .await
        .unwrap();
    let with_prior = rows.iter().filter(|r| r.prior.is_some()).count();
    assert_eq!(
        with_prior,
        5981 + 481,
        "every surveyed person carries answers"
    );
    assert!(rows.iter().all(|r| r.doc.answers.is_empty()));
    let moved_flagged = rows
        .iter()
        .filter(|r| r.flag.as_deref() == Some("moved_last_year"))
        .count();
    assert_eq!(moved_flagged, 95);
    // The 2021 report stays readable next to the open year.
    let old = admin
        .call(reqwest::Method::GET, "/api/v1/report?year=2021", None)
        .await;
    assert!(
        old["paragraph"]
            .as_str()
            .unwrap()
            .contains("2021年，大祥区共完成6819名")
    );

    // The phone delivers its 2021 edit (accepted into 2021, marked late), then switches.
    let r = phone.sync().await.unwrap();
    assert_eq!((r.pushed, r.applied, r.rejected), (1, 1, 0), "{r:?}");
    let last_year = db
        .record(&surveyed.person_id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last_year.doc.answers["phone"], Value::text("13800000001"));
    assert_eq!(
        phone.store.campaign().unwrap().unwrap().year,
        2022,
        "the phone works on 2022 now"
    );
    let held = phone.store.persons(None, Filter::All, "").unwrap();
    assert!(!held.is_empty());
    assert!(held.iter().all(|r| r.person_id != surveyed.person_id));
    // The carried record's prior shows the late correction.
    // The new year's key comes from the 2022 campaign's own secret: not computable from the
    // ID number without it.
    let keys = db.person_keys(&c2022.id).await.unwrap();
    assert!(matches!(keys, doorstep_shared::PersonKeys::Secret(_)));
    let next_id = keys.key(c2022.id, &last_year.person.resident_id);
    assert_ne!(
        next_id,
        doorstep_shared::PersonKeys::Derived.key(c2022.id, &last_year.person.resident_id)
    );
    let next = db.record(&next_id.to_string()).await.unwrap().unwrap();
    assert_eq!(
        next.prior.as_ref().and_then(|p| p.get("phone")),
        Some(&Value::text("13800000001"))
    );
    let on_phone = phone.store.record(next_id).unwrap();
    assert_eq!(
        on_phone.prior, next.prior,
        "the phone shows last year's values"
    );
    assert_eq!(on_phone.person.community, next.person.community);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_from_an_empty_server_sqlite() {
    district(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_from_an_empty_server_postgres() {
    district(Backend::Postgres).await;
}
