//! Places, forms, campaigns, and the roster import (all-or-nothing, one transaction).

use std::collections::{BTreeMap, BTreeSet};

use doorstep_shared::merge::Doc;
use doorstep_shared::place::{Community, District, Street};
use doorstep_shared::progress::Counts;
use doorstep_shared::{Campaign, Outcome, Person};

use super::records::{ROW_COLS, RecordRow, load_rows, row_from};
use super::{Backend, Db, DbResult, WriteTx, now_ms, placeholders, take_seqs};

/// A place's code and name ([`Db::place_names`]).
#[derive(sqlx::FromRow)]
struct PlaceNameRow {
    code: String,
    name: String,
}

/// A person's ID and stored roster facts (JSON), as the import reconciles them.
#[derive(sqlx::FromRow)]
struct PersonJsonRow {
    id: String,
    person: String,
}

/// Persons of a community per final outcome and channel ([`Db::progress_from_records`]).
#[derive(sqlx::FromRow)]
struct OutcomeCountRow {
    community: String,
    final_outcome: Option<String>,
    via_app: i64,
    n: i64,
}

/// Persons per final outcome and channel within one community ([`recompute_progress`]).
#[derive(sqlx::FromRow)]
struct CommunityOutcomeCountRow {
    final_outcome: Option<String>,
    via_app: i64,
    n: i64,
}

impl Db {
    /// Stores the district's places (idempotent).
    ///
    /// # Errors
    /// A database error.
    pub async fn put_places(
        &self,
        district: &District,
        streets: &[Street],
        communities: &[Community],
    ) -> DbResult<()> {
        let mut tx = self.write().await?;
        upsert_place(
            &mut tx,
            district.code.as_str(),
            &district.name,
            None,
            "county",
        )
        .await?;
        for s in streets {
            upsert_place(
                &mut tx,
                s.code.as_str(),
                &s.name,
                Some(district.code.as_str()),
                "township",
            )
            .await?;
        }
        for c in communities {
            upsert_place(
                &mut tx,
                c.code.as_str(),
                &c.name,
                Some(c.street.as_str()),
                "village",
            )
            .await?;
        }
        tx.commit().await
    }

    /// The name of a place.
    ///
    /// # Errors
    /// A database error.
    pub async fn place_name(&self, code: &str) -> DbResult<Option<String>> {
        let name = sqlx::query_scalar("SELECT name FROM places WHERE code = $1")
            .bind(code.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(name)
    }

    /// Names of places by code.
    ///
    /// # Errors
    /// A database error.
    pub async fn place_names(&self, codes: &[String]) -> DbResult<Vec<(String, String)>> {
        let mut out = Vec::with_capacity(codes.len());
        for chunk in codes.chunks(500) {
            let sql = format!(
                "SELECT code, name FROM places WHERE code IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query_as::<_, PlaceNameRow>(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                q = q.bind(c.clone());
            }
            out.extend(
                q.fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|r| (r.code, r.name)),
            );
        }
        Ok(out)
    }

