//! The sync engine against the in-process mock server.

use std::time::Duration;

use doorstep_shared::domain::Outcome;
use doorstep_shared::merge::ItemOutcome;
use doorstep_shared::value::Value;

use super::mock::{Mock, PASSWORD};
use super::{edit, empty_store, text};
use crate::client::Client;
use crate::error::AppError;
use crate::model::{Filter, LogKind};
use crate::store::Store;
use crate::sync::{SyncEngine, SyncOptions};

fn engine() -> SyncEngine {
    SyncEngine::with_options(SyncOptions {
        pull_limit: 10,
        push_batch: 3,
        retry_initial: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        ..SyncOptions::default()
    })
}

async fn signed_in(mock: &Mock) -> (tempfile::TempDir, Store, SyncEngine) {
    let (dir, _path, store) = empty_store();
    let e = engine();
    e.login(&store, &mock.url, "li", PASSWORD, "test phone")
        .await
        .unwrap();
    (dir, store, e)
}

/// Syncs to the same server reuse the kept client's connection; another account's token
/// gets a client of its own.
#[tokio::test]
async fn syncs_reuse_the_connection_of_the_sync_before() {
    let mock = Mock::start().await;
    let (_dir, store, e) = signed_in(&mock).await;
    e.sync_once(&store).await.unwrap();
    let after_first = mock.with(|s| s.connections.len());
    for _ in 0..3 {
        e.sync_once(&store).await.unwrap();
    }
    assert_eq!(
        mock.with(|s| s.connections.len()),
        after_first,
        "later syncs opened connections of their own"
    );
    // Another device's store (another token) on the same engine: a client made for it.
    let (_dir2, _path2, other) = empty_store();
    e.login(&other, &mock.url, "li", PASSWORD, "other phone")
        .await
        .unwrap();
    let before = mock.with(|s| s.connections.len());
    e.sync_once(&other).await.unwrap();
    assert!(mock.with(|s| s.connections.len()) > before);
}

#[tokio::test]
async fn login_pull_edit_push_changes_the_server() {
    let mock = Mock::start().await;
    let (_dir, _path, store) = empty_store();
    let e = engine();

    assert_eq!(
        e.sync_once(&store).await.unwrap_err(),
        AppError::NotSignedIn
    );
    assert_eq!(
        e.login(&store, &mock.url, "li", "wrong", "test phone")
            .await
            .unwrap_err(),
        AppError::BadCredentials
    );
    let account = e
        .login(
            &store,
            &format!("{}/", mock.url),
            " li ",
            PASSWORD,
            "test phone",
        )
        .await
        .unwrap();
    assert_eq!(account.username, "li");
    let session = store.session().unwrap().unwrap();
    assert_eq!(session.server_url, mock.url);
    assert_eq!(session.username, "li");

    // First sync: the whole roster in pages of 10, and the form.
    let r = e.sync_once(&store).await.unwrap();
    assert_eq!((r.pushed, r.pulled), (0, 45));
    assert!(r.form_updated);
    assert_eq!(store.cursor().unwrap(), 45);
    assert_eq!(store.persons(None, Filter::All, "").unwrap().len(), 45);
    assert!(store.last_sync_at().unwrap().is_some());

    // Edit offline, then sync: the server has it, the outbox is empty.
    let persons = store.persons(None, Filter::All, "").unwrap();
    let ids: Vec<_> = persons.iter().take(7).map(|p| p.person_id).collect();
    for id in &ids {
        store
            .save_edit(
                *id,
                edit(&[
                    ("outcome", text("moved")),
                    ("outcome_note", text("搬到长沙")),
                ]),
                true,
            )
            .unwrap();
    }
    assert_eq!(store.unsent_count().unwrap(), 7);
    let r = e.sync_once(&store).await.unwrap();
    assert_eq!((r.pushed, r.applied, r.rejected), (7, 7, 0));
    assert_eq!(r.pulled, 7, "the changed records come back");
    assert!(!r.form_updated);
    assert_eq!(store.unsent_count().unwrap(), 0);
    mock.with(|s| {
        assert_eq!(s.pushes, 3, "batches of at most 3");
        assert_eq!(s.applied, 7);
        for id in &ids {
            let doc = &s.records[id].doc;
            assert_eq!(doc.answers["outcome"], Value::text("moved"));
            assert_eq!(doc.answers["status"], Value::text("final"));
        }
    });
    let v = store.record(ids[0]).unwrap();
    assert_eq!(v.final_outcome, Some(Outcome::Moved));
    assert_eq!(v.version, 2);
    assert_eq!(v.pending, 0);
    assert_eq!(
        store
            .communities()
            .unwrap()
            .iter()
            .map(|c| c.done)
            .sum::<u64>(),
        7
    );

    // Nothing new: an empty sync.
    let r = e.sync_once(&store).await.unwrap();
    assert_eq!((r.pushed, r.pulled), (0, 0));
}

