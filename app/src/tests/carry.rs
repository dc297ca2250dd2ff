//! The year-over-year update on the device: the prior kept per record, "same as last year" on
//! a section as one ordinary edit, the per-item diff in the record view.

use doorstep_shared::carry::{ItemChange, carried};
use doorstep_shared::demo::{SplitMix64, fill_questionnaire};
use doorstep_shared::domain::{OUTCOME, Outcome};
use doorstep_shared::form::FormDefinition;
use doorstep_shared::value::{Answers, Value};
use uuid::Uuid;

use super::{Fx, campaign, edit, fresh, fx, page, reopened_from, text};
use crate::model::SaveResult;

/// Last year's carried answers of person `i` (a full home-visit questionnaire).
fn prior_of(f: &Fx, i: usize) -> Answers {
    let form = FormDefinition::dynamic_update_2021();
    let last = fill_questionnaire(
        &form,
        f.person(i),
        &campaign(),
        Outcome::HomeVisit,
        &mut SplitMix64::new(42 + i as u64),
    );
    carried(&form, &last)
}

/// Pulls person `i` again with `prior` and these answers.
fn pull_with_prior(f: &Fx, i: usize, prior: &Answers, answers: Answers) {
    let mut rec = fresh(f.person(i), 100 + i as u64);
    rec.answers = answers;
    rec.prior = Some(prior.clone());
    f.store
        .apply_pull_page(&page(vec![rec], 100 + i as u64, f.scope()))
        .unwrap();
}

fn home_visit() -> Answers {
    [(OUTCOME.to_string(), Value::text("home_visit"))].into()
}

/// The items of the basic section with a prior value, sorted (as the outbox lists them).
fn basic_keys(prior: &Answers) -> Vec<String> {
    let form = FormDefinition::dynamic_update_2021();
    let s = form.sections.iter().find(|s| s.key == "basic").unwrap();
    let mut keys: Vec<String> = s
        .items
        .iter()
        .filter(|i| prior.contains_key(&i.key))
        .map(|i| i.key.clone())
        .collect();
    keys.sort();
    keys
}

#[test]
fn the_prior_is_stored_and_read_back_across_reopening() {
    let mut f = fx();
    let p = f.person(0).id;
    assert_eq!(f.store.record(p).unwrap().prior, None);
    let prior = prior_of(&f, 0);
    assert!(prior.contains_key("ethnicity") && !prior.contains_key(OUTCOME));
    pull_with_prior(&f, 0, &prior, Answers::new());
    f.reopen();
    let v = f.store.record(p).unwrap();
    assert_eq!(v.prior.as_ref(), Some(&prior));
    // Nothing is relevant before an outcome: nothing to compare yet.
    assert!(v.changes.is_empty());
    // A later pull without a prior clears it (the server's state is the truth).
    f.store
        .apply_pull_page(&page(vec![fresh(f.person(0), 200)], 200, f.scope()))
        .unwrap();
    assert_eq!(f.store.record(p).unwrap().prior, None);
}

#[test]
fn confirming_a_section_writes_last_years_values_then_a_change_shows_in_the_diff() {
    let f = fx();
    let p = f.person(1).id;
    let prior = prior_of(&f, 1);
    pull_with_prior(&f, 1, &prior, home_visit());
    let v = f.store.record(p).unwrap();
    assert!(
        v.changes.values().all(|c| *c == ItemChange::Open),
        "{:?}",
        v.changes
    );
    assert_eq!(v.changes["ethnicity"], ItemChange::Open);

    // One tap: exactly last year's values of the section's relevant items, as one edit.
    let r = f.store.confirm_section(p, "basic").unwrap();
    assert!(matches!(r, SaveResult::Saved { .. }), "{r:?}");
    let outbox = f.store.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    let keys = basic_keys(&prior);
    assert!(!keys.is_empty());
    assert_eq!(
        outbox[0].items, keys,
        "exactly the basic items with a prior"
    );
    let batch = f.store.take_push_batch(500).unwrap();
    assert_eq!(batch.len(), 1);
    for k in &keys {
        assert_eq!(batch[0].changes[k].value.as_ref(), prior.get(k), "{k}");
        assert_eq!(batch[0].changes[k].base, None, "{k}");
    }
    let v = f.store.record(p).unwrap();
    for k in &keys {
        assert_eq!(v.answers.get(k), prior.get(k));
        assert_eq!(v.changes[k], ItemChange::Unchanged, "{k}");
    }
    assert_eq!(
        v.changes["income_level"],
        ItemChange::Open,
        "other sections untouched"
    );

    // Change one item: changed for it, unchanged for the rest of the section.
    let other = if prior["marital_status"] == Value::text("married") {
        "widowed"
    } else {
        "married"
    };
    let r = f
        .store
        .save_edit(p, edit(&[("marital_status", text(other))]), false)
        .unwrap();
    assert!(matches!(r, SaveResult::Saved { .. }), "{r:?}");
    let v = f.store.record(p).unwrap();
    assert_eq!(v.changes["marital_status"], ItemChange::Changed);
    for k in keys.iter().filter(|k| *k != "marital_status") {
        assert_eq!(v.changes[k], ItemChange::Unchanged, "{k}");
    }
    assert_eq!(
        v.changes
            .values()
            .filter(|c| **c == ItemChange::Changed)
            .count(),
        1
    );

    // A section that never carries writes nothing.
    let before = f.store.outbox().unwrap();
    assert_eq!(
        f.store.confirm_section(p, "outcome").unwrap(),
        SaveResult::Unchanged
    );
    assert_eq!(
        f.store.confirm_section(p, "no_such_section").unwrap(),
        SaveResult::Unchanged
    );
    assert_eq!(f.store.outbox().unwrap(), before);
}