    /// Imports roster persons into a campaign in one transaction, reconciling rather than
    /// replacing: new persons are added; known ones (same resident ID) get their roster facts
    /// updated, keep their survey record, and every changed fact is reported; persons of the
    /// file's communities that the file lacks are flagged `missing_from_roster` for an admin
    /// decision, never deleted. `on_progress(done, total)` is called as rows are written.
    ///
    /// # Errors
    /// A database error: then nothing is imported.
    pub async fn import_persons(
        &self,
        campaign: &Campaign,
        persons: &[(Person, String, String)],
        on_progress: &(dyn Fn(usize, usize) + Send + Sync),
        audit: &(dyn Fn(&ImportOutcome) -> super::audit::Entry + Send + Sync),
    ) -> DbResult<ImportOutcome> {
        let campaign_id = campaign.id.to_string();
        let mut tx = self.write().await?;
        // Places named by the roster: street (first 9 digits) and community.
        let mut seen = BTreeSet::new();
        for (p, street_name, community_name) in persons {
            if seen.insert(p.community.clone()) {
                let street = p.community.township().unwrap_or_default().to_string();
                upsert_place(
                    &mut tx,
                    &street,
                    street_name,
                    Some(campaign.district.as_str()),
                    "township",
                )
                .await?;
                upsert_place(
                    &mut tx,
                    p.community.as_str(),
                    community_name,
                    Some(&street),
                    "village",
                )
                .await?;
            }
        }
        // The persons of the file's communities as they stand, and the file's persons found
        // elsewhere: who is new, what changed, who moved, who is missing.
        let mut known: BTreeMap<String, Person> = BTreeMap::new();
        let ids: Vec<String> = persons.iter().map(|(p, _, _)| p.id.to_string()).collect();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT person FROM persons WHERE campaign_id = $1 AND id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q =
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(campaign_id.clone());
            for id in chunk {
                q = q.bind(id.clone());
            }
            for person in q.fetch_all(&mut *tx.tx).await? {
                let p: Person = serde_json::from_str(&person)?;
                known.insert(p.id.to_string(), p);
            }
        }
        let mut outcome = ImportOutcome::default();
        for (p, _, _) in persons {
            match known.get(&p.id.to_string()) {
                None => outcome.added += 1,
                Some(old) => {
                    let changes = fact_changes(old, p);
                    if changes.is_empty() {
                        outcome.unchanged += 1;
                    } else {
                        outcome.updated += 1;
                        outcome.changes.extend(changes);
                    }
                }
            }
        }
        let in_file: BTreeSet<String> = ids.iter().cloned().collect();
        for community in &seen {
            let rows = sqlx::query_as::<_, PersonJsonRow>(
                "SELECT id, person FROM persons WHERE campaign_id = $1 AND community = $2",
            )
            .bind(campaign_id.clone())
            .bind(community.to_string())
            .fetch_all(&mut *tx.tx)
            .await?;
            for PersonJsonRow { id, person } in rows {
                if !in_file.contains(&id) {
                    let p: Person = serde_json::from_str(&person)?;
                    outcome.missing.push(RosterPerson::of(&p));
                    sqlx::query("UPDATE persons SET flag = $1 WHERE id = $2")
                        .bind(super::FLAG_MISSING_FROM_ROSTER)
                        .bind(id)
                        .execute(&mut *tx.tx)
                        .await?;
                }
            }
        }
        // Persons the file moves to another community: the old community's devices are told
        // (a departure, sequenced before the person's new row) and its counters recomputed.
        let moves: Vec<(String, String)> = persons
            .iter()
            .filter_map(|(p, _, _)| {
                let id = p.id.to_string();
                known
                    .get(&id)
                    .filter(|old| old.community != p.community)
                    .map(|old| (id, old.community.to_string()))
            })
            .collect();
        let mut recompute: BTreeSet<String> = seen.iter().map(|c| c.as_str().to_string()).collect();
        for (id, old) in &moves {
            record_departure(&mut tx, &campaign_id, id, old).await?;
            recompute.insert(old.clone());
        }
        let total = persons.len();
        let first = take_seqs(&mut tx, &campaign_id, i64::try_from(total).unwrap_or(0)).await?;
        let now = now_ms();
        let empty_doc = serde_json::to_string(&Doc::default())?;
        let per = 9;
        let mut written = 0;
        for (ci, chunk) in persons.chunks(200).enumerate() {
            let groups: Vec<String> = (0..chunk.len())
                .map(|i| format!("({}, 'pending', 0, 0)", placeholders(1 + i * per, per)))
                .collect();
            let sql = format!(
                "INSERT INTO persons (id, campaign_id, community, person, doc, seq, updated_at, updated_by, version, \
                                      review, via_app, conflicts) VALUES {} \
                 ON CONFLICT (id) DO UPDATE SET person = excluded.person, community = excluded.community, \
                 seq = excluded.seq, \
                 flag = CASE WHEN persons.flag = 'missing_from_roster' THEN NULL ELSE persons.flag END",
                groups.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (i, (p, _, _)) in chunk.iter().enumerate() {
                let seq = first + i64::try_from(ci * 200 + i).unwrap_or(0);
                q = q
                    .bind(p.id.to_string())
                    .bind(campaign_id.clone())
                    .bind(p.community.to_string())
                    .bind(serde_json::to_string(p)?)
                    .bind(empty_doc.clone())
                    .bind(seq)
                    .bind(now)
                    .bind(Option::<String>::None)
                    .bind(0_i64);
            }
            q.execute(&mut *tx.tx).await?;
            written += chunk.len();
            on_progress(written, total);
        }
        recompute_progress(&mut tx, &campaign_id, recompute.iter().map(String::as_str)).await?;
        super::analysis::refresh_communities(
            &mut tx,
            &campaign_id,
            recompute.iter().map(String::as_str),
        )
        .await?;
        // The import and its audit entry (counts only) commit together.
        self.audit_in(&mut tx, &audit(&outcome)).await?;
        tx.commit().await?;
        // A roster import changes the tables' shape a lot: refresh the planner's statistics now
        // rather than waiting for autovacuum (the overview's plan depends on them).
        let analyze = match self.backend {
            Backend::Postgres => "ANALYZE persons, places, community_progress",
            Backend::Sqlite => "ANALYZE",
        };
        sqlx::query(analyze).execute(&self.pool).await?;
        outcome.imported = total;
        Ok(outcome)
    }

