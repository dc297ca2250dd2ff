//! The hand-over to the national system on the demo district after the field simulator: the
//! coded export's cells are the records' answers mapped through the form's code table (skipped
//! items blank, a multi choice spread over its option columns); the checklist PDF has a page per
//! person of a community; "keyed" marks count in the figures and show in the console.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value as Json, json};

use doorstep_server::testing::{Backend, fresh_url};
use doorstep_shared::form::{FormContext, FormDefinition, ItemKind};
use doorstep_shared::official::Code;
use doorstep_shared::sync::RecordState;
use doorstep_shared::{Campaign, Value};
use doorstep_tests::admin::Console;
use doorstep_tests::field::Field;
use doorstep_tests::server::ServerProcess;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_field-server"))
}

async fn get_bytes(c: &Console, path: &str) -> (u16, Vec<u8>) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", c.url))
        .bearer_auth(&c.token)
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.bytes().await.expect("body").to_vec())
}

async fn post_status(c: &Console, path: &str, body: Json) -> (u16, Json) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", c.url))
        .bearer_auth(&c.token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Json::Null))
}

/// The header of an item's column, from the form's data: `R3 户口性质`, `R? 民族`.
fn item_header(item: &doorstep_shared::form::Item) -> (String, String) {
    let official = item.official.as_ref().expect("annotated");
    let number = match &official.item {
        Code::Known(r) => r.clone(),
        Code::Unknown => "R?".into(),
    };
    let wording = official
        .label_zh
        .clone()
        .unwrap_or_else(|| item.label_zh.clone());
    (number, wording)
}

/// What a cell must hold for an answer, computed here from the form's code table.
fn expected_code(item: &doorstep_shared::form::Item, v: &Value) -> String {
    match (item.kind, v) {
        (ItemKind::Single, Value::Text(k)) => {
            let c = item.option(k).expect("known option");
            match c.code.as_ref().expect("coded") {
                Code::Known(code) => code.clone(),
                Code::Unknown => format!("?{}", c.label_zh),
            }
        }
        (ItemKind::YesNo, Value::Bool(true)) => "1".into(),
        (ItemKind::YesNo, Value::Bool(false)) => "2".into(),
        (_, other) => other.display(),
    }
}

