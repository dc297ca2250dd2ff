//! The merge rules, once: item by item, three-way, against the base the editing device saw.
//!
//! For each changed item, with `base` (what the device saw), `mine` (the device's new value) and
//! `theirs` (the server's current value):
//! - the item is in an open conflict → the edit joins the conflict's candidates;
//! - `mine == theirs` → nothing to do (**same**);
//! - `theirs == base` → nobody else changed it: **applied**;
//! - all three are sets (multi-choice; absent counts as empty) → **set-merged**:
//!   `(theirs − (base − mine)) ∪ (mine − base)`: additions and removals from both sides kept;
//! - otherwise → a **conflict** keeping every competing value with who wrote it, when, and the base.
//!
//! While an item is in conflict its value is the *provisional* value: the candidate with the
//! greatest [`WinKey`] — role rank first (a supervisor's value over a worker's), then the edit time
//! clamped to the server's receive time (so a device clock days ahead cannot win), then the
//! mutation ID. The key belongs to the edit, so the provisional value is the same whichever device
//! synced first. A supervisor's resolution closes the conflict with a new value.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::hlc::Hlc;
use crate::value::{Answers, Value};

/// One changed item in a mutation: the value the device saw and the value it wants.
/// `None` means unanswered (cleared).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Answer>))]
    pub base: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Answer>))]
    pub value: Option<Value>,
}

/// Who wrote a value, and the key that orders competing values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Writer {
    pub user: String,
    /// 0 unknown (imported), 1 worker, 2 supervisor, 3 admin.
    pub rank: u8,
    pub device: Option<Uuid>,
    pub mutation: Uuid,
    /// The device's clock for the edit.
    pub hlc: Hlc,
    /// The edit time used for ordering: `min(hlc.wall, server receive time)`, milliseconds.
    pub at_ms: i64,
}

/// The total order of competing edits; greatest wins provisionally.
pub type WinKey = (u8, i64, u32, Uuid);

impl Writer {
    #[must_use]
    pub fn key(&self) -> WinKey {
        (self.rank, self.at_ms, self.hlc.counter, self.mutation)
    }

    /// The writer of values that predate any tracked edit (roster import, older versions).
    #[must_use]
    pub fn unknown() -> Self {
        Self {
            user: String::new(),
            rank: 0,
            device: None,
            mutation: Uuid::nil(),
            hlc: Hlc::default(),
            at_ms: i64::MIN,
        }
    }

    /// The same user on the same device (or both without a device): one writer, whose newest
    /// edit stands. Imported values (no user) have no writer to match.
    #[must_use]
    pub fn same_writer(&self, other: &Writer) -> bool {
        !self.user.is_empty() && self.user == other.user && self.device == other.device
    }

    /// The clamped edit time: a device clock ahead of the server counts as the receive time.
    #[must_use]
    pub fn clamp(hlc: Hlc, received_ms: i64) -> i64 {
        hlc.wall.min(received_ms)
    }
}

/// A value competing in a conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Answer>))]
    pub value: Option<Value>,
    pub by: Writer,
}

/// A same-item conflict awaiting a supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenConflict {
    /// The value both sides started from.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Answer>))]
    pub base: Option<Value>,
    pub candidates: Vec<Candidate>,
}

impl OpenConflict {
    /// Most candidates kept in one conflict; the mutation log keeps every edit regardless.
    pub const MAX_CANDIDATES: usize = 16;

    /// An edit of an item already in conflict joins the candidates. Each writer (user and
    /// device) stands with their newest edit only: a later edit replaces their earlier
    /// candidate, an older one (synced late) is ignored. So a writer's newest value never loses
    /// to their own earlier one, and the candidates stay bounded by the writers involved.
    /// Returns whether the conflict changed.
    pub fn join(&mut self, value: Option<Value>, by: &Writer) -> bool {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.by.same_writer(by)) {
            if by.key() <= c.by.key() {
                return false;
            }
            c.value = value;
            c.by = by.clone();
            return true;
        }
        self.candidates.push(Candidate {
            value,
            by: by.clone(),
        });
        if self.candidates.len() > Self::MAX_CANDIDATES {
            // Drop the oldest edit that is not the base's side (index 0 is the value the
            // conflict started from).
            if let Some((i, _)) = self
                .candidates
                .iter()
                .enumerate()
                .skip(1)
                .min_by_key(|(_, c)| c.by.key())
            {
                self.candidates.remove(i);
            }
        }
        true
    }

    /// The provisional winner: the candidate with the greatest key.
    #[must_use]
    pub fn provisional(&self) -> &Candidate {
        self.candidates
            .iter()
            .max_by_key(|c| c.by.key())
            .expect("a conflict has candidates")
    }
}