    /// Persons of a campaign awaiting an admin decision (a flag), in community order.
    ///
    /// # Errors
    /// A database error.
    pub async fn flagged(&self, campaign: &str) -> DbResult<Vec<RecordRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ROW_COLS} FROM persons WHERE campaign_id = $1 AND flag IS NOT NULL ORDER BY community, id"
        )))
        .bind(campaign.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(row_from)
        .collect()
    }

    /// Keeps a flagged person: the flag clears.
    ///
    /// # Errors
    /// A database error.
    pub async fn clear_flag(&self, person_id: &str, entry: &super::audit::Entry) -> DbResult<()> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE persons SET flag = NULL WHERE id = $1")
            .bind(person_id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        self.audit_in(&mut tx, entry).await?;
        tx.commit().await
    }

    /// Removes a person from their campaign: the whole row is archived in `removed_persons`
    /// with who, when and why; the devices holding the community are told; counters move.
    ///
    /// # Errors
    /// An unknown person, or a database error.
    pub async fn remove_person(
        &self,
        person_id: &str,
        by: &str,
        reason: &str,
        entry: &super::audit::Entry,
    ) -> DbResult<()> {
        let mut tx = self.write().await?;
        let mut rows = load_rows(&mut tx, &[person_id.to_string()]).await?;
        let row = rows
            .remove(person_id)
            .ok_or_else(|| super::DbError::NotFound(format!("no person {person_id}")))?;
        let archived = serde_json::json!({
            "person": row.person,
            "doc": row.doc,
            "review": row.review.key(),
            "final_outcome": row.final_outcome.map(|o| o.key()),
            "prior": row.prior,
            "flag": row.flag,
            "collected_by": row.collected_by,
            "version": row.version,
        });
        sqlx::query(
            "INSERT INTO removed_persons (id, campaign_id, row_json, removed_at, removed_by, reason) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.id.clone())
        .bind(row.campaign_id.clone())
        .bind(archived.to_string())
        .bind(now_ms())
        .bind(by.to_string())
        .bind(reason.to_string())
        .execute(&mut *tx.tx)
        .await?;
        sqlx::query("DELETE FROM persons WHERE id = $1")
            .bind(row.id.clone())
            .execute(&mut *tx.tx)
            .await?;
        // Its facts went with its row: its community's pack is rebuilt without them.
        super::analysis::repack(
            &mut tx,
            &row.campaign_id,
            std::slice::from_ref(&row.community),
        )
        .await?;
        record_departure(&mut tx, &row.campaign_id, &row.id, &row.community).await?;
        recompute_progress(
            &mut tx,
            &row.campaign_id,
            std::iter::once(row.community.as_str()),
        )
        .await?;
        self.audit_in(&mut tx, entry).await?;
        tx.commit().await
    }

    /// Counters recomputed from the person rows (not the maintained table): the check used by
    /// tests that progress never drifts.
    ///
    /// # Errors
    /// A database error.
    pub async fn progress_from_records(
        &self,
        campaign: &str,
    ) -> DbResult<BTreeMap<String, Counts>> {
        let rows = sqlx::query_as::<_, OutcomeCountRow>(
            "SELECT community, final_outcome, via_app, COUNT(*) AS n FROM persons WHERE campaign_id = $1 \
             GROUP BY community, final_outcome, via_app",
        )
        .bind(campaign.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut out: BTreeMap<String, Counts> = BTreeMap::new();
        for r in rows {
            let n = u64::try_from(r.n).unwrap_or(0);
            let c = out
                .entry(r.community)
                .or_insert_with(|| Counts::community(0, [0; 7], 0));
            c.roster += n;
            if let Some(o) = r.final_outcome.as_deref().and_then(Outcome::parse) {
                c.outcomes[o.index()] += n;
                if r.via_app != 0 {
                    c.via_app += n;
                }
            }
        }
        for c in out.values_mut() {
            c.communities_completed = u64::from(c.done() == c.roster);
        }
        Ok(out)
    }
}

async fn upsert_place(
    tx: &mut WriteTx<'_>,
    code: &str,
    name: &str,
    parent: Option<&str>,
    level: &str,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO places (code, name, parent, level) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (code) DO UPDATE SET name = excluded.name",
    )
    .bind(code.to_string())
    .bind(name.to_string())
    .bind(parent.map(str::to_string))
    .bind(level.to_string())
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

/// What a roster import did (see [`Db::import_persons`]).
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct ImportOutcome {
    /// Rows in the file.
    pub imported: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Every changed fact of a known person.
    pub changes: Vec<FactChange>,
    /// Persons of the file's communities that the file lacks: flagged for an admin decision.
    pub missing: Vec<RosterPerson>,
}

/// A person as import and decision lists name them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RosterPerson {
    pub person_id: String,
    pub name: String,
    pub community: String,
}

