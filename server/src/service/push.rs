//! Push: the rules each mutation of a batch passes, between loading what the batch touches and
//! storing what it changed ([`crate::db::PushBatch`], one write transaction a batch). The rules
//! are pure: a re-sent mutation gets its stored answer; a campaign's state decides whether an
//! edit is taken (late) or refused (closed); scope, with the assignment history (an edit made
//! before a community was taken away is still delivered); then the record rules of
//! [`apply_mutation`]. A batch that names the batch before it is applied only after that one
//! ([`Sequence`], [`InFlight`]). See docs/sync.md.

use doorstep_shared::errors::ErrorCode;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::watch;
use uuid::Uuid;

use doorstep_shared::domain::{STATUS, status_of};
use doorstep_shared::form::{FormContext, ItemError, Strictness};
use doorstep_shared::merge::{self, Writer};
use doorstep_shared::sync::{Mutation, MutationResult, MutationStatus, Role};
use doorstep_shared::{CampaignState, Review, Status};

use crate::db::{
    Backend, Db, LogEntry, Logged, PushCampaign, PushLoad, Pusher, RecordRow, WriteComing,
    WriteStamp, now_ms,
};

/// A mutation as the server received it: decoded, and the JSON text it came as, which the log
/// keeps as sent (no encoding it again).
pub struct Received {
    pub mutation: Mutation,
    pub payload: String,
}

impl Received {
    /// A mutation made on the server's side (tests, the benchmark): its payload is its JSON.
    ///
    /// # Errors
    /// It cannot be encoded.
    pub fn new(mutation: Mutation) -> serde_json::Result<Self> {
        Ok(Self {
            payload: serde_json::to_string(&mutation)?,
            mutation,
        })
    }

    /// Many of them ([`Received::new`]).
    ///
    /// # Errors
    /// One cannot be encoded.
    pub fn all(mutations: &[Mutation]) -> serde_json::Result<Vec<Self>> {
        mutations.iter().cloned().map(Self::new).collect()
    }
}

/// Where a batch stands in its device's push (`PushRequest::batch` and `after`): its ID, and
/// the batch sent before it, which must be the device's last applied one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sequence {
    pub batch: Option<Uuid>,
    pub after: Option<Uuid>,
}

/// The batches this process is applying now, by ID: a batch sent after one of them waits for
/// it to be committed (or to fail) before it takes its turn ([`push_in_sequence`]). A batch
/// applied by another server process is not here: the one after it finds it applied, or is
/// answered `previous_batch_missing` and sent again.
#[derive(Default)]
pub struct InFlight {
    batches: Mutex<HashMap<Uuid, (u64, Arc<Batch>)>>,
    /// The last [`ENDED_KEPT`] batches that were in flight here (applied or failed), the
    /// newest last: a batch sent after one of them does not look for it in the database.
    ended: Mutex<std::collections::VecDeque<Uuid>>,
    /// Told whenever a batch enters.
    entered: tokio::sync::Notify,
    /// Batches prepared while the batch before them was written: applied as prepared, and
    /// prepared in vain (something else was committed in between).
    prepared: [AtomicU64; 2],
}

/// A batch being applied, as the batch sent after it sees it.
struct Batch {
    stage: watch::Receiver<Stage>,
    /// Its persons and mutation IDs, once its request is decoded.
    holds: OnceLock<(HashSet<Uuid>, HashSet<Uuid>)>,
}

/// Where a batch being applied stands ([`prepare`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for its turn, reading, running its rules.
    Reading,
    /// Its rules are done: it writes, under the write lock.
    Writing,
    /// Its commit has begun.
    Committing,
    /// Committed, and where the database stood then (SQLite).
    Committed(Option<WriteStamp>),
}

/// How long a batch that came before the batch it follows waits for that one to arrive
/// ([`push_in_sequence`]).
const ARRIVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// How many ended batches [`InFlight`] remembers.
const ENDED_KEPT: usize = 256;