#[tokio::test]
async fn two_devices_editing_one_item_end_in_a_conflict_both_can_see() {
    let mock = Mock::start().await;
    let (_a_dir, a, ea) = signed_in(&mock).await;
    let (_b_dir, b, eb) = signed_in(&mock).await;
    ea.sync_once(&a).await.unwrap();
    eb.sync_once(&b).await.unwrap();
    let p = a.persons(None, Filter::All, "").unwrap()[0].person_id;

    a.save_edit(p, edit(&[("outcome", text("away"))]), false)
        .unwrap();
    b.save_edit(
        p,
        edit(&[("outcome", text("moved")), ("outcome_note", text("z"))]),
        false,
    )
    .unwrap();
    ea.sync_once(&a).await.unwrap();
    let r = eb.sync_once(&b).await.unwrap();
    assert_eq!((r.applied, r.conflict_items), (1, 1));
    let log = b.sync_log(5).unwrap();
    assert_eq!(log[0].kind, LogKind::Merged);
    assert_eq!(log[0].items["outcome"], ItemOutcome::Conflict);
    let vb = b.record(p).unwrap();
    assert_eq!(vb.conflicts["outcome"].candidates.len(), 2);
    // The other item simply applied.
    assert_eq!(vb.answers["outcome_note"], Value::text("z"));
    ea.sync_once(&a).await.unwrap();
    let va = a.record(p).unwrap();
    assert_eq!(va.conflicts.len(), 1);
    assert_eq!(
        va.answers["outcome"], vb.answers["outcome"],
        "same provisional value"
    );
    assert_eq!(a.persons(None, Filter::Conflicts, "").unwrap().len(), 1);
}

#[tokio::test]
async fn a_lost_push_answer_is_sent_again_without_duplicates() {
    let mock = Mock::start().await;
    let (_dir, store, e) = signed_in(&mock).await;
    e.sync_once(&store).await.unwrap();
    let p = store.persons(None, Filter::All, "").unwrap()[0].person_id;
    store
        .save_edit(p, edit(&[("outcome", text("away"))]), false)
        .unwrap();

    mock.with(|s| s.lose_next_push_answer = true);
    let err = e.sync_once(&store).await.unwrap_err();
    assert_eq!(err, AppError::Server { status: 500 });
    assert!(err.is_retryable());
    assert_eq!(store.unsent_count().unwrap(), 1, "kept until acknowledged");
    assert!(store.outbox().unwrap()[0].sent);
    // A later edit is a new mutation based on the value in flight.
    store
        .save_edit(p, edit(&[("outcome", text("moved"))]), false)
        .unwrap();

    let r = e.sync_once(&store).await.unwrap();
    assert_eq!((r.pushed, r.applied, r.conflict_items), (2, 2, 0));
    mock.with(|s| {
        assert_eq!(s.applied, 2, "the re-sent mutation was not applied twice");
        assert!(s.records[&p].doc.conflicts.is_empty());
        assert_eq!(s.records[&p].doc.answers["outcome"], Value::text("moved"));
    });
    assert_eq!(store.record(p).unwrap().outcome, Some(Outcome::Moved));
}

/// An edit of each of ten persons (four batches of three), `round` in the values; answers
/// the persons.
fn ten_edits(store: &Store, round: u32) -> Vec<uuid::Uuid> {
    some_edits(store, round, 10)
}

/// Edits of the phone of the first `n` persons.
fn some_edits(store: &Store, round: u32, n: usize) -> Vec<uuid::Uuid> {
    let persons: Vec<_> = store.persons(None, Filter::All, "").unwrap()[..n]
        .iter()
        .map(|r| r.person_id)
        .collect();
    for (i, p) in persons.iter().enumerate() {
        store
            .save_edit(
                *p,
                edit(&[("phone", text(&format!("139{round:04}{i:04}")))]),
                false,
            )
            .unwrap();
    }
    persons
}

