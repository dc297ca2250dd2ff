//! The analysis facts: each finalized record reduced to [`doorstep_shared::analysis::Facts`],
//! kept in its own `persons` row (`facts`, migration 0015) and written with it
//! (`records::save_rows`); and each community's facts concatenated into one *pack*
//! (`analysis_packs`, migration 0012), rewritten in that same transaction, so that even a
//! province's analysis reads one short row per community (a few thousand rows, no aggregation
//! in the database).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, RwLock};

use chrono::NaiveDate;

use doorstep_shared::analysis::{FACTS_VERSION, Facts, Layout};
use doorstep_shared::form::{FormContext, FormDefinition};

use super::record_row::{Counted, ROW_COLS, RecordRow, row_from};
use super::{Db, DbError, DbResult, Scope, WriteTx, placeholders};

/// The setting that says which [`FACTS_VERSION`] the stored facts are.
const SETTING: &str = "analysis_facts_version";

/// What turns a campaign's records into facts: its form, the form's layout and the day ages are
/// computed on. Campaigns never change form or start, so this is cached per campaign.
pub struct Analyzer {
    pub form: FormDefinition,
    pub layout: Layout,
    pub reference_date: NaiveDate,
}

impl Analyzer {
    /// The facts of a row, when it counts (it has a final outcome).
    #[must_use]
    pub fn facts(&self, row: &RecordRow) -> Option<Facts> {
        row.final_outcome?;
        let ctx = FormContext::new(row.person.facts(), self.reference_date);
        Some(Facts::of(&self.layout, &self.form, &row.doc.answers, &ctx))
    }
}

static ANALYZERS: LazyLock<RwLock<HashMap<String, Arc<Analyzer>>>> = LazyLock::new(RwLock::default);

/// A campaign's start and its form's definition ([`analyzer`]).
#[derive(sqlx::FromRow)]
struct AnalyzerRow {
    starts: String,
    definition: String,
}

pub(crate) async fn analyzer<'c, E>(exec: E, campaign: &str) -> DbResult<Arc<Analyzer>>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    if let Some(a) = ANALYZERS.read().expect("analyzers").get(campaign) {
        return Ok(a.clone());
    }
    let r = sqlx::query_as::<_, AnalyzerRow>(
        "SELECT c.starts, f.definition FROM campaigns c JOIN forms f ON f.version = c.form_version \
         WHERE c.id = $1",
    )
    .bind(campaign.to_string())
    .fetch_optional(exec)
    .await?
    .ok_or_else(|| DbError::NotFound(format!("no campaign {campaign}")))?;
    let starts = r.starts;
    let form: FormDefinition = serde_json::from_str(&r.definition)?;
    let a = Arc::new(Analyzer {
        layout: Layout::of(&form),
        form,
        reference_date: NaiveDate::parse_from_str(&starts, "%Y-%m-%d")
            .map_err(|e| DbError::Corrupt(format!("campaign start {starts}: {e}")))?,
    });
    ANALYZERS
        .write()
        .expect("analyzers")
        .insert(campaign.to_string(), a.clone());
    Ok(a)
}

/// How a batch changes some communities' packs: per community, the facts that leave it and
/// those that join it. A pack is its community's facts concatenated, all of one width, in no
/// particular order (a multiset), so it changes in place: a leaving record's text is cut out
/// at a record boundary, a joining one appended. A pack that does not hold a leaving record
/// (it should) is rebuilt from the facts instead ([`repack`]), so a pack never drifts.
#[derive(Default)]
pub(crate) struct Repacking {
    by_community: BTreeMap<String, (Vec<String>, Vec<String>)>,
}

