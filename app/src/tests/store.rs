//! The store on its own: encryption, crashes, the outbox, views, filters, pulls.

use std::collections::BTreeMap;
use std::process::Command;

use chrono::Utc;
use doorstep_shared::domain::{Outcome, Review, STATUS, Status};
use doorstep_shared::hlc::Hlc;
use doorstep_shared::merge::{Candidate, Change, ItemOutcome, OpenConflict, Writer};
use doorstep_shared::place::DivisionCode;
use doorstep_shared::sync::{
    Account, LoginResponse, MutationResult, MutationStatus, PROTOCOL_VERSION, PushResponse, Role,
};
use doorstep_shared::value::Value;
use uuid::Uuid;

use super::{PIN, edit, empty_store, fresh, fx, page, reopened_from, text};
use crate::error::AppError;
use crate::keyfile::KdfParams;
use crate::model::{Filter, LogKind, OutboxState, SaveResult};
use crate::store::{MIGRATIONS, Store, failpoint};

fn saved(r: SaveResult) -> Uuid {
    match r {
        SaveResult::Saved { mutation } => mutation,
        other => panic!("expected a save, got {other:?}"),
    }
}

fn push_answer(results: Vec<MutationResult>) -> PushResponse {
    PushResponse {
        protocol: PROTOCOL_VERSION,
        results,
        server_time: Hlc {
            wall: Utc::now().timestamp_millis(),
            counter: 0,
        },
        in_order: false,
    }
}

fn applied(id: Uuid, version: u64) -> MutationResult {
    MutationResult {
        id,
        status: MutationStatus::Applied,
        version,
        items: BTreeMap::new(),
        reassigned: false,
        late: false,
        errors: Vec::new(),
        code: None,
        message: None,
    }
}

// ---- encryption and opening ----

#[test]
fn wrong_pin_fails_with_a_clear_message() {
    let f = fx();
    drop(f.store);
    let err = Store::open(&f.path, "135790").unwrap_err();
    assert_eq!(err, AppError::WrongPin);
    assert_eq!(err.to_string(), "PIN 不正确 / Wrong PIN");
    // The right PIN still opens it, with everything in place.
    let store = Store::open(&f.path, PIN).unwrap();
    assert_eq!(store.persons(None, Filter::All, "").unwrap().len(), 45);
}

#[test]
fn default_key_parameters_work_and_pins_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    assert_eq!(
        Store::create(&path, "12345", KdfParams::default()).unwrap_err(),
        AppError::PinTooShort(6)
    );
    assert_eq!(
        Store::open(&path, PIN).unwrap_err(),
        AppError::NoStore(path.clone())
    );
    let s = Store::create(&path, PIN, KdfParams::default()).unwrap();
    drop(s);
    assert!(matches!(
        Store::create(&path, PIN, KdfParams::default()),
        Err(AppError::StoreExists(_))
    ));
    assert_eq!(
        Store::open(&path, "000000").unwrap_err(),
        AppError::WrongPin
    );
    Store::open(&path, PIN).unwrap();
    let sidecar = crate::keyfile::sidecar_path(&path);
    let kept = std::fs::read(&sidecar).unwrap();
    std::fs::remove_file(&sidecar).unwrap();
    assert!(matches!(
        Store::open(&path, PIN),
        Err(AppError::KeyFileMissing(_))
    ));
    std::fs::write(&sidecar, kept).unwrap();
    Store::open(&path, PIN).unwrap();
    Store::destroy(&path).unwrap();
    assert!(!Store::exists(&path));
    assert!(!crate::keyfile::sidecar_path(&path).exists());
}

/// The cipher setting a connection reports.
fn hmac_of(path: &std::path::Path, key_hex: &str, pragmas: &str) -> String {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(&format!("PRAGMA key = \"x'{key_hex}'\"; {pragmas}"))
        .unwrap();
    c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap();
    c.query_row("PRAGMA cipher_hmac_algorithm", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn new_stores_authenticate_pages_with_sha256_and_first_release_stores_still_open() {
    use crate::keyfile::{KeyFile, sidecar_path};
    let dir = tempfile::tempdir().unwrap();
    // A store made now: key file format 2, pages tagged with HMAC-SHA256.
    let path = dir.path().join("new.db");
    drop(Store::create(&path, PIN, KdfParams::insecure_fast_for_tests()).unwrap());
    let kf = KeyFile::read(&path).unwrap();
    let text = std::fs::read_to_string(sidecar_path(&path)).unwrap();
    assert!(text.contains("\"format\":2"), "{text}");
    let key = kf.derive_hex(PIN).unwrap();
    assert_eq!(hmac_of(&path, &key, kf.cipher_pragmas()), "HMAC_SHA256");
    // Read with the first releases' setting, its pages fail their tags: the setting matters.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(&format!(
        "PRAGMA cipher_log_level = NONE; PRAGMA key = \"x'{key}'\";"
    ))
    .unwrap();
    assert!(
        c.query_row("SELECT count(*) FROM sqlite_master", [], |r| r
            .get::<_, i64>(0))
            .is_err()
    );
    drop(c);

    // A store of the first releases: key file format 1, SQLCipher 4's default HMAC-SHA512.
    let old = dir.path().join("old.db");
    let mut v1: serde_json::Value = serde_json::from_str(&text).unwrap();
    v1["format"] = 1.into();
    std::fs::write(sidecar_path(&old), v1.to_string()).unwrap();
    let kf1 = KeyFile::read(&old).unwrap();
    let key1 = kf1.derive_hex(PIN).unwrap();
    {
        let c = rusqlite::Connection::open(&old).unwrap();
        c.execute_batch(&format!(
            "PRAGMA key = \"x'{key1}'\"; CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('还在');"
        ))
        .unwrap();
    }
    assert_eq!(
        hmac_of(&old, &key1, ""),
        "HMAC_SHA512",
        "SQLCipher 4's default"
    );
    assert_eq!(Store::open(&old, "135790").unwrap_err(), AppError::WrongPin);
    let s = Store::open(&old, PIN).unwrap();
    assert_eq!(s.persons(None, Filter::All, "").unwrap().len(), 0);
    drop(s);
    let c = rusqlite::Connection::open(&old).unwrap();
    c.execute_batch(&format!("PRAGMA key = \"x'{key1}'\";"))
        .unwrap();
    let v: String = c.query_row("SELECT v FROM kept", [], |r| r.get(0)).unwrap();
    assert_eq!(v, "还在");
    drop(c);
    assert_eq!(hmac_of(&old, &key1, kf1.cipher_pragmas()), "HMAC_SHA512");

    // A key file of a format this release does not know is refused as such.
    v1["format"] = 3.into();
    std::fs::write(sidecar_path(&old), v1.to_string()).unwrap();
    let err = Store::open(&old, PIN).unwrap_err();
    assert!(err.to_string().contains("unsupported format"), "{err}");
}

