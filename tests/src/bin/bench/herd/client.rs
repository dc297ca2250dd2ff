//! One simulated phone of the herd, as light as a client can be: plain HTTP with the app's wire
//! format (gzip-compressed JSON pushes, bearer token), pushes pre-built before the timed runs,
//! pulls parsed only for the cursor and `more`.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;

use anyhow::{Context, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use doorstep_server::seed;
use doorstep_shared::Value;
use doorstep_shared::domain::{Status, status_of};
use doorstep_shared::hlc::Hlc;
use doorstep_shared::merge::{Change, ItemOutcome};
use doorstep_shared::sync::{
    LoginRequest, LoginResponse, Mutation, MutationStatus, PullResponse, PushRequest, RecordState,
};

/// Mutations in one push: one per person the device edits.
pub(crate) const MUTATIONS: usize = 22;
/// The app's pull page.
const PULL_LIMIT: u32 = 1000;
const MARITAL: [&str; 4] = ["unmarried", "married", "divorced", "widowed"];

/// A person this device edits, as the device pulled it.
struct Owned {
    id: Uuid,
    version: u64,
    phone: Option<Value>,
    /// Index in [`MARITAL`] of the pulled marital status (0 when unanswered).
    marital: usize,
    marital_pulled: Option<Value>,
}

pub(crate) struct Device {
    index: usize,
    /// Which server process this device talks to.
    pub(crate) server: usize,
    token: String,
    cursor: u64,
    persons: Vec<Owned>,
    hlc: Hlc,
    /// Pushes taken so far: push `n` sets values that follow from `n`, based on those of `n-1`.
    sent: usize,
    bodies: VecDeque<Vec<u8>>,
    /// Bodies built during a timed run because the pre-built ones ran out.
    pub(crate) built_late: usize,
}

/// What the server answered to the syncs.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    pub(crate) syncs: usize,
    pub(crate) mutations: usize,
    pub(crate) applied: usize,
    pub(crate) rejected: usize,
    /// Applied mutations with an item not simply applied (same, merged or in conflict).
    pub(crate) not_clean: usize,
    pub(crate) pull_pages: usize,
    pub(crate) pulled: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Self) {
        self.syncs += o.syncs;
        self.mutations += o.mutations;
        self.applied += o.applied;
        self.rejected += o.rejected;
        self.not_clean += o.not_clean;
        self.pull_pages += o.pull_pages;
        self.pulled += o.pulled;
    }
}

#[derive(Deserialize)]
struct PushAnswer {
    results: Vec<ResultLite>,
}

#[derive(Deserialize)]
struct ResultLite {
    status: MutationStatus,
    #[serde(default)]
    items: BTreeMap<String, ItemOutcome>,
}

#[derive(Deserialize)]
struct PageLite {
    cursor: u64,
    more: bool,
    /// How many records came, each skipped unparsed.
    #[serde(default)]
    records: Count,
}

#[derive(Default)]
struct Count(usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Count, A::Error> {
                let mut n = 0;
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
        }
        d.deserialize_seq(V)
    }
}

/// The JSON answer of a successful call; any other status is an error with its text.
async fn ok_json<T: DeserializeOwned>(resp: reqwest::Response, what: &str) -> anyhow::Result<T> {
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .with_context(|| format!("{what}: body"))?;
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(160).collect();
        bail!("{what}: HTTP {} {text}", status.as_u16());
    }
    serde_json::from_slice(&body).with_context(|| format!("{what}: answer"))
}

fn phone(device: usize, person: usize, n: usize) -> Value {
    Value::text(format!(
        "13{:03}{:02}{:04}",
        device % 1000,
        person % 100,
        n % 10_000
    ))
}

