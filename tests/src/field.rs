//! The field simulator: headless app engines (the app's own library) working a campaign against
//! a real server, with offline days, concurrent edits, supervisors, and a ground truth to check
//! the server's figures and every device's state against.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use uuid::Uuid;

use doorstep_app::sync::SyncOptions;
use doorstep_app::{Filter, KdfParams, SaveResult, Store, SyncEngine, SyncReport};
use doorstep_shared::demo::{SplitMix64, fill_questionnaire, pick_outcome};
use doorstep_shared::domain::STATUS;
use doorstep_shared::{Outcome, Value};

use crate::admin::Console;

pub const PIN: &str = "246810";

/// One phone: an encrypted store and a sync engine, signed in as a worker or supervisor.
pub struct Device {
    pub name: String,
    pub username: String,
    pub store: Store,
    pub engine: SyncEngine,
}

impl Device {
    /// Creates the store, signs in and pulls.
    ///
    /// # Errors
    /// Sign-in or the first sync fails.
    pub async fn sign_in(
        dir: &Path,
        name: &str,
        username: &str,
        url: &str,
    ) -> anyhow::Result<Self> {
        let store = Store::create(
            dir.join(format!("{name}.db")),
            PIN,
            KdfParams::insecure_fast_for_tests(),
        )?;
        let engine = SyncEngine::with_options(SyncOptions {
            retry_initial: Duration::from_millis(50),
            retry_max: Duration::from_millis(500),
            ..SyncOptions::default()
        });
        engine
            .login(
                &store,
                url,
                username,
                doorstep_server::seed::DEMO_PASSWORD,
                name,
            )
            .await?;
        let d = Self {
            name: name.to_string(),
            username: username.to_string(),
            store,
            engine,
        };
        d.engine.sync_with_retry(&d.store, 20).await?;
        Ok(d)
    }

    /// Syncs with retries (a bad network, a restarting server).
    ///
    /// # Errors
    /// Still failing after the retries.
    pub async fn sync(&self) -> anyhow::Result<SyncReport> {
        Ok(self.engine.sync_with_retry(&self.store, 30).await?)
    }

    /// Surveys a person: the outcome and, where it needs one, the whole questionnaire; finalized.
    ///
    /// # Errors
    /// The store refuses (a bug: the answers are complete and valid).
    pub fn survey(
        &self,
        person: Uuid,
        outcome: Outcome,
        rng: &mut SplitMix64,
    ) -> anyhow::Result<()> {
        let form = self.store.form()?.context("form")?;
        let campaign = self.store.campaign()?.context("campaign")?;
        let view = self.store.record(person)?;
        let answers = fill_questionnaire(&form, &view.person, &campaign, outcome, rng);
        let changes = answers
            .into_iter()
            .filter(|(k, _)| k != STATUS)
            .map(|(k, v)| (k, Some(v)))
            .collect();
        match self.store.save_edit(person, changes, true)? {
            SaveResult::Saved { .. } | SaveResult::Unchanged => Ok(()),
            SaveResult::Invalid(errors) => bail!("{}: invalid survey {errors:?}", self.name),
        }
    }

    /// Edits some items (no finalization change).
    ///
    /// # Errors
    /// The store refuses.
    pub fn edit(&self, person: Uuid, items: &[(&str, Option<Value>)]) -> anyhow::Result<bool> {
        let changes = items
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        Ok(matches!(
            self.store.save_edit(person, changes, false)?,
            SaveResult::Saved { .. }
        ))
    }
}

/// What a simulation did.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub surveys: usize,
    pub edits: usize,
    pub syncs: usize,
    pub pushed: usize,
    pub merged_items: usize,
    pub conflict_items: usize,
    pub conflicts_resolved: usize,
    pub returned: usize,
    pub resubmitted: usize,
    pub reassigned: usize,
}

impl Stats {
    fn add(&mut self, r: &SyncReport) {
        self.syncs += 1;
        self.pushed += r.pushed;
        self.merged_items += r.merged_items;
        self.conflict_items += r.conflict_items;
        self.reassigned += r.reassigned;
    }
}

/// A campaign in the field.
pub struct Field {
    pub url: String,
    pub dir: PathBuf,
    pub workers: Vec<Device>,
    pub supervisors: Vec<Device>,
    pub console: Console,
    /// The ground truth: the outcome each person was finally given.
    pub truth: BTreeMap<Uuid, Outcome>,
    pub community_of: BTreeMap<Uuid, String>,
    pub stats: Stats,
    pub rng: SplitMix64,
}

impl Field {
    /// Spreads every community over `workers` worker accounts (w001…), signs one device in for
    /// each, and one supervisor device for each of the first `supervisors` streets.
    ///
    /// # Errors
    /// The server refuses.
    pub async fn setup(
        url: &str,
        dir: &Path,
        workers: usize,
        supervisors: usize,
        seed: u64,
    ) -> anyhow::Result<Self> {
        Self::setup_on(url, dir, workers, supervisors, usize::MAX, seed).await
    }