#[test]
fn confirming_without_a_prior_writes_nothing() {
    let f = fx();
    let p = f.person(2).id;
    f.store
        .save_edit(p, edit(&[(OUTCOME, text("phone"))]), false)
        .unwrap();
    let before = f.store.outbox().unwrap();
    assert_eq!(
        f.store.confirm_section(p, "basic").unwrap(),
        SaveResult::Unchanged
    );
    assert_eq!(f.store.outbox().unwrap(), before);
    assert!(f.store.record(p).unwrap().changes.is_empty());
    assert!(matches!(
        f.store.confirm_section(Uuid::nil(), "basic"),
        Err(crate::error::AppError::UnknownPerson(_))
    ));
}

#[test]
fn confirming_with_the_screens_unsaved_outcome_saves_both_in_one_edit() {
    let f = fx();
    let p = f.person(3).id;
    let prior = prior_of(&f, 3);
    pull_with_prior(&f, 3, &prior, Answers::new());
    // Without an outcome the section does not apply: nothing to confirm.
    assert_eq!(
        f.store.confirm_section(p, "basic").unwrap(),
        SaveResult::Unchanged
    );
    let r = f
        .store
        .confirm_section_with(p, "basic", edit(&[(OUTCOME, text("phone"))]))
        .unwrap();
    assert!(matches!(r, SaveResult::Saved { .. }), "{r:?}");
    let outbox = f.store.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    let mut want = basic_keys(&prior);
    want.push(OUTCOME.to_string());
    want.sort();
    assert_eq!(outbox[0].items, want);
    let v = f.store.record(p).unwrap();
    assert_eq!(v.answers[OUTCOME], Value::text("phone"));
    assert_eq!(v.answers["ethnicity"], prior["ethnicity"]);
}

#[test]
fn an_older_store_gains_the_prior_column() {
    let f = fx();
    let path = f.path.clone();
    let p = f.person(0).id;
    // The store as the first schema left it.
    let store = reopened_from(
        f.store,
        &path,
        "DROP TABLE scratch; ALTER TABLE records DROP COLUMN prior;
             ALTER TABLE records DROP COLUMN review_notes; PRAGMA user_version = 1;",
    );
    assert_eq!(store.record(p).unwrap().prior, None);
    let _keep = f.dir;
}

#[test]
fn an_accepted_push_keeps_the_prior() {
    let f = fx();
    let p = f.person(4).id;
    let prior = prior_of(&f, 4);
    pull_with_prior(&f, 4, &prior, home_visit());
    f.store.confirm_section(p, "economy").unwrap();
    let batch = f.store.take_push_batch(500).unwrap();
    assert_eq!(batch.len(), 1);
    let resp = doorstep_shared::sync::PushResponse {
        protocol: doorstep_shared::sync::PROTOCOL_VERSION,
        results: vec![doorstep_shared::sync::MutationResult {
            id: batch[0].id,
            status: doorstep_shared::sync::MutationStatus::Applied,
            version: 2,
            items: std::collections::BTreeMap::new(),
            reassigned: false,
            late: false,
            errors: Vec::new(),
            code: None,
            message: None,
        }],
        server_time: doorstep_shared::hlc::Hlc::default(),
        in_order: false,
    };
    f.store.apply_push_results(&batch, &resp).unwrap();
    assert_eq!(f.store.unsent_count().unwrap(), 0);
    let v = f.store.record(p).unwrap();
    assert_eq!(v.prior.as_ref(), Some(&prior));
    assert_eq!(v.server_answers["income_level"], prior["income_level"]);
    assert_eq!(v.changes["income_level"], ItemChange::Unchanged);
}