impl Device {
    /// Signs in as demo worker `w{index % 33 + 1}` on `base`, pulls the scope once and picks
    /// the persons this device edits (its slot of every seventh, like `many_devices`).
    pub(crate) async fn setup(
        http: &reqwest::Client,
        base: &str,
        index: usize,
        server: usize,
    ) -> anyhow::Result<Self> {
        let user = format!("w{:03}", index % 33 + 1);
        let login: LoginResponse = {
            let req = LoginRequest {
                username: user.clone(),
                password: seed::DEMO_PASSWORD.to_string(),
                device_id: None,
                device_name: Some(format!("herd phone {index}")),
            };
            let resp = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&req)
                .send()
                .await
                .with_context(|| format!("login {user}"))?;
            ok_json(resp, "login").await?
        };
        let mut records: Vec<RecordState> = Vec::new();
        let mut cursor = 0;
        let mut hlc = Hlc::default();
        loop {
            let resp = http
                .get(format!(
                    "{base}/api/v1/sync/pull?cursor={cursor}&limit={PULL_LIMIT}"
                ))
                .bearer_auth(&login.token)
                .send()
                .await
                .context("first pull")?;
            let page: PullResponse = ok_json(resp, "first pull").await?;
            hlc = hlc.observe(page.server_time, chrono::Utc::now().timestamp_millis());
            records.extend(page.records);
            cursor = page.cursor;
            if !page.more {
                break;
            }
        }
        records.retain(|r| {
            !doorstep_shared::review::locks_worker(r.review)
                && status_of(&r.answers) != Status::Final
                && r.conflicts.is_empty()
        });
        records.sort_by_key(|r| r.person.id);
        let persons: Vec<Owned> = records
            .iter()
            .skip(index / 33)
            .step_by(7)
            .take(MUTATIONS)
            .map(|r| {
                let marital_pulled = r.answers.get("marital_status").cloned();
                let marital = MARITAL
                    .iter()
                    .position(|m| marital_pulled.as_ref() == Some(&Value::text(*m)))
                    .unwrap_or(0);
                Owned {
                    id: r.person.id,
                    version: r.version,
                    phone: r.answers.get("phone").cloned(),
                    marital,
                    marital_pulled,
                }
            })
            .collect();
        if persons.is_empty() {
            bail!("device {index} ({user}): no editable person in scope");
        }
        Ok(Self {
            index,
            server,
            token: login.token,
            cursor,
            persons,
            hlc,
            sent: 0,
            bodies: VecDeque::new(),
            built_late: 0,
        })
    }

    pub(crate) fn mutations_per_push(&self) -> usize {
        self.persons.len()
    }

    /// The serialized, gzip-compressed push number `n`: every owned person's phone and
    /// marital status changed, based on the values of push `n - 1` (or the pulled ones).
    fn body(&mut self, n: usize) -> anyhow::Result<Vec<u8>> {
        let now = chrono::Utc::now().timestamp_millis();
        let mut mutations = Vec::with_capacity(self.persons.len());
        for (j, p) in self.persons.iter().enumerate() {
            self.hlc = self.hlc.tick(now);
            let marital = |k: usize| Value::text(MARITAL[(p.marital + k) % MARITAL.len()]);
            let (phone_base, marital_base) = if n == 0 {
                (p.phone.clone(), p.marital_pulled.clone())
            } else {
                (Some(phone(self.index, j, n - 1)), Some(marital(n)))
            };
            let mut changes = BTreeMap::new();
            changes.insert(
                "phone".to_string(),
                Change {
                    base: phone_base,
                    value: Some(phone(self.index, j, n)),
                },
            );
            changes.insert(
                "marital_status".to_string(),
                Change {
                    base: marital_base,
                    value: Some(marital(n + 1)),
                },
            );
            mutations.push(Mutation {
                id: Uuid::now_v7(),
                person: p.id,
                base_version: p.version + n as u64,
                hlc: self.hlc,
                changes,
            });
        }
        let json = serde_json::to_vec(&PushRequest::new(mutations))?;
        let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
        gz.write_all(&json).context("gzip")?;
        gz.finish().context("gzip")
    }

    /// Replaces the pre-built pushes with `count` new ones, continuing after the pushes taken.
    pub(crate) fn prebuild(&mut self, count: usize) -> anyhow::Result<()> {
        self.bodies.clear();
        for n in self.sent..self.sent + count {
            let b = self.body(n)?;
            self.bodies.push_back(b);
        }
        Ok(())
    }

    /// One device sync: the next push, then pulls from the cursor until nothing more waits.
    pub(crate) async fn sync(
        &mut self,
        http: &reqwest::Client,
        base: &str,
    ) -> anyhow::Result<Tally> {
        let body = match self.bodies.pop_front() {
            Some(b) => b,
            None => {
                self.built_late += 1;
                self.body(self.sent)?
            }
        };
        self.sent += 1;
        let resp = http
            .post(format!("{base}/api/v1/sync/push"))
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .bearer_auth(&self.token)
            .body(body)
            .send()
            .await
            .context("push")?;
        let answer: PushAnswer = ok_json(resp, "push").await?;
        let mut t = Tally {
            syncs: 1,
            mutations: answer.results.len(),
            ..Tally::default()
        };
        for r in &answer.results {
            match r.status {
                MutationStatus::Applied => {
                    t.applied += 1;
                    if r.items.values().any(|o| *o != ItemOutcome::Applied) {
                        t.not_clean += 1;
                    }
                }
                MutationStatus::Rejected => t.rejected += 1,
            }
        }
        loop {
            let resp = http
                .get(format!(
                    "{base}/api/v1/sync/pull?cursor={}&limit={PULL_LIMIT}",
                    self.cursor
                ))
                .bearer_auth(&self.token)
                .send()
                .await
                .context("pull")?;
            let page: PageLite = ok_json(resp, "pull").await?;
            t.pull_pages += 1;
            t.pulled += page.records.0;
            self.cursor = page.cursor;
            if !page.more {
                break;
            }
        }
        Ok(t)
    }
}