impl Repacking {
    /// A row saved: its facts leave the pack they were in (`before`, `None` for a row that did
    /// not count) and join its community's. Unchanged facts (an edit of an item no rule reads,
    /// such as the phone) touch no pack.
    pub(crate) fn change(&mut self, before: Option<&Counted>, row: &RecordRow) {
        let old = before.and_then(|b| b.facts.as_deref().map(|f| (b.community.as_str(), f)));
        let new = row.facts.as_deref().map(|f| (row.community.as_str(), f));
        if old == new {
            return;
        }
        if let Some((community, facts)) = old {
            self.remove(community.to_string(), facts.to_string());
        }
        if let Some((community, facts)) = new {
            self.add(community, facts);
        }
    }

    fn remove(&mut self, community: String, facts: String) {
        self.by_community
            .entry(community)
            .or_default()
            .0
            .push(facts);
    }

    fn add(&mut self, community: &str, facts: &str) {
        self.by_community
            .entry(community.to_string())
            .or_default()
            .1
            .push(facts.to_string());
    }

    /// The pack after the changes, or `None` when a leaving record is not in it.
    fn apply(pack: &str, leaving: &[String], joining: &[String]) -> Option<String> {
        let mut out = pack.to_string();
        for f in leaving {
            let width = f.len();
            if width == 0 || !out.len().is_multiple_of(width) {
                return None;
            }
            // Compared as bytes: a pack is base 64, but a damaged one must not panic on a
            // character boundary. A match of `f`'s whole characters is on boundaries itself.
            let at = (0..out.len() / width)
                .find(|i| out.as_bytes()[i * width..(i + 1) * width] == *f.as_bytes())?;
            out.replace_range(at * width..(at + 1) * width, "");
        }
        for f in joining {
            out.push_str(f);
        }
        Some(out)
    }

    pub(crate) async fn write(self, tx: &mut WriteTx<'_>, campaign: &str) -> DbResult<()> {
        let communities: Vec<&String> = self.by_community.keys().collect();
        let mut packs: HashMap<String, String> = HashMap::new();
        for chunk in communities.chunks(200) {
            let sql = format!(
                "SELECT community, facts FROM analysis_packs WHERE campaign_id = $1 AND community IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql))
                .bind(campaign.to_string());
            for c in chunk {
                q = q.bind((*c).clone());
            }
            packs.extend(q.fetch_all(&mut *tx.tx).await?);
        }
        let mut rebuild = Vec::new();
        let mut emptied = Vec::new();
        let mut written: Vec<(&str, String)> = Vec::new();
        for (community, (leaving, joining)) in &self.by_community {
            let pack = packs.get(community).map_or("", String::as_str);
            match Self::apply(pack, leaving, joining) {
                None => rebuild.push(community.clone()),
                Some(p) if p.is_empty() => emptied.push(community.clone()),
                Some(p) => written.push((community, p)),
            }
        }
        for chunk in written.chunks(200) {
            let sql = format!(
                "INSERT INTO analysis_packs (campaign_id, community, facts) VALUES {} \
                 ON CONFLICT (campaign_id, community) DO UPDATE SET facts = excluded.facts",
                tx.value_rows(chunk.len(), 3)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (community, pack) in chunk {
                q = q
                    .bind(campaign.to_string())
                    .bind((*community).to_string())
                    .bind(pack.clone());
            }
            q.execute(&mut *tx.tx).await?;
        }
        // An emptied pack goes, as a rebuilt one of a community without facts does.
        rebuild.extend(emptied);
        repack(tx, campaign, &rebuild).await
    }
}

/// Rewrites the packs of some communities from their facts (a community without finalized
/// records has none), in the caller's transaction.
pub(crate) async fn repack(
    tx: &mut WriteTx<'_>,
    campaign: &str,
    communities: &[String],
) -> DbResult<()> {
    for chunk in communities.chunks(200) {
        let list = placeholders(2, chunk.len());
        let sql =
            format!("DELETE FROM analysis_packs WHERE campaign_id = $1 AND community IN ({list})");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(campaign.to_string());
        for c in chunk {
            q = q.bind(c.clone());
        }
        q.execute(&mut *tx.tx).await?;
        let sql = format!(
            "INSERT INTO analysis_packs (campaign_id, community, facts) \
             SELECT campaign_id, community, string_agg(facts, '') FROM persons \
             WHERE campaign_id = $1 AND community IN ({list}) AND facts IS NOT NULL \
             GROUP BY campaign_id, community"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(campaign.to_string());
        for c in chunk {
            q = q.bind(c.clone());
        }
        q.execute(&mut *tx.tx).await?;
    }
    Ok(())
}

/// Writes some rows' facts (`None`: the row does not count), by person ID, in the caller's
/// transaction; the packs are the caller's to rebuild.
async fn set_facts(tx: &mut WriteTx<'_>, facts: &[(String, Option<String>)]) -> DbResult<()> {
    for chunk in facts.chunks(200) {
        let sql = format!(
            "UPDATE persons SET facts = v.column2 FROM (VALUES {}) AS v WHERE persons.id = v.column1",
            tx.value_rows(chunk.len(), 2)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (person, f) in chunk {
            q = q.bind(person.clone()).bind(f.clone());
        }
        q.execute(&mut *tx.tx).await?;
    }
    Ok(())
}

/// Recomputes the facts of every record of some communities (after a roster import changed
/// persons' facts — community, certificate, so level — or moved them).
pub(crate) async fn refresh_communities<'a>(
    tx: &mut WriteTx<'_>,
    campaign: &str,
    communities: impl Iterator<Item = &'a str>,
) -> DbResult<()> {
    let a = analyzer(&mut *tx.tx, campaign).await?;
    let mut touched = Vec::new();
    for community in communities {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ROW_COLS} FROM persons WHERE campaign_id = $1 AND community = $2 \
             AND (final_outcome IS NOT NULL OR facts IS NOT NULL)"
        )))
        .bind(campaign.to_string())
        .bind(community.to_string())
        .fetch_all(&mut *tx.tx)
        .await?
        .iter()
        .map(row_from)
        .collect::<DbResult<Vec<_>>>()?;
        let changed: Vec<(String, Option<String>)> = rows
            .into_iter()
            .filter_map(|r| {
                let f = a.facts(&r).map(|f| f.encode());
                (f != r.facts).then_some((r.id, f))
            })
            .collect();
        set_facts(tx, &changed).await?;
        touched.push(community.to_string());
    }
    repack(tx, campaign, &touched).await
}

