//! One writer per library: while `skypod node` runs on a device, the one-shot library
//! commands that edit (and a second node) on the same device refuse with a clear message and
//! change nothing, the ones that only read show the library as the node saved it; once the
//! node stops, everything works.

mod common;

use common::{Kill, run, skypod, start_server};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn edits_are_refused_and_reads_work_while_the_node_owns_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let d = |s: &str| dir.path().join(s).to_string_lossy().into_owned();
    let (_srv, listen) = start_server(&d("srv"));
    let a = d("a");
    assert!(
        run(&[
            "--home",
            &a,
            "init",
            "--server",
            &format!("http://{listen}")
        ])
        .contains("Created realm")
    );
    let before = run(&[
        "--home",
        &a,
        "subscribe",
        "https://before.example/feed.xml",
        "--offline",
    ]);
    assert!(before.contains("Subscribed to"), "{before}");

    let mut node = Kill(
        skypod()
            .args(["--home", &a, "node"])
            .env("SKYPOD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The node logs this after it opened (and locked) the library.
    let out = node.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("library node running") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the node did not start");

    // Edits (and a second node) are refused, and say why.
    for args in [
        vec!["subscribe", "https://during.example/feed.xml", "--offline"],
        vec![
            "queue",
            "add",
            "ep-1",
            "--feed",
            "https://before.example/feed.xml",
        ],
        vec!["node"],
    ] {
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
    // Reading works: the library as the node saved it.
    for args in [vec!["feeds"], vec!["export", "--offline"]] {
        let o = skypod().args(["--home", &a]).args(&args).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.contains("before.example"), "{args:?}: {out}");
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
    let feeds = run(&["--home", &a, "feeds", "--offline"]);
    assert!(feeds.contains("before.example"), "{feeds}");
    assert!(
        !feeds.contains("during.example"),
        "a refused edit was saved: {feeds}"
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
