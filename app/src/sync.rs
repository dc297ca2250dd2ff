//! The sync engine: push the outbox, pull the server's changes, keep the form current.
//!
//! One sync ([`SyncEngine::sync_once`]):
//! 1. **Push** pending mutations oldest first, in batches of at most
//!    [`SyncOptions::push_batch`], zstd-compressed; to a server that keeps batches in order,
//!    two at a time (each names the one before it). Each batch is marked sent before it leaves;
//!    the answer is applied in one local transaction: applied → out of the outbox (merged and
//!    conflicting items logged), rejected → kept, marked with the server's reason. A batch whose
//!    answer is lost is simply sent again: the server answers re-sent mutations identically.
//! 2. **Pull** pages from the stored cursor; each page and its cursor are stored in one local
//!    transaction, so a cut mid-pull resumes from the last stored page. Communities that left
//!    the scope are dropped once they hold no outbox edits. A new campaign starts from cursor 0.
//! 3. **Form**: when the campaign's form version differs from the stored form, fetch it.
//!
//! All database work runs in `spawn_blocking`: the store is blocking (rusqlite). One sync runs
//! at a time per engine.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use doorstep_shared::errors::ErrorCode;
use doorstep_shared::progress::Progress;
use doorstep_shared::sync::{Account, LoginResponse, PROTOCOL_VERSION, PushResponse};
use tracing::{info, warn};
use uuid::Uuid;

use crate::client::{Client, PushBody, Timeouts, normalize_url};
use crate::error::{AppError, Result};
use crate::model::SyncReport;
use crate::outbox::{PushApplied, Taken};
use crate::store::Store;

/// Tunables of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// Mutations per push (capped at the protocol's `MAX_PUSH_BATCH`).
    pub push_batch: usize,
    /// Records per pull page.
    pub pull_limit: u32,
    pub timeouts: Timeouts,
    /// First wait before a retry; doubled each time up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            push_batch: 500,
            pull_limit: 1000,
            timeouts: Timeouts::default(),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
        }
    }
}

/// Runs syncs for a store. Cheap to keep for the life of the app.
#[derive(Debug, Default)]
pub struct SyncEngine {
    options: SyncOptions,
    running: tokio::sync::Mutex<()>,
    /// The last sync's client, with the server address and token it was made for: the next
    /// sync to the same server reuses its connections (on a phone behind TLS, a handshake of
    /// several round trips saved per sync) instead of opening new ones.
    kept: std::sync::Mutex<Option<(String, String, Client)>>,
}