    /// As [`Field::setup`], simulating only the first `communities` communities (the others
    /// keep their demo workers and stay untouched).
    ///
    /// # Errors
    /// The server refuses.
    pub async fn setup_on(
        url: &str,
        dir: &Path,
        workers: usize,
        supervisors: usize,
        communities: usize,
        seed: u64,
    ) -> anyhow::Result<Self> {
        let console = Console::login(url, "admin").await?;
        let progress = console.progress().await?;
        let limit = communities;
        let communities: Vec<String> = progress["communities"]
            .as_array()
            .context("communities")?
            .iter()
            .filter_map(|c| c["code"].as_str().map(String::from))
            .collect();
        for (i, c) in communities.iter().take(limit).enumerate() {
            console
                .assign(c, &format!("w{:03}", i % workers + 1))
                .await?;
        }
        let mut ws = Vec::new();
        for i in 0..workers {
            let user = format!("w{:03}", i + 1);
            ws.push(Device::sign_in(dir, &format!("{user}-phone"), &user, url).await?);
        }
        let mut sups = Vec::new();
        for i in 0..supervisors {
            let user = format!("sup{:02}", i + 1);
            sups.push(Device::sign_in(dir, &format!("{user}-phone"), &user, url).await?);
        }
        let admin_all = console.records().await?;
        let community_of = admin_all
            .iter()
            .map(|(id, r)| (*id, r.person.community.to_string()))
            .collect();
        Ok(Self {
            url: url.to_string(),
            dir: dir.to_path_buf(),
            workers: ws,
            supervisors: sups,
            console,
            truth: BTreeMap::new(),
            community_of,
            stats: Stats::default(),
            rng: SplitMix64::new(seed),
        })
    }

    /// One working day: every worker surveys up to `per_worker` persons still to do; a share of
    /// workers stay offline all day; supervisors edit some of the same persons (items the workers
    /// also answered → conflicts; multi-choice items → set merges); online devices sync at the
    /// end of the day.
    ///
    /// # Errors
    /// A device or the server fails beyond retries.
    pub async fn day(&mut self, per_worker: usize, offline_percent: u64) -> anyhow::Result<()> {
        let mut touched: Vec<(usize, Uuid)> = Vec::new();
        for (wi, w) in self.workers.iter().enumerate() {
            let todo = w.store.persons(None, Filter::NotYet, "")?;
            for row in todo.iter().take(per_worker) {
                let outcome = pick_outcome(&mut self.rng);
                w.survey(row.person_id, outcome, &mut self.rng)?;
                self.truth.insert(row.person_id, outcome);
                self.stats.surveys += 1;
                if outcome.has_questionnaire() {
                    touched.push((wi, row.person_id));
                }
            }
        }
        // Supervisors work on some of the same persons, from what their devices last pulled.
        for s in &self.supervisors {
            let scope: BTreeSet<String> =
                s.store.scope()?.iter().map(ToString::to_string).collect();
            for (_, person) in &touched {
                if self.rng.below(10) != 0 {
                    continue;
                }
                let community = &self.community_of[person];
                if !scope.iter().any(|p| community.starts_with(p.as_str())) {
                    continue;
                }
                let edit = if self.rng.below(2) == 0 {
                    (
                        "marital_status",
                        Some(Value::text(
                            ["unmarried", "married", "divorced", "widowed"][self.rng.index(4)],
                        )),
                    )
                } else {
                    ("culture_needs", Some(Value::set(["reading", "fitness"])))
                };
                if s.edit(*person, &[edit])? {
                    self.stats.edits += 1;
                }
            }
        }
        let mut devices: Vec<&Device> =
            self.workers.iter().chain(self.supervisors.iter()).collect();
        devices.retain(|_| self.rng.below(100) >= offline_percent);
        let reports = futures::future::join_all(devices.iter().map(|d| d.sync())).await;
        for r in reports {
            self.stats.add(&r?);
        }
        Ok(())
    }

    /// Supervisors return `n` finalized records with a comment.
    ///
    /// # Errors
    /// The API refuses.
    pub async fn return_some(&mut self, n: usize) -> anyhow::Result<()> {
        let all = self.console.records().await?;
        let finals: Vec<Uuid> = all
            .values()
            .filter(|r| doorstep_shared::domain::final_outcome(&r.answers, r.review).is_some())
            .map(|r| r.person.id)
            .collect();
        for id in finals.iter().take(n) {
            self.console.return_record(*id, "请核实联系电话").await?;
            self.stats.returned += 1;
        }
        Ok(())
    }