#[test]
fn no_plaintext_names_or_ids_on_disk() {
    let f = fx();
    let p = f.person(3).clone();
    let note = "张家屋后的小路进去第三户";
    saved(
        f.store
            .save_edit(
                p.id,
                edit(&[("outcome", text("moved")), ("outcome_note", text(note))]),
                false,
            )
            .unwrap(),
    );
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("name", p.name.as_bytes().to_vec()),
        ("resident ID", p.resident_id.as_str().as_bytes().to_vec()),
        ("certificate", p.certificate.to_string().into_bytes()),
        ("address", p.address.as_bytes().to_vec()),
        ("note", note.as_bytes().to_vec()),
    ];
    let check = |when: &str| {
        let mut files = 0;
        for entry in std::fs::read_dir(f.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            files += 1;
            for (what, needle) in &needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{when}: the {what} is readable in {}",
                    path.display()
                );
            }
        }
        assert!(files >= 2, "{when}: expected the database and its key file");
    };
    // While open (the WAL holds the latest pages), then after closing.
    check("open");
    drop(f.store);
    check("closed");
}

#[test]
fn schema_version_is_tracked_and_a_newer_schema_is_refused() {
    let (_dir, path, store) = empty_store();
    let v: i64 = store
        .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(v, MIGRATIONS.len() as i64);
    store
        .read(|c| Ok(c.pragma_update(None, "user_version", 99)?))
        .unwrap();
    drop(store);
    assert!(matches!(
        Store::open(&path, PIN),
        Err(AppError::NewerSchema { found: 99, .. })
    ));
}

// ---- crashes ----

/// Runs `scenario` in a child process (this test binary, running `crash_child`), which must
/// die mid-transaction.
fn crash_in_child(scenario: &str, path: &std::path::Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::store::crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DOORSTEP_CRASH_SCENARIO", scenario)
        .env("DOORSTEP_CRASH_PATH", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "the child should have crashed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("child: about to crash"), "{stdout}");
}

/// The child side of the crash tests; does nothing in a normal run.
#[test]
fn crash_child() {
    let (Ok(scenario), Ok(path)) = (
        std::env::var("DOORSTEP_CRASH_SCENARIO"),
        std::env::var("DOORSTEP_CRASH_PATH"),
    ) else {
        return;
    };
    let store = Store::open(&path, PIN).unwrap();
    let d = super::district();
    match scenario.as_str() {
        "save" => {
            let p = &d.persons[0];
            // Confirmed: the call returned.
            saved(
                store
                    .save_edit(p.id, edit(&[("outcome", text("away"))]), false)
                    .unwrap(),
            );
            failpoint::arm("save_edit.before_commit");
            println!("child: about to crash");
            let _ = store.save_edit(d.persons[1].id, edit(&[("outcome", text("moved"))]), false);
        }
        "pull" => {
            let mut rec = fresh(&d.persons[2], 100);
            rec.version = 2;
            rec.answers.insert("outcome".into(), Value::text("phone"));
            failpoint::arm("apply_pull_page.before_commit");
            println!("child: about to crash");
            let scope = d.communities.iter().map(|c| c.code.clone()).collect();
            let _ = store.apply_pull_page(&page(vec![rec], 100, scope));
        }
        other => panic!("unknown scenario {other}"),
    }
    unreachable!("the failpoint should have aborted the process");
}

#[test]
fn a_crash_mid_save_keeps_every_confirmed_edit() {
    let mut f = fx();
    let (a, b) = (f.person(0).id, f.person(1).id);
    // The parent keeps its own connection open meanwhile, like a second app process would.
    crash_in_child("save", &f.path);
    f.reopen();
    let store = &f.store;
    let ok: String = store
        .read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(ok, "ok");
    assert_eq!(store.record(a).unwrap().outcome, Some(Outcome::Away));
    assert_eq!(store.record(a).unwrap().pending, 1);
    assert_eq!(store.record(b).unwrap().outcome, None);
    assert_eq!(store.unsent_count().unwrap(), 1);
    // And the store goes on working.
    saved(
        store
            .save_edit(b, edit(&[("outcome", text("moved"))]), false)
            .unwrap(),
    );
    assert_eq!(store.unsent_count().unwrap(), 2);
}

#[test]
fn a_crash_mid_pull_page_loses_only_that_page() {
    let mut f = fx();
    let p = f.person(2).id;
    crash_in_child("pull", &f.path);
    f.reopen();
    assert_eq!(f.store.cursor().unwrap(), 45);
    assert_eq!(f.store.record(p).unwrap().outcome, None);
    assert_eq!(f.store.record(p).unwrap().version, 1);
}

#[test]
fn a_dropped_transaction_leaves_nothing_behind() {
    let f = fx();
    let p = f.person(0).id;
    saved(
        f.store
            .save_edit(p, edit(&[("outcome", text("away"))]), false)
            .unwrap(),
    );
    // A failing step inside a write rolls the whole transaction back.
    let err = f
        .store
        .write(|tx| {
            tx.execute("DELETE FROM outbox", [])?;
            Err::<(), _>(AppError::Storage("simulated".into()))
        })
        .unwrap_err();
    assert_eq!(err, AppError::Storage("simulated".into()));
    assert_eq!(f.store.unsent_count().unwrap(), 1);
}

// ---- edits, bases and the outbox ----

/// Saves a draft edit of the outcome and answers its mutation.
fn set_outcome(store: &Store, p: Uuid, outcome: &str) -> Uuid {
    saved(
        store
            .save_edit(p, edit(&[("outcome", text(outcome))]), false)
            .unwrap(),
    )
}

#[test]
fn edits_coalesce_until_sent_and_keep_the_server_base() {
    let f = fx();
    let p = f.person(0).id;
    let m1 = set_outcome(&f.store, p, "phone");
    let m2 = set_outcome(&f.store, p, "moved");
    assert_eq!(m1, m2, "an unsent edit of the same person is folded in");
    let batch = f.store.take_push_batch(500).unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(
        batch[0].changes["outcome"],
        Change {
            base: None,
            value: text("moved")
        }
    );
    // Sent (in flight): the next edit is a new mutation whose base is the in-flight value,
    // which the server applies first.
    let m3 = set_outcome(&f.store, p, "away");
    assert_ne!(m3, m1);
    let outbox = f.store.outbox().unwrap();
    assert_eq!(outbox.len(), 2);
    assert!(outbox[0].sent && !outbox[1].sent);
    let batch = f.store.take_push_batch(500).unwrap();
    assert_eq!(batch.len(), 2, "the in-flight one is sent again as is");
    assert_eq!(batch[0].id, m1);
    assert_eq!(
        batch[1].changes["outcome"],
        Change {
            base: text("moved"),
            value: text("away")
        }
    );
    // HLCs move on.
    assert!(batch[1].hlc > batch[0].hlc);
}

#[test]
fn an_answer_is_applied_once_per_mutation_whatever_it_repeats() {
    let f = fx();
    let (p, q, r) = (f.person(0).id, f.person(1).id, f.person(2).id);
    let m1 = set_outcome(&f.store, p, "phone");
    let m2 = set_outcome(&f.store, q, "phone");
    let _m3 = set_outcome(&f.store, r, "phone");
    let batch = f.store.take_push_batch(500).unwrap();
    assert_eq!(batch.len(), 3);
    // m1 answered twice, m2 with its item merged on the server, m3 not at all.
    let mut merged = applied(m2, 3);
    merged
        .items
        .insert("outcome".into(), ItemOutcome::SetMerged);
    let done = f
        .store
        .apply_push_results(
            &batch,
            &push_answer(vec![applied(m1, 2), applied(m1, 2), merged]),
        )
        .unwrap();
    assert_eq!(
        (done.applied, done.merged_items, done.unanswered),
        (2, 1, 1)
    );
    // m3 alone is still to be sent; the two others are kept as acknowledged.
    assert_eq!(f.store.unsent_count().unwrap(), 1);
    // Answered again (a retried answer): nothing is counted twice.
    let again = f
        .store
        .apply_push_results(&batch, &push_answer(vec![applied(m1, 2)]))
        .unwrap();
    assert_eq!((again.applied, again.unanswered), (0, 2));
}

#[test]
fn a_contradicting_repeat_does_not_undo_the_first_result() {
    let f = fx();
    let p = f.person(0).id;
    let m1 = set_outcome(&f.store, p, "phone");
    let batch = f.store.take_push_batch(500).unwrap();
    // Rejected first, then "applied" in the same answer: the first result stands.
    let mut refused = applied(m1, 0);
    refused.status = MutationStatus::Rejected;
    refused.message = Some("no".into());
    let done = f
        .store
        .apply_push_results(&batch, &push_answer(vec![refused, applied(m1, 2)]))
        .unwrap();
    assert_eq!((done.applied, done.rejected, done.unanswered), (0, 1, 0));
    let outbox = f.store.outbox().unwrap();
    assert_eq!(outbox.len(), 1, "the rejected edit stays on the device");
    assert_eq!(outbox[0].state, OutboxState::Rejected);
}

#[test]
fn the_sent_mark_survives_acknowledged_rows_and_retries() {
    let f = fx();
    let (p, q) = (f.person(0).id, f.person(1).id);
    let m1 = set_outcome(&f.store, p, "phone");
    let m2 = set_outcome(&f.store, q, "phone");
    let batch = f.store.take_push_batch(500).unwrap();
    assert_eq!(batch.len(), 2);
    // Both acknowledged: the outbox is empty, and SQLite alone would give the next row the
    // first `seq` again, at or below the sent mark.
    f.store
        .apply_push_results(&batch, &push_answer(vec![applied(m1, 2), applied(m2, 2)]))
        .unwrap();
    assert_eq!(f.store.unsent_count().unwrap(), 0);
    let m3 = set_outcome(&f.store, p, "moved");
    let outbox = f.store.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    assert!(
        !outbox[0].sent,
        "a row added after the batch is not in flight"
    );
    // So it still takes the next edit in.
    let m4 = set_outcome(&f.store, p, "away");
    assert_eq!(m3, m4, "an unsent edit is folded in");
    // Taken, then refused and retried: it keeps its place, frozen (never folded into).
    let batch = f.store.take_push_batch(500).unwrap();
    assert_eq!(batch.len(), 1);
    let mut refused = applied(m3, 0);
    refused.status = MutationStatus::Rejected;
    refused.message = Some("no".into());
    f.store
        .apply_push_results(&batch, &push_answer(vec![refused]))
        .unwrap();
    assert_eq!(f.store.retry_rejected(p).unwrap(), 1);
    let m5 = set_outcome(&f.store, p, "phone");
    let outbox = f.store.outbox().unwrap();
    assert_eq!(outbox.len(), 2);
    assert!(outbox[0].sent && !outbox[1].sent);
    assert_eq!(outbox[1].mutation, m5);
    let batch = f.store.take_push_batch(500).unwrap();
    assert_eq!(
        batch.len(),
        2,
        "the retried edit goes first, then the new one"
    );
    assert_eq!(batch[1].id, m5);
}

#[test]
fn an_edit_taken_back_leaves_nothing_to_send() {
    let f = fx();
    let p = f.person(0).id;
    saved(
        f.store
            .save_edit(p, edit(&[("outcome", text("phone"))]), false)
            .unwrap(),
    );
    assert_eq!(f.store.unsent_count().unwrap(), 1);
    saved(
        f.store
            .save_edit(p, edit(&[("outcome", None)]), false)
            .unwrap(),
    );
    assert_eq!(f.store.unsent_count().unwrap(), 0);
    assert_eq!(
        f.store
            .save_edit(p, edit(&[("outcome", None)]), false)
            .unwrap(),
        SaveResult::Unchanged
    );
}

#[test]
fn invalid_answers_are_returned_not_saved() {
    let f = fx();
    let p = f.person(0).id;
    // A draft checks the values given.
    let r = f
        .store
        .save_edit(p, edit(&[("outcome", text("gone_fishing"))]), false)
        .unwrap();
    let SaveResult::Invalid(errors) = r else {
        panic!("{r:?}")
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].item, "outcome");
    assert!(!errors[0].message_zh.is_empty());
    // Final needs every relevant required item.
    let r = f
        .store
        .save_edit(p, edit(&[("outcome", text("home_visit"))]), true)
        .unwrap();
    let SaveResult::Invalid(errors) = r else {
        panic!("{r:?}")
    };
    assert!(errors.iter().any(|e| e.item == "ethnicity"), "{errors:?}");
    assert_eq!(f.store.unsent_count().unwrap(), 0);
    assert_eq!(f.store.record(p).unwrap().outcome, None);
}