/// A batch being applied, in [`InFlight`] until dropped (which wakes those waiting for it),
/// and announced to the database as a write coming ([`Db::write_coming`]).
pub struct Applying<'a> {
    in_flight: &'a InFlight,
    entry: Option<(Uuid, u64, Arc<Batch>, watch::Sender<Stage>)>,
    _coming: WriteComing,
}

impl InFlight {
    /// Marks a batch as being applied from now (as soon as its request is read: the batch
    /// after it may be close behind) until the answer is dropped.
    pub fn enter(&self, db: &Db, batch: Option<Uuid>) -> Applying<'_> {
        static TURN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let entry = batch.map(|id| {
            let turn = TURN.fetch_add(1, Ordering::Relaxed);
            let (stage, seen) = watch::channel(Stage::Reading);
            let batch = Arc::new(Batch {
                stage: seen,
                holds: OnceLock::new(),
            });
            self.batches().insert(id, (turn, batch.clone()));
            self.entered.notify_waiters();
            (id, turn, batch, stage)
        });
        Applying {
            in_flight: self,
            entry,
            _coming: db.write_coming(),
        }
    }

    /// Waits while `batch` is being applied here.
    async fn finished(&self, batch: Uuid) {
        let waiting = self.batches().get(&batch).map(|(_, b)| b.stage.clone());
        if let Some(mut waiting) = waiting {
            // Until the batch's sender is dropped (its answer is written or it failed).
            while waiting.changed().await.is_ok() {}
        }
    }

    /// How many batches were prepared while the batch before them was written, and applied
    /// as prepared; and how many were prepared in vain.
    #[must_use]
    pub fn prepared(&self) -> (u64, u64) {
        (
            self.prepared[0].load(Ordering::Relaxed),
            self.prepared[1].load(Ordering::Relaxed),
        )
    }

    /// Whether `batch` is in flight in this process, or was lately.
    fn seen(&self, batch: Uuid) -> bool {
        self.batches().contains_key(&batch)
            || self
                .ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&batch)
    }

    /// Waits up to `bound` for `batch`, which a batch sent after it names, to arrive in this
    /// process (or to have been here).
    async fn arrived(&self, batch: Uuid, bound: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + bound;
        let came = loop {
            // Listening before looking: an entry made in between is not missed.
            let entered = self.entered.notified();
            tokio::pin!(entered);
            entered.as_mut().enable();
            if self.seen(batch) {
                break true;
            }
            if tokio::time::timeout_at(deadline, entered).await.is_err() {
                break false;
            }
        };
        tracing::info!(after = %batch, came, "a push batch came before the batch it follows");
    }

    /// Counts a batch prepared while the batch before it was written: applied as prepared
    /// (`used`), or prepared in vain.
    fn count_prepared(&self, used: bool) {
        self.prepared[usize::from(!used)].fetch_add(1, Ordering::Relaxed);
        crate::metrics::prepared(used);
    }

    fn batches(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (u64, Arc<Batch>)>> {
        self.batches.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Applying<'_> {
    /// Tells the batch sent after this one which persons and mutations this one holds.
    fn holds(&self, received: &[Received]) {
        if let Some((_, _, batch, _)) = &self.entry {
            let persons = received.iter().map(|r| r.mutation.person).collect();
            let ids = received.iter().map(|r| r.mutation.id).collect();
            let _ = batch.holds.set((persons, ids));
        }
    }

    fn stage(&self, stage: Stage) {
        if let Some((_, _, _, sender)) = &self.entry {
            sender.send_replace(stage);
        }
    }
}

impl Drop for Applying<'_> {
    fn drop(&mut self) {
        if let Some((id, turn, _, _)) = &self.entry {
            let mut batches = self.in_flight.batches();
            // The same batch sent again while the first send still runs is the later entry.
            if batches.get(id).is_some_and(|(t, _)| t == turn) {
                batches.remove(id);
                let mut ended = self
                    .in_flight
                    .ended
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if ended.len() == ENDED_KEPT {
                    ended.pop_front();
                }
                ended.push_back(*id);
            }
        }
    }
}

