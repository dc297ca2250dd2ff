//! The hand-over marks: a record keyed into the national system, by whom and when.

use std::collections::HashMap;

use super::{Db, DbResult, Scope};

/// Who marked a record keyed, and when (milliseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct KeyedMark {
    pub by: String,
    pub at: i64,
}

/// A keyed mark with its person ([`Db::keyed_marks`]).
#[derive(sqlx::FromRow)]
struct KeyedMarkRow {
    person_id: String,
    keyed_by: String,
    keyed_at: i64,
}

/// Keyed records of a community ([`Db::keyed_counts`]).
#[derive(sqlx::FromRow)]
struct KeyedCountRow {
    community: String,
    n: i64,
}

impl Db {
    /// Marks a person's record keyed (or, with `None`, clears the mark). Returns whether the mark
    /// changed.
    ///
    /// # Errors
    /// A database error.
    pub async fn set_keyed(
        &self,
        campaign: &str,
        person_id: &str,
        mark: Option<&KeyedMark>,
    ) -> DbResult<bool> {
        let mut tx = self.write().await?;
        let changed = match mark {
            Some(m) => sqlx::query(
                "INSERT INTO keyed_marks (person_id, campaign_id, keyed_by, keyed_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (person_id) DO NOTHING",
            )
            .bind(person_id.to_string())
            .bind(campaign.to_string())
            .bind(m.by.clone())
            .bind(m.at)
            .execute(&mut *tx.tx)
            .await?
            .rows_affected(),
            None => sqlx::query("DELETE FROM keyed_marks WHERE person_id = $1")
                .bind(person_id.to_string())
                .execute(&mut *tx.tx)
                .await?
                .rows_affected(),
        };
        tx.commit().await?;
        Ok(changed > 0)
    }

    /// The keyed marks of a campaign's records within a scope (optionally one community), by
    /// person ID.
    ///
    /// # Errors
    /// A database error.
    pub async fn keyed_marks(
        &self,
        campaign: &str,
        scope: &Scope,
        community: Option<&str>,
    ) -> DbResult<HashMap<String, KeyedMark>> {
        let (cond, arg) = scope.sql("p", 3);
        let sql = format!(
            "SELECT k.person_id, k.keyed_by, k.keyed_at FROM keyed_marks k JOIN persons p ON p.id = k.person_id \
             WHERE k.campaign_id = $1 AND p.community LIKE $2 {cond}"
        );
        let mut q = sqlx::query_as::<_, KeyedMarkRow>(sqlx::AssertSqlSafe(sql))
            .bind(campaign.to_string())
            .bind(format!("{}%", community.unwrap_or("")));
        if let Some(a) = arg {
            q = q.bind(a);
        }
        Ok(q.fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| {
                (
                    r.person_id,
                    KeyedMark {
                        by: r.keyed_by,
                        at: r.keyed_at,
                    },
                )
            })
            .collect())
    }

    /// Keyed records per community (where the person is now) within a scope.
    ///
    /// # Errors
    /// A database error.
    pub async fn keyed_counts(
        &self,
        campaign: &str,
        scope: &Scope,
    ) -> DbResult<HashMap<String, u64>> {
        let (cond, arg) = scope.sql("p", 2);
        let sql = format!(
            "SELECT p.community, CAST(COUNT(*) AS BIGINT) AS n FROM keyed_marks k JOIN persons p ON p.id = k.person_id \
             WHERE k.campaign_id = $1 {cond} GROUP BY p.community"
        );
        let mut q =
            sqlx::query_as::<_, KeyedCountRow>(sqlx::AssertSqlSafe(sql)).bind(campaign.to_string());
        if let Some(a) = arg {
            q = q.bind(a);
        }
        Ok(q.fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| (r.community, u64::try_from(r.n).unwrap_or(0)))
            .collect())
    }
}
