//! The person screen through the real UI: the outcome first, the questionnaire following it,
//! relevance, validation on submit, the visit time (and position where the platform has one).

mod ui_support;

use std::sync::Arc;

use doorstep_app::ui::services::Services;
use doorstep_shared::form::{FormDefinition, ItemKind};
use doorstep_shared::value::GeoPoint;
use ui_support::{Fixture, Harness, config, count, fixture_store};

/// Opens the first not-yet-surveyed person of the first community by tapping through the UI.
async fn open_person(h: &mut Harness, f: &Fixture, index: usize) -> String {
    let (code, _) = f.communities[0].clone();
    h.until_contains(&format!("community-{code}")).await;
    h.click(&format!("community-{code}")).await;
    let p = &f.persons[index];
    h.until_contains(&format!("person-{}", p.id)).await;
    h.click(&format!("person-{}", p.id)).await;
    h.until_contains("data-testid=\"outcome-home_visit\"").await
}

fn has_item(html: &str, key: &str) -> bool {
    html.contains(&format!("data-item=\"{key}\""))
}

#[tokio::test]
async fn outcome_first_then_the_questionnaire_only_for_a_survey() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, f) = Harness::with_fixture(dir.path()).await;
    let html = open_person(&mut h, &f, 5).await;
    assert!(html.contains(&f.persons[5].name));
    // Roster facts with the ID masked.
    assert!(html.contains(&f.persons[5].resident_id.masked()));
    assert!(!html.contains(f.persons[5].resident_id.as_str()));
    // Nothing chosen yet: the seven outcomes, no questionnaire.
    for o in [
        "home_visit",
        "phone",
        "not_found",
        "moved",
        "registered_only",
        "away",
        "deregistered",
    ] {
        assert!(
            html.contains(&format!("data-testid=\"outcome-{o}\"")),
            "{o}"
        );
    }
    assert!(!html.contains("data-testid=\"questionnaire\""));

    // A home visit: the questionnaire appears, the time is recorded, no position in a browser.
    h.click("outcome-home_visit").await;
    let html = h.until_contains("data-testid=\"questionnaire\"").await;
    assert!(
        html.contains("aria-pressed=\"true\" data-testid=\"outcome-home_visit\"")
            || html.contains("data-testid=\"outcome-home_visit\"")
    );
    assert!(has_item(&html, "ethnicity"), "basic information shown");
    assert!(has_item(&html, "employed"), "employment shown");
    assert!(html.contains("民族"));
    assert!(html.contains("data-testid=\"visit-time\""));
    assert!(html.contains("已自动记录"), "the visit time is recorded");
    assert!(
        html.contains("此设备（浏览器）无法获取位置"),
        "no position: said plainly"
    );
    assert!(!has_item(&html, "outcome_note"));

    // Moved: the questionnaire goes, the note on the outcome comes.
    h.click("outcome-moved").await;
    let html = h
        .until("questionnaire hidden", |h| {
            !h.contains("data-testid=\"questionnaire\"")
        })
        .await;
    assert!(has_item(&html, "outcome_note"), "the outcome note is asked");
    assert!(html.contains("未调查情况说明"));
    assert!(!has_item(&html, "ethnicity"));
    assert!(!html.contains("data-testid=\"visit-time\""));

    // Saved as a draft on the device, not sent.
    h.input("item-outcome_note", "2020年搬到长沙").await;
    h.click("save-draft").await;
    h.until_contains("草稿已保存在本机").await;
    let store = h.services.store().unwrap();
    assert_eq!(store.unsent_count().unwrap(), 1);
    let rec = store.record(f.persons[5].id).unwrap();
    assert_eq!(rec.answers["outcome"].as_text(), Some("moved"));
    assert_eq!(
        rec.answers["outcome_note"].as_text(),
        Some("2020年搬到长沙")
    );

    // English on the toggle.
    h.click("lang").await;
    let html = h.until_contains("Save draft").await;
    assert!(html.contains("Moved away"));
    assert!(
        html.contains("Outcome note") || html.contains("outcome"),
        "{html}"
    );
}

#[tokio::test]
async fn relevance_shows_and_hides_items() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, f) = Harness::with_fixture(dir.path()).await;
    open_person(&mut h, &f, 6).await;
    h.click("outcome-phone").await;
    let html = h.until_contains("data-testid=\"questionnaire\"").await;
    assert!(has_item(&html, "employed"));
    assert!(!has_item(&html, "employment_form"));
    assert!(!has_item(&html, "not_working_reason"));
    // A phone survey records no visit time.
    assert!(!html.contains("data-testid=\"visit-time\""));

    h.click("item-employed-yes").await;
    let html = h
        .until("employment form", |h| has_item(h, "employment_form"))
        .await;
    assert!(html.contains("就业形式"));
    assert!(!has_item(&html, "not_working_reason"));
    assert!(!has_item(&html, "employment_help_wanted"));

    h.click("item-employed-no").await;
    let html = h
        .until("reason not working", |h| has_item(h, "not_working_reason"))
        .await;
    assert!(html.contains("未就业原因"));
    assert!(!has_item(&html, "employment_form"));
    assert!(has_item(&html, "employment_help_wanted"));

    // A multi choice: the devices item follows "device" among the services received.
    assert!(!has_item(&html, "devices_received"));
    h.change("item-rehab_services_received-device", "on").await;
    let html = h
        .until("devices received", |h| has_item(h, "devices_received"))
        .await;
    assert!(html.contains("轮椅"));
    h.change("item-rehab_services_received-device", "").await;
    h.until("devices hidden", |h| !has_item(h, "devices_received"))
        .await;

    // Housing: the renovation question only for dangerous housing.
    assert!(!has_item(&h.html(), "dangerous_housing_renovated"));
    h.click("item-housing_safety-dangerous").await;
    h.until("renovation", |h| has_item(h, "dangerous_housing_renovated"))
        .await;
}