/// [`push`] for a batch of a device's sequence, entered in [`InFlight`] as `applying`: a batch
/// that names the one before it (`seq.after`) waits while that one is being applied in this
/// process, then is applied only
/// if that one is the device's last applied batch. So a device may send its next batch before
/// the answer to this one, and the server still applies them in the order sent.
///
/// The two travel on two connections, so the later one can arrive first. When the one before
/// is neither in flight here (nor was lately) nor the device's last applied batch, it waits up
/// to [`ARRIVAL`] for that one to arrive, before it takes the write lock, and then goes on as
/// a batch sent after one in flight (it may be [`prepare`]d): the phone is not sent round
/// again for a batch that was only a moment behind. A batch refused under the lock all the
/// same (the one before was being applied by another server process) waits up to [`ARRIVAL`]
/// for it then, and is tried once more.
///
/// # Errors
/// As [`push`].
pub async fn push_in_sequence(
    db: &Db,
    applying: &Applying<'_>,
    campaigns: &HashMap<String, PushCampaign>,
    pusher: &Pusher,
    received: Vec<Received>,
    seq: Sequence,
) -> super::Result<Vec<MutationResult>> {
    applying.holds(&received);
    let received = Arc::new(received);
    let Some(after) = seq.after else {
        return push_shared(db, Some(applying), campaigns, pusher, received, seq).await;
    };
    // A batch that overtook the one before it on the way waits for that one here, before it
    // takes the write lock, then goes on as a batch sent after one in flight.
    let mut waited = false;
    if let Some(device) = pusher.device_id
        && !applying.in_flight.seen(after)
        && db.last_batch(device).await? != Some(after)
    {
        waited = true;
        applying.in_flight.arrived(after, ARRIVAL).await;
    }
    let now = now_ms();
    let prepared = prepare(
        db,
        applying.in_flight,
        after,
        campaigns,
        pusher,
        &received,
        now,
    )
    .await;
    if let Some(prepared) = prepared {
        let applied = apply_prepared(
            db, applying, campaigns, pusher, &received, seq, prepared, now,
        )
        .await?;
        if let Some(results) = applied {
            return Ok(results);
        }
    }
    applying.in_flight.finished(after).await;
    let push = |received| push_shared(db, Some(applying), campaigns, pusher, received, seq);
    match push(received.clone()).await {
        // Refused under the lock without having waited above: the one before is being
        // applied by another server process (or failed here, and is refused again).
        Err(e) if e.code == ErrorCode::PreviousBatchMissing && !waited => {
            applying.in_flight.arrived(after, ARRIVAL).await;
            applying.in_flight.finished(after).await;
            push(received).await
        }
        done => done,
    }
}

/// A batch whose rules ran while the batch before it was written ([`prepare`]).
struct Prepared {
    load: PushLoad,
    decided: Decided,
    /// Where the batch before it stands.
    before: watch::Receiver<Stage>,
}

