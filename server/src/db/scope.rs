//! Which communities a caller may read and write: the one scope condition of every query.

use std::collections::HashSet;

/// Which communities a caller may read and write.
#[derive(Debug, Clone)]
pub enum Scope {
    /// The district admin: everything.
    All,
    /// A supervisor: every community under a division code (a street, or the district).
    Area(String),
    /// A worker: the communities assigned now.
    Worker {
        user_id: String,
        communities: HashSet<String>,
    },
}

impl Scope {
    #[must_use]
    pub fn allows(&self, community: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Area(p) => community.starts_with(p.as_str()),
            Scope::Worker { communities, .. } => communities.contains(community),
        }
    }

    /// An SQL condition (starting with `AND`) on `{table}.community`, using placeholder `$n`,
    /// and its argument. `table` is a table of `campaign_id, community` rows (`persons`,
    /// `community_progress`) or its alias.
    #[must_use]
    pub fn sql(&self, table: &str, n: usize) -> (String, Option<String>) {
        match self {
            Scope::All => (String::new(), None),
            Scope::Area(p) => (
                format!("AND {table}.community LIKE ${n}"),
                Some(format!("{p}%")),
            ),
            Scope::Worker { user_id, .. } => (
                format!(
                    "AND {table}.community IN (SELECT a.community FROM assignments a \
                     WHERE a.campaign_id = {table}.campaign_id AND a.user_id = ${n})"
                ),
                Some(user_id.clone()),
            ),
        }
    }
}