/// One community's stored facts: its pack (every record's encoded facts concatenated, each
/// [`Layout::width`] characters), or, when asked with IDs, `person=facts` joined by spaces.
/// Read straight from its row (`community`, `joined`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommunityFacts {
    pub community: String,
    pub joined: String,
}

impl Db {
    /// The analyzer (form, layout, reference date) of a campaign.
    ///
    /// # Errors
    /// No such campaign, or a database error.
    pub async fn analyzer(&self, campaign: &str) -> DbResult<Arc<Analyzer>> {
        analyzer(&self.pool, campaign).await
    }

    /// The stored facts of a campaign's finalized records within a scope and under a place
    /// (a division-code prefix; empty for all), one row per community, in community order:
    /// the communities' packs, or with IDs each record's `person=facts` (for the action lists).
    ///
    /// # Errors
    /// A database error.
    pub async fn analysis_facts(
        &self,
        campaign: &str,
        scope: &Scope,
        place: &str,
        with_ids: bool,
    ) -> DbResult<Vec<CommunityFacts>> {
        let (cond, arg) = scope.sql("f", 4);
        let sql = if with_ids {
            format!(
                "SELECT f.community, string_agg(f.id || '=' || f.facts, ' ') AS joined \
                 FROM persons f \
                 WHERE f.campaign_id = $1 AND f.community >= $2 AND f.community < $3 \
                 AND f.facts IS NOT NULL {cond} \
                 GROUP BY f.community ORDER BY f.community"
            )
        } else {
            format!(
                "SELECT f.community, f.facts AS joined FROM analysis_packs f \
                 WHERE f.campaign_id = $1 AND f.community >= $2 AND f.community < $3 {cond} \
                 ORDER BY f.community"
            )
        };
        let mut q = sqlx::query_as::<_, CommunityFacts>(sqlx::AssertSqlSafe(sql))
            .bind(campaign.to_string())
            .bind(place.to_string())
            .bind(format!("{place}~"));
        if let Some(a) = arg {
            q = q.bind(a);
        }
        Ok(q.fetch_all(&self.pool).await?)
    }