    /// Ends the campaign: everyone surveys what is left, every device syncs, supervisors resolve
    /// every conflict, workers fix returned records, until nothing is unsent, open or returned.
    ///
    /// # Errors
    /// It does not settle within the rounds.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        loop {
            let before = self.stats.surveys;
            self.day(usize::MAX, 0).await?;
            if self.stats.surveys == before {
                break;
            }
        }
        for _ in 0..10 {
            self.sync_all().await?;
            self.stats.conflicts_resolved += self.console.resolve_all().await?;
            let mut fixed = 0;
            for w in &self.workers {
                for row in w.store.persons(None, Filter::Returned, "")? {
                    let phone = Value::text(format!("139{:08}", self.rng.below(100_000_000)));
                    let changes = [("phone".to_string(), Some(phone))].into();
                    if let SaveResult::Invalid(e) =
                        w.store.save_edit(row.person_id, changes, true)?
                    {
                        bail!("fixing a returned record: {e:?}");
                    }
                    fixed += 1;
                }
            }
            self.stats.resubmitted += fixed;
            let unsent: usize = self
                .workers
                .iter()
                .chain(&self.supervisors)
                .map(|d| d.store.unsent_count())
                .sum::<Result<usize, _>>()?;
            let open = self
                .console
                .get("/api/v1/conflicts")
                .await?
                .as_array()
                .map_or(0, Vec::len);
            if fixed == 0 && unsent == 0 && open == 0 {
                self.sync_all().await?;
                return Ok(());
            }
        }
        bail!("the campaign did not settle")
    }

    /// Every device syncs.
    ///
    /// # Errors
    /// A device fails beyond retries.
    pub async fn sync_all(&mut self) -> anyhow::Result<()> {
        let reports = futures::future::join_all(
            self.workers
                .iter()
                .chain(&self.supervisors)
                .map(Device::sync),
        )
        .await;
        for r in reports {
            self.stats.add(&r?);
        }
        Ok(())
    }

    /// The server's figures equal the ground truth per community and per outcome, and every
    /// device holds exactly the server's state for its scope.
    ///
    /// # Errors
    /// What differs.
    pub async fn verify(&self) -> anyhow::Result<()> {
        let progress = self.console.progress().await?;
        let mut expected: BTreeMap<String, [u64; 7]> = BTreeMap::new();
        for (id, o) in &self.truth {
            expected.entry(self.community_of[id].clone()).or_default()[o.index()] += 1;
        }
        for c in progress["communities"].as_array().context("communities")? {
            let code = c["code"].as_str().context("code")?;
            let got: Vec<u64> = c["figures"]["outcomes"]
                .as_array()
                .context("outcomes")?
                .iter()
                .map(|v| v.as_u64().unwrap_or(0))
                .collect();
            let want = expected.get(code).copied().unwrap_or_default();
            ensure!(
                got == want,
                "community {code}: server {got:?}, truth {want:?}"
            );
        }
        let truth_total: usize = self.truth.len();
        ensure!(
            progress["total"]["done"].as_u64() == Some(truth_total as u64),
            "done {} vs truth {truth_total}",
            progress["total"]["done"]
        );
        let server = self.console.records().await?;
        for d in self.workers.iter().chain(&self.supervisors) {
            ensure!(
                d.store.unsent_count()? == 0,
                "{} still has unsent edits",
                d.name
            );
            let rows = d.store.persons(None, Filter::All, "")?;
            for row in rows {
                let view = d.store.record(row.person_id)?;
                let s = &server[&row.person_id];
                ensure!(
                    view.answers == s.answers,
                    "{}: {} differs from the server",
                    d.name,
                    row.person_id
                );
                ensure!(
                    view.version == s.version,
                    "{}: version of {} differs",
                    d.name,
                    row.person_id
                );
            }
        }
        Ok(())
    }
}

/// Nothing accepted is silently lost: every value in the mutation log is the record's current
/// value, a candidate of an open conflict, the base of a later edit (someone saw it and changed
/// it), or an earlier value of a writer (user and device) who edited the item again later (their
/// newest stands). Set values merge and are not checked. Returns the first lost value.
///
/// # Errors
/// A description of the lost value.
pub async fn check_nothing_lost(db: &doorstep_server::db::Db) -> Result<(), String> {
    let log = db
        .mutation_log_with_writers()
        .await
        .map_err(|e| e.to_string())?;
    let mut later_bases: BTreeMap<(Uuid, String), Vec<Option<Value>>> = BTreeMap::new();
    let mut later_writers: BTreeMap<(Uuid, String), Vec<(String, Option<String>)>> =
        BTreeMap::new();
    for (m, user, device) in log.iter().rev() {
        let current = db
            .record(&m.person.to_string())
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no record {}", m.person))?;
        for (item, change) in &m.changes {
            let key = (m.person, item.clone());
            let writer = (user.clone(), device.clone());
            let kept = current.doc.answers.get(item) == change.value.as_ref()
                || current
                    .doc
                    .conflicts
                    .get(item)
                    .is_some_and(|c| c.candidates.iter().any(|c| c.value == change.value))
                || later_bases
                    .get(&key)
                    .is_some_and(|bases| bases.contains(&change.value))
                || later_writers.get(&key).is_some_and(|w| w.contains(&writer))
                || matches!(change.value, Some(Value::Set(_)));
            if !kept {
                return Err(format!("value {:?} of {item} lost", change.value));
            }
            later_bases
                .entry(key.clone())
                .or_default()
                .push(change.base.clone());
            later_writers.entry(key).or_default().push(writer);
        }
    }
    Ok(())
}