async fn handover(b: Backend) {
    let url = fresh_url(b);
    ServerProcess::seed_demo(&bin(), &url, 2021).expect("seed");
    let srv = ServerProcess::start(&bin(), &url, "127.0.0.1:0").expect("start");
    let dir = tempfile::tempdir().expect("dir");
    let mut field = Field::setup_on(&srv.url(), dir.path(), 3, 1, 6, 18)
        .await
        .expect("setup");
    for _ in 0..2 {
        field.day(40, 10).await.expect("day");
    }
    field.finish().await.expect("finish");
    let admin = field.console.clone();
    let progress = admin.progress().await.expect("progress");
    let campaign: Campaign = serde_json::from_value(progress["campaign"].clone()).unwrap();
    let records: BTreeMap<String, RecordState> = admin
        .records()
        .await
        .expect("records")
        .into_values()
        .map(|r| (r.person.certificate.to_string(), r))
        .collect();
    let form = FormDefinition::dynamic_update_2021();

    // The coded export of the whole district, as the admin (full ID numbers).
    let (status, bytes) = get_bytes(&admin, "/api/v1/handover/coded.csv").await;
    assert_eq!(status, 200);
    let text = String::from_utf8(bytes).unwrap();
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let col = |h: &str| {
        header
            .iter()
            .position(|x| x == h)
            .unwrap_or_else(|| panic!("no column {h}"))
    };
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    assert_eq!(rows.len(), 6800, "one row per person of the district");
    // R-items with a known number come first, in number order.
    let first_items: Vec<&str> = header[14..]
        .iter()
        .filter(|h| !h.ends_with("·变更"))
        .take(3)
        .map(String::as_str)
        .collect();
    assert_eq!(first_items, ["R3 户口性质", "R13 学历", "R17 就业形式"]);

    let (mut checked, mut skipped, mut spread, mut unknown) = (0, 0, 0, 0);
    for row in rows
        .iter()
        .filter(|r| !r[col("调查结果")].is_empty())
        .step_by(7)
    {
        let cert = &row[col("残疾人证号")];
        let rec = &records[cert];
        assert_eq!(row[col("区划代码")], rec.person.community.to_string());
        assert_eq!(row[col("区划代码")].len(), 12);
        assert_eq!(row[col("身份证号")], rec.person.resident_id.to_string());
        assert_eq!(row[col("姓名")], rec.person.name);
        let ctx = FormContext::for_person(&rec.person, &campaign);
        for item in form.items().filter(|i| i.key != "outcome") {
            let (number, wording) = item_header(item);
            let value = rec
                .answers
                .get(&item.key)
                .filter(|_| form.is_relevant(&item.key, &rec.answers, &ctx));
            if item.kind == ItemKind::Multi {
                for c in &item.options {
                    let code = match c.code.as_ref().unwrap() {
                        Code::Known(x) => x.clone(),
                        Code::Unknown => "?".into(),
                    };
                    let cell = &row[col(&format!("{number}-{code} {wording}：{}", c.label_zh))];
                    let want = match value {
                        Some(Value::Set(s)) if s.contains(&c.key) => "1",
                        Some(Value::Set(_)) => "0",
                        _ => "",
                    };
                    assert_eq!(cell, want, "{} {}.{}", rec.person.name, item.key, c.key);
                    spread += usize::from(want == "1");
                }
            } else {
                let cell = &row[col(&format!("{number} {wording}"))];
                let want = value.map_or(String::new(), |v| expected_code(item, v));
                assert_eq!(cell, &want, "{} {}", rec.person.name, item.key);
                unknown += usize::from(want.starts_with('?'));
            }
            if value.is_none() && rec.answers.contains_key(&item.key) {
                skipped += 1;
            }
            if !form.is_relevant(&item.key, &rec.answers, &ctx) {
                skipped += 1;
            }
        }
        checked += 1;
    }
    assert!(checked >= 40, "sampled {checked} surveyed persons");
    assert!(
        skipped > 0 && spread > 0 && unknown > 0,
        "{skipped} {spread} {unknown}"
    );
    println!(
        "coded export: {checked} persons checked, {skipped} skipped cells, {spread} option marks"
    );

    // A supervisor's export of their street is masked.
    let sup = Console::login(&srv.url(), "sup01").await.unwrap();
    let (status, bytes) = get_bytes(&sup, "/api/v1/handover/coded.csv").await;
    assert_eq!(status, 200);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.lines().skip(1).all(|l| l.contains("********")));
    // A worker may not have it; a bad area is refused in both languages.
    let worker = Console::login(&srv.url(), "w001").await.unwrap();
    assert_eq!(
        get_bytes(&worker, "/api/v1/handover/coded.csv").await.0,
        403
    );
    let (status, body) = get_bytes(&admin, "/api/v1/handover/coded.csv?area=43x").await;
    assert_eq!(status, 422);
    assert!(String::from_utf8(body).unwrap().contains("区划代码"));

    // The checklist of one surveyed community: a PDF page per person.
    let community = records
        .values()
        .find(|r| doorstep_shared::domain::final_outcome(&r.answers, r.review).is_some())
        .expect("a surveyed person")
        .person
        .community
        .to_string();
    let persons: Vec<&RecordState> = records
        .values()
        .filter(|r| r.person.community.to_string() == community)
        .collect();
    let (status, pdf) = get_bytes(
        &admin,
        &format!("/api/v1/handover/checklist.pdf?area={community}"),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pdf));
    let doc = lopdf::Document::load_mem(&pdf).expect("the PDF opens");
    assert_eq!(doc.get_pages().len(), persons.len());
    // Its text reads back through the embedded font's Unicode map: the first page is the first
    // person's (records come in community order, then by person ID).
    let mut ids: Vec<_> = persons.iter().map(|r| r.person.id.to_string()).collect();
    ids.sort();
    let first_name = &persons
        .iter()
        .find(|r| r.person.id.to_string() == ids[0])
        .unwrap()
        .person
        .name;
    let page_one = doc.extract_text(&[1]).expect("text of page 1");
    assert!(
        page_one.contains(first_name.as_str()) && page_one.contains("录入国家系统核对单"),
        "{page_one}"
    );
    println!(
        "checklist PDF: {} pages, {} bytes",
        persons.len(),
        pdf.len()
    );

    // Keyed marks: three records marked, one unmarked again; the figures count them.
    let mut keyed = 0;
    for r in persons
        .iter()
        .filter(|r| doorstep_shared::domain::final_outcome(&r.answers, r.review).is_some())
        .take(3)
    {
        let (status, mark) = post_status(
            &admin,
            &format!("/api/v1/handover/keyed/{}", r.person.id),
            json!({"keyed": true}),
        )
        .await;
        assert_eq!(status, 200, "{mark}");
        assert_eq!(mark["by"], "admin");
        keyed += 1;
    }
    assert_eq!(keyed, 3);
    let first = persons[0].person.id;
    let (status, mark) = post_status(
        &admin,
        &format!("/api/v1/handover/keyed/{first}"),
        json!({"keyed": false}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(mark.is_null());
    let (status, _) = post_status(
        &worker,
        &format!("/api/v1/handover/keyed/{first}"),
        json!({"keyed": true}),
    )
    .await;
    assert_eq!(status, 403);
    let progress = admin.progress().await.unwrap();
    let row = progress["communities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == community.as_str())
        .unwrap();
    let marked = persons
        .iter()
        .filter(|r| doorstep_shared::domain::final_outcome(&r.answers, r.review).is_some())
        .take(3)
        .filter(|r| r.person.id != first)
        .count() as u64;
    assert_eq!(row["figures"]["keyed"], marked);
    assert_eq!(progress["total"]["keyed"], marked);
    // The console shows them: the overview's figures and the community's hand-over page.
    let (status, html) = get_bytes(&admin, "/console").await;
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains(&format!("<span data-total=\"keyed\">{marked}</span>")),
        "overview card"
    );
    let (status, html) = get_bytes(&admin, &format!("/console/handover?area={community}")).await;
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    assert_eq!(html.matches("data-keyed=\"false\"").count() as u64, marked);
    // The printable checklist: one sheet per person.
    let (status, html) = get_bytes(
        &admin,
        &format!("/console/handover/checklist?area={community}"),
    )
    .await;
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    assert_eq!(
        html.matches("<section class=\"sheet\"").count(),
        persons.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handover_sqlite() {
    handover(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handover_postgres() {
    handover(Backend::Postgres).await;
}