/// Runs a batch's rules while the batch before it (`after`) is being written, so that, under
/// the write lock, it only has to be written too. On SQLite only, when:
/// - the batch before is in this process and has reached its writes (it holds the write lock,
///   so nothing else can be committed until it commits);
/// - the two batches share no person and no mutation, and every campaign is open (a late edit
///   changes next year's records too): then the batch before changes nothing these rules read;
/// - no other batch is in flight in this process (another phone's would most likely be
///   written between the two, and the work prepared be in vain);
/// - the snapshot read is taken before the batch before begins its commit.
///
/// The rules then saw the database as it will be once the batch before is committed. Whether
/// anything else was committed after it is known only under the write lock
/// ([`apply_prepared`]).
async fn prepare(
    db: &Db,
    in_flight: &InFlight,
    after: Uuid,
    campaigns: &HashMap<String, PushCampaign>,
    pusher: &Pusher,
    received: &Arc<Vec<Received>>,
    now: i64,
) -> Option<Prepared> {
    let open = campaigns
        .values()
        .all(|c| c.row.state == CampaignState::Open);
    if db.backend() != Backend::Sqlite || pusher.device_id.is_none() || !open || received.is_empty()
    {
        return None;
    }
    let batch = in_flight.batches().get(&after).map(|(_, b)| b.clone())?;
    let mut before = batch.stage.clone();
    let reached = *before.wait_for(|s| *s != Stage::Reading).await.ok()?;
    let (persons, ids) = batch.holds.get()?;
    let shared = received
        .iter()
        .any(|r| persons.contains(&r.mutation.person) || ids.contains(&r.mutation.id));
    // Other batches in flight (other phones') would most likely be written between the two,
    // and the work prepared would be in vain.
    let others = in_flight.batches().len() > 2;
    if reached != Stage::Writing || shared || others {
        return None;
    }
    let mutations: Vec<&Mutation> = received.iter().map(|r| &r.mutation).collect();
    let writing = before.clone();
    let taken = move || *writing.borrow() == Stage::Writing;
    let mut load = match db.push_snapshot(pusher, &mutations, taken).await {
        Ok(load) => load?,
        Err(e) => {
            tracing::warn!(error = %e, "preparing a push batch failed: it waits for its turn");
            return None;
        }
    };
    let (campaigns, pusher, received) = (
        Arc::new(campaigns.clone()),
        Arc::new(pusher.clone()),
        received.clone(),
    );
    let rules = tokio::task::spawn_blocking(move || {
        let mut decided = Decided::default();
        decide(&mut decided, &mut load, &campaigns, &pusher, &received, now)
            .map(|()| (load, decided))
    });
    let (load, decided) = rules.await.ok()?.ok()?;
    Some(Prepared {
        load,
        decided,
        before,
    })
}

/// Applies a prepared batch once the batch before it is done: if that one committed and
/// nothing else was committed since (checked under the write lock), the prepared rows and
/// answers are written as they are. `None` when they cannot be (the batch before failed, or
/// another write came in between): then the batch is applied as any other. It queues for the
/// write lock at once, while the batch before still holds it, so that no write queued later
/// comes in between.
#[allow(clippy::too_many_arguments)]
async fn apply_prepared(
    db: &Db,
    applying: &Applying<'_>,
    campaigns: &HashMap<String, PushCampaign>,
    pusher: &Pusher,
    received: &Arc<Vec<Received>>,
    seq: Sequence,
    prepared: Prepared,
    now: i64,
) -> super::Result<Option<Vec<MutationResult>>> {
    let Prepared {
        load,
        decided,
        mut before,
    } = prepared;
    // The stamp the batch before leaves once committed (none if it failed).
    let since = async move {
        let stamp = |s: &Stage| match s {
            Stage::Committed(stamp) => *stamp,
            _ => None,
        };
        let reached = before
            .wait_for(|s| matches!(s, Stage::Committed(_)))
            .await
            .map(|s| stamp(&s));
        // Gone without a word: failed (or its last word came just before it went).
        reached.unwrap_or_else(|_| stamp(&before.borrow()))
    };
    let mut batch = match db.resume_push(load, since).await? {
        Ok(batch) => batch,
        Err(load) => {
            applying.in_flight.count_prepared(false);
            super::drop_later((load, decided.log));
            return Ok(None);
        }
    };
    if let (Some(after), Some(device)) = (seq.after, pusher.device_id)
        && batch.last_batch(device).await? != Some(after)
    {
        return Err(previous_batch_missing(after));
    }
    applying.stage(Stage::Writing);
    let (load, stamp) = batch
        .finish(
            campaigns,
            pusher,
            &decided.changed,
            &decided.log,
            seq.batch,
            now,
            || applying.stage(Stage::Committing),
        )
        .await?;
    applying.stage(Stage::Committed(stamp));
    applying.in_flight.count_prepared(true);
    super::drop_later((load, decided.log, decided.changed, received.clone()));
    Ok(Some(decided.results))
}