fn has_edits(mock: &Mock, persons: &[uuid::Uuid], round: u32) {
    mock.with(|s| {
        for (i, p) in persons.iter().enumerate() {
            let want = Value::text(format!("139{round:04}{i:04}"));
            assert_eq!(s.records[p].doc.answers["phone"], want);
        }
    });
}

#[tokio::test]
async fn batches_go_two_at_a_time_only_to_a_server_that_keeps_them_in_order() {
    let mock = Mock::start().await;
    let (_dir, store, e) = signed_in(&mock).await;
    e.sync_once(&store).await.unwrap();
    mock.with(|s| s.push_delay = Duration::from_millis(30));

    // A server that does not say it keeps batches in order gets one at a time.
    let persons = ten_edits(&store, 1);
    let r = e.sync_once(&store).await.unwrap();
    assert_eq!((r.pushed, r.applied), (10, 10));
    mock.with(|s| assert_eq!((s.pushes, s.most_at_once), (4, 1)));
    has_edits(&mock, &persons, 1);

    // One that does: after the first answer, the next batch leaves before the answer to the
    // one before it.
    mock.with(|s| {
        (s.in_order, s.pushes, s.most_at_once) = (true, 0, 0);
    });
    ten_edits(&store, 2);
    let r = e.sync_once(&store).await.unwrap();
    assert_eq!((r.pushed, r.applied, r.rejected), (10, 10, 0));
    mock.with(|s| assert_eq!((s.pushes, s.most_at_once, s.refused), (4, 2, 0)));
    has_edits(&mock, &persons, 2);
    assert_eq!(store.unsent_count().unwrap(), 0);
}

#[tokio::test]
async fn a_device_that_heard_the_server_keeps_order_sends_its_second_batch_at_once() {
    let mock = Mock::start().await;
    let (_dir, store, e) = signed_in(&mock).await;
    e.sync_once(&store).await.unwrap();
    mock.with(|s| {
        (s.in_order, s.push_delay) = (true, Duration::from_millis(30));
    });
    // Four edits, batches of at most three: two batches of two.
    let persons = some_edits(&store, 1, 4);
    assert_eq!(store.push_start().unwrap(), (4, false));
    // Not heard yet: the first batch goes alone, and its answer says so.
    e.sync_once(&store).await.unwrap();
    mock.with(|s| assert_eq!((s.pushes, s.most_at_once), (2, 1)));
    has_edits(&mock, &persons, 1);
    assert_eq!(store.push_start().unwrap(), (0, true));
    // Heard: the second batch leaves while the first is at the server.
    mock.with(|s| (s.pushes, s.most_at_once) = (0, 0));
    some_edits(&store, 2, 4);
    let r = e.sync_once(&store).await.unwrap();
    assert_eq!((r.pushed, r.applied), (4, 4));
    mock.with(|s| assert_eq!((s.pushes, s.most_at_once, s.refused), (2, 2, 0)));
    has_edits(&mock, &persons, 2);
}

#[tokio::test]
async fn a_batch_refused_as_out_of_order_is_sent_again_after_the_one_before() {
    let mock = Mock::start().await;
    let (_dir, store, e) = signed_in(&mock).await;
    e.sync_once(&store).await.unwrap();
    mock.with(|s| {
        (s.in_order, s.push_delay, s.refuse_next_after) = (true, Duration::from_millis(30), true);
    });
    let persons = ten_edits(&store, 1);
    let r = e.sync_once(&store).await.unwrap();
    assert_eq!((r.pushed, r.applied, r.rejected), (10, 10, 0));
    mock.with(|s| {
        // The batch after the refused one may be refused too (it can overtake the resend).
        assert!(s.refused >= 1);
        assert_eq!(
            s.pushes,
            4 + s.refused,
            "four batches, each refused one sent again"
        );
        assert_eq!(s.applied, 10);
    });
    has_edits(&mock, &persons, 1);
    assert_eq!(store.unsent_count().unwrap(), 0);
}