#[test]
fn finalizing_sets_status_and_prunes_what_no_longer_applies() {
    let f = fx();
    let p = f.person(0).id;
    saved(
        f.store
            .save_edit(
                p,
                edit(&[("outcome", text("home_visit")), ("visit_at", text("上午"))]),
                false,
            )
            .unwrap(),
    );
    // The person moved after all: the home-visit items no longer apply. Moving needs the note
    // saying where to.
    assert!(matches!(
        f.store
            .save_edit(p, edit(&[("outcome", text("moved"))]), true)
            .unwrap(),
        SaveResult::Invalid(_)
    ));
    saved(
        f.store
            .save_edit(
                p,
                edit(&[
                    ("outcome", text("moved")),
                    ("outcome_note", text("搬去株洲")),
                ]),
                true,
            )
            .unwrap(),
    );
    let v = f.store.record(p).unwrap();
    assert_eq!(v.status, Status::Final);
    assert_eq!(v.final_outcome, Some(Outcome::Moved));
    assert!(!v.answers.contains_key("visit_at"), "{:?}", v.answers);
    // A draft save of a final record keeps it final; reopen turns it back into a draft.
    saved(
        f.store
            .save_edit(p, edit(&[("outcome_note", text("搬去长沙"))]), false)
            .unwrap(),
    );
    assert_eq!(f.store.record(p).unwrap().status, Status::Final);
    saved(f.store.reopen(p).unwrap());
    let v = f.store.record(p).unwrap();
    assert_eq!(v.status, Status::Draft);
    assert_eq!(v.final_outcome, None);
}

