//! What the screens call: one [`Services`] per app process, holding the unlocked store and the
//! sync engine, with every piece of IO as a plain async function.
//!
//! - Store calls block (rusqlite, Argon2 on unlock): they run in `spawn_blocking`
//!   ([`Services::read`]), never on the UI thread.
//! - Network calls go through the library's async [`SyncEngine`].
//! - Saving touches only the store, then nudges the background sync ([`Services::run_auto_sync`]):
//!   a save never waits for the network.
//! - Screens learn about changes through [`Services::subscribe`]: a [`Shared`] snapshot with a
//!   revision number bumped by every change (save, sync, unlock) and the sync status.
//!
//! The services live as long as the process, not as long as a browser tab: a phone app keeps its
//! unlocked store while the screen is rebuilt, and the liveview server likewise keeps it across
//! reloads of the page.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use doorstep_shared::domain::Campaign;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::lang::Lang;
use doorstep_shared::progress::Progress;
use doorstep_shared::sync::Account;
use doorstep_shared::value::{GeoPoint, Value};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};
use uuid::Uuid;

use crate::error::{AppError, Result};
use crate::keyfile::KdfParams;
use crate::model::{RecordView, SaveResult, SyncReport};
use crate::scratch::{Edits, next_stamp};
use crate::store::Store;
use crate::sync::{PendingSignIn, SyncEngine};

/// Where a platform's position comes from (GPS on a phone); `None` where there is none.
pub type PositionSource = Arc<dyn Fn() -> Option<GeoPoint> + Send + Sync>;

/// How the UI runs.
#[derive(Clone)]
pub struct Config {
    /// The directory of the encrypted store (`doorstep.db` and its key file).
    pub data_dir: PathBuf,
    /// The server address offered on the first sign-in.
    pub server_url: Option<String>,
    /// Cost of the PIN's key derivation (the default in production).
    pub kdf: KdfParams,
    /// How long unlocking may take on this device: at the first sign-in the key derivation
    /// is timed here and its cost raised from `kdf` until it takes about this long
    /// ([`KdfParams::calibrated`]); `None` keeps `kdf` as it is (tests).
    pub kdf_target: Option<Duration>,
    /// How often the background sync looks for work; `None`: no background sync.
    pub auto_sync_every: Option<Duration>,
    /// Without unsent edits, how old the last sync may get before the background sync pulls.
    pub pull_every: Duration,
    /// The name this device registers with.
    pub device_name: String,
    /// Render the stylesheet inside the app (a native window has no page around it).
    pub embed_css: bool,
    /// The platform's position, if it has one.
    pub position: Option<PositionSource>,
    /// Ask the webview for the position (`navigator.geolocation`): the native renderer on a
    /// phone, where the platform asks the worker once for the permission.
    pub webview_position: bool,
    /// A scripted walk to run in the window, then exit (the native-renderer test; see
    /// `ui::drive`).
    pub drive: Option<Vec<crate::ui::drive::Step>>,
}

impl Config {
    /// Defaults for a data directory: production key derivation, background sync every 30 s.
    #[must_use]
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            server_url: None,
            kdf: KdfParams::default(),
            kdf_target: Some(Duration::from_millis(500)),
            auto_sync_every: Some(Duration::from_secs(30)),
            pull_every: Duration::from_secs(300),
            device_name: "Doorstep".into(),
            embed_css: false,
            position: None,
            webview_position: false,
            drive: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("server_url", &self.server_url)
            .field("auto_sync_every", &self.auto_sync_every)
            .field("position", &self.position.is_some())
            .finish_non_exhaustive()
    }
}

/// The sync as the screens show it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncStatus {
    pub running: bool,
    /// The last attempt's error (cleared by a successful sync).
    pub last_error: Option<AppError>,
    /// What the last successful sync did.
    pub last_report: Option<SyncReport>,
    /// Whether the last attempt was started by the worker (shown more prominently).
    pub manual: bool,
    pub last_attempt: Option<DateTime<Utc>>,
}

/// What every screen watches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shared {
    /// Bumped by every change of the data on the device.
    pub revision: u64,
    pub sync: SyncStatus,
    /// Whether a store is open.
    pub unlocked: bool,
}