/// Applies a batch of mutations in one transaction: each entirely or not at all, in order; a
/// mutation already in the log gets its stored result again. `campaigns` holds every campaign
/// a record may belong to, by ID: the open one, and ended ones whose records phones still
/// deliver (accepted and marked late while the campaign takes late edits). A batch whose
/// `seq.after` is not the device's last applied batch is refused whole
/// (`previous_batch_missing`); a batch with an ID becomes the device's last applied one.
///
/// # Errors
/// A database error: then nothing of the batch is kept and the device re-sends it.
pub async fn push(
    db: &Db,
    campaigns: &HashMap<String, PushCampaign>,
    pusher: &Pusher,
    received: Vec<Received>,
    seq: Sequence,
) -> super::Result<Vec<MutationResult>> {
    push_shared(db, None, campaigns, pusher, Arc::new(received), seq).await
}

/// [`push`] of mutations shared with the rules' thread (and kept for a second try), telling
/// the batch sent after it (if any) how far it is.
async fn push_shared(
    db: &Db,
    applying: Option<&Applying<'_>>,
    campaigns: &HashMap<String, PushCampaign>,
    pusher: &Pusher,
    received: Arc<Vec<Received>>,
    seq: Sequence,
) -> super::Result<Vec<MutationResult>> {
    let now = now_ms();
    // The rules run on a thread of their own (`PushBatch::load_rows_while`): what they read
    // is shared with it.
    let campaigns = Arc::new(campaigns.clone());
    let shared_pusher = Arc::new(pusher.clone());
    let mutations: Vec<&Mutation> = received.iter().map(|r| &r.mutation).collect();
    let mut batch = db.begin_push(pusher, &mutations).await?;
    if let Some(after) = seq.after {
        let last = match pusher.device_id {
            Some(device) => batch.last_batch(device).await?,
            None => None,
        };
        if last != Some(after) {
            return Err(previous_batch_missing(after));
        }
    }
    // The records are read a chunk at a time, in the order the batch first names them; while
    // a chunk is read, the rules run on the mutations whose records are in (all those before
    // the first mutation naming a person of the chunk), and the rows and log entries the rules
    // are done with (no later mutation of the batch names the person) are written before it.
    let mut first: Vec<(String, usize)> = Vec::new();
    let mut last: HashMap<String, usize> = HashMap::with_capacity(mutations.len());
    for (i, m) in mutations.iter().enumerate() {
        let person = m.person.to_string();
        if !last.contains_key(&person) {
            first.push((person.clone(), i));
        }
        last.insert(person, i);
    }
    let mut decided = Decided {
        results: Vec::with_capacity(received.len()),
        log: Vec::with_capacity(received.len()),
        changed: HashSet::new(),
    };
    // Mutations the rules ran on; of those, the ones whose rows and log entries are written.
    let mut ready = 0;
    let mut written = 0;
    let mut logged = Vec::with_capacity(received.len());
    // Each step reads a chunk of rows (none in the last) while the rules run up to the first
    // mutation naming a person of that chunk (to the end in the last).
    let steps = first
        .chunks(ROWS_AT_ONCE)
        .map(|chunk| (Some(chunk), chunk[0].1))
        .chain([(None, received.len())]);
    for (chunk, upto) in steps {
        let persons: Vec<String> = chunk
            .unwrap_or_default()
            .iter()
            .map(|(p, _)| p.clone())
            .collect();
        let done: Vec<String> = mutations[written..ready]
            .iter()
            .enumerate()
            .map(|(i, m)| (written + i, m.person.to_string()))
            .filter(|(i, p)| last[p] == *i && decided.changed.contains(p))
            .map(|(_, p)| p)
            .collect();
        written = ready;
        let log = std::mem::take(&mut decided.log);
        let rules = {
            let (campaigns, pusher, received) =
                (campaigns.clone(), shared_pusher.clone(), received.clone());
            let mut decided = std::mem::take(&mut decided);
            move |load: &mut PushLoad| {
                let r = decide(
                    &mut decided,
                    load,
                    &campaigns,
                    &pusher,
                    &received[ready..upto],
                    now,
                );
                (decided, r)
            }
        };
        let (back, r) = batch
            .load_rows_while(&persons, &done, &log, pusher, now, upto - ready, rules)
            .await?;
        decided = back;
        r.map_err(corrupt)?;
        logged.push(log);
        ready = upto;
    }
    // The rules are done: the batch sent after this one may run its own now
    // ([`prepare`]).
    let stage = |s| {
        if let Some(a) = applying {
            a.stage(s);
        }
    };
    stage(Stage::Writing);
    let (load, stamp) = batch
        .finish(
            &campaigns,
            pusher,
            &decided.changed,
            &decided.log,
            seq.batch,
            now,
            || stage(Stage::Committing),
        )
        .await?;
    stage(Stage::Committed(stamp));
    super::drop_later((load, decided.log, logged, decided.changed, received));
    Ok(decided.results)
}

