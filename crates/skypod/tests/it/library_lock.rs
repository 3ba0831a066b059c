//! One writer per library: while `skypod node` runs on a device, a second node or sync round
//! on the same device is refused with a clear message; one-shot edits are handed to the node
//! (which saves and syncs them) and reads show the library as the node saved it.

use crate::common::{TestServer, run, skypod, start_node};
use std::time::{Duration, Instant};

#[test]
fn while_the_node_owns_the_library_edits_go_through_it_and_a_second_owner_is_refused() {
    let srv = TestServer::start();
    let a = srv.path("a");
    srv.init(&a);
    let before = run(&[
        "--home",
        &a,
        "subscribe",
        "https://before.example/feed.xml",
        "--offline",
    ]);
    assert!(before.contains("Subscribed to"), "{before}");

    let mut node = start_node(&a, &[]);

    // A second owner (node, sync round) is refused, and says why.
    for args in [vec!["node"], vec!["sync", "--sync-timeout", "1"]] {
        let o = skypod().args(["--home", &a]).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success(),
            "{args:?} ran while the node owns the library"
        );
        assert!(
            err.contains("in use by another process") && err.contains("skypod node"),
            "{args:?}: unclear refusal: {err}"
        );
    }
    // Edits are handed to the node, which saves them.
    for args in [
        vec!["subscribe", "https://during.example/feed.xml", "--offline"],
        vec![
            "position",
            "ep-1",
            "12:34",
            "--feed",
            "https://during.example/feed.xml",
            "--offline",
        ],
    ] {
        let o = skypod().args(["--home", &a]).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{args:?}: {err}");
        assert!(
            err.contains("the running node owns the library"),
            "{args:?}: {err}"
        );
    }
    let inbox = srv.dir.path().join("a/library/inbox");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&inbox).map(|d| d.count()).unwrap_or(0) > 0 {
        assert!(
            Instant::now() < deadline,
            "the node did not take the handed-over edits"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Reading works: the library as the node saved it, the handed-over edits included.
    for args in [vec!["feeds"], vec!["export", "--offline"]] {
        let o = skypod().args(["--home", &a]).args(&args).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.contains("before.example") && out.contains("during.example"),
            "{args:?}: {out}"
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains("the running node owns the library"));
    }
    assert!(node.0.try_wait().unwrap().is_none(), "the node stopped");

    // SAFETY: signalling our own child process by its pid.
    assert_eq!(
        unsafe { libc::kill(node.0.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the node did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The node saved them for good, position included.
    let feeds = run(&["--home", &a, "feeds", "--offline"]);
    assert!(
        feeds.contains("before.example") && feeds.contains("during.example"),
        "{feeds}"
    );
    let q = run(&[
        "--home",
        &a,
        "queue",
        "add",
        "ep-1",
        "--feed",
        "https://during.example/feed.xml",
        "--offline",
    ]);
    assert!(q.contains("Queued"), "{q}");
    let q = run(&["--home", &a, "queue", "list", "--offline"]);
    assert!(
        q.contains("12:34"),
        "the handed-over position was lost: {q}"
    );
    let after = run(&[
        "--home",
        &a,
        "subscribe",
        "https://after.example/feed.xml",
        "--offline",
    ]);
    assert!(after.contains("Subscribed to"), "{after}");
}
