use doorstep_server::roster;
use doorstep_server::testing::Backend;
use doorstep_shared::demo;

use crate::both;
use crate::helpers::spawn;

async fn person_count(api: &crate::helpers::Api) -> usize {
    let admin = api.login("admin").await;
    api.pull_all(&admin).await.len()
}

async fn roster_with_one_bad_row_imports_nothing(b: Backend) {
    let api = spawn(b).await;
    let admin = api.login("admin").await;
    let before = person_count(&api).await;
    let other = demo::generate_sized(99, uuid::Uuid::nil(), 60, 2);
    let mut entries = roster::entries_from_demo(&other);
    // New persons in an existing community of the district.
    let code = doorstep_shared::DivisionCode::parse("430503001001").unwrap();
    for e in &mut entries {
        e.community = code.clone();
    }
    let mut csv = Vec::new();
    roster::write_csv(&entries, &mut csv).unwrap();
    let text = String::from_utf8(csv).unwrap();
    // Break the ID of the 7th person (file line 8): change its check character.
    let bad_id = entries[6].resident_id.to_string();
    let wrong = if bad_id.ends_with('1') {
        format!("{}2", &bad_id[..17])
    } else {
        format!("{}1", &bad_id[..17])
    };
    let broken = text.replacen(&bad_id, &wrong, 1);
    let r = api
        .http
        .post(api.url("/api/v1/admin/roster?filename=roster.csv"))
        .bearer_auth(&admin.token)
        .body(broken)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("第 8 行"), "{msg}");
    assert!(!msg.contains("第 9 行"), "{msg}");
    assert_eq!(person_count(&api).await, before, "nothing imported");
    // The corrected file imports every row, and progress counts them.
    let r = api
        .http
        .post(api.url("/api/v1/admin/roster?filename=roster.csv"))
        .bearer_auth(&admin.token)
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(person_count(&api).await, before + 60);
    let prog = api.progress(&admin).await;
    assert_eq!(prog["total"]["roster"], before as u64 + 60);
    // Unknown file types get a clear error.
    let r = api
        .http
        .post(api.url("/api/v1/admin/roster?filename=roster.pdf"))
        .bearer_auth(&admin.token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}
both!(roster_with_one_bad_row_imports_nothing);

async fn exports_mask_ids_unless_admin(b: Backend) {
    let api = spawn(b).await;
    let sup = api.login("sup01").await;
    let admin = api.login("admin").await;
    let csv = api
        .get(&sup, "/api/v1/export/records.csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("********"));
    // A worker's phone holds the whole number (a supervisor's holds it masked).
    let w1 = api.login("w001").await;
    let one = api.pull_all(&w1).await.into_values().next().unwrap();
    assert!(!one.person.masked);
    assert!(!csv.contains(one.person.resident_id.as_str()));
    assert!(csv.contains(&one.person.masked_id()));
    let csv = api
        .get(&admin, "/api/v1/export/records.csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains(one.person.resident_id.as_str()));
    let r = api.get(&admin, "/api/v1/export/progress.xlsx").await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().starts_with(b"PK"));
    assert!(api.server.state.db.audit_count("export").await.unwrap() >= 3);
    let rep: serde_json::Value = api
        .get(&admin, "/api/v1/report")
        .await
        .json()
        .await
        .unwrap();
    assert!(rep["paragraph"].as_str().unwrap().contains("大祥区"));
}
both!(exports_mask_ids_unless_admin);