/// The app's services: one per process, shared by every screen.
pub struct Services {
    config: Config,
    engine: SyncEngine,
    store: RwLock<Option<Store>>,
    shared: watch::Sender<Shared>,
    kick: Notify,
    lang: Mutex<Lang>,
    position_refused: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A person's record with what the screen needs to show it.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonData {
    pub view: RecordView,
    pub form: Arc<FormDefinition>,
    pub campaign: Campaign,
    /// Answers given on the screen earlier and not saved yet (see `scratch.rs`).
    pub scratch: Edits,
}

/// The file of the store in a data directory.
#[must_use]
pub fn store_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("doorstep.db")
}

/// Runs blocking work off the async threads.
async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Storage(format!("background task failed: {e}")))?
}

impl Services {
    #[must_use]
    pub fn new(config: Config) -> Arc<Self> {
        Arc::new(Self {
            config,
            engine: SyncEngine::new(),
            store: RwLock::new(None),
            shared: watch::Sender::new(Shared::default()),
            kick: Notify::new(),
            lang: Mutex::new(Lang::default()),
            position_refused: std::sync::atomic::AtomicBool::new(false),
        })
    }

    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store's file.
    #[must_use]
    pub fn store_path(&self) -> PathBuf {
        store_path(&self.config.data_dir)
    }

    /// The kind of passcode that protects the store (the unlock screen's keyboard).
    #[must_use]
    pub fn passcode(&self) -> crate::keyfile::Passcode {
        Store::passcode(self.store_path())
    }

    /// Whether this device holds a store (then it opens with a PIN, offline).
    #[must_use]
    pub fn has_store(&self) -> bool {
        Store::exists(self.store_path())
    }

    /// The open store, if unlocked.
    #[must_use]
    pub fn store(&self) -> Option<Store> {
        self.store.read().ok().and_then(|s| s.clone())
    }

    /// Uses an already opened store (a platform that unlocked it itself, or a test).
    pub fn install_store(&self, store: Store) {
        if let Ok(mut s) = self.store.write() {
            *s = Some(store);
        }
        self.shared.send_modify(|s| {
            s.unlocked = true;
            s.revision += 1;
        });
        self.kick.notify_one();
    }

    /// Closes the store: the next screen asks for the PIN.
    pub fn lock(&self) {
        if let Ok(mut s) = self.store.write() {
            *s = None;
        }
        self.shared.send_modify(|s| {
            s.unlocked = false;
            s.revision += 1;
        });
    }

    /// Watches changes (revision, sync status).
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<Shared> {
        self.shared.subscribe()
    }

    /// The current snapshot.
    #[must_use]
    pub fn snapshot(&self) -> Shared {
        self.shared.borrow().clone()
    }

    /// Tells every screen that the data changed.
    pub fn changed(&self) {
        self.shared.send_modify(|s| s.revision += 1);
    }

    /// The language last chosen on this device (kept across page reloads).
    #[must_use]
    pub fn lang(&self) -> Lang {
        self.lang.lock().map(|l| *l).unwrap_or_default()
    }

    pub fn set_lang(&self, lang: Lang) {
        if let Ok(mut l) = self.lang.lock() {
            *l = lang;
        }
    }

    /// The platform's position now, when it has one.
    #[must_use]
    pub fn position(&self) -> Option<GeoPoint> {
        self.config.position.as_ref().and_then(|p| p())
    }

    /// Whether the platform can give a position at all.
    #[must_use]
    pub fn has_position(&self) -> bool {
        self.config.position.is_some() || (self.config.webview_position && !self.position_refused())
    }

