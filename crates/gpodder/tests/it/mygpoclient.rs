//! A real client nobody here wrote: gPodder's `mygpoclient` (PyPI, pinned in
//! scripts/test.sh) drives the bridge — devices, subscriptions up and down, episode actions
//! up and down, `since` — through tests/mygpoclient_drive.py; then the library is checked.
//! Set SKYPOD_SKIP_MYGPOCLIENT=1 on a machine without Python.

use crate::common::{PASSWORD, USER, start};
use skypod_gpodder::time::now_ms;
use skypod_library::{Library, NewFeed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mygpoclient_syncs_through_the_bridge() {
    if std::env::var_os("SKYPOD_SKIP_MYGPOCLIENT").is_some() {
        eprintln!("SKYPOD_SKIP_MYGPOCLIENT set: skipped");
        return;
    }
    let h = start().await;
    let feed = h.feed.clone();
    h.lib
        .run(move |l| l.subscribe(NewFeed::url(feed)).unwrap())
        .await
        .unwrap();
    // The laptop (a realm member) is at 1234 s, a minute ago.
    let key = h.key("ep-1");
    let mut laptop = Library::new("laptop-identid").unwrap();
    laptop.set_device_name("Laptop").unwrap();
    let at = now_ms() - 60_000;
    laptop.set_clock(move || at);
    laptop.set_position(&key, 1234.0, Some(3600.0)).unwrap();
    h.merge_device(laptop).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mygpoclient_drive.py");
    let episode = format!("{}/ep1.mp3", h.media);
    let (url, feed) = (h.url.clone(), h.feed.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([script, &url, USER, PASSWORD, &feed, &episode])
            .output()
    })
    .await
    .unwrap()
    .expect("python3 is needed for this test (or set SKYPOD_SKIP_MYGPOCLIENT=1)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'mygpoclient'"),
        "mygpoclient is not installed: pip install mygpoclient==1.10 (scripts/test.sh does)"
    );
    assert!(
        out.status.success(),
        "mygpoclient run failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );

    // What it uploaded is in the library, under its own device, beside the laptop's.
    let all = h.continue_from(&key).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(
        all[0].device_name.as_deref(),
        Some("gPodder (laptop) via node")
    );
    assert_eq!(all[0].record.position, 1500.0);
    assert_eq!(all[1].device_name.as_deref(), Some("Laptop"));
    assert_eq!(all[1].record.position, 1234.0);
    let feeds = h.lib.run(|l| l.feeds()).await.unwrap();
    assert_eq!(
        feeds.len(),
        1,
        "the added-then-removed feed is gone: {feeds:?}"
    );
}
