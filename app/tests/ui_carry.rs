//! The year-over-year update through the real UI: last year's value beside each item of a
//! carried record, "same as last year" on a section (one tap, one outbox edit), the changed tag,
//! the campaign's year in the header, and the server's reason for any refused edit.

mod ui_support;

use std::collections::BTreeMap;

use chrono::Utc;
use doorstep_app::ui::services::Services;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::sync::{MutationResult, MutationStatus, PROTOCOL_VERSION, PushResponse};
use doorstep_shared::value::Value;
use ui_support::{CARRIED, Fixture, Harness, config, count, fixture_store};

/// Opens person `index` of the first community by tapping through the UI.
async fn open_person(h: &mut Harness, f: &Fixture, index: usize) -> String {
    let (code, _) = f.communities[0].clone();
    h.until_contains(&format!("community-{code}")).await;
    h.click(&format!("community-{code}")).await;
    let p = &f.persons[index];
    h.until_contains(&format!("person-{}", p.id)).await;
    h.click(&format!("person-{}", p.id)).await;
    h.until_contains("data-testid=\"outcome-home_visit\"").await
}

/// The inner HTML of the first element carrying `data-testid="{testid}"` (up to its first
/// closing `</p>`; enough for the one-line elements looked at here).
fn element<'a>(html: &'a str, testid: &str) -> &'a str {
    let start = html
        .find(&format!("data-testid=\"{testid}\""))
        .unwrap_or_else(|| panic!("no {testid} in\n{html}"));
    let rest = &html[start..];
    &rest[..rest.find("</p>").unwrap_or(rest.len())]
}

/// How an option key of a single-choice item reads in Chinese.
fn option_zh(form: &FormDefinition, item: &str, key: &str) -> String {
    form.item(item)
        .unwrap()
        .options
        .iter()
        .find(|o| o.key == key)
        .unwrap()
        .label_zh
        .clone()
}

#[tokio::test]
async fn the_header_shows_the_campaign_year_and_district() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, f) = Harness::with_fixture(dir.path()).await;
    let html = h.until_contains("data-testid=\"campaign-year\"").await;
    assert_eq!(f.campaign.year, 2021);
    assert!(html.contains("2021年度 · 大祥区"), "{html}");
    // Still there on the person screen, and in English.
    open_person(&mut h, &f, CARRIED).await;
    assert!(h.html().contains("2021年度 · 大祥区"));
    h.click("lang").await;
    let html = h.until_contains("2021 update · 大祥区").await;
    assert!(html.contains("data-testid=\"campaign-year\""));
}

#[tokio::test]
async fn last_years_values_are_shown_and_one_tap_confirms_a_section() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, f) = Harness::with_fixture(dir.path()).await;
    let form = FormDefinition::dynamic_update_2021();
    let (id, prior) = f.carried.clone();
    open_person(&mut h, &f, CARRIED).await;
    h.click("outcome-home_visit").await;
    let html = h.until_contains("data-testid=\"questionnaire\"").await;

    // Last year's value beside each item, with its option label.
    let ethnicity = prior["ethnicity"].as_text().unwrap();
    let shown = element(&html, "prior-ethnicity");
    assert!(shown.contains("去年："), "{shown}");
    assert!(
        shown.contains(&option_zh(&form, "ethnicity", ethnicity)),
        "{shown}"
    );
    assert!(html.contains("data-testid=\"prior-household_size\""));
    assert!(
        !html.contains("data-testid=\"prior-outcome\""),
        "outcome never carries"
    );
    // Nothing answered yet: nothing changed; a button per carried section with a prior.
    assert_eq!(count(&html, "data-testid=\"changed-"), 0);
    assert!(html.contains("data-testid=\"confirm-section-basic\""));
    assert!(html.contains("data-testid=\"confirm-section-economy\""));
    assert!(html.contains("与去年相同"));

    // One tap: the section takes last year's values, saved as one outbox edit.
    let store = h.services.store().unwrap();
    assert_eq!(store.unsent_count().unwrap(), 0);
    h.click("confirm-section-basic").await;
    let marital = prior["marital_status"].as_text().unwrap().to_string();
    let pressed = format!("aria-pressed=\"true\" data-testid=\"item-marital_status-{marital}\"");
    let html = h.until("section filled", |h| h.contains(&pressed)).await;
    assert!(html.contains("已按去年填写本部分"), "{html}");
    assert_eq!(store.unsent_count().unwrap(), 1, "one outbox edit");
    let outbox = store.outbox().unwrap();
    assert!(
        outbox[0].items.iter().any(|i| i == "outcome"),
        "the visit's edits go with it"
    );
    let rec = store.record(id).unwrap();
    let basic = form.sections.iter().find(|s| s.key == "basic").unwrap();
    for item in basic.items.iter().filter(|i| prior.contains_key(&i.key)) {
        assert_eq!(
            rec.answers.get(&item.key),
            prior.get(&item.key),
            "{}",
            item.key
        );
    }
    assert!(
        !rec.answers.contains_key("income_level"),
        "other sections untouched"
    );
    let household = prior["household_size"].as_int().unwrap();
    assert!(
        html.contains(&format!("value=\"{household}\"")),
        "the number shows"
    );
    assert_eq!(count(&html, "data-testid=\"changed-"), 0);
    assert!(html.contains("data-testid=\"section-unchanged-basic\""));
    assert!(!html.contains("data-testid=\"section-unchanged-economy\""));

    // Changing one item: the changed tag on that item only.
    let other = form
        .item("marital_status")
        .unwrap()
        .options
        .iter()
        .find(|o| o.key != marital)
        .unwrap()
        .key
        .clone();
    h.click(&format!("item-marital_status-{other}")).await;
    let html = h
        .until_contains("data-testid=\"changed-marital_status\"")
        .await;
    assert_eq!(count(&html, "data-testid=\"changed-"), 1, "{html}");
    assert!(element(&html, "changed-marital_status").contains("已变更"));
    assert!(!html.contains("data-testid=\"section-unchanged-basic\""));
    h.click("save-draft").await;
    h.until_contains("草稿已保存在本机").await;
    assert_eq!(
        store.unsent_count().unwrap(),
        1,
        "folded into the unsent edit"
    );
    let rec = store.record(id).unwrap();
    assert_eq!(
        rec.changes["marital_status"],
        doorstep_shared::carry::ItemChange::Changed
    );
    assert_eq!(
        rec.changes["ethnicity"],
        doorstep_shared::carry::ItemChange::Unchanged
    );

    // In English.
    h.click("lang").await;
    let html = h.until_contains("Same as last year").await;
    assert!(element(&html, "prior-ethnicity").contains("Last year: "));
    assert!(element(&html, "changed-marital_status").contains("changed"));
}