/// The error keys on the page, in order.
fn error_keys(html: &str) -> Vec<String> {
    html.match_indices("data-testid=\"error-")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// Answers every item the page says is missing, the way a worker would: first option, "no",
/// "3"; repeats while answers open new required items.
async fn fill_required(h: &mut Harness, form: &FormDefinition) {
    for _ in 0..8 {
        h.click("finalize").await;
        // The submit answers with the errors or by leaving for the list; on a busy machine
        // the answer may come after the click has settled.
        let html = h
            .until("the submit's answer", |html| {
                html.contains("data-testid=\"search\"") || !error_keys(html).is_empty()
            })
            .await;
        let keys = error_keys(&html);
        if keys.is_empty() {
            return;
        }
        for key in keys {
            let item = form
                .item(&key)
                .unwrap_or_else(|| panic!("unknown item {key}"));
            match item.kind {
                ItemKind::Single => {
                    h.click(&format!("item-{key}-{}", item.options[0].key))
                        .await
                }
                ItemKind::Multi => {
                    h.change(&format!("item-{key}-{}", item.options[0].key), "on")
                        .await
                }
                ItemKind::YesNo => h.click(&format!("item-{key}-no")).await,
                ItemKind::Integer { .. } => h.input(&format!("item-{key}"), "3").await,
                ItemKind::Date => h.input(&format!("item-{key}"), "2021-03-02").await,
                ItemKind::Phone => h.input(&format!("item-{key}"), "13800138000").await,
                ItemKind::Text | ItemKind::Geo => h.input(&format!("item-{key}"), "x").await,
            }
        }
    }
    panic!("the questionnaire never validated:\n{}", h.html());
}

#[tokio::test]
async fn submit_with_a_missing_required_item_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, f) = Harness::with_fixture(dir.path()).await;
    let form = FormDefinition::dynamic_update_2021();
    open_person(&mut h, &f, 7).await;

    // Submitting with no outcome: the outcome is required.
    h.click("finalize").await;
    let html = h.until_contains("data-testid=\"error-outcome\"").await;
    assert!(html.contains("「调查结果」为必填项"), "{html}");

    h.click("outcome-home_visit").await;
    h.until_contains("data-testid=\"questionnaire\"").await;
    h.click("item-hukou_type-agricultural").await;
    h.click("finalize").await;
    let html = h.until_contains("data-testid=\"errors\"").await;
    assert!(html.contains("data-testid=\"error-ethnicity\""));
    assert!(html.contains("「民族」为必填项"));
    assert!(
        !html.contains("data-testid=\"error-hukou_type\""),
        "answered items are fine"
    );
    assert!(html.contains("以下内容需要修改"));
    // Nothing saved.
    assert_eq!(h.services.store().unwrap().unsent_count().unwrap(), 0);

    // An invalid value gets its own message.
    h.input("item-household_size", "99").await;
    h.click("finalize").await;
    let html = h
        .until_contains("data-testid=\"error-household_size\"")
        .await;
    assert!(html.contains("「家庭人口数」应在 1 至 20 之间"), "{html}");
    h.input("item-household_size", "4").await;

    // The messages follow the language.
    h.click("lang").await;
    h.click("finalize").await;
    let html = h.until_contains("Ethnicity is required").await;
    assert!(html.contains("Please fix the following"));
    h.click("lang").await;

    // Everything answered: submitted, back on the list, unsent on the device.
    fill_required(&mut h, &form).await;
    let html = h.until_contains("已提交").await;
    assert!(html.contains("data-testid=\"search\""), "back on the list");
    let store = h.services.store().unwrap();
    assert_eq!(store.unsent_count().unwrap(), 1);
    let rec = store.record(f.persons[7].id).unwrap();
    assert_eq!(rec.final_outcome, Some(doorstep_shared::Outcome::HomeVisit));
    assert_eq!(
        rec.answers["household_size"],
        doorstep_shared::Value::Int(4)
    );
    assert!(rec.answers.contains_key("visit_at"));
    assert!(!rec.answers.contains_key("visit_geo"));
    assert_eq!(
        count(
            &html,
            &format!("data-testid=\"person-{}\"", f.persons[7].id)
        ),
        0,
        "done: off the not-yet list"
    );
}