/// The mergeable state of one record.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Doc {
    pub answers: Answers,
    /// Who last wrote each item: one writer shared by the items of one edit (an edit writes
    /// dozens of items; a copy per item was an allocation per item to read, write and free).
    #[serde(default, with = "compact_meta")]
    pub meta: BTreeMap<String, Arc<Writer>>,
    /// Open conflicts by item.
    #[serde(default)]
    pub conflicts: BTreeMap<String, OpenConflict>,
}

/// Stores `meta` with each writer once: one mutation usually writes dozens of items, and
/// repeating its writer per item made a stored record several times larger than its answers.
/// Stored shape: `{"w": [writer, …], "i": {"item": index, …}}`.
mod compact_meta {
    use std::collections::BTreeMap;
    use std::fmt;
    use std::sync::Arc;

    use serde::de::{self, IgnoredAny, MapAccess, Visitor};
    use serde::ser::{SerializeMap, SerializeStruct};
    use serde::{Deserializer, Serialize, Serializer};

    use super::Writer;

    /// The writers of `meta`, each once, in the order their first item comes.
    fn writers(meta: &BTreeMap<String, Arc<Writer>>) -> Vec<&Writer> {
        let mut w: Vec<&Writer> = Vec::new();
        for writer in meta.values() {
            let writer: &Writer = writer;
            if !w.iter().any(|x| std::ptr::eq(*x, writer) || *x == writer) {
                w.push(writer);
            }
        }
        w
    }

    /// `"i"`: each item with its writer's index in `"w"`, written straight from `meta` (its
    /// items are in order already).
    struct Indexes<'a> {
        meta: &'a BTreeMap<String, Arc<Writer>>,
        writers: &'a [&'a Writer],
    }

    impl Serialize for Indexes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(self.meta.len()))?;
            for (item, writer) in self.meta {
                let writer: &Writer = writer;
                let idx = self
                    .writers
                    .iter()
                    .position(|x| std::ptr::eq(*x, writer))
                    .or_else(|| self.writers.iter().position(|x| *x == writer))
                    .unwrap_or_default();
                m.serialize_entry(item, &idx)?;
            }
            m.end()
        }
    }

    pub fn serialize<S: Serializer>(
        meta: &BTreeMap<String, Arc<Writer>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let w = writers(meta);
        let mut st = s.serialize_struct("Meta", 2)?;
        st.serialize_field("w", &w)?;
        st.serialize_field("i", &Indexes { meta, writers: &w })?;
        st.end()
    }

    /// `"i"` as read: items in the stored order, each with its writer's index.
    struct ItemIndexes(Vec<(String, usize)>);

    impl<'de> serde::Deserialize<'de> for ItemIndexes {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = ItemIndexes;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a map of item to writer index")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ItemIndexes, A::Error> {
                    let mut out = Vec::with_capacity(map.size_hint().unwrap_or(32));
                    while let Some(entry) = map.next_entry::<String, usize>()? {
                        out.push(entry);
                    }
                    Ok(ItemIndexes(out))
                }
            }
            d.deserialize_map(V)
        }
    }

    /// Read without a map in between: the items come in order, so the final map is built
    /// from them in one go, each item sharing its writer.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Arc<Writer>>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BTreeMap<String, Arc<Writer>>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the writers (w) and each item's writer (i)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut w: Option<Vec<Arc<Writer>>> = None;
                let mut i: Option<ItemIndexes> = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match &*key {
                        "w" => {
                            let writers: Vec<Writer> = map.next_value()?;
                            w = Some(writers.into_iter().map(Arc::new).collect());
                        }
                        "i" => i = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let w = w.ok_or_else(|| de::Error::missing_field("w"))?;
                let i = i.ok_or_else(|| de::Error::missing_field("i"))?;
                i.0.into_iter()
                    .map(|(item, idx)| {
                        w.get(idx)
                            .cloned()
                            .map(|w| (item, w))
                            .ok_or_else(|| de::Error::custom(format!("writer {idx} missing")))
                    })
                    .collect()
            }
        }
        d.deserialize_map(V)
    }
}

/// What happened to one item of a mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ItemOutcome {
    Applied,
    Same,
    SetMerged,
    Conflict,
}