/// Runs blocking store work off the async threads.
async fn db<T, F>(store: &Store, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T> + Send + 'static,
{
    let s = store.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .map_err(|e| AppError::Storage(format!("background task failed: {e}")))?
}

/// An account the server accepted on a first sign-in, not stored yet (no store exists before
/// the PIN is chosen).
#[derive(Clone)]
pub struct PendingSignIn {
    url: String,
    username: String,
    login: LoginResponse,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("url", &self.url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl SyncEngine {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn with_options(options: SyncOptions) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    #[must_use]
    pub fn options(&self) -> &SyncOptions {
        &self.options
    }

    /// Signs in and stores the session (server, account, device ID, token). A device signing
    /// in again to the same server keeps its device ID. Signing in as another account clears
    /// the previous account's data, and is refused while it has unsent edits.
    ///
    /// # Errors
    /// [`AppError::InvalidServerUrl`], [`AppError::OtherUserHasUnsent`],
    /// [`AppError::BadCredentials`], [`AppError::DeviceRevoked`], [`AppError::Unreachable`]…
    pub async fn login(
        &self,
        store: &Store,
        server_url: &str,
        username: &str,
        password: &str,
        device_name: &str,
    ) -> Result<Account> {
        let url = normalize_url(server_url)?;
        let username = username.trim().to_string();
        let device_id = {
            let (u, n) = (url.clone(), username.clone());
            db(store, move |s| s.prepare_sign_in(&u, &n)).await?
        };
        let client = Client::with_timeouts(&url, self.options.timeouts)?;
        let login = client
            .login(&username, password, device_id, device_name)
            .await?;
        let account = login.account.clone();
        db(store, move |s| s.save_login(&url, &username, &login)).await?;
        info!(role = account.role.key(), "signed in");
        Ok(account)
    }

    /// A first sign-in's account check, before any store exists: the server checks the
    /// password (and registers the device) while the worker is still on the account step, so a
    /// wrong password never costs them the PIN they would have typed. The answer is kept in
    /// memory until [`SyncEngine::finish_first_sign_in`] stores it in the new store.
    ///
    /// # Errors
    /// [`AppError::InvalidServerUrl`], [`AppError::BadCredentials`],
    /// [`AppError::FirstSignInUnreachable`] (nothing is on the phone yet), …
    pub async fn check_account(
        &self,
        server_url: &str,
        username: &str,
        password: &str,
        device_name: &str,
    ) -> Result<PendingSignIn> {
        let url = normalize_url(server_url)?;
        let username = username.trim().to_string();
        let client = Client::with_timeouts(&url, self.options.timeouts)?;
        let login = client
            .login(&username, password, None, device_name)
            .await
            .map_err(|e| match e {
                AppError::Unreachable(m) => AppError::FirstSignInUnreachable(m),
                e => e,
            })?;
        Ok(PendingSignIn {
            url,
            username,
            login,
        })
    }

    /// Stores a checked account ([`SyncEngine::check_account`]) in a new store.
    ///
    /// # Errors
    /// A storage error.
    pub async fn finish_first_sign_in(
        &self,
        store: &Store,
        pending: PendingSignIn,
    ) -> Result<Account> {
        let account = pending.login.account.clone();
        db(store, move |s| {
            s.save_login(&pending.url, &pending.username, &pending.login)
        })
        .await?;
        info!(role = account.role.key(), "signed in");
        Ok(account)
    }

    /// Forgets the token; records and unsent edits stay on the device. When the server can be
    /// reached the session ends there too (the token is refused from then on); offline, the
    /// token is forgotten here and expires on the server.
    ///
    /// # Errors
    /// A storage error.
    pub async fn sign_out(&self, store: &Store) -> Result<()> {
        if let Ok(client) = self.client(store).await
            && let Err(e) = client.logout().await
        {
            warn!(error = %e, "the server could not be told of the sign-out");
        }
        db(store, Store::clear_token).await
    }

    async fn client(&self, store: &Store) -> Result<Client> {
        let session = db(store, Store::session)
            .await?
            .ok_or(AppError::NotSignedIn)?;
        let token = session.token.ok_or(AppError::NotSignedIn)?;
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((url, held, client)) = &*kept
            && *url == session.server_url
            && *held == token
        {
            return Ok(client.clone());
        }
        let client = Client::with_timeouts(&session.server_url, self.options.timeouts)?
            .with_token(token.clone());
        *kept = Some((session.server_url, token, client.clone()));
        Ok(client)
    }

    /// One sync: push, pull, form. Nothing is retried.
    ///
    /// # Errors
    /// [`AppError::NotSignedIn`], [`AppError::Unreachable`], [`AppError::SessionExpired`],
    /// [`AppError::DeviceRevoked`], [`AppError::ServerRejected`], [`AppError::Server`]… Work
    /// done before the error (pushed batches, pulled pages) is kept.
    pub async fn sync_once(&self, store: &Store) -> Result<SyncReport> {
        self.sync_with_retry(store, 1).await
    }

    /// A sync tried up to `max_attempts` times, waiting with exponential backoff between
    /// attempts, on network errors, timeouts and 5xx answers only (never on 4xx). The report
    /// counts the work of every attempt.
    ///
    /// # Errors
    /// The last attempt's error, or the first one that is not worth retrying.
    pub async fn sync_with_retry(&self, store: &Store, max_attempts: u32) -> Result<SyncReport> {
        let _running = self.running.lock().await;
        let mut report = SyncReport::default();
        let mut attempt = 1;
        loop {
            let result = match self.client(store).await {
                Ok(client) => self.run(store, &client, &mut report).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    db(store, Store::mark_synced).await?;
                    info!(
                        pushed = report.pushed,
                        applied = report.applied,
                        rejected = report.rejected,
                        conflicts = report.conflict_items,
                        pulled = report.pulled,
                        "sync done"
                    );
                    return Ok(report);
                }
                Err(e) if e.is_retryable() && attempt < max_attempts => {
                    let wait = self.backoff(attempt);
                    warn!(attempt, wait_ms = wait.as_millis(), error = %e, "sync failed, retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => {
                    if matches!(e, AppError::SessionExpired | AppError::DeviceRevoked) {
                        db(store, Store::clear_token).await?;
                    }
                    warn!(error = %e, "sync failed");
                    return Err(e);
                }
            }
        }
    }

    /// Pushes everything pending and stops (no pull): one phase of a sync, timed apart by the
    /// benchmarks.
    ///
    /// # Errors
    /// As [`SyncEngine::sync_once`].
    #[cfg(feature = "testing")]
    pub async fn push_only(&self, store: &Store) -> Result<SyncReport> {
        let _running = self.running.lock().await;
        let mut report = SyncReport::default();
        let client = self.client(store).await?;
        self.push_all(store, &client, &mut report).await?;
        Ok(report)
    }

    /// Pulls every page from the stored cursor and stops (no push): the other timed phase.
    ///
    /// # Errors
    /// As [`SyncEngine::sync_once`].
    #[cfg(feature = "testing")]
    pub async fn pull_only(&self, store: &Store) -> Result<SyncReport> {
        let _running = self.running.lock().await;
        let mut report = SyncReport::default();
        let client = self.client(store).await?;
        self.pull_all(store, &client, &mut report).await?;
        Ok(report)
    }

    /// The wait before attempt `attempt + 1`: `retry_initial · 2^(attempt−1)`, at most
    /// `retry_max`, plus up to a quarter more so that many phones do not retry in step.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        let base = self
            .options
            .retry_initial
            .saturating_mul(factor)
            .min(self.options.retry_max);
        let quarter = u64::try_from(base.as_nanos() / 4).unwrap_or(0);
        let jitter = u64::from(Utc::now().timestamp_subsec_nanos()) % (quarter + 1);
        base + Duration::from_nanos(jitter)
    }

    async fn run(&self, store: &Store, client: &Client, report: &mut SyncReport) -> Result<()> {
        self.push_all(store, client, report).await?;
        self.pull_all(store, client, report).await?;
        self.update_form(store, client, report).await
    }

    /// Pushes every pending mutation, a batch at a time, in outbox order ([`batch_size`]).
    /// While a batch is at the server, the device stores the answer to the batch before, takes
    /// the next one (one transaction) and encodes it, so device and server overlap. If the
    /// server keeps batches in order (`PushResponse::in_order`, remembered from its last
    /// answer; a device that has not heard it yet sends its first batch alone and learns it
    /// from the answer), each next batch leaves as soon as it is encoded, naming the batch
    /// before it (`after`): two batches are at the server at once, one read while the other
    /// is applied, and the network's round trip is paid once, not per batch.
    /// A batch the server refused because the one before was not applied yet
    /// (`previous_batch_missing`: it was still on its way) is sent again once that one is
    /// answered.
    async fn push_all(
        &self,
        store: &Store,
        client: &Client,
        report: &mut SyncReport,
    ) -> Result<()> {
        let (pending, mut in_order) = db(store, Store::push_start).await?;
        let limit = batch_size(pending, self.options.push_batch);
        let (_, mut outgoing) = db(store, move |s| Outgoing::next(s, None, limit, 0, None)).await?;
        // The batch at the server, its answer not read yet.
        let mut flying: Option<Flight> = None;
        // An answer read and not stored yet.
        let mut answered: Option<(Vec<Taken>, PushResponse)> = None;
        while let Some(next) = outgoing {
            if !in_order && let Some(f) = flying.take() {
                let (sent, resp) = f.answer(client).await?;
                in_order = resp.in_order;
                answered = Some((sent, resp));
            }
            let (last, batch) = (next.last, next.batch);
            let flight = Flight::send(client, next, flying.is_some());
            let before = match flying.take() {
                Some(f) => Some(f.answer(client).await?),
                None => answered.take(),
            };
            let (applied, next) = db(store, move |s| {
                Outgoing::next(s, before, limit, last, Some(batch))
            })
            .await?;
            if let Some(applied) = applied {
                count_push(report, &applied)?;
            }
            flying = Some(flight);
            outgoing = next;
        }
        if let Some(f) = flying {
            answered = Some(f.answer(client).await?);
        }
        if let Some((sent, resp)) = answered {
            let n = sent.len();
            let applied = db(store, move |s| s.apply_taken_results(&sent, &resp)).await?;
            count_push(report, &(n, applied))?;
        }
        Ok(())
    }

    async fn pull_all(
        &self,
        store: &Store,
        client: &Client,
        report: &mut SyncReport,
    ) -> Result<()> {
        let limit = self
            .options
            .pull_limit
            .clamp(1, doorstep_shared::sync::MAX_PULL_PAGE);
        let mut reset = false;
        let mut cursor = db(store, Store::cursor).await?;
        let mut fetched = client.pull(cursor, limit).await;
        loop {
            let page = fetched?;
            if page.protocol != PROTOCOL_VERSION {
                return Err(AppError::Protocol(format!(
                    "protocol {} (this app speaks {PROTOCOL_VERSION})",
                    page.protocol
                )));
            }
            let stored = db(store, Store::campaign).await?;
            if stored.is_some_and(|c| c.id != page.campaign.id) {
                if reset {
                    return Err(AppError::Protocol("the campaign keeps changing".into()));
                }
                info!("new campaign: pulling from the start");
                db(store, Store::reset_for_new_campaign).await?;
                reset = true;
                cursor = db(store, Store::cursor).await?;
                fetched = client.pull(cursor, limit).await;
                continue;
            }
            let (more, next) = (page.more, page.cursor);
            if more && next <= cursor {
                return Err(AppError::Protocol("the pull cursor did not advance".into()));
            }
            // The next page travels while this one is written: the server's reading and the
            // network overlap the device's writes. A failed fetch is reported after the page in
            // hand is stored, so nothing received is lost.
            let apply = db(store, move |s| s.apply_pull_page(&page));
            let (applied, next_page) = if more {
                let (a, n) = tokio::join!(apply, client.pull(next, limit));
                (a, Some(n))
            } else {
                (apply.await, None)
            };
            let applied = applied?;
            report.pulled += applied.pulled;
            report.returned_records.extend(applied.returned);
            report.dropped_communities.extend(applied.dropped);
            let Some(next_page) = next_page else {
                return Ok(());
            };
            cursor = next;
            fetched = next_page;
        }
    }

    async fn update_form(
        &self,
        store: &Store,
        client: &Client,
        report: &mut SyncReport,
    ) -> Result<()> {
        let Some(campaign) = db(store, Store::campaign).await? else {
            return Ok(());
        };
        let have = db(store, Store::form).await?.map(|f| f.version);
        if have.as_deref() == Some(campaign.form_version.as_str()) {
            return Ok(());
        }
        let form = client.form(&campaign.form_version).await?;
        db(store, move |s| s.set_form(&form)).await?;
        report.form_updated = true;
        Ok(())
    }

    /// Fetches the progress table (supervisors) and caches it for offline viewing; when the
    /// server cannot be reached, `Store::cached_progress` still has the last one.
    ///
    /// # Errors
    /// As [`SyncEngine::sync_once`].
    pub async fn fetch_progress(&self, store: &Store) -> Result<Progress> {
        let client = self.client(store).await?;
        let report = match client.progress().await {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, AppError::SessionExpired | AppError::DeviceRevoked) {
                    db(store, Store::clear_token).await?;
                }
                return Err(e);
            }
        };
        let cached = report.clone();
        db(store, move |s| s.set_progress(&cached)).await?;
        Ok(report)
    }
}

