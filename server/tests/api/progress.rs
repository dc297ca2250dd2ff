use std::collections::BTreeMap;

use doorstep_server::testing::Backend;
use doorstep_shared::domain::Outcome;
use doorstep_shared::sync::RecordState;
use doorstep_shared::{Review, Value};

use crate::both;
use crate::helpers::{edit, now, spawn, survey, t};

/// A small deterministic generator (the test's own, so runs repeat exactly per seed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Thousands of random mutations, reviews and resolutions from several devices: the maintained
/// progress counters always equal the counts recomputed from the records.
async fn progress_always_equals_recomputed(b: Backend) {
    let api = spawn(b).await;
    let campaign = api
        .server
        .state
        .db
        .current_campaign()
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let devices = [
        api.login("w001").await,
        api.login("w001").await,
        api.login("w002").await,
    ];
    let sup = api.login("sup01").await;
    let mut views: Vec<BTreeMap<_, RecordState>> = Vec::new();
    for d in &devices {
        views.push(api.pull_all(d).await);
    }
    let mut rng = Rng(0xD00_2573);
    let mut total = 0;
    for round in 0..12 {
        for (di, d) in devices.iter().enumerate() {
            let ids: Vec<_> = views[di].keys().copied().collect();
            let mut batch = Vec::new();
            for _ in 0..(40 + rng.below(60)) {
                let p = &views[di][&ids[rng.below(ids.len())]];
                let o = Outcome::ALL[rng.below(7)];
                let mut items = vec![("outcome", t(o.key()))];
                match rng.below(4) {
                    0 => items.push(("status", t("final"))),
                    1 => items.push(("status", t("draft"))),
                    2 => items.push(("status", None)),
                    _ => {}
                }
                if rng.below(3) == 0 {
                    items = vec![(
                        "marital_status",
                        t(["married", "unmarried", "widowed"][rng.below(3)]),
                    )];
                }
                batch.push(edit(
                    p,
                    &items,
                    now() - i64::try_from(rng.below(100_000)).unwrap(),
                ));
            }
            total += batch.len();
            api.push(d, batch).await;
        }
        // The supervisor reviews and resolves some.
        let list: Vec<serde_json::Value> = api
            .get(&sup, "/api/v1/records?community=430503001")
            .await
            .json()
            .await
            .unwrap();
        for line in list.iter().filter(|l| l["status"] == "final").take(5) {
            let decision = if rng.below(2) == 0 {
                "approved"
            } else {
                "returned"
            };
            let r = api
                .post(
                    &sup,
                    &format!(
                        "/api/v1/records/{}/review",
                        line["person"].as_str().unwrap()
                    ),
                    serde_json::json!({"decision": decision, "comment": "请核实"}),
                )
                .await;
            assert_eq!(r.status(), 200);
        }
        let conflicts: Vec<serde_json::Value> = api
            .get(&sup, "/api/v1/conflicts")
            .await
            .json()
            .await
            .unwrap();
        for c in conflicts.iter().take(3) {
            let value = c["conflict"]["candidates"][0]["value"].clone();
            let r = api
                .post(
                    &sup,
                    &format!(
                        "/api/v1/conflicts/{}/{}/resolve",
                        c["person_id"].as_str().unwrap(),
                        c["item"].as_str().unwrap()
                    ),
                    serde_json::json!({"value": value}),
                )
                .await;
            assert_eq!(r.status(), 200);
        }
        for (di, d) in devices.iter().enumerate() {
            let (fresh, _) = api.pull_from(d, 0).await;
            views[di] = fresh;
        }
        let maintained = api
            .server
            .state
            .db
            .progress(&campaign, &doorstep_server::db::Scope::All)
            .await
            .unwrap();
        let recomputed = api
            .server
            .state
            .db
            .progress_from_records(&campaign)
            .await
            .unwrap();
        assert_eq!(maintained.len(), recomputed.len());
        // In the order of the communities' codes, each with its own and its street's name.
        assert!(
            maintained
                .windows(2)
                .all(|w| w[0].code.as_str() < w[1].code.as_str()),
            "communities out of order"
        );
        assert!(
            maintained
                .iter()
                .all(|m| !m.name.is_empty() && !m.street_name.is_empty()),
            "a community without its names"
        );
        for m in &maintained {
            assert_eq!(
                m.counts,
                recomputed[m.code.as_str()],
                "round {round}, community {}",
                m.code
            );
        }
    }
    assert!(total >= 1000, "{total} mutations");
    // Daily completions add up to what is done.
    let prog = api.progress(&sup).await;
    let daily: i64 = prog["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["n"].as_i64().unwrap())
        .sum();
    assert_eq!(daily, prog["total"]["done"].as_i64().unwrap());
}
both!(progress_always_equals_recomputed);

async fn review_return_and_resubmit(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let sup = api.login("sup01").await;
    let p = api.pull_all(&w).await.into_values().next().unwrap();
    api.push(&w, vec![survey(&api.campaign().await, &p, Outcome::Phone)])
        .await;
    assert_eq!(api.progress(&sup).await["total"]["done"], 1);
    let r = api
        .post(
            &sup,
            &format!("/api/v1/records/{}/review", p.person.id),
            serde_json::json!({"decision": "returned"}),
        )
        .await;
    assert_eq!(r.status(), 422, "a return needs a comment");
    let r = api
        .post(
            &sup,
            &format!("/api/v1/records/{}/review", p.person.id),
            serde_json::json!({"decision": "returned", "comment": "电话号码不对"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        api.progress(&sup).await["total"]["done"],
        0,
        "a returned record is not done"
    );
    let s = api.pull_all(&w).await[&p.person.id].clone();
    assert_eq!(s.review, Review::Returned);
    assert_eq!(s.review_comment.as_deref(), Some("电话号码不对"));
    api.push(
        &w,
        vec![edit(
            &s,
            &[("phone", t("13912345678")), ("status", t("final"))],
            now(),
        )],
    )
    .await;
    let s = api.pull_all(&w).await[&p.person.id].clone();
    assert_eq!(s.review, Review::Pending);
    assert_eq!(s.answers["phone"], Value::text("13912345678"));
    assert_eq!(api.progress(&sup).await["total"]["done"], 1);
    let r = api
        .post(
            &sup,
            &format!("/api/v1/records/{}/review", p.person.id),
            serde_json::json!({"decision": "approved"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        api.pull_all(&w).await[&p.person.id].review,
        Review::Approved
    );
}
both!(review_return_and_resubmit);

async fn figures_follow_the_briefs_rules(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let recs: Vec<_> = api.pull_all(&w).await.into_values().collect();
    let outcomes = [
        Outcome::HomeVisit,
        Outcome::HomeVisit,
        Outcome::HomeVisit,
        Outcome::Phone,
        Outcome::Moved,
    ];
    let campaign = api.campaign().await;
    let batch: Vec<_> = recs
        .iter()
        .zip(outcomes)
        .map(|(p, o)| survey(&campaign, p, o))
        .collect();
    api.push(&w, batch).await;
    // A draft does not count.
    api.push(&w, vec![edit(&recs[10], &[("outcome", t("phone"))], now())])
        .await;
    let prog = api.progress(&w).await;
    assert_eq!(prog["total"]["done"], 5);
    assert_eq!(prog["total"]["home_visit_bp"], 7500);
    assert_eq!(prog["total"]["app_bp"], 10000);
    let roster = prog["total"]["roster"].as_u64().unwrap();
    assert_eq!(
        prog["total"]["completion_bp"].as_u64().unwrap(),
        (5 * 10_000 * 2 + roster) / (2 * roster)
    );
}
both!(figures_follow_the_briefs_rules);