impl ItemOutcome {
    /// Whether the server holds another value for the item than the one sent (merged with
    /// another edit, or in conflict), so that a device keeps its own copy's value until it pulls
    /// the server's record instead of taking the value it sent as the server's.
    #[must_use]
    pub fn kept_on_device(self) -> bool {
        matches!(self, Self::SetMerged | Self::Conflict)
    }
}

/// Per-item outcomes of applying one mutation: the items not applied as sent (an item it does
/// not name was [`ItemOutcome::Applied`]), as the device is told them.
pub type MergeReport = BTreeMap<String, ItemOutcome>;

fn as_set(v: Option<&Value>) -> Option<BTreeSet<String>> {
    match v {
        None => Some(BTreeSet::new()),
        Some(Value::Set(s)) => Some(s.clone()),
        Some(_) => None,
    }
}

/// Three-way merge of sets: removals and additions of both sides kept.
#[must_use]
pub fn merge_sets(
    base: &BTreeSet<String>,
    mine: &BTreeSet<String>,
    theirs: &BTreeSet<String>,
) -> BTreeSet<String> {
    let removed: BTreeSet<_> = base.difference(mine).cloned().collect();
    let added: BTreeSet<_> = mine.difference(base).cloned().collect();
    theirs.difference(&removed).cloned().chain(added).collect()
}

fn set_value(doc: &mut Doc, item: &str, value: Option<Value>, by: &Arc<Writer>) {
    // An item already there keeps its key (no new string for it).
    match value {
        Some(v) => match doc.answers.get_mut(item) {
            Some(slot) => *slot = v,
            None => {
                doc.answers.insert(item.to_string(), v);
            }
        },
        None => {
            doc.answers.remove(item);
        }
    }
    match doc.meta.get_mut(item) {
        Some(slot) => slot.clone_from(by),
        None => {
            doc.meta.insert(item.to_string(), by.clone());
        }
    }
}

/// A record's state on the items a mutation names, taken before [`apply`]: those are the only
/// items it touches, so comparing them says whether the record changed, and putting them back
/// undoes it. It names the items by the mutation's own keys (no copy of them).
pub struct Before<'c> {
    items: Vec<(&'c str, ItemState)>,
}

type ItemState = (Option<Value>, Option<Arc<Writer>>, Option<OpenConflict>);

impl<'c> Before<'c> {
    #[must_use]
    pub fn of(doc: &Doc, changes: &'c BTreeMap<String, Change>) -> Self {
        Self {
            items: changes
                .keys()
                .map(|k| (k.as_str(), Self::state(doc, k)))
                .collect(),
        }
    }

    fn state(doc: &Doc, item: &str) -> ItemState {
        (
            doc.answers.get(item).cloned(),
            doc.meta.get(item).cloned(),
            doc.conflicts.get(item).cloned(),
        )
    }

    /// Whether `doc` differs from what it was.
    #[must_use]
    pub fn changed(&self, doc: &Doc) -> bool {
        self.items.iter().any(|(k, before)| {
            let now = (doc.answers.get(*k), doc.meta.get(*k), doc.conflicts.get(*k));
            now != (before.0.as_ref(), before.1.as_ref(), before.2.as_ref())
        })
    }

    /// Puts `doc` back as it was.
    pub fn restore(self, doc: &mut Doc) {
        fn put<V>(map: &mut BTreeMap<String, V>, key: &str, v: Option<V>) {
            match v {
                Some(v) => {
                    map.insert(key.to_string(), v);
                }
                None => {
                    map.remove(key);
                }
            }
        }
        for (k, (value, writer, conflict)) in self.items {
            put(&mut doc.answers, k, value);
            put(&mut doc.meta, k, writer);
            put(&mut doc.conflicts, k, conflict);
        }
    }
}

/// Applies one mutation's changes to a record, item by item. Pure: the caller stores the result.
pub fn apply(doc: &mut Doc, changes: &BTreeMap<String, Change>, by: &Writer) -> MergeReport {
    let by = Arc::new(by.clone());
    let mut report = MergeReport::new();
    for (item, change) in changes {
        let outcome = apply_item(doc, item, change, &by);
        if outcome != ItemOutcome::Applied {
            report.insert(item.clone(), outcome);
        }
    }
    report
}