#[test]
fn editing_needs_the_form_and_a_known_person() {
    let (_dir, _path, store) = empty_store();
    let unknown = Uuid::now_v7();
    assert_eq!(
        store.save_edit(unknown, edit(&[("outcome", text("away"))]), false),
        Err(AppError::UnknownPerson(unknown))
    );
    let f = fx();
    assert_eq!(
        f.store
            .save_edit(unknown, edit(&[("outcome", text("away"))]), false),
        Err(AppError::UnknownPerson(unknown))
    );
}

// ---- pulls and pending edits ----

#[test]
fn a_pull_never_overwrites_a_pending_edit() {
    let f = fx();
    let p = f.person(4).clone();
    saved(
        f.store
            .save_edit(p.id, edit(&[("outcome", text("moved"))]), false)
            .unwrap(),
    );
    let before = f.store.outbox().unwrap();

    // The server has a newer value for the same item (another device), and another item.
    let mut rec = fresh(&p, 200);
    rec.version = 3;
    rec.answers.insert("outcome".into(), Value::text("away"));
    rec.answers
        .insert("outcome_note".into(), Value::text("在广东打工"));
    let got = f
        .store
        .apply_pull_page(&page(vec![rec], 200, f.scope()))
        .unwrap();
    assert_eq!(got.pulled, 1);

    let v = f.store.record(p.id).unwrap();
    assert_eq!(
        v.answers["outcome"],
        Value::text("moved"),
        "the pending edit stays on top"
    );
    assert_eq!(v.answers["outcome_note"], Value::text("在广东打工"));
    assert_eq!(v.server_answers["outcome"], Value::text("away"));
    assert_eq!(v.version, 3);
    assert_eq!(v.pending, 1);
    assert_eq!(f.store.outbox().unwrap(), before, "the outbox is untouched");
    let batch = f.store.take_push_batch(10).unwrap();
    assert_eq!(
        batch[0].changes["outcome"].base, None,
        "the base stays what the device saw"
    );
    assert_eq!(batch[0].base_version, 1);
    assert_eq!(f.store.cursor().unwrap(), 200);

    // Accepted: the outbox empties and the view keeps the value until the next pull.
    let applied_ = f
        .store
        .apply_push_results(&batch, &push_answer(vec![applied(batch[0].id, 4)]))
        .unwrap();
    assert_eq!(applied_.applied, 1);
    assert_eq!(f.store.unsent_count().unwrap(), 0);
    let v = f.store.record(p.id).unwrap();
    assert_eq!(v.answers["outcome"], Value::text("moved"));
    assert_eq!(v.pending, 0);
}

#[test]
fn an_older_state_never_replaces_a_newer_one() {
    let f = fx();
    let p = f.person(0).clone();
    let mut newer = fresh(&p, 300);
    newer.answers.insert("outcome".into(), Value::text("away"));
    f.store
        .apply_pull_page(&page(vec![newer], 300, f.scope()))
        .unwrap();
    let older = fresh(&p, 5);
    let got = f
        .store
        .apply_pull_page(&page(vec![older], 300, f.scope()))
        .unwrap();
    assert_eq!(got.pulled, 0);
    assert_eq!(f.store.record(p.id).unwrap().outcome, Some(Outcome::Away));
}

#[test]
fn rejected_edits_stay_with_the_reason_until_retried_or_discarded() {
    let f = fx();
    let p = f.person(0).id;
    saved(
        f.store
            .save_edit(p, edit(&[("outcome", text("away"))]), false)
            .unwrap(),
    );
    let batch = f.store.take_push_batch(10).unwrap();
    let rejected = MutationResult {
        status: MutationStatus::Rejected,
        code: Some("out_of_scope".into()),
        message: Some("该社区不属于您 / Not your community".into()),
        ..applied(batch[0].id, 0)
    };
    let got = f
        .store
        .apply_push_results(&batch, &push_answer(vec![rejected]))
        .unwrap();
    assert_eq!(got.rejected, 1);
    let v = f.store.record(p).unwrap();
    assert_eq!(v.pending, 0);
    assert_eq!(
        v.rejected,
        Some((
            "out_of_scope".into(),
            "该社区不属于您 / Not your community".into()
        ))
    );
    assert_eq!(
        v.outcome,
        Some(Outcome::Away),
        "the worker still sees what they entered"
    );
    assert_eq!(f.store.unsent_count().unwrap(), 1);
    assert!(
        f.store.take_push_batch(10).unwrap().is_empty(),
        "not pushed again by itself"
    );
    let log = f.store.sync_log(10).unwrap();
    assert_eq!(log[0].kind, LogKind::Rejected);
    assert_eq!(log[0].name.as_deref(), Some(f.person(0).name.as_str()));
    let unsent = f.store.persons(None, Filter::Unsent, "").unwrap();
    assert_eq!(unsent.len(), 1);
    assert!(unsent[0].rejected);

    // Retried: pending again under a new ID.
    assert_eq!(f.store.retry_rejected(p).unwrap(), 1);
    let again = f.store.take_push_batch(10).unwrap();
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].id, batch[0].id);
    assert_eq!(again[0].changes, batch[0].changes);
    let rejected = MutationResult {
        status: MutationStatus::Rejected,
        code: Some("out_of_scope".into()),
        ..applied(again[0].id, 0)
    };
    f.store
        .apply_push_results(&again, &push_answer(vec![rejected]))
        .unwrap();
    assert_eq!(f.store.outbox().unwrap()[0].state, OutboxState::Rejected);
    // Discarded: gone, the view falls back to the server state.
    assert_eq!(f.store.discard_rejected(p).unwrap(), 1);
    assert_eq!(f.store.unsent_count().unwrap(), 0);
    assert_eq!(f.store.record(p).unwrap().outcome, None);
}

#[test]
fn merged_and_conflicting_items_are_logged() {
    let f = fx();
    let p = f.person(0).id;
    saved(
        f.store
            .save_edit(
                p,
                edit(&[("outcome", text("away")), ("outcome_note", text("x"))]),
                false,
            )
            .unwrap(),
    );
    let batch = f.store.take_push_batch(10).unwrap();
    let mut r = applied(batch[0].id, 5);
    r.items.insert("outcome".into(), ItemOutcome::Conflict);
    let got = f
        .store
        .apply_push_results(&batch, &push_answer(vec![r]))
        .unwrap();
    assert_eq!((got.applied, got.conflict_items), (1, 1));
    let log = f.store.sync_log(10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, LogKind::Merged);
    assert_eq!(log[0].items["outcome"], ItemOutcome::Conflict);
}

