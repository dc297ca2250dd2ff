//! First sign-in, offline unlock and sync through the real UI against a real in-process server
//! (the demo district on SQLite).

mod ui_support;

use doorstep_app::ui::services::{Services, store_path};
use doorstep_server::testing::{Backend, demo_server};
use ui_support::{Harness, PIN, config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_choose_a_pin_record_sync_lock_and_unlock() {
    let server = demo_server(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.server_url = Some(server.url.clone());
    let services = Services::new(cfg);
    let mut h = Harness::new(services.clone()).await;

    // No store yet: the first sign-in, with the server address filled in.
    let html = h.until_contains("data-testid=\"server\"").await;
    assert!(html.contains(&format!("value=\"{}\"", server.url)));
    assert!(html.contains("首次登录"));
    h.click("next").await;
    h.until_contains("请填写服务器地址、用户名和密码").await;

    h.input("username", "w001").await;
    h.input("password", "not-the-password").await;
    h.click("next").await;
    // A wrong password is said on the account step, before any PIN is asked for, and no
    // store is made.
    h.until_contains("用户名或密码不正确").await;
    assert!(h.has("password"));
    assert!(!h.has("pin2"));
    assert!(!store_path(dir.path()).exists());

    h.input("password", "doorstep2021").await;
    h.click("next").await;
    h.until_contains("data-testid=\"pin2\"").await;
    h.input("pin", "1234").await;
    h.input("pin2", "1234").await;
    h.click("finish-sign-in").await;
    h.until_contains("PIN 至少需要 6 位").await;
    h.input("pin", PIN).await;
    h.input("pin2", "000000").await;
    h.click("finish-sign-in").await;
    h.until_contains("两次输入的 PIN 不一致").await;
    h.input("pin2", PIN).await;
    h.click("finish-sign-in").await;
    let html = h
        .until("home with communities", |h| {
            h.contains("data-testid=\"community-")
        })
        .await;
    assert!(store_path(dir.path()).exists());
    assert!(html.contains("社区专干"), "who is signed in: {html}");
    assert!(html.contains("data-testid=\"unsent-count\">0<"));
    assert!(!html.contains("从未同步"), "the roster was downloaded");
    let store = services.store().unwrap();
    let communities = store.communities().unwrap();
    assert_eq!(communities.len(), 3, "w001 has three communities");
    let c = communities[0].clone();

    // Record one outcome offline-style: saved on the device first.
    h.click(&format!("community-{}", c.code)).await;
    h.until_contains("data-testid=\"person-list\"").await;
    let row = store
        .persons(Some(&c.code), doorstep_app::Filter::NotYet, "")
        .unwrap()
        .remove(0);
    h.click(&format!("person-{}", row.person_id)).await;
    h.until_contains("data-testid=\"outcome-away\"").await;
    h.click("outcome-away").await;
    h.until_contains("data-testid=\"item-outcome_note\"").await;
    h.input("item-outcome_note", "在广东务工").await;
    h.click("finalize").await;
    h.until_contains("已提交").await;
    h.click("back").await;
    let html = h.until_contains("data-testid=\"unsent-count\">1<").await;
    assert!(html.contains(&format!(
        "data-testid=\"done-{}\">{} / {}",
        c.code,
        c.done + 1,
        c.total
    )));

    // Sync: sent, and the server's figure for the community moves.
    h.click("sync").await;
    let html = h
        .until("synced", |h| {
            h.contains("data-testid=\"unsent-count\">0<") && h.contains("同步完成：上传 1 条")
        })
        .await;
    assert!(html.contains("同步完成：上传 1 条"), "{html}");
    // The server's figures are fetched after the sync's report shows: wait for them.
    let confirmed = format!(
        "data-testid=\"server-done-{}\">服务器已确认 {} / {}",
        c.code,
        c.done + 1,
        c.total
    );
    h.until("the server's figure", |h| h.contains(&confirmed))
        .await;

    // Lock; the PIN opens it again, offline; a wrong PIN says so.
    h.click("lock").await;
    h.until_contains("data-testid=\"unlock-pin\"").await;
    assert!(services.store().is_none());
    h.input("unlock-pin", "999999").await;
    h.click("unlock").await;
    h.until_contains("PIN 不正确").await;
    h.input("unlock-pin", PIN).await;
    h.click("unlock").await;
    h.until_contains("data-testid=\"sync-panel\"").await;
    assert!(services.store().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_sees_progress_per_community_offline_too() {
    let server = demo_server(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.server_url = Some(server.url.clone());
    let services = Services::new(cfg);
    let mut h = Harness::new(services.clone()).await;
    h.until_contains("data-testid=\"server\"").await;
    h.input("username", "sup01").await;
    h.input("password", "doorstep2021").await;
    h.click("next").await;
    h.until_contains("data-testid=\"pin2\"").await;
    h.input("pin", PIN).await;
    h.input("pin2", PIN).await;
    h.click("finish-sign-in").await;
    let html = h.until_contains("data-testid=\"progress-table\"").await;
    assert!(html.contains("街道专干"), "{html}");
    let (report, _) = services
        .store()
        .unwrap()
        .cached_progress()
        .unwrap()
        .unwrap();
    assert!(!report.communities.is_empty());
    let first = &report.communities[0];
    assert!(html.contains(&first.name));
    assert!(html.contains(&format!("data-testid=\"progress-row-{}\"", first.code)));

    // Unlocked again with the PIN alone: the table is read from the device (cached).
    h.click("lock").await;
    h.input("unlock-pin", PIN).await;
    h.click("unlock").await;
    let html = h.until_contains("data-testid=\"progress-table\"").await;
    assert!(html.contains(&first.name));
}

/// A longer passcode with letters: chosen at the first sign-in (the fields switch to the full
/// keyboard), and the unlock screen offers the full keyboard for it; the cost parameters are
/// calibrated on the device when asked to (never below the floor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_passcode_with_letters_unlocks_on_the_full_keyboard() {
    let server = demo_server(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.server_url = Some(server.url.clone());
    // Calibrate from the fast test floor to a few milliseconds: the parameters must rise.
    cfg.kdf_target = Some(std::time::Duration::from_millis(30));
    let floor = cfg.kdf;
    let services = Services::new(cfg);
    let mut h = Harness::new(services.clone()).await;
    h.until_contains("data-testid=\"server\"").await;
    h.input("username", "w001").await;
    h.input("password", "doorstep2021").await;
    h.click("next").await;
    let html = h.until_contains("data-testid=\"pin2\"").await;
    assert!(html.contains("inputmode=\"numeric\""), "a PIN by default");
    h.change("passcode-text", "on").await;
    let html = h.until_contains("inputmode=\"text\"").await;
    assert!(!html.contains("inputmode=\"numeric\""), "{html}");
    let passcode = "field-visit 2026";
    h.input("pin", passcode).await;
    h.input("pin2", passcode).await;
    h.click("finish-sign-in").await;
    h.until_contains("data-testid=\"sync-panel\"").await;
    let kdf = doorstep_app::Store::kdf_params(store_path(dir.path())).unwrap();
    assert!(kdf.m_kib >= floor.m_kib && kdf.t >= floor.t, "{kdf:?}");
    assert!(
        kdf.m_kib > floor.m_kib || kdf.t > floor.t,
        "calibrated upwards: {kdf:?}"
    );

    h.click("lock").await;
    let html = h.until_contains("data-testid=\"unlock-pin\"").await;
    assert!(html.contains("inputmode=\"text\""), "{html}");
    h.input("unlock-pin", "123456").await;
    h.click("unlock").await;
    h.until_contains("PIN 不正确").await;
    h.input("unlock-pin", passcode).await;
    h.click("unlock").await;
    h.until_contains("data-testid=\"sync-panel\"").await;
    assert!(services.store().is_some());
}
