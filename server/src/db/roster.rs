//! Places, forms, campaigns, and the roster import (all-or-nothing, one transaction).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use sqlx::Row;
use uuid::Uuid;

use doorstep_shared::form::FormDefinition;
use doorstep_shared::merge::Doc;
use doorstep_shared::place::{Community, District, Street};
use doorstep_shared::progress::Counts;
use doorstep_shared::{Campaign, DivisionCode, Outcome, Person};

use super::{Backend, Db, DbError, DbResult, WriteTx, now_ms, placeholders, take_seqs};

impl Db {
    /// Stores a form definition (idempotent by version).
    ///
    /// # Errors
    /// A database error.
    pub async fn put_form(&self, form: &FormDefinition) -> DbResult<()> {
        sqlx::query("INSERT INTO forms (version, definition) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING")
            .bind(form.version.clone())
            .bind(serde_json::to_string(form)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// # Errors
    /// A database error.
    pub async fn form(&self, version: &str) -> DbResult<Option<FormDefinition>> {
        let row = sqlx::query("SELECT definition FROM forms WHERE version = $1")
            .bind(version.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(serde_json::from_str(
                &r.try_get::<String, _>("definition")?,
            )?)
        })
        .transpose()
    }

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
        let r = sqlx::query("SELECT name FROM places WHERE code = $1")
            .bind(code.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|r| r.try_get("name")).transpose()?)
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
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                q = q.bind(c.clone());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((r.try_get("code")?, r.try_get("name")?));
            }
        }
        Ok(out)
    }

    /// Opens a campaign (closing any other) with a form.
    ///
    /// # Errors
    /// A database error.
    pub async fn open_campaign(
        &self,
        district: &DivisionCode,
        year: i32,
        name: &str,
        starts: NaiveDate,
        ends: NaiveDate,
        form: &FormDefinition,
    ) -> DbResult<Campaign> {
        self.put_form(form).await?;
        let campaign = Campaign {
            id: Uuid::now_v7(),
            district: district.clone(),
            district_name: String::new(),
            year,
            name: name.to_string(),
            starts,
            ends,
            form_version: form.version.clone(),
        };
        let mut tx = self.write().await?;
        sqlx::query("UPDATE campaigns SET is_open = 0")
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query(
            "INSERT INTO campaigns (id, district, year, name, starts, ends, form_version, is_open, next_seq, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 0, $8)",
        )
        .bind(campaign.id.to_string())
        .bind(district.to_string())
        .bind(i64::from(year))
        .bind(name.to_string())
        .bind(starts.to_string())
        .bind(ends.to_string())
        .bind(form.version.clone())
        .bind(now_ms())
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        Ok(campaign)
    }

    /// The open campaign, if any.
    ///
    /// # Errors
    /// A database error.
    pub async fn current_campaign(&self) -> DbResult<Option<Campaign>> {
        let row = sqlx::query(
            "SELECT id, district, year, name, starts, ends, form_version FROM campaigns WHERE is_open = 1 \
             ORDER BY created_at DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let bad = |e: String| DbError::Corrupt(e);
        Ok(Some(Campaign {
            id: Uuid::parse_str(&r.try_get::<String, _>("id")?).map_err(|e| bad(e.to_string()))?,
            district: DivisionCode::parse(&r.try_get::<String, _>("district")?)
                .map_err(|e| bad(e.to_string()))?,
            district_name: String::new(),
            year: i32::try_from(r.try_get::<i64, _>("year")?).map_err(|e| bad(e.to_string()))?,
            name: r.try_get("name")?,
            starts: r
                .try_get::<String, _>("starts")?
                .parse()
                .map_err(|e: chrono::ParseError| bad(e.to_string()))?,
            ends: r
                .try_get::<String, _>("ends")?
                .parse()
                .map_err(|e: chrono::ParseError| bad(e.to_string()))?,
            form_version: r.try_get("form_version")?,
        }))
    }

    /// Imports roster persons into a campaign in one transaction: new persons are added, known
    /// ones (same resident ID) get their roster facts updated and keep their survey record.
    /// `on_progress(done, total)` is called as rows are written.
    ///
    /// # Errors
    /// A database error: then nothing is imported.
    pub async fn import_persons(
        &self,
        campaign: &Campaign,
        persons: &[(Person, String, String)],
        on_progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> DbResult<usize> {
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
        // Persons the file moves to another community: the old community's devices are told
        // (a departure, sequenced before the person's new row) and its counters recomputed.
        let mut known: BTreeMap<String, String> = BTreeMap::new();
        let ids: Vec<String> = persons.iter().map(|(p, _, _)| p.id.to_string()).collect();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id, community FROM persons WHERE campaign_id = $1 AND id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(campaign_id.clone());
            for id in chunk {
                q = q.bind(id.clone());
            }
            for r in q.fetch_all(&mut *tx.tx).await? {
                known.insert(r.try_get("id")?, r.try_get("community")?);
            }
        }
        let moves: Vec<(String, String)> = persons
            .iter()
            .filter_map(|(p, _, _)| {
                let id = p.id.to_string();
                known
                    .get(&id)
                    .filter(|old| old.as_str() != p.community.as_str())
                    .map(|old| (id, old.clone()))
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
                 seq = excluded.seq",
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
        tx.commit().await?;
        // A roster import changes the tables' shape a lot: refresh the planner's statistics now
        // rather than waiting for autovacuum (the overview's plan depends on them).
        let analyze = match self.backend {
            Backend::Postgres => "ANALYZE persons, places, community_progress",
            Backend::Sqlite => "ANALYZE",
        };
        sqlx::query(analyze).execute(&self.pool).await?;
        Ok(total)
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
        let rows = sqlx::query(
            "SELECT community, final_outcome, via_app, COUNT(*) AS n FROM persons WHERE campaign_id = $1 \
             GROUP BY community, final_outcome, via_app",
        )
        .bind(campaign.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut out: BTreeMap<String, Counts> = BTreeMap::new();
        for r in rows {
            let community: String = r.try_get("community")?;
            let n = u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0);
            let c = out
                .entry(community)
                .or_insert_with(|| Counts::community(0, [0; 7], 0));
            c.roster += n;
            if let Some(o) = r
                .try_get::<Option<String>, _>("final_outcome")?
                .as_deref()
                .and_then(Outcome::parse)
            {
                c.outcomes[o.index()] += n;
                if r.try_get::<i64, _>("via_app")? != 0 {
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
async fn recompute_progress<'a>(
    tx: &mut WriteTx<'_>,
    campaign: &str,
    communities: impl Iterator<Item = &'a str>,
) -> DbResult<()> {
    for community in communities {
        let rows = sqlx::query(
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
            let n: i64 = r.try_get("n")?;
            roster += n;
            if let Some(out) = r
                .try_get::<Option<String>, _>("final_outcome")?
                .as_deref()
                .and_then(Outcome::parse)
            {
                o[out.index()] += n;
                if r.try_get::<i64, _>("via_app")? != 0 {
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