/// Adds one answered batch to the report; an answer that leaves mutations out is a protocol
/// error (they stay pending and go again).
/// A batch taken from the outbox and encoded for the wire.
struct Outgoing {
    sent: Vec<Taken>,
    /// The outbox position of its last mutation (where the next batch starts).
    last: i64,
    /// Its ID (`PushRequest::batch`).
    batch: Uuid,
    body: PushBody,
}

/// A batch sent, its answer not read yet.
struct Flight {
    sent: Vec<Taken>,
    body: Arc<PushBody>,
    /// It left while the batch before it was still at the server.
    overlapped: bool,
    answer: tokio::task::JoinHandle<Result<PushResponse>>,
}

impl Flight {
    /// Sends a batch; the request runs on its own task, so it leaves now.
    fn send(client: &Client, out: Outgoing, overlapped: bool) -> Self {
        let body = Arc::new(out.body);
        let (client, sending) = (client.clone(), body.clone());
        Self {
            sent: out.sent,
            body,
            overlapped,
            answer: tokio::spawn(async move { client.push_body(&sending).await }),
        }
    }

    /// Waits for the answer. A batch that left before the answer to the batch before it, and
    /// was refused because that one was not applied yet, is sent again: the batch before is
    /// answered (its answer is read first), so applied.
    async fn answer(mut self, client: &Client) -> Result<(Vec<Taken>, PushResponse)> {
        let answer = (&mut self.answer)
            .await
            .map_err(|e| AppError::Protocol(format!("push task: {e}")))?;
        let resp = match answer {
            Err(AppError::ServerRejected { code, .. })
                if self.overlapped && code == ErrorCode::PreviousBatchMissing.as_str() =>
            {
                client.push_body(&self.body).await?
            }
            answer => answer?,
        };
        Ok((std::mem::take(&mut self.sent), resp))
    }
}