#[test]
fn scope_changes_drop_communities_only_without_unsent_edits() {
    let f = fx();
    let (a, b) = (
        f.d.communities[0].code.clone(),
        f.d.communities[1].code.clone(),
    );
    let in_b = f.d.persons.iter().find(|p| p.community == b).unwrap().id;
    saved(
        f.store
            .save_edit(in_b, edit(&[("outcome", text("away"))]), false)
            .unwrap(),
    );

    // b is reassigned away: kept while its edit is unsent.
    let got = f
        .store
        .apply_pull_page(&page(vec![], 50, vec![a.clone()]))
        .unwrap();
    assert!(got.dropped.is_empty());
    assert_eq!(f.store.communities().unwrap().len(), 2);

    let batch = f.store.take_push_batch(10).unwrap();
    let mut r = applied(batch[0].id, 2);
    r.reassigned = true;
    let got = f
        .store
        .apply_push_results(&batch, &push_answer(vec![r]))
        .unwrap();
    assert_eq!(got.reassigned, 1);
    assert_eq!(f.store.sync_log(10).unwrap()[0].kind, LogKind::Reassigned);

    // A supervisor's scope names the street: every community under it stays.
    let street = DivisionCode::parse(b.township().unwrap()).unwrap();
    let got = f
        .store
        .apply_pull_page(&page(vec![], 51, vec![street]))
        .unwrap();
    assert!(got.dropped.is_empty());
    assert_eq!(f.store.communities().unwrap().len(), 2);

    let got = f
        .store
        .apply_pull_page(&page(vec![], 52, vec![a.clone()]))
        .unwrap();
    assert_eq!(got.dropped, vec![b]);
    let left = f.store.communities().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].code, a);
    assert_eq!(f.store.scope().unwrap(), vec![a]);
}

#[test]
fn returned_records_are_reported_once_and_resubmitting_clears_them() {
    let f = fx();
    let p = f.person(0).clone();
    let mut rec = fresh(&p, 60);
    rec.answers.insert("outcome".into(), Value::text("away"));
    rec.answers.insert(STATUS.into(), Value::text("final"));
    rec.review = Review::Returned;
    rec.review_comment = Some("请补充外出去向".into());
    let got = f
        .store
        .apply_pull_page(&page(vec![rec.clone()], 60, f.scope()))
        .unwrap();
    assert_eq!(
        got.returned,
        vec![(p.name.clone(), "请补充外出去向".to_string())]
    );
    rec.seq = 61;
    let got = f
        .store
        .apply_pull_page(&page(vec![rec], 61, f.scope()))
        .unwrap();
    assert!(got.returned.is_empty(), "already known");

    let v = f.store.record(p.id).unwrap();
    assert_eq!((v.review, v.final_outcome), (Review::Returned, None));
    assert_eq!(
        f.store.persons(None, Filter::Returned, "").unwrap().len(),
        1
    );
    // Submitted again: the status item is sent even though it is already final.
    saved(
        f.store
            .save_edit(p.id, edit(&[("outcome_note", text("在广东打工"))]), true)
            .unwrap(),
    );
    let batch = f.store.take_push_batch(10).unwrap();
    assert_eq!(batch[0].changes[STATUS].value, text("final"));
    let v = f.store.record(p.id).unwrap();
    assert_eq!(
        (v.review, v.final_outcome),
        (Review::Pending, Some(Outcome::Away))
    );
    assert!(
        f.store
            .persons(None, Filter::Returned, "")
            .unwrap()
            .is_empty()
    );
}

// ---- lists, filters, search, figures ----

#[test]
fn filters_search_and_community_figures() {
    let f = fx();
    let comm = f.d.communities[0].code.clone();
    let in_comm: Vec<_> =
        f.d.persons
            .iter()
            .filter(|p| p.community == comm)
            .cloned()
            .collect();
    let total = in_comm.len();

    // Server states: one home visit done and approved, one phone done, one returned, one in
    // conflict; locally: one moved (final, unsent), one draft.
    let final_answers = |outcome: &str| {
        let mut a = doorstep_shared::value::Answers::new();
        a.insert("outcome".into(), Value::text(outcome));
        a.insert(STATUS.into(), Value::text("final"));
        a
    };
    let mut done_home = fresh(&in_comm[0], 100);
    done_home.answers = final_answers("home_visit");
    done_home.review = Review::Approved;
    let mut done_phone = fresh(&in_comm[1], 101);
    done_phone.answers = final_answers("phone");
    let mut returned = fresh(&in_comm[2], 102);
    returned.answers = final_answers("away");
    returned.review = Review::Returned;
    let mut conflicted = fresh(&in_comm[3], 103);
    conflicted
        .answers
        .insert("outcome".into(), Value::text("away"));
    let cand = |v: &str| Candidate {
        value: Some(Value::text(v)),
        by: Writer::unknown(),
    };
    conflicted.conflicts.insert(
        "outcome".into(),
        OpenConflict {
            base: None,
            candidates: vec![cand("away"), cand("moved")],
        },
    );
    f.store
        .apply_pull_page(&page(
            vec![done_home, done_phone, returned, conflicted],
            103,
            f.scope(),
        ))
        .unwrap();
    saved(
        f.store
            .save_edit(
                in_comm[4].id,
                edit(&[
                    ("outcome", text("moved")),
                    ("outcome_note", text("搬去长沙")),
                ]),
                true,
            )
            .unwrap(),
    );
    saved(
        f.store
            .save_edit(in_comm[5].id, edit(&[("outcome", text("away"))]), false)
            .unwrap(),
    );

    let count = |filter: Filter| f.store.persons(Some(&comm), filter, "").unwrap().len();
    assert_eq!(count(Filter::All), total);
    assert_eq!(count(Filter::Done), 3);
    assert_eq!(count(Filter::NotYet), total - 3);
    assert_eq!(count(Filter::Returned), 1);
    assert_eq!(count(Filter::Conflicts), 1);
    assert_eq!(count(Filter::Unsent), 2);
    assert_eq!(f.store.persons(None, Filter::All, "").unwrap().len(), 45);

    // Rows mask IDs.
    let rows = f.store.persons(Some(&comm), Filter::All, "").unwrap();
    for r in &rows {
        assert!(r.masked_id.contains("********"), "{}", r.masked_id);
        assert_eq!(r.masked_id.len(), 18);
    }
    let row = rows.iter().find(|r| r.person_id == in_comm[4].id).unwrap();
    assert!(row.done && row.pending == 1 && row.outcome == Some(Outcome::Moved));

    // Search: name substring, ID prefix, certificate prefix, last ID digits.
    let target = &in_comm[6];
    let given: String = target.name.chars().skip(1).collect();
    let by_name = f.store.persons(None, Filter::All, &given).unwrap();
    assert!(by_name.iter().any(|r| r.person_id == target.id));
    assert!(by_name.iter().all(|r| r.name.contains(&given)));
    let id = target.resident_id.as_str();
    let hits = f.store.persons(None, Filter::All, &id[..14]).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].person_id, target.id);
    let cert = target.certificate.to_string();
    let hits = f.store.persons(None, Filter::All, &cert).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].person_id, target.id);
    let hits = f
        .store
        .persons(None, Filter::All, &id[14..].to_lowercase())
        .unwrap();
    assert!(hits.iter().any(|r| r.person_id == target.id));
    assert!(
        f.store
            .persons(None, Filter::All, "无此人名字")
            .unwrap()
            .is_empty()
    );
    assert_eq!(f.store.persons(None, Filter::Done, "  ").unwrap().len(), 3);

    // Community figures from the local view.
    let summaries = f.store.communities().unwrap();
    assert_eq!(summaries.len(), 2);
    let s = summaries.iter().find(|s| s.code == comm).unwrap();
    assert_eq!((s.total, s.done), (total as u64, 3));
    assert_eq!((s.home_visit, s.phone), (1, 1));
    assert_eq!(s.home_visit_rate.to_string(), "50.00%");
    assert_eq!((s.returned, s.conflicts, s.unsent), (1, 1, 2));
    assert_eq!(s.name, comm.to_string(), "no names known yet");
    let names = [(comm.clone(), "城南社区".to_string())].into();
    f.store.set_community_names(&names).unwrap();
    let s = f
        .store
        .communities()
        .unwrap()
        .into_iter()
        .find(|s| s.code == comm)
        .unwrap();
    assert_eq!(s.name, "城南社区");
}

