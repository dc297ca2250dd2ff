//! The herd's timed runs: a closed loop of C devices syncing back to back, and an open loop
//! starting syncs at a fixed rate whether or not earlier ones finished. A device syncs one at a
//! time (its pushes follow each other); an idle device is taken from a queue.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::client::{Device, Tally};
use crate::common::ms;

pub(crate) struct Herd {
    http: reqwest::Client,
    bases: Vec<String>,
    idle: Mutex<VecDeque<Device>>,
    returned: Notify,
}

/// What a run measured.
#[derive(Default)]
pub(crate) struct Stats {
    /// Latency (ms) of every sync that succeeded within the run's window.
    pub(crate) lat: Vec<f64>,
    /// Successful syncs per second over the window.
    pub(crate) rate: f64,
    /// Every answer, also of syncs finished after the window.
    pub(crate) tally: Tally,
    /// Failed syncs by message.
    pub(crate) errors: BTreeMap<String, usize>,
}

impl Stats {
    pub(crate) fn error_count(&self) -> usize {
        self.errors.values().sum()
    }

    fn record(&mut self, lat: f64, in_window: bool, r: anyhow::Result<Tally>) {
        match r {
            Ok(t) => {
                self.tally += t;
                if in_window {
                    self.lat.push(lat);
                }
            }
            Err(e) => {
                let msg: String = format!("{e:#}").chars().take(120).collect();
                *self.errors.entry(msg).or_default() += 1;
            }
        }
    }

    fn merge(&mut self, o: Stats) {
        self.lat.extend(o.lat);
        self.tally += o.tally;
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
}

impl Herd {
    pub(crate) fn new(http: reqwest::Client, bases: Vec<String>, devices: Vec<Device>) -> Self {
        Self {
            http,
            bases,
            idle: Mutex::new(devices.into()),
            returned: Notify::new(),
        }
    }

    fn idle(&self) -> MutexGuard<'_, VecDeque<Device>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn take(&self) -> Device {
        loop {
            let next = self.idle().pop_front();
            if let Some(d) = next {
                return d;
            }
            self.returned.notified().await;
        }
    }

    fn give(&self, d: Device) {
        self.idle().push_back(d);
        self.returned.notify_one();
    }

    /// One sync of the next idle device; its latency counts from `start`.
    async fn one(&self, start: Instant) -> (Instant, f64, anyhow::Result<Tally>) {
        let mut d = self.take().await;
        let base = &self.bases[d.server];
        let r = d.sync(&self.http, base).await;
        let done = Instant::now();
        self.give(d);
        (done, ms(done - start), r)
    }

    /// Untimed: every device gets `count` fresh pushes.
    pub(crate) fn prebuild(&self, count: usize) -> anyhow::Result<()> {
        for d in self.idle().iter_mut() {
            d.prebuild(count)?;
        }
        Ok(())
    }

    pub(crate) fn built_late(&self) -> usize {
        self.idle().iter().map(|d| d.built_late).sum()
    }

    /// `c` devices at a time, each starting its next sync when the last one ends, for `dur`.
    pub(crate) async fn closed_loop(
        self: Arc<Self>,
        c: usize,
        dur: Duration,
    ) -> anyhow::Result<Stats> {
        let t0 = Instant::now();
        let end = t0 + dur;
        let workers: Vec<_> = (0..c)
            .map(|_| {
                let h = self.clone();
                tokio::spawn(async move {
                    let mut s = Stats::default();
                    while Instant::now() < end {
                        let start = Instant::now();
                        let (done, lat, r) = h.one(start).await;
                        s.record(lat, done <= end, r);
                    }
                    s
                })
            })
            .collect();
        let mut all = Stats::default();
        for w in workers {
            all.merge(w.await.context("closed-loop worker")?);
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = all.lat.len() as f64 / dur.as_secs_f64();
        all.rate = rate;
        Ok(all)
    }

    /// Syncs started every `1 / rate` seconds for `dur`, however many are still running; each
    /// one's latency counts from its scheduled start (a late start is the server's delay too).
    pub(crate) async fn open_loop(
        self: Arc<Self>,
        rate: f64,
        dur: Duration,
    ) -> anyhow::Result<Stats> {
        let t0 = Instant::now();
        let gap = Duration::from_secs_f64(1.0 / rate);
        let mut tasks = Vec::new();
        let mut at = t0;
        while at < t0 + dur {
            tokio::time::sleep_until(at).await;
            let h = self.clone();
            tasks.push(tokio::spawn(async move { h.one(at).await }));
            at += gap;
        }
        let mut all = Stats::default();
        let mut last = t0;
        for task in tasks {
            let (done, lat, r) = task.await.context("open-loop sync")?;
            last = last.max(done);
            all.record(lat, true, r);
        }
        #[allow(clippy::cast_precision_loss)]
        let achieved = all.lat.len() as f64 / (last - t0).as_secs_f64().max(1e-9);
        all.rate = achieved;
        Ok(all)
    }
}