impl RosterPerson {
    #[must_use]
    pub fn of(p: &Person) -> Self {
        Self {
            person_id: p.id.to_string(),
            name: p.name.clone(),
            community: p.community.to_string(),
        }
    }
}

/// One roster fact of a known person that the file changes.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FactChange {
    pub person_id: String,
    pub name: String,
    /// `name`, `community`, `address`, `phone`, `certificate` (so the category and level),
    /// `nursing_subsidy`, `living_subsidy`.
    pub field: &'static str,
    pub old: String,
    pub new: String,
}

fn fact_changes(old: &Person, new: &Person) -> Vec<FactChange> {
    let facts = |p: &Person| {
        [
            ("name", p.name.clone()),
            ("community", p.community.to_string()),
            ("address", p.address.clone()),
            ("phone", p.phone.clone()),
            ("certificate", p.certificate.to_string()),
            ("nursing_subsidy", p.nursing_subsidy.to_string()),
            ("living_subsidy", p.living_subsidy.to_string()),
        ]
    };
    facts(old)
        .into_iter()
        .zip(facts(new))
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, a), (_, b))| FactChange {
            person_id: new.id.to_string(),
            name: new.name.clone(),
            field,
            old: a,
            new: b,
        })
        .collect()
}

/// Records that a person left a community (under the write lock): the devices holding that
/// community drop the person on their next pull.
pub(crate) async fn record_departure(
    tx: &mut WriteTx<'_>,
    campaign: &str,
    person_id: &str,
    community: &str,
) -> DbResult<()> {
    let seq = take_seqs(tx, campaign, 1).await?;
    sqlx::query(
        "INSERT INTO departures (campaign_id, seq, person_id, community, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(campaign.to_string())
    .bind(seq)
    .bind(person_id.to_string())
    .bind(community.to_string())
    .bind(now_ms())
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

/// Rebuilds the counters of some communities from their person rows (after an import).
pub(crate) async fn recompute_progress<'a>(
    tx: &mut WriteTx<'_>,
    campaign: &str,
    communities: impl Iterator<Item = &'a str>,
) -> DbResult<()> {
    for community in communities {
        let rows = sqlx::query_as::<_, CommunityOutcomeCountRow>(
            "SELECT final_outcome, via_app, COUNT(*) AS n FROM persons WHERE campaign_id = $1 AND community = $2 \
             GROUP BY final_outcome, via_app",
        )
        .bind(campaign.to_string())
        .bind(community.to_string())
        .fetch_all(&mut *tx.tx)
        .await?;
        let mut roster = 0i64;
        let mut o = [0i64; 7];
        let mut app = 0i64;
        for r in rows {
            let n = r.n;
            roster += n;
            if let Some(out) = r.final_outcome.as_deref().and_then(Outcome::parse) {
                o[out.index()] += n;
                if r.via_app != 0 {
                    app += n;
                }
            }
        }
        sqlx::query(
            "INSERT INTO community_progress (campaign_id, community, roster, home_visit, phone, not_found, moved, \
             registered_only, away, deregistered, via_app) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (campaign_id, community) DO UPDATE SET roster = excluded.roster, home_visit = excluded.home_visit, \
             phone = excluded.phone, not_found = excluded.not_found, moved = excluded.moved, \
             registered_only = excluded.registered_only, away = excluded.away, deregistered = excluded.deregistered, \
             via_app = excluded.via_app",
        )
        .bind(campaign.to_string())
        .bind(community.to_string())
        .bind(roster)
        .bind(o[0])
        .bind(o[1])
        .bind(o[2])
        .bind(o[3])
        .bind(o[4])
        .bind(o[5])
        .bind(o[6])
        .bind(app)
        .execute(&mut *tx.tx)
        .await?;
    }
    Ok(())
}