#[tokio::test]
async fn a_platform_with_a_position_records_it_on_a_home_visit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, f) = fixture_store(dir.path());
    let mut cfg = config(dir.path());
    cfg.position = Some(Arc::new(|| {
        Some(GeoPoint {
            lat: 27.24,
            lon: 111.47,
        })
    }));
    let services = Services::new(cfg);
    services.install_store(store);
    let mut h = Harness::new(services).await;
    open_person(&mut h, &f, 8).await;
    h.click("outcome-home_visit").await;
    let html = h.until_contains("data-testid=\"visit-position\"").await;
    assert!(html.contains("27.24000, 111.47000"), "{html}");
    assert!(!html.contains("无法获取位置"));
    h.click("save-draft").await;
    h.until_contains("草稿已保存在本机").await;
    let rec = h.services.store().unwrap().record(f.persons[8].id).unwrap();
    assert!(matches!(
        rec.answers.get("visit_geo"),
        Some(doorstep_shared::Value::Geo(_))
    ));
}

/// The first person of the first community, not yet surveyed, with a severe (level 1–2)
/// disability: the nursing subsidy item applies to them.
fn severe_person(f: &Fixture) -> usize {
    (3..f.persons.len())
        .find(|&i| {
            i != ui_support::CARRIED
                && f.persons[i].community == f.communities[0].0
                && f.persons[i].certificate.level().get() <= 2
        })
        .expect("a severe person in the first community")
}

/// The HTML of the item's field, from its start to the next item's.
fn field_html<'a>(html: &'a str, key: &str) -> &'a str {
    let start = html
        .find(&format!("data-item=\"{key}\""))
        .unwrap_or_else(|| panic!("no item {key}: {html}"));
    let rest = &html[start + 1..];
    let end = rest
        .find("data-item=")
        .map_or(html.len(), |e| start + 1 + e);
    &html[start..end]
}

#[tokio::test]
async fn a_soft_check_warns_beside_its_item_and_never_blocks_the_submit() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, f) = Harness::with_fixture(dir.path()).await;
    let form = FormDefinition::dynamic_update_2021();
    let i = severe_person(&f);
    let id = f.persons[i].id;
    open_person(&mut h, &f, i).await;
    h.click("outcome-home_visit").await;
    h.until_contains("data-testid=\"questionnaire\"").await;
    h.click("item-nursing_subsidy-yes").await;
    let html = h.html();
    assert!(!html.contains("check-warning"), "{html}");
    assert!(!html.contains("data-testid=\"check-summary\""), "{html}");

    // "No" for a severe person: the warning, live, beside the item, and the count.
    h.click("item-nursing_subsidy-no").await;
    let html = h
        .until_contains("data-check=\"nursing_subsidy_for_severe\"")
        .await;
    let field = field_html(&html, "nursing_subsidy");
    assert!(
        field.contains("class=\"check-warning\"")
            && field.contains("data-check=\"nursing_subsidy_for_severe\""),
        "{field}"
    );
    assert!(field.contains("一、二级重度残疾人一般享受重度残疾人护理补贴"));
    assert!(field.contains("请在「核实说明」中说明原因"), "{field}");
    assert!(
        !field.contains("data-testid=\"error-"),
        "a warning, not an error"
    );
    assert_eq!(count(&html, "class=\"check-warning\""), 1, "{html}");
    assert!(
        html.contains("data-testid=\"check-summary\">1 项提示待核实<"),
        "{html}"
    );
    // In English.
    h.click("lang").await;
    let html = h.until_contains("1 warning to check").await;
    assert!(html.contains("usually receives the nursing subsidy"));
    assert!(html.contains("Reason for the warnings"));
    h.click("lang").await;

    // Submitted without a reason: not blocked; the notice says where the reason goes.
    fill_required(&mut h, &form).await;
    let html = h.until_contains("data-testid=\"search\"").await;
    assert!(html.contains("项提示未填写核实说明"), "{html}");
    let rec = h.services.store().unwrap().record(id).unwrap();
    assert_eq!(
        rec.answers["nursing_subsidy"],
        doorstep_shared::Value::Bool(false)
    );
    assert_eq!(rec.answers["status"], doorstep_shared::Value::text("final"));

    // Back on the record: the reason, then submitted again without a word of warning.
    h.click("filter-all").await;
    h.until_contains(&format!("person-{id}")).await;
    h.click(&format!("person-{id}")).await;
    h.until_contains("data-check=\"nursing_subsidy_for_severe\"")
        .await;
    h.input("item-check_reason", "本人放弃申请护理补贴").await;
    let html = h.until_contains("已填写核实说明").await;
    assert!(!html.contains("请在「核实说明」中说明原因"), "{html}");
    assert!(html.contains("项提示待核实"), "the warnings stay counted");
    h.click("finalize").await;
    let html = h.until_contains("data-testid=\"search\"").await;
    assert!(html.contains("已提交："), "{html}");
    assert!(!html.contains("未填写核实说明"), "{html}");
    let rec = h.services.store().unwrap().record(id).unwrap();
    assert_eq!(
        rec.answers["check_reason"],
        doorstep_shared::Value::text("本人放弃申请护理补贴")
    );
}