    /// Writes facts straight into the persons' rows, for the benchmark that measures reading a
    /// province's analysis without first pushing a million surveys: the facts are computed by
    /// the same rules ([`Analyzer::facts`] / `Facts::of`) from complete questionnaires.
    ///
    /// # Errors
    /// A database error.
    #[cfg(feature = "testing")]
    pub async fn put_facts_for_bench(
        &self,
        campaign: &str,
        rows: &[(String, String, String)],
    ) -> DbResult<()> {
        let mut tx = self.write().await?;
        let facts: Vec<(String, Option<String>)> = rows
            .iter()
            .map(|(_, person, f)| (person.clone(), Some(f.clone())))
            .collect();
        set_facts(&mut tx, &facts).await?;
        let mut communities: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        communities.sort_unstable();
        communities.dedup();
        repack(&mut tx, campaign, &communities).await?;
        tx.commit().await
    }

    /// Rebuilds every campaign's facts from the records when the stored ones are of another
    /// [`FACTS_VERSION`] (a new database, or an upgrade): once, at start.
    ///
    /// # Errors
    /// A database error.
    pub async fn ensure_analysis_facts(&self) -> DbResult<()> {
        if self.setting(SETTING).await?.as_deref() == Some(FACTS_VERSION) {
            return Ok(());
        }
        let mut tx = self.write().await?;
        sqlx::query("UPDATE persons SET facts = NULL WHERE facts IS NOT NULL")
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("DELETE FROM analysis_packs")
            .execute(&mut *tx.tx)
            .await?;
        let campaigns: Vec<String> = sqlx::query_scalar("SELECT id FROM campaigns")
            .fetch_all(&mut *tx.tx)
            .await?;
        for c in campaigns {
            let communities: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT community FROM persons WHERE campaign_id = $1 \
                 AND final_outcome IS NOT NULL",
            )
            .bind(c.clone())
            .fetch_all(&mut *tx.tx)
            .await?;
            refresh_communities(&mut tx, &c, communities.iter().map(String::as_str)).await?;
        }
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(SETTING)
        .bind(FACTS_VERSION)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::Repacking;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_string()).collect()
    }

    #[test]
    fn a_pack_changes_by_whole_records() {
        // Three records of width 3; the middle one leaves, one joins.
        assert_eq!(
            Repacking::apply("aaabbbccc", &v(&["bbb"]), &v(&["ddd"])).as_deref(),
            Some("aaacccddd")
        );
        // Only a record boundary counts: "abb" spans two records and is not in the pack.
        assert_eq!(Repacking::apply("aaabbbccc", &v(&["abb"]), &[]), None);
        // The same text twice: one of them leaves.
        assert_eq!(
            Repacking::apply("aaaaaabbb", &v(&["aaa"]), &[]).as_deref(),
            Some("aaabbb")
        );
        // A record of another width, or one that is not there: rebuilt instead.
        assert_eq!(Repacking::apply("aaabbb", &v(&["aaaa"]), &[]), None);
        assert_eq!(Repacking::apply("aaabbb", &v(&["ccc"]), &[]), None);
        // A damaged pack (not base 64): rebuilt, and no panic on a character boundary.
        assert_eq!(Repacking::apply("aéb", &v(&["xy"]), &[]), None);
        // The last record leaves: empty; a new community: just the joining ones.
        assert_eq!(
            Repacking::apply("aaa", &v(&["aaa"]), &[]).as_deref(),
            Some("")
        );
        assert_eq!(
            Repacking::apply("", &[], &v(&["aaa", "bbb"])).as_deref(),
            Some("aaabbb")
        );
    }
}
