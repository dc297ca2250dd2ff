//! What the worker sees: the last pulled server state with the outbox laid over it.

use std::collections::{BTreeMap, HashMap};

use doorstep_shared::Status;
use doorstep_shared::carry;
use doorstep_shared::domain::{
    Campaign, Outcome, Review, STATUS, final_outcome, outcome_of, status_of,
};
use doorstep_shared::form::{FormContext, FormDefinition};
use doorstep_shared::merge::ItemOutcome;
use doorstep_shared::place::{DivisionCode, walking_order};
use doorstep_shared::progress::Rate;
use doorstep_shared::sync::RecordState;
use rusqlite::Connection;
use uuid::Uuid;

use crate::error::{AppError, Result};
use crate::model::{
    CommunitySummary, Filter, LogKind, OutboxEntry, PersonRow, RecordView, SyncLogEntry,
};
use crate::outbox::{OutboxRow, load_outbox, overlay};
use crate::store::{
    Store, count_outbox, get_meta, key, load_record, load_records, ms_to_time, parse_uuid,
};

/// Builds the view of one record from its server state and its outbox entries (in order).
/// With the form and the campaign, the per-item diff against last year's answers is computed
/// too (see [`RecordView::changes`]).
pub(crate) fn build_view(
    rec: RecordState,
    rows: &[&OutboxRow],
    form: Option<(&FormDefinition, &Campaign)>,
) -> RecordView {
    let answers = overlay(&rec.answers, rows.iter().copied());
    let changes = match (&rec.prior, form) {
        (Some(prior), Some((form, campaign))) => {
            let ctx = FormContext::for_person(&rec.person, campaign);
            carry::diff(form, prior, &answers, &ctx)
        }
        _ => BTreeMap::new(),
    };
    let pending = rows.iter().filter(|r| r.is_pending()).count();
    let rejected = rows.iter().rev().find(|r| !r.is_pending()).map(|r| {
        (
            r.reject_code.clone().unwrap_or_default(),
            r.reject_message.clone().unwrap_or_default(),
        )
    });
    // A returned record submitted again on the device is back in review once the edit lands.
    let resubmitted = rows.iter().any(|r| {
        r.is_pending()
            && r.changes
                .get(STATUS)
                .is_some_and(|c| c.value.as_ref() == Some(&Status::Final.value()))
    });
    let review = if rec.review == Review::Returned && resubmitted {
        Review::Pending
    } else {
        rec.review
    };
    // The item notes go with the return: once submitted again they are no longer shown.
    let review_notes = if review == Review::Returned {
        rec.review_notes
    } else {
        BTreeMap::new()
    };
    let status = status_of(&answers);
    RecordView {
        outcome: outcome_of(&answers),
        final_outcome: final_outcome(&answers, review),
        status,
        pending,
        rejected,
        review,
        review_comment: rec.review_comment,
        review_notes,
        conflicts: rec.conflicts,
        version: rec.version,
        server_answers: rec.answers,
        answers,
        person: rec.person,
        prior: rec.prior,
        changes,
    }
}

fn load_views(c: &Connection, community: Option<&str>) -> Result<Vec<RecordView>> {
    let records = load_records(c, community)?;
    let outbox = load_outbox(c, None)?;
    let mut by_person: HashMap<Uuid, Vec<&OutboxRow>> = HashMap::new();
    for row in &outbox {
        by_person.entry(row.person).or_default().push(row);
    }
    Ok(records
        .into_iter()
        .map(|rec| {
            let rows = by_person.get(&rec.person.id).map_or(&[][..], Vec::as_slice);
            build_view(rec, rows, None)
        })
        .collect())
}

/// Whether a record matches the search text: a name substring; a resident ID or certificate
/// number prefix (case-insensitive `x`, spaces ignored); the last digits (4–6) of either, as
/// the masked numbers on the card show them; or a masked number as shown (`430503****1143`).
fn matches_search(v: &RecordView, q: &str) -> bool {
    let q = q.trim();
    if q.is_empty() {
        return true;
    }
    if v.person.name.contains(q) {
        return true;
    }
    let upper: String = q
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if !upper
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'X' || b == b'*')
    {
        return false;
    }
    // A supervisor's phone holds masked numbers: the region and the last four still match.
    [&v.person.resident_id, &v.person.certificate]
        .iter()
        .any(|n| {
            if let Some(star) = upper.find('*') {
                // A masked number: what is shown before and after the stars.
                let head = &upper[..star];
                let tail = upper
                    .trim_start_matches(|c| c != '*')
                    .trim_start_matches('*');
                !tail.contains('*')
                    && head.len() + tail.len() >= 8
                    && n.starts_with(head)
                    && n.ends_with(tail)
            } else {
                n.starts_with(&upper) || ((4..=6).contains(&upper.len()) && n.ends_with(&upper))
            }
        })
}

fn row_of(v: &RecordView) -> PersonRow {
    PersonRow {
        person_id: v.person.id,
        name: v.person.name.clone(),
        masked_id: v.person.masked_id(),
        masked_certificate: v.person.masked_certificate(),
        community: v.person.community.clone(),
        address: v.person.address.clone(),
        outcome: v.outcome,
        status: v.status,
        review: v.review,
        done: v.final_outcome.is_some(),
        conflicts: v.conflicts.len(),
        pending: v.pending,
        rejected: v.rejected.is_some(),
        unsaved: false,
    }
}