#[tokio::test]
async fn retries_on_5xx_but_never_on_4xx() {
    let mock = Mock::start().await;
    let (_dir, store, e) = signed_in(&mock).await;

    mock.with(|s| s.fail_next = 1);
    assert_eq!(
        e.sync_once(&store).await.unwrap_err(),
        AppError::Server { status: 503 }
    );
    mock.with(|s| s.fail_next = 3);
    let r = e.sync_with_retry(&store, 5).await.unwrap();
    assert_eq!(r.pulled, 45);
    mock.with(|s| s.fail_next = 10);
    assert_eq!(
        e.sync_with_retry(&store, 3).await.unwrap_err(),
        AppError::Server { status: 503 }
    );
    mock.with(|s| s.fail_next = 0);

    // An expired session is not retried, and the token is forgotten.
    mock.with(|s| {
        s.token_valid = false;
        s.requests = 0;
    });
    let err = e.sync_with_retry(&store, 5).await.unwrap_err();
    assert_eq!(err, AppError::SessionExpired);
    assert!(err.needs_sign_in());
    assert!(err.to_string().contains("请重新登录"));
    assert_eq!(mock.with(|s| s.requests), 1);
    assert!(!store.session().unwrap().unwrap().signed_in());
    assert_eq!(
        e.sync_once(&store).await.unwrap_err(),
        AppError::NotSignedIn
    );

    // Signing in again keeps the device ID.
    let device = store.session().unwrap().unwrap().device_id;
    mock.with(|s| s.token_valid = true);
    e.login(&store, &mock.url, "li", PASSWORD, "test phone")
        .await
        .unwrap();
    assert_eq!(store.session().unwrap().unwrap().device_id, device);
    e.sync_once(&store).await.unwrap();

    // A revoked device.
    mock.with(|s| s.revoked = true);
    assert_eq!(
        e.sync_with_retry(&store, 5).await.unwrap_err(),
        AppError::DeviceRevoked
    );
    assert_eq!(
        e.login(&store, &mock.url, "li", PASSWORD, "test phone")
            .await
            .unwrap_err(),
        AppError::DeviceRevoked
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = Client::new(&url)
        .unwrap()
        .login("li", PASSWORD, None, "phone")
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unreachable(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("无法连接服务器"));
    let (_dir, _path, store) = empty_store();
    assert!(matches!(
        engine()
            .login(&store, "localhost:8080", "li", PASSWORD, "p")
            .await,
        Err(AppError::InvalidServerUrl(_))
    ));
}

#[tokio::test]
async fn rejected_and_reassigned_communities() {
    let mock = Mock::start().await;
    let (_dir, store, e) = signed_in(&mock).await;
    e.sync_once(&store).await.unwrap();
    let communities = store.communities().unwrap();
    let (keep, gone) = (communities[0].code.clone(), communities[1].code.clone());
    let in_gone = store.persons(Some(&gone), Filter::All, "").unwrap()[0].person_id;
    let in_keep = store.persons(Some(&keep), Filter::All, "").unwrap()[0].person_id;
    store
        .save_edit(in_gone, edit(&[("outcome", text("away"))]), false)
        .unwrap();
    store
        .save_edit(in_keep, edit(&[("outcome", text("away"))]), false)
        .unwrap();

    // The community is moved to another worker: this device's edit there is refused (by this
    // mock; the real server accepts late edits of a former assignee), kept with the reason,
    // and the community stays until the edit is dealt with.
    mock.with(|s| s.scope.retain(|c| *c != gone));
    let r = e.sync_once(&store).await.unwrap();
    assert_eq!((r.applied, r.rejected), (1, 1));
    assert!(r.dropped_communities.is_empty());
    let v = store.record(in_gone).unwrap();
    assert_eq!(v.rejected.as_ref().unwrap().0, "out_of_scope");
    assert_eq!(store.unsent_count().unwrap(), 1);

    store.discard_rejected(in_gone).unwrap();
    let r = e.sync_once(&store).await.unwrap();
    assert_eq!(r.dropped_communities, vec![gone]);
    assert_eq!(store.communities().unwrap().len(), 1);
}

#[tokio::test]
async fn progress_is_fetched_and_cached() {
    let mock = Mock::start().await;
    let (_dir, store, e) = signed_in(&mock).await;
    assert!(store.cached_progress().unwrap().is_none());
    let report = e.fetch_progress(&store).await.unwrap();
    assert_eq!(report.total.roster, 45);
    let (cached, _at) = store.cached_progress().unwrap().unwrap();
    assert_eq!(cached, report);
    assert_eq!(
        store.community_names().unwrap().len(),
        2,
        "names learned from the table"
    );
    e.sync_once(&store).await.unwrap();
    let names: Vec<String> = store
        .communities()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["第1社区", "第2社区"]);
}