fn previous_batch_missing(after: Uuid) -> super::Error {
    super::Error::conflict(
        ErrorCode::PreviousBatchMissing,
        format!(
            "上一批修改 {after} 尚未应用，本批未应用，请在收到上一批的结果后重发 / the batch before \
             this one ({after}) is not applied yet: nothing of this batch was applied; send it \
             again once the batch before is answered"
        ),
    )
}

fn corrupt(e: serde_json::Error) -> super::Error {
    crate::db::DbError::from(e).into()
}

/// How many records a push reads at a time ([`push`]).
const ROWS_AT_ONCE: usize = 100;

/// What the rules made of a batch: an answer per mutation, the log of the accepted ones, the
/// rows they changed.
#[derive(Default)]
struct Decided {
    results: Vec<MutationResult>,
    log: Vec<LogEntry>,
    changed: HashSet<String>,
}

/// Runs the rules over some of a loaded batch's mutations, in order, changing the loaded rows
/// and adding to `out`.
fn decide(
    out: &mut Decided,
    load: &mut PushLoad,
    campaigns: &HashMap<String, PushCampaign>,
    pusher: &Pusher,
    received: &[Received],
    now: i64,
) -> serde_json::Result<()> {
    for Received {
        mutation: m,
        payload,
    } in received
    {
        let mid = m.id.to_string();
        if let Some(logged) = load.logged.get(&mid) {
            out.results.push(replay(m, logged, pusher, payload));
            continue;
        }
        let admitted = admit(m, load, campaigns, pusher, now);
        let (late, reassigned) = match admitted {
            Ok(a) => a,
            Err(refusal) => {
                out.results.push(rejected(m, refusal));
                continue;
            }
        };
        let row = load
            .rows
            .get_mut(&m.person.to_string())
            .expect("admitted: loaded");
        let ctx = &campaigns[&row.campaign_id];
        let applied = match apply_mutation(row, m, pusher, ctx, now) {
            Ok(a) => a,
            Err(refusal) => {
                out.results.push(rejected(m, refusal));
                continue;
            }
        };
        if applied.changed {
            out.changed.insert(row.id.clone());
        }
        let result = MutationResult {
            id: m.id,
            status: MutationStatus::Applied,
            version: u64::try_from(row.version).unwrap_or(0),
            items: applied.report,
            reassigned,
            late,
            code: None,
            message: None,
            errors: Vec::new(),
        };
        out.log.push(LogEntry {
            id: mid.clone(),
            campaign: row.campaign_id.clone(),
            person: row.id.clone(),
            payload: payload.clone(),
            reassigned,
            late,
            result: serde_json::to_string(&result)?,
        });
        load.logged.insert(
            mid,
            Logged {
                user_id: pusher.user_id.clone(),
                payload: payload.clone(),
                result: result.clone(),
            },
        );
        out.results.push(result);
    }
    Ok(())
}