    /// Whether the worker refused the position permission (asked once per start; the visit
    /// is saved without a position and the screen says why).
    #[must_use]
    pub fn position_refused(&self) -> bool {
        self.position_refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records that the position permission was refused.
    pub fn refuse_position(&self) {
        self.position_refused
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.changed();
    }

    /// Runs `f` on the open store off the async threads.
    ///
    /// # Errors
    /// [`AppError::NotSignedIn`] when no store is open, or `f`'s error.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
    {
        let store = self.store().ok_or(AppError::NotSignedIn)?;
        blocking(move || f(&store)).await
    }

    /// Opens the store with the PIN (offline).
    ///
    /// # Errors
    /// [`AppError::WrongPin`], [`AppError::NoStore`], or a storage error.
    pub async fn unlock(&self, pin: String) -> Result<()> {
        let path = self.store_path();
        let store = blocking(move || Store::open(&path, &pin)).await?;
        self.install_store(store);
        Ok(())
    }

    /// The first sign-in's account step: checks the account with the server before the PIN
    /// is asked for (see [`SyncEngine::check_account`]).
    ///
    /// # Errors
    /// As [`SyncEngine::check_account`].
    pub async fn check_account(
        &self,
        server_url: String,
        username: String,
        password: String,
    ) -> Result<PendingSignIn> {
        self.engine
            .check_account(&server_url, &username, &password, &self.config.device_name)
            .await
    }

    /// The first sign-in's PIN step: creates the encrypted store protected by `pin`, stores
    /// the checked account in it and downloads the roster and the questionnaire (a failed
    /// download is shown on the home screen and retried, not an error here). When storing
    /// fails the new store is removed again.
    ///
    /// # Errors
    /// [`AppError::PinTooShort`], [`AppError::StoreExists`], a storage error.
    pub async fn create_store(&self, pending: PendingSignIn, pin: String) -> Result<Account> {
        let path = self.store_path();
        let dir = self.config.data_dir.clone();
        let (floor, target) = (self.config.kdf, self.config.kdf_target);
        let store = blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let kdf = match target {
                Some(t) => {
                    let (kdf, took) = KdfParams::calibrated(floor, t);
                    tracing::info!(
                        floor_ms = took.as_millis(),
                        m_kib = kdf.m_kib,
                        t = kdf.t,
                        "PIN key derivation calibrated"
                    );
                    kdf
                }
                None => floor,
            };
            Store::create(&path, &pin, kdf)
        })
        .await?;
        match self.engine.finish_first_sign_in(&store, pending).await {
            Ok(account) => {
                self.install_store(store);
                let _ = self.sync_now(false).await;
                Ok(account)
            }
            Err(e) => {
                drop(store);
                let path = self.store_path();
                if let Err(d) = blocking(move || Store::destroy(&path)).await {
                    warn!(error = %d, "could not remove the store of a failed sign-in");
                }
                Err(e)
            }
        }
    }

    /// Signs in again with the stored server and username (after the session ended).
    ///
    /// # Errors
    /// As [`SyncEngine::login`].
    pub async fn sign_in_again(&self, password: String) -> Result<Account> {
        let session = self
            .read(Store::session)
            .await?
            .ok_or(AppError::NotSignedIn)?;
        self.sign_in(session.server_url, session.username, password)
            .await
    }

    /// Signs in on the open store (one whose first sign-in never finished, or after the
    /// session ended), then syncs.
    ///
    /// # Errors
    /// As [`SyncEngine::login`].
    pub async fn sign_in(
        &self,
        server_url: String,
        username: String,
        password: String,
    ) -> Result<Account> {
        let store = self.store().ok_or(AppError::NotSignedIn)?;
        let account = self
            .engine
            .login(
                &store,
                &server_url,
                &username,
                &password,
                &self.config.device_name,
            )
            .await?;
        self.changed();
        let _ = self.sync_now(false).await;
        Ok(account)
    }

    /// Forgets the PIN: deletes the store (everything on the device, unsent edits included).
    ///
    /// # Errors
    /// A file that cannot be removed.
    pub async fn wipe(&self) -> Result<()> {
        self.lock();
        let path = self.store_path();
        blocking(move || Store::destroy(&path)).await
    }

    /// One sync now (push, pull, questionnaire), then the progress table. The status every
    /// screen shows is updated before and after.
    ///
    /// # Errors
    /// As [`SyncEngine::sync_once`]; the error is also kept in the status.
    pub async fn sync_now(&self, manual: bool) -> Result<SyncReport> {
        let store = self.store().ok_or(AppError::NotSignedIn)?;
        self.shared.send_modify(|s| {
            s.sync.running = true;
            s.sync.manual = manual;
        });
        let result = self.engine.sync_once(&store).await;
        if result.is_ok() {
            // The progress table is a bonus: without it the sync still succeeded.
            if let Err(e) = self.engine.fetch_progress(&store).await {
                info!(error = %e, "progress not fetched");
            }
        }
        self.shared.send_modify(|s| {
            s.revision += 1;
            s.sync.running = false;
            s.sync.manual = manual;
            s.sync.last_attempt = Some(Utc::now());
            match &result {
                Ok(r) => {
                    s.sync.last_error = None;
                    s.sync.last_report = Some(r.clone());
                }
                Err(e) => s.sync.last_error = Some(e.clone()),
            }
        });
        result
    }

    /// Saves an edit on the device (never the network), then nudges the background sync.
    ///
    /// # Errors
    /// As [`Store::save_edit`].
    pub async fn save(
        &self,
        person: Uuid,
        changes: BTreeMap<String, Option<Value>>,
        finalize: bool,
    ) -> Result<SaveResult> {
        self.save_with(person, move |s| s.save_edit(person, changes, finalize))
            .await
    }

    /// Saves the screen's edits through `f` (a draft, a submission, a confirmed section);
    /// once they are saved (or turn out to change nothing) the screen's unsaved input is
    /// cleared, with a stamp newer than every answer written before.
    ///
    /// # Errors
    /// `f`'s error.
    pub async fn save_with<F>(&self, person: Uuid, f: F) -> Result<SaveResult>
    where
        F: FnOnce(&Store) -> Result<SaveResult> + Send + 'static,
    {
        let stamp = next_stamp();
        let result = self
            .read(move |s| {
                let r = f(s)?;
                if matches!(r, SaveResult::Saved { .. } | SaveResult::Unchanged) {
                    s.put_scratch(person, stamp, &Edits::new())?;
                }
                Ok(r)
            })
            .await?;
        if matches!(result, SaveResult::Saved { .. }) {
            self.changed();
            self.kick.notify_one();
        }
        Ok(result)
    }

    /// Keeps the screen's unsaved edits of a person on the device, as each answer is given.
    /// The stamp is taken now, so writes that finish out of order keep the newest.
    ///
    /// # Errors
    /// A storage error.
    pub async fn keep_scratch(&self, person: Uuid, edits: Edits) -> Result<()> {
        let stamp = next_stamp();
        self.read(move |s| s.put_scratch(person, stamp, &edits))
            .await
    }

    /// Runs a store write that changes what screens show, then tells them.
    ///
    /// # Errors
    /// `f`'s error.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
    {
        let out = self.read(f).await?;
        self.changed();
        self.kick.notify_one();
        Ok(out)
    }

    /// A person's record, with the questionnaire and the campaign.
    ///
    /// # Errors
    /// [`AppError::UnknownPerson`], [`AppError::NotSynced`], or a storage error.
    pub async fn person(&self, id: Uuid) -> Result<PersonData> {
        self.read(move |s| {
            let view = s.record(id)?;
            let form = s.form()?.ok_or(AppError::NotSynced)?;
            let campaign = s.campaign()?.ok_or(AppError::NotSynced)?;
            let scratch = s.scratch(id)?;
            Ok(PersonData {
                view,
                form: Arc::new(form),
                campaign,
                scratch,
            })
        })
        .await
    }

    /// The cached progress table.
    ///
    /// # Errors
    /// A storage error.
    pub async fn cached_progress(&self) -> Result<Option<(Progress, DateTime<Utc>)>> {
        self.read(Store::cached_progress).await
    }

    /// Whether the background sync should run now: signed in, and unsent edits waiting or the
    /// last sync older than [`Config::pull_every`].
    async fn wants_sync(&self) -> bool {
        if self.store().is_none() || self.shared.borrow().sync.running {
            return false;
        }
        let pull_every =
            chrono::Duration::from_std(self.config.pull_every).unwrap_or(chrono::Duration::MAX);
        let state = self
            .read(|s| Ok((s.session()?, s.unsent_count()?, s.last_sync_at()?)))
            .await;
        match state {
            Ok((Some(session), unsent, last)) if session.signed_in() => {
                unsent > 0 || last.is_none_or(|t| Utc::now() - t > pull_every)
            }
            _ => false,
        }
    }

    /// The background sync: wakes every [`Config::auto_sync_every`] (or right after a save) and
    /// syncs when there is work, so records go out as soon as the server answers. Runs until
    /// the process ends; returns at once when background sync is off.
    pub async fn run_auto_sync(self: Arc<Self>) {
        let Some(every) = self.config.auto_sync_every else {
            return;
        };
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = self.kick.notified() => {}
            }
            if self.wants_sync().await {
                match self.sync_now(false).await {
                    Ok(r) => info!(applied = r.applied, pulled = r.pulled, "background sync"),
                    Err(e) => info!(error = %e, "background sync failed"),
                }
            }
        }
    }
}

/// Now, as the visit time is recorded (`YYYY-MM-DD HH:MM` in the campaign's zone, see
/// [`doorstep_shared::domain::campaign_zone`]; never the phone's own zone).
#[must_use]
pub fn now_label() -> String {
    doorstep_shared::domain::visit_time_label(Utc::now())
}