// ---- session ----

fn login_response(username: &str) -> LoginResponse {
    LoginResponse {
        token: format!("token-{username}"),
        expires_at: Utc::now() + chrono::Duration::days(7),
        device_id: Uuid::from_u128(42),
        account: Account {
            username: username.into(),
            display_name: "李专干".into(),
            role: Role::Worker,
            area: None,
            communities: vec![],
        },
    }
}

#[test]
fn another_account_cannot_strand_unsent_edits() {
    let f = fx();
    let url = "http://127.0.0.1:9";
    f.store
        .save_login(url, "li", &login_response("li"))
        .unwrap();
    assert_eq!(
        f.store.prepare_sign_in(url, "li").unwrap(),
        Some(Uuid::from_u128(42))
    );
    let s = f.store.session().unwrap().unwrap();
    assert!(s.signed_in());
    assert_eq!(s.account.display_name, "李专干");

    saved(
        f.store
            .save_edit(f.person(0).id, edit(&[("outcome", text("away"))]), false)
            .unwrap(),
    );
    let err = f.store.prepare_sign_in(url, "wang").unwrap_err();
    assert!(
        matches!(err, AppError::OtherUserHasUnsent { unsent: 1, .. }),
        "{err:?}"
    );
    assert!(
        f.store
            .save_login(url, "wang", &login_response("wang"))
            .is_err()
    );

    // Once sent, another account may sign in; the previous account's data goes.
    let batch = f.store.take_push_batch(10).unwrap();
    f.store
        .apply_push_results(&batch, &push_answer(vec![applied(batch[0].id, 2)]))
        .unwrap();
    f.store
        .save_login(url, "wang", &login_response("wang"))
        .unwrap();
    assert!(f.store.persons(None, Filter::All, "").unwrap().is_empty());
    assert_eq!(f.store.cursor().unwrap(), 0);
    assert!(f.store.form().unwrap().is_some(), "the form is kept");
    f.store.clear_token().unwrap();
    assert!(!f.store.session().unwrap().unwrap().signed_in());
}

#[test]
fn a_new_campaign_starts_from_scratch_but_keeps_unsent_records() {
    let f = fx();
    let p = f.person(0).id;
    saved(
        f.store
            .save_edit(p, edit(&[("outcome", text("away"))]), false)
            .unwrap(),
    );
    f.store.reset_for_new_campaign().unwrap();
    assert_eq!(f.store.cursor().unwrap(), 0);
    assert_eq!(f.store.campaign().unwrap(), None);
    let rows = f.store.persons(None, Filter::All, "").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].person_id, p);
}

// ---- answers kept as they are given (scratch) ----

#[test]
fn unsaved_answers_survive_a_reopened_store_and_late_writes_lose() {
    let f = fx();
    let p = f.person(0).id;
    let edits = |v: &str| -> crate::scratch::Edits {
        [("outcome_note".to_string(), Some(Value::text(v)))].into()
    };
    let early = crate::scratch::next_stamp();
    let later = crate::scratch::next_stamp();
    assert!(later > early);
    f.store.put_scratch(p, later, &edits("外出务工")).unwrap();
    // A write that started earlier but lands later does not replace the newer one.
    f.store.put_scratch(p, early, &edits("外")).unwrap();
    assert_eq!(f.store.scratch(p).unwrap(), edits("外出务工"));
    assert!(f.store.persons_with_scratch().unwrap().contains(&p));
    assert!(
        f.store
            .persons(None, crate::Filter::All, "")
            .unwrap()
            .iter()
            .any(|r| r.person_id == p && r.unsaved)
    );
    // The app is killed and started again: the answers are still there.
    let path = f.path.clone();
    drop(f.store);
    let store = Store::open(&path, PIN).unwrap();
    assert_eq!(store.scratch(p).unwrap(), edits("外出务工"));
    // Saved: cleared with a newer stamp; an older keystroke's write cannot bring it back.
    let saved = crate::scratch::next_stamp();
    store
        .put_scratch(p, saved, &crate::scratch::Edits::new())
        .unwrap();
    store.put_scratch(p, later, &edits("外出务工")).unwrap();
    assert!(store.scratch(p).unwrap().is_empty());
    assert!(store.persons_with_scratch().unwrap().is_empty());
    let _keep = f.dir;
}

#[test]
fn an_approved_record_cannot_be_edited_on_the_device() {
    let f = fx();
    let p = f.person(1).id;
    f.store
        .read(|c| {
            c.execute(
                "UPDATE records SET review = 'approved' WHERE person_id = ?1",
                [p.to_string()],
            )?;
            Ok(())
        })
        .unwrap();
    let r = f.store.save_edit(
        p,
        [("outcome_note".to_string(), Some(Value::text("x")))].into(),
        false,
    );
    assert_eq!(r, Err(AppError::RecordApproved(p)));
    assert_eq!(f.store.unsent_count().unwrap(), 0);
}

#[test]
fn a_street_approved_record_cannot_be_edited_on_the_device_either() {
    let f = fx();
    let p = f.person(1).clone();
    let other = f.person(2).clone();
    let mut street = fresh(&p, 70);
    street.answers.insert("outcome".into(), Value::text("away"));
    street.answers.insert(STATUS.into(), Value::text("final"));
    street.review = Review::StreetApproved;
    let mut approved = fresh(&other, 71);
    approved.answers = street.answers.clone();
    approved.review = Review::Approved;
    f.store
        .apply_pull_page(&page(vec![street.clone(), approved], 71, f.scope()))
        .unwrap();
    assert_eq!(f.store.record(p.id).unwrap().review, Review::StreetApproved);
    for id in [p.id, other.id] {
        let r = f
            .store
            .save_edit(id, edit(&[("outcome_note", text("x"))]), false);
        assert_eq!(r, Err(AppError::RecordApproved(id)));
        assert_eq!(f.store.reopen(id), Err(AppError::RecordApproved(id)));
        assert_eq!(
            f.store.save_edit(id, edit(&[]), true),
            Err(AppError::RecordApproved(id))
        );
    }
    assert_eq!(f.store.unsent_count().unwrap(), 0);
    // Returned by the district: the worker may change it again.
    street.review = Review::Returned;
    street.review_comment = Some("请补充外出去向".into());
    street.seq = 72;
    f.store
        .apply_pull_page(&page(vec![street], 72, f.scope()))
        .unwrap();
    saved(
        f.store
            .save_edit(p.id, edit(&[("outcome_note", text("在广东打工"))]), false)
            .unwrap(),
    );
    assert_eq!(f.store.unsent_count().unwrap(), 1);
}

