//! Issue 5's partition test with three native devices over the real mesh: they edit while
//! apart (different subscriptions, positions in the same episode on two devices, a queue
//! change), then meet again through `skypod node` and `skypod sync`, and every device ends up
//! with the same library: all subscriptions, both devices' positions, nothing lost.

use crate::common::{TestServer, quiet_node, run, serve_feed};
use std::time::Duration;

/// A one-episode RSS feed on loopback (any path), so `skypod episodes` can show positions.
fn feed_fixture() -> String {
    serve_feed(|_| {
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Fixture Cast</title>
<item><title>Episode One</title><guid>ep-1</guid>
<enclosure url="http://127.0.0.1:9/ep1.mp3" type="audio/mpeg" length="1"/></item>
</channel></rss>"#
            .to_owned()
    })
}

/// The feed lines of `skypod feeds` (the device's view of the subscriptions).
fn feeds(home: &str) -> String {
    run(&["--home", home, "feeds", "--offline"])
}

#[test]
fn three_devices_edit_apart_then_converge_without_loss() {
    let srv = TestServer::fetching_loopback();
    let shared = feed_fixture();

    // One realm of three devices: A hands the realm key to B and C while its node runs.
    let (a, b, c) = (srv.path("a"), srv.path("b"), srv.path("c"));
    srv.init(&a);
    {
        let _node = quiet_node(&a, &[]);
        std::thread::sleep(Duration::from_millis(800));
        for home in [&b, &c] {
            let link = run(&["--home", &a, "invite", "--no-qr"]);
            let joined = run(&["--home", home, "join", link.trim(), "--key-timeout", "30"]);
            assert!(joined.contains("Realm key received"), "{joined}");
        }
    }

    // Partitioned: nobody is online, every edit stays local.
    for (home, own) in [
        (&a, "https://a-only.example/feed.xml"),
        (&b, "https://b-only.example/feed.xml"),
        (&c, "https://c-only.example/feed.xml"),
    ] {
        let out = run(&["--home", home, "subscribe", own, "--offline"]);
        assert!(out.contains("Subscribed"), "{out}");
    }
    run(&["--home", &a, "subscribe", &shared, "--offline"]);
    run(&["--home", &b, "subscribe", &shared, "--offline"]);
    for (home, edit, said) in [
        (&a, ["position", "ep-1", "2:30"], "2:30"),
        (&b, ["position", "ep-1", "1:00"], "1:00"),
        (&c, ["queue", "add", "ep-1"], "Queued"),
    ] {
        let args = [
            &["--home", home.as_str()][..],
            &edit[..],
            &["--feed", shared.as_str(), "--offline"][..],
        ]
        .concat();
        let out = run(&args);
        assert!(out.contains(said), "{out}");
    }

    // They meet again: A's always-on node, then B and C come online one after the other
    // (B twice, to collect what C brought).
    let _node = quiet_node(&a, &[]);
    std::thread::sleep(Duration::from_millis(800));
    for home in [&b, &c, &b] {
        run(&["--home", home, "sync", "--sync-timeout", "30"]);
    }

    // Identical subscriptions everywhere (A's view is what its node saved).
    let want = feeds(&a);
    for url in [
        "https://a-only.example/feed.xml",
        "https://b-only.example/feed.xml",
        "https://c-only.example/feed.xml",
        shared.as_str(),
    ] {
        assert!(want.contains(url), "A lacks {url}: {want}");
    }
    assert!(want.contains("4 feed(s)"), "{want}");
    assert_eq!(feeds(&b), want, "B differs from A");
    assert_eq!(feeds(&c), want, "C differs from A");

    // Both devices' positions in the shared episode survive on every device.
    for home in [&a, &b, &c] {
        let eps = run(&["--home", home, "episodes", &shared]);
        assert!(eps.contains("Episode One"), "{eps}");
        assert!(eps.contains("at 2:30"), "{home}: A's position lost: {eps}");
        assert!(eps.contains("at 1:00"), "{home}: B's position lost: {eps}");
    }
    // C's queue change is intact after the merge.
    let q = run(&["--home", &c, "queue", "list", "--offline"]);
    assert!(q.contains("ep-1"), "{q}");
}
