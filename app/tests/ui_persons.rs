//! The person list through the real UI: search by name, ID or certificate number, the filters,
//! masked IDs; and the home screen's communities, unsent count and returned records.

mod ui_support;

use std::collections::BTreeMap;

use doorstep_shared::value::Value;
use ui_support::{Fixture, Harness, count};

fn rows(html: &str) -> usize {
    count(html, "data-testid=\"person-")
        - count(html, "data-testid=\"person-list\"")
        - count(html, "data-testid=\"person-name\"")
}

fn listed(html: &str, f: &Fixture, i: usize) -> bool {
    html.contains(&format!("data-testid=\"person-{}\"", f.persons[i].id))
}

#[tokio::test]
async fn search_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, f) = Harness::with_fixture(dir.path()).await;
    let (code, name) = f.communities[0].clone();
    let in_first: Vec<usize> = (0..f.persons.len())
        .filter(|i| f.persons[*i].community == code)
        .collect();
    let total = in_first.len();

    // Home: the community with its progress (2 done of the roster; the returned one is not done).
    let html = h.until_contains(&format!("community-{code}")).await;
    assert!(html.contains(&name));
    assert!(
        html.contains(&format!("data-testid=\"done-{code}\">2 / {total}")),
        "{html}"
    );
    assert!(html.contains("aria-valuenow=\"2\""));
    assert!(html.contains("data-testid=\"unsent-count\">0<"));
    // The record a supervisor returned, with the comment.
    assert!(html.contains("data-testid=\"returned\""));
    assert!(html.contains(&f.returned.1));

    // The list starts on "not yet": done persons are off it, the returned one is on it.
    h.click(&format!("community-{code}")).await;
    let html = h.until_contains("data-testid=\"person-list\"").await;
    assert!(html.contains(&format!("<h1>{name}</h1>")));
    assert!(!listed(&html, &f, 0) && !listed(&html, &f, 1));
    assert!(listed(&html, &f, 2) && listed(&html, &f, 5));
    assert_eq!(rows(&html), total - 2);
    assert!(html.contains(&format!("未完成 {}", total - 2)));
    assert!(html.contains("已完成 2"));
    assert!(html.contains("被退回 1"));

    h.click("filter-done").await;
    let html = h
        .until("done filter", |h| {
            !h.contains(&format!("person-{}", f.persons[5].id))
        })
        .await;
    assert!(listed(&html, &f, 0) && listed(&html, &f, 1));
    assert_eq!(rows(&html), 2);

    h.click("filter-returned").await;
    let html = h
        .until("returned filter", |h| {
            !h.contains(&format!("person-{}", f.persons[0].id))
        })
        .await;
    assert!(listed(&html, &f, 2));
    assert_eq!(rows(&html), 1);

    h.click("filter-conflicts").await;
    h.until_contains("data-testid=\"no-match\"").await;

    // Search, on everyone: by name …
    h.click("filter-all").await;
    let target = &f.persons[9];
    h.input("search", &target.name).await;
    let html = h.until("name search", |h| rows(h) < total).await;
    assert!(listed(&html, &f, 9));
    let same_name = in_first
        .iter()
        .filter(|i| f.persons[**i].name.contains(&target.name))
        .count();
    assert_eq!(rows(&html), same_name);
    // … by the last digits of the ID …
    let id = target.resident_id.as_str().to_string();
    h.input("search", &id[14..]).await;
    let html = h.until("id tail search", |h| listed_id(h, target.id)).await;
    assert!(rows(&html) < total);
    // … by the whole ID, and by the certificate number.
    h.input("search", &id).await;
    let html = h.until("id search", |h| rows(h) == 1).await;
    assert!(listed(&html, &f, 9));
    h.input("search", &target.certificate.to_string()).await;
    let html = h
        .until("certificate search", |h| {
            rows(h) == 1 && listed_id(h, target.id)
        })
        .await;
    // The list shows IDs masked, never whole (the search box holds what was typed).
    let list = &html[html.find("data-testid=\"person-list\"").unwrap()..];
    assert!(!list.contains(&id));
    assert!(list.contains(&target.resident_id.masked()));
    h.input("search", "没有这个人").await;
    h.until_contains("data-testid=\"no-match\"").await;
    h.input("search", "").await;
    h.until("all back", |h| rows(h) == total).await;

    // An edit saved on the device shows under "unsent", and on the home screen.
    let changes: BTreeMap<String, Option<Value>> =
        [("outcome".to_string(), Some(Value::text("away")))].into();
    h.services
        .save(f.persons[11].id, changes, false)
        .await
        .unwrap();
    h.click("filter-unsent").await;
    let html = h.until("unsent filter", |h| rows(h) == 1).await;
    assert!(listed(&html, &f, 11));
    assert!(html.contains("未上传 1"));
    h.click("back").await;
    let html = h.until_contains("data-testid=\"sync-panel\"").await;
    assert!(html.contains("data-testid=\"unsent-count\">1<"), "{html}");
}

fn listed_id(html: &str, id: uuid::Uuid) -> bool {
    html.contains(&format!("data-testid=\"person-{id}\""))
}

#[tokio::test]
async fn the_returned_record_opens_with_its_comment() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, f) = Harness::with_fixture(dir.path()).await;
    h.until_contains("data-testid=\"returned\"").await;
    // The returned list links to the record.
    let id = f.returned.0;
    let html = h.html();
    assert!(html.contains(&f.persons[2].name));
    drop(html);
    h.click(&format!("returned-{id}")).await;
    let html = h.until_contains("data-testid=\"review-comment\"").await;
    assert!(html.contains(&f.returned.1));
    assert!(html.contains("被退回"));
}

#[tokio::test]
async fn the_returned_record_shows_the_reviewers_notes_beside_their_items() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, f) = Harness::with_fixture(dir.path()).await;
    h.until_contains("data-testid=\"returned\"").await;
    let id = f.returned.0;
    h.click(&format!("returned-{id}")).await;
    let html = h.until_contains("data-testid=\"review-notes-count\"").await;
    assert_eq!(f.returned_notes.len(), 2);
    assert!(html.contains("2 项有审核意见"), "{html}");
    for (item, note) in &f.returned_notes {
        assert_eq!(
            html.matches(&format!("data-note-item=\"{item}\"")).count(),
            1,
            "{item}: {html}"
        );
        assert!(html.contains(&format!("审核意见：{note}")), "{html}");
    }
    assert_eq!(html.matches("class=\"review-note\"").count(), 2, "{html}");
    // The note on a shown item is beside it, inside the item's field.
    let field = html.find("data-item=\"outcome_note\"").unwrap();
    let note = html.find("data-note-item=\"outcome_note\"").unwrap();
    assert!(note > field, "{html}");
    assert!(!html[field + 1..note].contains("data-item="), "{html}");
}