fn notes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// The stored `review_notes` column of a person's record (`None` for NULL).
fn stored_notes(store: &Store, person: Uuid) -> Option<String> {
    store
        .read(|c| {
            Ok(c.query_row(
                "SELECT review_notes FROM records WHERE person_id = ?1",
                [person.to_string()],
                |r| r.get(0),
            )?)
        })
        .unwrap()
}

#[test]
fn a_returned_records_item_notes_round_trip_through_the_store_into_the_view() {
    let mut f = fx();
    let p = f.person(0).clone();
    let q = f.person(1).id;
    // Pulled without notes: nothing stored.
    assert_eq!(stored_notes(&f.store, p.id), None);
    assert!(f.store.record(p.id).unwrap().review_notes.is_empty());

    let given = notes(&[
        ("outcome_note", "请写明外出去向和联系方式"),
        ("phone", "电话号码少一位"),
        ("income_level", "请核实家庭收入"),
    ]);
    let mut rec = fresh(&p, 60);
    rec.answers.insert("outcome".into(), Value::text("away"));
    rec.answers.insert(STATUS.into(), Value::text("final"));
    rec.review = Review::Returned;
    rec.review_comment = Some("请补充外出去向".into());
    rec.review_notes = given.clone();
    let got = f
        .store
        .apply_pull_page(&page(vec![rec.clone()], 60, f.scope()))
        .unwrap();
    assert_eq!(got.returned.len(), 1);
    assert!(stored_notes(&f.store, p.id).is_some());
    assert_eq!(stored_notes(&f.store, q), None);

    let v = f.store.record(p.id).unwrap();
    assert_eq!(v.review, Review::Returned);
    assert_eq!(v.review_comment.as_deref(), Some("请补充外出去向"));
    assert_eq!(v.review_notes, given);
    // The list's views carry them too, and they survive closing the store.
    f.reopen();
    assert_eq!(f.store.record(p.id).unwrap().review_notes, given);
    assert_eq!(
        f.store
            .read(|c| crate::store::load_record(c, p.id))
            .unwrap()
            .unwrap()
            .review_notes,
        given
    );

    // The same return pulled again is not news; new notes on it are.
    rec.seq = 61;
    let got = f
        .store
        .apply_pull_page(&page(vec![rec.clone()], 61, f.scope()))
        .unwrap();
    assert!(got.returned.is_empty());
    rec.seq = 62;
    rec.review_notes = notes(&[("outcome_note", "请写明外出去向")]);
    let got = f
        .store
        .apply_pull_page(&page(vec![rec.clone()], 62, f.scope()))
        .unwrap();
    assert_eq!(got.returned.len(), 1);
    assert_eq!(f.store.record(p.id).unwrap().review_notes, rec.review_notes);

    // A draft saved: still returned, the notes still show.
    saved(
        f.store
            .save_edit(p.id, edit(&[("outcome_note", text("在广东打工"))]), false)
            .unwrap(),
    );
    let v = f.store.record(p.id).unwrap();
    assert_eq!(v.review, Review::Returned);
    assert_eq!(v.review_notes, rec.review_notes);
    // Submitted again: back in review, the notes no longer show (like the comment's banner);
    // the pulled state keeps them until the server's next one.
    saved(f.store.save_edit(p.id, edit(&[]), true).unwrap());
    let v = f.store.record(p.id).unwrap();
    assert_eq!(v.review, Review::Pending);
    assert!(v.review_notes.is_empty());
    assert!(stored_notes(&f.store, p.id).is_some());
    // The server's record without notes clears them.
    let batch = f.store.take_push_batch(10).unwrap();
    f.store
        .apply_push_results(&batch, &push_answer(vec![applied(batch[0].id, 3)]))
        .unwrap();
    let mut back = rec.clone();
    back.seq = 63;
    back.version = 3;
    back.review = Review::Pending;
    back.review_comment = None;
    back.review_notes = BTreeMap::new();
    f.store
        .apply_pull_page(&page(vec![back], 63, f.scope()))
        .unwrap();
    assert_eq!(stored_notes(&f.store, p.id), None);
    assert!(f.store.record(p.id).unwrap().review_notes.is_empty());
}

#[test]
fn a_store_from_before_review_notes_gains_the_column() {
    let f = fx();
    let path = f.path.clone();
    let p = f.person(0).clone();
    // The store as migration 3 left it.
    let store = reopened_from(
        f.store,
        &path,
        "ALTER TABLE records DROP COLUMN review_notes; PRAGMA user_version = 3;",
    );
    assert!(store.record(p.id).unwrap().review_notes.is_empty());
    let mut rec = fresh(&p, 60);
    rec.review = Review::Returned;
    rec.review_notes = notes(&[("phone", "电话号码少一位")]);
    store
        .apply_pull_page(&page(
            vec![rec.clone()],
            60,
            f.d.communities.iter().map(|c| c.code.clone()).collect(),
        ))
        .unwrap();
    assert_eq!(store.record(p.id).unwrap().review_notes, rec.review_notes);
    let _keep = f.dir;
}

#[test]
fn the_list_is_in_walking_order_and_a_shown_certificate_finds_its_person() {
    let f = fx();
    let rows = f.store.persons(None, crate::Filter::All, "").unwrap();
    for w in rows.windows(2) {
        assert_ne!(
            doorstep_shared::place::walking_order(&w[0].address, &w[1].address),
            std::cmp::Ordering::Greater,
            "{} before {}",
            w[0].address,
            w[1].address
        );
    }
    let person = f.person(2);
    let cert = person.certificate.to_string();
    for q in [
        cert.clone(),
        person.certificate.masked(),
        cert[cert.len() - 4..].to_string(),
    ] {
        let hits = f.store.persons(None, crate::Filter::All, &q).unwrap();
        assert!(
            hits.iter().any(|r| r.person_id == person.id),
            "{q} finds {}",
            person.name
        );
    }
}