fn apply_item(doc: &mut Doc, item: &str, change: &Change, by: &Arc<Writer>) -> ItemOutcome {
    if let Some(conflict) = doc.conflicts.get_mut(item) {
        conflict.join(change.value.clone(), by);
        let win = conflict.provisional().clone();
        set_value(doc, item, win.value, &Arc::new(win.by));
        // Still in conflict whatever the value: the device must not take its own value as the
        // server's (the provisional value may be another candidate's).
        return ItemOutcome::Conflict;
    }
    let theirs = doc.answers.get(item);
    if change.value.as_ref() == theirs {
        // Agreement: the greater key stands as the value's writer, whatever the arrival order.
        if doc.meta.get(item).is_none_or(|m| by.key() > m.key()) {
            doc.meta.insert(item.to_string(), by.clone());
        }
        return ItemOutcome::Same;
    }
    if theirs == change.base.as_ref() {
        set_value(doc, item, change.value.clone(), by);
        return ItemOutcome::Applied;
    }
    if let (Some(b), Some(m), Some(t)) = (
        as_set(change.base.as_ref()),
        as_set(change.value.as_ref()),
        as_set(theirs),
    ) {
        let merged = merge_sets(&b, &m, &t);
        if merged == t {
            return ItemOutcome::Same;
        }
        let v = (!merged.is_empty()).then_some(Value::Set(merged));
        set_value(doc, item, v, by);
        return ItemOutcome::SetMerged;
    }
    let theirs = theirs.cloned();
    let theirs_by = doc
        .meta
        .get(item)
        .map_or_else(Writer::unknown, |w| Writer::clone(w));
    if theirs_by.same_writer(by) {
        // A writer does not conflict with themselves: their newest edit stands.
        if by.key() > theirs_by.key() {
            set_value(doc, item, change.value.clone(), by);
            return ItemOutcome::Applied;
        }
        return ItemOutcome::Same;
    }
    let conflict = OpenConflict {
        base: change.base.clone(),
        candidates: vec![
            Candidate {
                value: theirs,
                by: theirs_by,
            },
            Candidate {
                value: change.value.clone(),
                by: Writer::clone(by),
            },
        ],
    };
    let win = conflict.provisional().clone();
    doc.conflicts.insert(item.to_string(), conflict);
    set_value(doc, item, win.value, &Arc::new(win.by));
    ItemOutcome::Conflict
}