impl Drop for Flight {
    /// A batch whose answer is no longer awaited (the push stopped on an error) is not left
    /// running: its mutations stay in the outbox and go again with the next sync.
    fn drop(&mut self) {
        self.answer.abort();
    }
}

impl Outgoing {
    /// Stores the answer to the batch before (if any) and takes the batch after `after`, in
    /// one transaction, then encodes it (`None`: nothing more waits), naming `previous`, the
    /// batch sent before it. Answers how many mutations the stored answer was to, and what it
    /// did.
    fn next(
        s: &Store,
        answered: Option<(Vec<Taken>, PushResponse)>,
        limit: usize,
        after: i64,
        previous: Option<Uuid>,
    ) -> Result<(Option<(usize, PushApplied)>, Option<Self>)> {
        let (applied, batch) = s.apply_and_take(
            answered.as_ref().map(|(sent, resp)| (&sent[..], resp)),
            limit,
            after,
        )?;
        let applied = applied.map(|a| (answered.map_or(0, |(sent, _)| sent.len()), a));
        if batch.taken.is_empty() {
            return Ok((applied, None));
        }
        let id = Uuid::now_v7();
        let body = PushBody::encode_stored(&batch.taken, id, previous)?;
        Ok((
            applied,
            Some(Self {
                sent: batch.taken,
                last: batch.last,
                batch: id,
                body,
            }),
        ))
    }
}