#[tokio::test]
async fn a_person_without_a_prior_shows_no_last_year() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, f) = Harness::with_fixture(dir.path()).await;
    open_person(&mut h, &f, 5).await;
    h.click("outcome-phone").await;
    let html = h.until_contains("data-testid=\"questionnaire\"").await;
    assert_eq!(count(&html, "data-testid=\"prior-"), 0);
    assert_eq!(count(&html, "data-testid=\"confirm-section-"), 0);
    assert!(!html.contains("去年："));
}

fn rejected(id: uuid::Uuid, code: &str, message: &str) -> MutationResult {
    MutationResult {
        id,
        status: MutationStatus::Rejected,
        version: 0,
        items: BTreeMap::new(),
        reassigned: false,
        late: false,
        errors: Vec::new(),
        code: Some(code.into()),
        message: Some(message.into()),
    }
}

#[tokio::test]
async fn any_refusal_shows_the_servers_reason_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let (store, f) = fixture_store(dir.path());
    let cases = [
        (
            5,
            "record_approved",
            "记录已审核通过，不能修改 / the record is approved; it cannot be changed",
            "记录已审核通过，不能修改",
            "the record is approved; it cannot be changed",
        ),
        (
            6,
            "campaign_closed",
            "2021年度调查已结束 / the 2021 campaign is closed",
            "2021年度调查已结束",
            "the 2021 campaign is closed",
        ),
        (
            7,
            "mutation_id_reused",
            "修改编号已用于另一项修改，未应用 / mutation ID was already used for a different edit; nothing applied",
            "修改编号已用于另一项修改，未应用",
            "mutation ID was already used for a different edit",
        ),
        (
            8,
            "incomplete",
            "「民族」为必填项 / Ethnicity is required; 「婚姻状况」为必填项 / Marital status is required",
            "「民族」为必填项",
            "Marital status is required",
        ),
        (
            3,
            "some_future_code",
            "",
            "服务器未说明原因",
            "the server gave no reason",
        ),
    ];
    for (i, code, message, _, _) in &cases {
        let p = f.persons[*i].id;
        store
            .save_edit(
                p,
                [("outcome".to_string(), Some(Value::text("phone")))].into(),
                false,
            )
            .unwrap();
        let batch = store.take_push_batch(500).unwrap();
        let m = batch.iter().find(|m| m.person == p).unwrap();
        let resp = PushResponse {
            protocol: PROTOCOL_VERSION,
            results: vec![rejected(m.id, code, message)],
            server_time: Hlc {
                wall: Utc::now().timestamp_millis(),
                counter: 0,
            },
            in_order: false,
        };
        store.apply_push_results(&batch, &resp).unwrap();
    }
    let services = Services::new(config(dir.path()));
    services.install_store(store);
    let mut h = Harness::new(services).await;
    for (i, code, _, zh, en) in cases {
        open_person(&mut h, &f, i).await;
        let html = h.until_contains("data-testid=\"rejected\"").await;
        assert!(
            element(&html, "rejected-message").contains(zh),
            "{code}: {html}"
        );
        assert!(element(&html, "rejected-code").contains(code), "{code}");
        assert!(html.contains(&format!("data-code=\"{code}\"")));
        assert!(h.has("retry-rejected") && h.has("discard-rejected"));
        h.click("lang").await;
        let html = h.until_contains("The server refused").await;
        assert!(
            element(&html, "rejected-message").contains(en),
            "{code}: {html}"
        );
        h.click("lang").await;
        h.click("back").await;
        h.click("back").await;
        h.until_contains("data-testid=\"campaign-year\"").await;
    }
}