/// A mutation ID names one edit by one user: a re-send gets the stored answer, a reuse for
/// other content (or by another user) is refused, never merged away. The same content may come
/// as other JSON text (another client's spacing or key order): then the decoded mutations are
/// compared.
fn replay(m: &Mutation, logged: &Logged, pusher: &Pusher, payload: &str) -> MutationResult {
    let same = logged.payload == payload
        || serde_json::from_str::<Mutation>(&logged.payload).is_ok_and(|l| l == *m);
    if logged.user_id == pusher.user_id && same {
        return logged.result.clone();
    }
    rejected(
        m,
        Refusal::new(
            ErrorCode::MutationIdReused,
            format!(
                "修改编号 {} 已用于另一项修改，未应用 / mutation ID {} was already used for a different edit; nothing applied",
                m.id, m.id
            ),
        ),
    )
}

/// Whether a mutation may touch its record at all: the person is known and in the pusher's
/// scope (or was, when the edit was made), and the record's campaign takes edits. Answers
/// `(late, reassigned)`.
fn admit(
    m: &Mutation,
    load: &PushLoad,
    campaigns: &HashMap<String, PushCampaign>,
    pusher: &Pusher,
    now: i64,
) -> Result<(bool, bool), Refusal> {
    // An unknown person and one outside the caller's communities get the same answer: a
    // worker cannot probe whether someone is registered, or where.
    let not_yours = || {
        Refusal::new(
            ErrorCode::OutOfScope,
            "此人不在您负责的社区 / this person is not in your communities".into(),
        )
    };
    let row = load.rows.get(&m.person.to_string()).ok_or_else(not_yours)?;
    let ctx = campaigns.get(&row.campaign_id).ok_or_else(|| {
        Refusal::new(
            ErrorCode::OtherCampaign,
            "此人属于其他调查 / the person belongs to another campaign".into(),
        )
    })?;
    let late = match ctx.row.state {
        CampaignState::Open => false,
        CampaignState::Late => true,
        CampaignState::Closed => {
            let year = ctx.row.campaign.year;
            return Err(Refusal::new(
                ErrorCode::CampaignClosed,
                format!(
                    "{year} 年度的调查已关闭，不再接收修改 / the {year} campaign is closed and takes no more edits"
                ),
            ));
        }
    };
    if pusher.scope.allows(&row.community) {
        return Ok((late, false));
    }
    // Scope: the communities assigned now, or once assigned in the record's campaign (late
    // edits of a community, or of a person, that was this worker's). An edit made before the
    // community was taken away is delivered (marked reassigned); new work after that is not.
    let empty = HashMap::new();
    let history = if late {
        load.histories.get(&row.campaign_id).unwrap_or(&empty)
    } else {
        &pusher.history
    };
    let edited_at = Writer::clamp(m.hlc, now);
    let was_mine = |c: &str| {
        pusher.scope.allows(c)
            || history
                .get(c)
                .is_some_and(|until| until.is_none_or(|t| edited_at <= t))
    };
    let departed = load.departed.get(&row.id).map_or(&[][..], Vec::as_slice);
    if was_mine(&row.community) || departed.iter().any(|c| was_mine(c)) {
        Ok((late, true))
    } else {
        Err(not_yours())
    }
}

fn rejected(m: &Mutation, r: Refusal) -> MutationResult {
    MutationResult {
        id: m.id,
        status: MutationStatus::Rejected,
        version: 0,
        items: BTreeMap::default(),
        reassigned: false,
        late: false,
        code: Some(r.code),
        message: Some(r.message),
        errors: r.errors,
    }
}