impl Store {
    /// One record as the worker sees it.
    ///
    /// # Errors
    /// [`AppError::UnknownPerson`], or a storage error.
    pub fn record(&self, person_id: Uuid) -> Result<RecordView> {
        self.read(|c| {
            let rec = load_record(c, person_id)?.ok_or(AppError::UnknownPerson(person_id))?;
            let rows = load_outbox(c, Some(person_id))?;
            let form: Option<FormDefinition> = get_meta(c, key::FORM)?;
            let campaign: Option<Campaign> = get_meta(c, key::CAMPAIGN)?;
            let with = form.as_ref().zip(campaign.as_ref());
            Ok(build_view(rec, &rows.iter().collect::<Vec<_>>(), with))
        })
    }

    /// The person list: of one community (or all), passing `filter`, matching `search` (a
    /// name substring, an ID or certificate prefix, or the last 4–6 ID digits; blank matches
    /// all). In walking order of the address ([`walking_order`]), then by name. IDs are masked.
    ///
    /// # Errors
    /// A storage error.
    pub fn persons(
        &self,
        community: Option<&DivisionCode>,
        filter: Filter,
        search: &str,
    ) -> Result<Vec<PersonRow>> {
        self.read(|c| {
            let views = load_views(c, community.map(DivisionCode::as_str))?;
            let unsaved: std::collections::HashSet<String> = c
                .prepare("SELECT person_id FROM scratch WHERE edits <> '{}'")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut rows: Vec<PersonRow> = views
                .iter()
                .filter(|v| filter.matches(v) && matches_search(v, search))
                .map(|v| PersonRow {
                    unsaved: unsaved.contains(&v.person.id.to_string()),
                    ..row_of(v)
                })
                .collect();
            rows.sort_by(|a, b| {
                walking_order(&a.address, &b.address).then_with(|| a.name.cmp(&b.name))
            });
            Ok(rows)
        })
    }

    /// The communities on the device with their figures, computed from what the worker sees
    /// (pending edits included), ordered by code.
    ///
    /// # Errors
    /// A storage error.
    pub fn communities(&self) -> Result<Vec<CommunitySummary>> {
        self.read(|c| {
            let names: BTreeMap<DivisionCode, String> =
                get_meta(c, key::COMMUNITY_NAMES)?.unwrap_or_default();
            let mut by_code: BTreeMap<DivisionCode, CommunitySummary> = BTreeMap::new();
            for v in load_views(c, None)? {
                let code = v.person.community.clone();
                let s = by_code
                    .entry(code.clone())
                    .or_insert_with(|| CommunitySummary {
                        name: names
                            .get(&code)
                            .cloned()
                            .unwrap_or_else(|| code.to_string()),
                        code,
                        total: 0,
                        done: 0,
                        home_visit: 0,
                        phone: 0,
                        home_visit_rate: Rate::new(0, 0),
                        completion_rate: Rate::new(0, 0),
                        returned: 0,
                        conflicts: 0,
                        unsent: 0,
                    });
                s.total += 1;
                if let Some(o) = v.final_outcome {
                    s.done += 1;
                    s.home_visit += u64::from(o == Outcome::HomeVisit);
                    s.phone += u64::from(o == Outcome::Phone);
                }
                s.returned += u64::from(v.review == Review::Returned);
                s.conflicts += u64::from(!v.conflicts.is_empty());
                s.unsent += u64::from(v.pending > 0 || v.rejected.is_some());
            }
            Ok(by_code
                .into_values()
                .map(|mut s| {
                    s.home_visit_rate = Rate::new(s.home_visit, s.home_visit + s.phone);
                    s.completion_rate = Rate::new(s.done, s.total);
                    s
                })
                .collect())
        })
    }

    /// Outbox entries (pending and rejected): what is not on the server yet.
    ///
    /// # Errors
    /// A storage error.
    pub fn unsent_count(&self) -> Result<usize> {
        self.read(count_outbox)
    }

    /// The outbox, oldest first, with the person's name.
    ///
    /// # Errors
    /// A storage error.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.read(|c| {
            let rows = load_outbox(c, None)?;
            let mut names: HashMap<Uuid, String> = HashMap::new();
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                if let std::collections::hash_map::Entry::Vacant(e) = names.entry(r.person) {
                    let name = load_record(c, r.person)?
                        .map(|rec| rec.person.name)
                        .unwrap_or_default();
                    e.insert(name);
                }
                out.push(OutboxEntry {
                    mutation: r.id,
                    person_id: r.person,
                    name: names[&r.person].clone(),
                    items: r.changes.keys().cloned().collect(),
                    created_at: ms_to_time(r.created_at),
                    sent: r.sent,
                    state: r.state,
                    reject_code: r.reject_code,
                    reject_message: r.reject_message,
                });
            }
            Ok(out)
        })
    }

    /// The latest sync log lines, newest first.
    ///
    /// # Errors
    /// A storage error.
    pub fn sync_log(&self, limit: usize) -> Result<Vec<SyncLogEntry>> {
        self.read(|c| {
            type Raw = (i64, String, String, String, String, Option<String>);
            let raws: Vec<Raw> = {
                let mut st = c.prepare_cached(
                    "SELECT at, person_id, mutation_id, kind, items, message FROM sync_log
                     ORDER BY id DESC LIMIT ?1",
                )?;
                st.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?
            };
            raws.into_iter()
                .map(|(at, person, mutation, kind, items, message)| {
                    let person_id = parse_uuid(&person)?;
                    let items: BTreeMap<String, ItemOutcome> = serde_json::from_str(&items)?;
                    Ok(SyncLogEntry {
                        at: ms_to_time(at),
                        name: load_record(c, person_id)?.map(|r| r.person.name),
                        person_id,
                        mutation: parse_uuid(&mutation)?,
                        kind: match kind.as_str() {
                            "rejected" => LogKind::Rejected,
                            "reassigned" => LogKind::Reassigned,
                            _ => LogKind::Merged,
                        },
                        items,
                        message,
                    })
                })
                .collect()
        })
    }
}