/// A pull page read off the wire keeps each record's answers, conflicts and prior as the JSON
/// text received; stored that way, the record reads back as the server's state, field for field.
#[test]
fn a_pulled_record_stored_as_received_reads_back_as_the_servers_state() {
    let f = fx();
    let p = f.person(0);
    let mut rec = fresh(p, 300);
    rec.version = 4;
    rec.answers
        .insert("outcome".into(), Value::text("home_visit"));
    rec.answers.insert(
        "devices_needed".into(),
        Value::Set(["wheelchair".to_string()].into()),
    );
    rec.review = Review::Returned;
    rec.review_comment = Some("请补充电话 / add the phone".into());
    rec.review_notes
        .insert("phone".into(), "空号 / not in service".into());
    let writer = |user: &str, n: u128| Writer {
        user: user.into(),
        rank: 1,
        device: None,
        mutation: Uuid::from_u128(n),
        hlc: Hlc {
            wall: 10,
            counter: 0,
        },
        at_ms: 10,
    };
    rec.conflicts.insert(
        "marital_status".into(),
        OpenConflict {
            base: None,
            candidates: vec![
                Candidate {
                    value: Some(Value::text("married")),
                    by: writer("w001", 1),
                },
                Candidate {
                    value: Some(Value::text("single")),
                    by: writer("w002", 2),
                },
            ],
        },
    );
    rec.prior = Some([("phone".to_string(), Value::text("13900000000"))].into());
    let wire = serde_json::to_string(&doorstep_shared::sync::PullResponse {
        protocol: doorstep_shared::sync::PROTOCOL_VERSION,
        records: vec![rec.clone()],
        removed: Vec::new(),
        cursor: 300,
        more: false,
        scope: f.scope(),
        community_names: BTreeMap::new(),
        campaign: super::campaign(),
        server_time: Hlc {
            wall: 10,
            counter: 0,
        },
    })
    .unwrap();
    let page: crate::PulledPage = serde_json::from_str(&wire).unwrap();
    assert_eq!(f.store.apply_pull_page(&page).unwrap().pulled, 1);
    let v = f.store.record(p.id).unwrap();
    assert_eq!(v.person, rec.person);
    assert_eq!(v.version, rec.version);
    assert_eq!(v.server_answers, rec.answers);
    assert_eq!(v.review, rec.review);
    assert_eq!(v.review_comment, rec.review_comment);
    assert_eq!(v.review_notes, rec.review_notes);
    assert_eq!(v.conflicts, rec.conflicts);
    assert_eq!(v.prior, rec.prior);
}

/// How many acknowledged edits the outbox keeps (laid over records until a pull).
fn acked_rows(store: &Store) -> i64 {
    store
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM outbox WHERE state = 'acked'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap()
}

#[test]
fn an_acknowledged_edit_is_laid_over_the_record_until_a_pull_brings_it() {
    let f = fx();
    let p = f.person(0).clone();
    let mut first = fresh(&p, 10);
    first
        .answers
        .insert("outcome_note".into(), Value::text("旧"));
    f.store
        .apply_pull_page(&page(vec![first], 10, f.scope()))
        .unwrap();
    saved(
        f.store
            .save_edit(
                p.id,
                edit(&[("outcome", text("away")), ("outcome_note", text("新"))]),
                false,
            )
            .unwrap(),
    );
    let batch = f.store.take_push_batch(10).unwrap();
    // Applied at version 5; the note was in conflict on the server (its value there unknown).
    let mut r = applied(batch[0].id, 5);
    r.items.insert("outcome_note".into(), ItemOutcome::Conflict);
    f.store
        .apply_push_results(&batch, &push_answer(vec![r]))
        .unwrap();

    // Nothing left to send, and the record reads as the server holds it as far as the device
    // knows: the value taken, the version answered, the conflicting item as it was.
    assert_eq!(f.store.unsent_count().unwrap(), 0);
    assert!(f.store.outbox().unwrap().is_empty());
    assert!(f.store.take_push_batch(10).unwrap().is_empty());
    assert_eq!(acked_rows(&f.store), 1);
    let v = f.store.record(p.id).unwrap();
    assert_eq!(v.answers["outcome"], Value::text("away"));
    assert_eq!(v.server_answers["outcome"], Value::text("away"));
    assert_eq!(v.answers["outcome_note"], Value::text("旧"));
    assert_eq!(v.version, 5);
    assert_eq!(v.pending, 0);
    let listed = f
        .store
        .persons(None, Filter::All, "")
        .unwrap()
        .into_iter()
        .find(|r| r.person_id == p.id)
        .unwrap();
    assert_eq!(listed.outcome, Some(Outcome::Away), "the list reads it too");

    // A new edit bases itself on the acknowledged value and version.
    saved(
        f.store
            .save_edit(p.id, edit(&[("outcome", text("moved"))]), false)
            .unwrap(),
    );
    let next = f.store.take_push_batch(10).unwrap();
    assert_eq!(next[0].changes["outcome"].base, text("away"));
    assert_eq!(next[0].base_version, 5);
    f.store
        .apply_push_results(&next, &push_answer(vec![applied(next[0].id, 6)]))
        .unwrap();
    assert_eq!(acked_rows(&f.store), 2);

    // A pull of an older version (read before the edits were applied) keeps them laid over it.
    let mut older = fresh(&p, 11);
    older.version = 4;
    older
        .answers
        .insert("outcome_note".into(), Value::text("服务器的"));
    f.store
        .apply_pull_page(&page(vec![older], 11, f.scope()))
        .unwrap();
    assert_eq!(acked_rows(&f.store), 2);
    let v = f.store.record(p.id).unwrap();
    assert_eq!(v.answers["outcome"], Value::text("moved"));
    assert_eq!(v.answers["outcome_note"], Value::text("服务器的"));
    assert_eq!(v.version, 6);

    // The pull of version 5 drops the edit it holds; version 6 the last one: the record is the
    // server's own.
    let mut at5 = fresh(&p, 12);
    at5.version = 5;
    at5.answers.insert("outcome".into(), Value::text("away"));
    f.store
        .apply_pull_page(&page(vec![at5], 12, f.scope()))
        .unwrap();
    assert_eq!(acked_rows(&f.store), 1);
    assert_eq!(
        f.store.record(p.id).unwrap().answers["outcome"],
        Value::text("moved")
    );
    let mut at6 = fresh(&p, 13);
    at6.version = 6;
    at6.answers.insert("outcome".into(), Value::text("moved"));
    at6.answers
        .insert("outcome_note".into(), Value::text("服务器的"));
    f.store
        .apply_pull_page(&page(vec![at6], 13, f.scope()))
        .unwrap();
    assert_eq!(acked_rows(&f.store), 0);
    let v = f.store.record(p.id).unwrap();
    assert_eq!(v.answers["outcome"], Value::text("moved"));
    assert_eq!(v.version, 6);
}

#[test]
fn a_store_from_before_acknowledged_edits_keeps_its_outbox() {
    let f = fx();
    let path = f.path.clone();
    let p = f.person(0).id;
    saved(
        f.store
            .save_edit(p, edit(&[("outcome", text("away"))]), false)
            .unwrap(),
    );
    let before = f.store.outbox().unwrap();
    // The outbox as migration 4 left it.
    let store = reopened_from(
        f.store,
        &path,
        "CREATE TABLE outbox_v4 (
                seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, person_id TEXT NOT NULL,
                base_version INTEGER NOT NULL, hlc TEXT NOT NULL, changes TEXT NOT NULL,
                created_at INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0,
                state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected')),
                reject_code TEXT, reject_message TEXT);
             INSERT INTO outbox_v4 SELECT seq, id, person_id, base_version, hlc, changes,
                created_at, sent, state, reject_code, reject_message FROM outbox;
             DROP TABLE outbox;
             ALTER TABLE outbox_v4 RENAME TO outbox;
             CREATE INDEX outbox_person ON outbox (person_id, seq);
             PRAGMA user_version = 4;",
    );
    assert_eq!(store.outbox().unwrap(), before);
    let batch = store.take_push_batch(10).unwrap();
    store
        .apply_push_results(&batch, &push_answer(vec![applied(batch[0].id, 2)]))
        .unwrap();
    assert_eq!(store.unsent_count().unwrap(), 0);
    assert_eq!(acked_rows(&store), 1);
}