/// Why one mutation is refused: a code and a message in both languages, and per-item reasons.
struct Refusal {
    code: ErrorCode,
    message: String,
    errors: Vec<ItemError>,
}

impl Refusal {
    fn new(code: ErrorCode, message: String) -> Self {
        Self {
            code,
            message,
            errors: Vec::new(),
        }
    }
}

/// What applying one mutation to its record did.
struct Applied {
    report: merge::MergeReport,
    changed: bool,
}

/// The record rules, once, for one mutation on one row (pure: the caller loads and stores):
/// an approved record is locked for workers; every value passes the form's check; the merge;
/// a record left final must be complete by the form (required items, an outcome's own facts);
/// a returned record finalized again is resubmitted; the collector is the worker whose edit
/// changed the record. On a refusal the row is unchanged.
fn apply_mutation(
    row: &mut RecordRow,
    m: &Mutation,
    pusher: &Pusher,
    ctx: &PushCampaign,
    now: i64,
) -> Result<Applied, Refusal> {
    if doorstep_shared::review::locks_worker(row.review) && pusher.rank < Role::Supervisor.rank() {
        return Err(Refusal::new(
            ErrorCode::RecordApproved,
            "该记录已审核通过（或在区级审核中），修改前请审核人先退回 / this record is approved \
             (or under district review) and locked; ask the reviewer to return it before changing it"
                .into(),
        ));
    }
    for (key, change) in &m.changes {
        ctx.form
            .check_change(key, change.value.as_ref())
            .map_err(|e| Refusal {
                code: ErrorCode::InvalidItem,
                message: format!("{} / {}", e.message_zh, e.message_en),
                errors: vec![e],
            })?;
    }
    let writer = Writer {
        user: pusher.username.clone(),
        rank: pusher.rank,
        device: pusher.device_id,
        mutation: m.id,
        hlc: m.hlc,
        at_ms: Writer::clamp(m.hlc, now),
    };
    let before = merge::Before::of(&row.doc, &m.changes);
    let report = merge::apply(&mut row.doc, &m.changes, &writer);
    // Any change of the stored record (a joined conflict candidate, a new provisional value, a
    // writer) moves its version and sequence, so every device pulls it.
    let changed = before.changed(&row.doc);
    if changed && status_of(&row.doc.answers) == Status::Final {
        let fctx = FormContext::for_person(&row.person, &ctx.row.campaign);
        let errors = ctx
            .form
            .validate(&row.doc.answers, &fctx, Strictness::Final);
        if !errors.is_empty() {
            before.restore(&mut row.doc);
            let zh: Vec<&str> = errors.iter().map(|e| e.message_zh.as_str()).collect();
            let en: Vec<&str> = errors.iter().map(|e| e.message_en.as_str()).collect();
            return Err(Refusal {
                code: ErrorCode::Incomplete,
                message: format!(
                    "记录未填完整，不能提交：{} / the record is not complete and cannot be final: {}",
                    zh.join("；"),
                    en.join("; ")
                ),
                errors,
            });
        }
    }
    // A worker finalizing a returned record again resubmits it.
    let resubmits = row.review == Review::Returned
        && m.changes.get(STATUS).and_then(|c| c.value.as_ref()) == Some(&Status::Final.value())
        && status_of(&row.doc.answers) == Status::Final;
    if resubmits {
        row.review = Review::Pending;
        row.review_comment = None;
        row.review_notes.clear();
    }
    let changed = changed || resubmits;
    if changed {
        row.version += 1;
        row.refresh_final(pusher.via_app);
        if pusher.rank == Role::Worker.rank() || row.collected_by.is_none() {
            row.collected_by = Some(pusher.username.clone());
        }
    }
    Ok(Applied { report, changed })
}