/// Mutations per batch for a push of about `pending`: as few batches as `most` (the engine's
/// [`SyncOptions::push_batch`]) allows, all about the same size. Each batch is one transaction
/// at the server (one commit, the packs and counters of its communities written once), so a
/// push of a few hundred edits goes as one; a longer push goes as several, two of them at the
/// server at once ([`SyncEngine::push_all`]). Storing a batch's answer costs the device little
/// (its rows are only marked acknowledged), so splitting a short push in two to overlap the
/// device's work with the server's saves less than the second commit costs
/// (docs/benchmarks.md).
fn batch_size(pending: usize, most: usize) -> usize {
    let most = most.clamp(1, doorstep_shared::sync::MAX_PUSH_BATCH);
    let batches = pending.div_ceil(most).max(1);
    pending.div_ceil(batches).clamp(1, most)
}

fn count_push(report: &mut SyncReport, (n, applied): &(usize, PushApplied)) -> Result<()> {
    report.pushed += n;
    report.applied += applied.applied;
    report.rejected += applied.rejected;
    report.merged_items += applied.merged_items;
    report.conflict_items += applied.conflict_items;
    report.reassigned += applied.reassigned;
    if applied.unanswered > 0 {
        return Err(AppError::Protocol(format!(
            "the server answered {} of {n} mutations",
            n - applied.unanswered
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_as_few_as_allowed_and_about_the_same_size() {
        assert_eq!(batch_size(0, 500), 1);
        assert_eq!(batch_size(1, 500), 1);
        assert_eq!(batch_size(99, 500), 99);
        assert_eq!(batch_size(200, 500), 200);
        assert_eq!(batch_size(500, 500), 500);
        assert_eq!(batch_size(501, 500), 251);
        assert_eq!(batch_size(6800, 500), 486);
        assert_eq!(batch_size(10, 3), 3);
        assert_eq!(batch_size(6800, 0), 1);
        assert_eq!(
            batch_size(100_000, 1_000_000),
            doorstep_shared::sync::MAX_PUSH_BATCH
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let e = SyncEngine::with_options(SyncOptions {
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_millis(1000),
            ..SyncOptions::default()
        });
        let within = |d: Duration, lo: u64| {
            d >= Duration::from_millis(lo) && d <= Duration::from_millis(lo + lo / 4)
        };
        assert!(within(e.backoff(1), 100));
        assert!(within(e.backoff(2), 200));
        assert!(within(e.backoff(3), 400));
        assert!(within(e.backoff(10), 1000));
        assert!(within(e.backoff(100), 1000));
    }
}