/// A supervisor's resolution: the item takes `value` and its conflict closes. Returns whether a
/// conflict was open.
pub fn resolve(doc: &mut Doc, item: &str, value: Option<Value>, by: &Writer) -> bool {
    let was_open = doc.conflicts.remove(item).is_some();
    set_value(doc, item, value, &Arc::new(by.clone()));
    was_open
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(user: &str, rank: u8, at: i64, n: u128) -> Writer {
        Writer {
            user: user.into(),
            rank,
            device: None,
            mutation: Uuid::from_u128(n),
            hlc: Hlc {
                wall: at,
                counter: 0,
            },
            at_ms: at,
        }
    }

    fn ch(base: Option<Value>, value: Option<Value>) -> BTreeMap<String, Change> {
        [("x".to_string(), Change { base, value })].into()
    }

    #[test]
    fn before_says_whether_a_mutation_changed_the_record_and_puts_it_back() {
        let mut d = Doc::default();
        let a = w("a", 1, 10, 1);
        apply(&mut d, &ch(None, Some(Value::text("1"))), &a);
        let kept = d.clone();
        // The same value again from an older edit: nothing moves.
        let old = w("b", 1, 5, 0);
        let same = ch(None, Some(Value::text("1")));
        let before = Before::of(&d, &same);
        apply(&mut d, &same, &old);
        assert!(!before.changed(&d));
        // Another writer's value on the same base: a conflict, then undone.
        let b = w("b", 1, 11, 2);
        let other = ch(None, Some(Value::text("2")));
        let before = Before::of(&d, &other);
        apply(&mut d, &other, &b);
        assert!(before.changed(&d));
        assert_eq!(d.conflicts.len(), 1);
        before.restore(&mut d);
        assert_eq!(d, kept);
        // A new item, then undone: it is gone again.
        let new = [(
            "y".to_string(),
            Change {
                base: None,
                value: Some(Value::Int(3)),
            },
        )]
        .into();
        let before = Before::of(&d, &new);
        apply(&mut d, &new, &b);
        assert!(before.changed(&d));
        before.restore(&mut d);
        assert_eq!(d, kept);
    }

    #[test]
    fn unchanged_elsewhere_applies_and_disjoint_items_never_conflict() {
        let mut d = Doc::default();
        let a = w("a", 1, 10, 1);
        let b = w("b", 1, 11, 2);
        apply(&mut d, &ch(None, Some(Value::text("1"))), &a);
        let mut other: BTreeMap<String, Change> = BTreeMap::new();
        other.insert(
            "y".into(),
            Change {
                base: None,
                value: Some(Value::Int(3)),
            },
        );
        let r = apply(&mut d, &other, &b);
        assert_eq!(r.get("y"), None, "applied as sent: not listed");
        assert_eq!(d.answers["x"], Value::text("1"));
        assert!(d.conflicts.is_empty());
    }

    #[test]
    fn meta_is_stored_compactly_and_reads_back() {
        let mut d = Doc::default();
        let changes: BTreeMap<String, Change> = (0..30)
            .map(|i| {
                (
                    format!("item{i}"),
                    Change {
                        base: None,
                        value: Some(Value::Int(i)),
                    },
                )
            })
            .collect();
        apply(&mut d, &changes, &w("a", 1, 10, 1));
        apply(&mut d, &ch(None, Some(Value::text("x"))), &w("b", 1, 11, 2));
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json.matches("\"user\"").count(), 2, "{json}");
        let back = serde_json::from_str::<Doc>(&json).unwrap();
        assert_eq!(back, d);
        // Read back, the items of one edit share one writer again.
        assert!(Arc::ptr_eq(&back.meta["item0"], &back.meta["item29"]));

        // The items before the writers, and a key of a later version, read the same.
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let swapped = format!(
            r#"{{"answers":{},"meta":{{"i":{},"later":[1],"w":{}}}}}"#,
            v["answers"], v["meta"]["i"], v["meta"]["w"]
        );
        assert_eq!(serde_json::from_str::<Doc>(&swapped).unwrap(), d);
        // An index without its writer, or no writers at all, is an error, not a guess.
        let broken = json.replace("\"x\":1", "\"x\":7");
        assert!(broken != json, "{json}");
        let e = serde_json::from_str::<Doc>(&broken).unwrap_err();
        assert!(e.to_string().contains("writer 7 missing"), "{e}");
        assert!(serde_json::from_str::<Doc>(r#"{"answers":{},"meta":{"i":{}}}"#).is_err());
    }

    #[test]
    fn same_value_from_both_sides_is_fine() {
        let mut d = Doc::default();
        apply(&mut d, &ch(None, Some(Value::text("1"))), &w("a", 1, 10, 1));
        let r = apply(&mut d, &ch(None, Some(Value::text("1"))), &w("b", 1, 11, 2));
        assert_eq!(r["x"], ItemOutcome::Same);
        assert!(d.conflicts.is_empty());
    }

    #[test]
    fn different_values_conflict_and_keep_everything() {
        let mut d = Doc::default();
        apply(&mut d, &ch(None, Some(Value::text("1"))), &w("a", 1, 20, 1));
        let r = apply(&mut d, &ch(None, Some(Value::text("2"))), &w("b", 1, 10, 2));
        assert_eq!(r["x"], ItemOutcome::Conflict);
        let c = &d.conflicts["x"];
        assert_eq!(c.base, None);
        assert_eq!(c.candidates.len(), 2);
        // a's edit is later by the clamped clock: it stays provisional.
        assert_eq!(d.answers["x"], Value::text("1"));
        let sup = w("sup", 2, 30, 3);
        assert!(resolve(&mut d, "x", Some(Value::text("2")), &sup));
        assert_eq!(d.answers["x"], Value::text("2"));
        assert!(d.conflicts.is_empty());
    }

    #[test]
    fn supervisor_value_wins_provisionally() {
        let mut d = Doc::default();
        apply(
            &mut d,
            &ch(None, Some(Value::text("sup"))),
            &w("s", 2, 5, 1),
        );
        apply(
            &mut d,
            &ch(None, Some(Value::text("worker"))),
            &w("a", 1, 99, 2),
        );
        assert_eq!(d.answers["x"], Value::text("sup"));
    }

    #[test]
    fn sets_merge_without_conflict() {
        let mut d = Doc::default();
        let base = Value::set(["a", "b"]);
        apply(&mut d, &ch(None, Some(base.clone())), &w("a", 1, 1, 1));
        // One side removes b and adds c, the other adds d.
        apply(
            &mut d,
            &ch(Some(base.clone()), Some(Value::set(["a", "c"]))),
            &w("a", 1, 2, 2),
        );
        let r = apply(
            &mut d,
            &ch(Some(base), Some(Value::set(["a", "b", "d"]))),
            &w("b", 1, 3, 3),
        );
        assert_eq!(r["x"], ItemOutcome::SetMerged);
        assert_eq!(d.answers["x"], Value::set(["a", "c", "d"]));
        assert!(d.conflicts.is_empty());
    }

    #[test]
    fn a_clock_days_ahead_does_not_win() {
        let received = 1_000_000;
        let ahead = Hlc {
            wall: received + 3 * 86_400_000,
            counter: 0,
        };
        assert_eq!(Writer::clamp(ahead, received), received);
    }

    fn arb_edit() -> impl Strategy<Value = (u8, u8, i64)> {
        (0u8..4, 1u8..3, 0i64..1000)
    }

    proptest! {
        /// Whatever order concurrent edits of one item arrive in, the record ends with the same
        /// value and keeps every competing value.
        #[test]
        fn provisional_value_is_order_independent(
            edits in proptest::collection::vec(arb_edit(), 2..6),
            seed in any::<u64>(),
        ) {
            let writers: Vec<(Option<Value>, Writer)> = edits.iter().enumerate()
                .map(|(i, (v, rank, at))| (Some(Value::Int(i64::from(*v))), w(&format!("u{i}"), *rank, *at, i as u128 + 1)))
                .collect();
            let run = |order: &[usize]| {
                let mut d = Doc::default();
                for &i in order {
                    let (v, by) = &writers[i];
                    apply(&mut d, &ch(None, v.clone()), by);
                }
                d
            };
            let fwd: Vec<usize> = (0..writers.len()).collect();
            let mut shuffled = fwd.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let a = run(&fwd);
            let b = run(&shuffled);
            prop_assert_eq!(a.answers.get("x"), b.answers.get("x"));
            for (v, _) in &writers {
                let kept = a.answers.get("x") == v.as_ref()
                    || a.conflicts.get("x").is_some_and(|c| c.candidates.iter().any(|c| &c.value == v));
                prop_assert!(kept, "value {:?} lost", v);
            }
        }

        /// One writer's edits, in any arrival order, end with their newest edit (by key).
        #[test]
        fn a_writers_newest_edit_stands(
            edits in proptest::collection::vec((0u8..4, 0i64..1000), 2..6),
            other in 0u8..4,
            seed in any::<u64>(),
        ) {
            let mine: Vec<(Option<Value>, Writer)> = edits.iter().enumerate()
                .map(|(i, (v, at))| (Some(Value::Int(i64::from(*v))), w("me", 1, *at, i as u128 + 10)))
                .collect();
            let newest = mine.iter().max_by_key(|(_, by)| by.key()).unwrap().0.clone();
            let mut order: Vec<usize> = (0..mine.len()).collect();
            let mut s = seed;
            for i in (1..order.len()).rev() {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                order.swap(i, (s >> 33) as usize % (i + 1));
            }
            // Another writer's value first, so the item may be in conflict.
            let mut d = Doc::default();
            apply(&mut d, &ch(None, Some(Value::Int(100 + i64::from(other)))), &w("them", 1, 5, 1));
            for &i in &order {
                let (v, by) = &mine[i];
                apply(&mut d, &ch(None, v.clone()), by);
            }
            let c = &d.conflicts["x"];
            let own: Vec<_> = c.candidates.iter().filter(|c| c.by.user == "me").collect();
            prop_assert_eq!(own.len(), 1);
            prop_assert_eq!(&own[0].value, &newest);
        }

        #[test]
        fn set_merge_keeps_both_sides(base in proptest::collection::btree_set(0u8..8, 0..5),
                                      mine in proptest::collection::btree_set(0u8..8, 0..5),
                                      theirs in proptest::collection::btree_set(0u8..8, 0..5)) {
            let s = |x: &BTreeSet<u8>| x.iter().map(ToString::to_string).collect::<BTreeSet<_>>();
            let (b, m, t) = (s(&base), s(&mine), s(&theirs));
            let r = merge_sets(&b, &m, &t);
            for added in m.difference(&b) { prop_assert!(r.contains(added)); }
            for added in t.difference(&b) { if !b.difference(&m).any(|x| x == added) { prop_assert!(r.contains(added)); } }
            for removed in b.difference(&m) { prop_assert!(!r.contains(removed) || m.contains(removed)); }
        }
    }
}
