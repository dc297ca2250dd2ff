//! The upgrade fixture: a tiny demo district written by this release (a few surveys, an edit in
//! conflict, a returned record), kept under `tests/fixtures/upgrade/` as an SQLite file and a
//! PostgreSQL `pg_dump`, with the figures it showed. Later releases open it with their migrations
//! and must show the same figures (`tests/tests/upgrade.rs`). Made by
//! `scripts/make-upgrade-fixture.sh`.

use std::collections::BTreeMap;

use anyhow::Context;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use doorstep_server::db::{Db, Scope};
use doorstep_shared::Outcome;
use doorstep_shared::demo::{SplitMix64, fill_questionnaire};
use doorstep_shared::form::FormDefinition;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::merge::Change;
use doorstep_shared::sync::{Mutation, PushRequest, PushResponse, RecordState};

use crate::admin::Console;

/// Persons and communities of the fixture's district.
pub const PERSONS: usize = 60;
pub const COMMUNITIES: usize = 3;

/// The figures a district reads off a database: each campaign's state and counts, each
/// community's counters, the records (outcome and review counts, a digest of every record's
/// version, answers, review and conflicts), the mutation log's length, open conflicts, the
/// accounts, and the audit chain (whole, its length).
///
/// # Errors
/// The database cannot be opened or read.
pub async fn figures(database_url: &str) -> anyhow::Result<Json> {
    let db = Db::connect(database_url).await?;
    let mut campaigns = Vec::new();
    for s in doorstep_server::service::campaigns::list(&db).await? {
        let id = s.campaign.campaign.id.to_string();
        let rows = db.records(&id, &Scope::All, None).await?;
        let mut digest = Sha256::new();
        let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
        let mut reviews: BTreeMap<String, u64> = BTreeMap::new();
        for r in &rows {
            let state = r.state(doorstep_shared::Numbers::Whole);
            digest.update(
                serde_json::to_vec(&json!([
                    r.id,
                    state.version,
                    state.answers,
                    state.review,
                    state.conflicts.keys().collect::<Vec<_>>(),
                    r.final_outcome,
                    r.collected_by,
                ]))
                .context("record")?,
            );
            *outcomes
                .entry(
                    r.final_outcome
                        .map_or_else(|| "none".to_string(), |o| format!("{o:?}")),
                )
                .or_default() += 1;
            *reviews.entry(format!("{:?}", r.review)).or_default() += 1;
        }
        campaigns.push(json!({
            "summary": s,
            "records": rows.len(),
            "outcomes": outcomes,
            "reviews": reviews,
            "records_sha256": hex::encode(digest.finalize()),
            "progress": db.progress(&id, &Scope::All).await?,
        }));
    }
    let verified = db.audit_verify().await?;
    let out = json!({
        "campaigns": campaigns,
        "mutations": db.mutation_count().await?,
        "open_conflicts": db.open_conflicts().await?,
        "accounts": db.users().await?.len(),
        "audit": verified,
    });
    db.pool().close().await;
    Ok(out)
}

/// What the fixture's district went through, over the real API of the server at `url` (seeded
/// with [`PERSONS`] persons in [`COMMUNITIES`] communities): w001 surveys ten persons
/// completely and edits one more; a second phone of w001 edits the same item from the same base
/// (a conflict left open); the admin returns one surveyed record.
///
/// # Errors
/// The server refuses.
pub async fn go_through(url: &str) -> anyhow::Result<()> {
    let w = Console::login(url, "w001").await?;
    let w2 = Console::login(url, "w001").await?;
    let admin = Console::login(url, "admin").await?;
    let records = w.records().await?;
    let page: doorstep_shared::sync::PullResponse =
        serde_json::from_value(w.get("/api/v1/sync/pull?cursor=0&limit=1").await?)?;
    let campaign = page.campaign;
    let form = FormDefinition::dynamic_update_2021();
    let mut rng = SplitMix64::new(14);
    let mut it = records.values();
    let now = chrono::Utc::now().timestamp_millis();
    let mut surveys = Vec::new();
    for (i, r) in it.by_ref().take(10).enumerate() {
        let outcome = if i % 4 == 3 {
            Outcome::Phone
        } else {
            Outcome::HomeVisit
        };
        let answers = fill_questionnaire(&form, &r.person, &campaign, outcome, &mut rng);
        surveys.push(mutation(
            r,
            answers.into_iter().map(|(k, v)| (k, Some(v))),
            now,
        ));
    }
    push(&w, surveys).await?;
    let partial = it.next().context("a person")?;
    push(
        &w,
        vec![mutation(
            partial,
            [(
                "marital_status".to_string(),
                Some(doorstep_shared::Value::text("married")),
            )],
            now,
        )],
    )
    .await?;
    let r = push(
        &w2,
        vec![mutation(
            partial,
            [(
                "marital_status".to_string(),
                Some(doorstep_shared::Value::text("widowed")),
            )],
            now - 1000,
        )],
    )
    .await?;
    anyhow::ensure!(
        r.results[0]
            .items
            .values()
            .any(|o| *o == doorstep_shared::merge::ItemOutcome::Conflict),
        "the second phone's edit is in conflict"
    );
    let first = records.keys().next().context("a person")?;
    admin
        .return_record(*first, "请补充照片 / add the photo")
        .await?;
    Ok(())
}

fn mutation(
    base: &RecordState,
    items: impl IntoIterator<Item = (String, Option<doorstep_shared::Value>)>,
    wall: i64,
) -> Mutation {
    Mutation {
        id: Uuid::now_v7(),
        person: base.person.id,
        base_version: base.version,
        hlc: Hlc { wall, counter: 0 },
        changes: items
            .into_iter()
            .map(|(k, value)| {
                let change = Change {
                    base: base.answers.get(&k).cloned(),
                    value,
                };
                (k, change)
            })
            .collect(),
    }
}

async fn push(c: &Console, mutations: Vec<Mutation>) -> anyhow::Result<PushResponse> {
    let body = serde_json::to_value(PushRequest::new(mutations))?;
    let r: PushResponse = serde_json::from_value(c.post("/api/v1/sync/push", body).await?)?;
    anyhow::ensure!(
        r.results
            .iter()
            .all(|m| m.status == doorstep_shared::sync::MutationStatus::Applied),
        "every fixture push applies: {:?}",
        r.results
    );
    Ok(r)
}
