//! Records as the lists show them.

use serde::Serialize;

use doorstep_shared::{Review, Status};

use crate::db::RecordRow;

/// One line of a community's person list (ID numbers masked).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Line {
    pub person: String,
    pub name: String,
    pub community: String,
    pub id_masked: String,
    pub outcome: Option<String>,
    pub status: Status,
    pub review: Review,
    pub conflicts: usize,
    /// The worker who collected the record (a supervisor's review does not change it).
    pub collected_by: Option<String>,
    /// Who changed the record last (a worker, or a supervisor reviewing).
    pub updated_by: Option<String>,
    pub updated_at: i64,
}

impl From<&RecordRow> for Line {
    fn from(r: &RecordRow) -> Self {
        Line {
            person: r.id.clone(),
            name: r.person.name.clone(),
            community: r.community.clone(),
            id_masked: r.person.resident_id.masked(),
            outcome: doorstep_shared::domain::outcome_of(&r.doc.answers)
                .map(|o| o.key().to_string()),
            status: doorstep_shared::domain::status_of(&r.doc.answers),
            review: r.review,
            conflicts: r.doc.conflicts.len(),
            collected_by: r.collected_by.clone(),
            updated_by: r.updated_by.clone(),
            updated_at: r.updated_at,
        }
    }
}
