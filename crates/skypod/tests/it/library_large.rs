//! The first sync of a large library between two CLI devices (`skypod node` and a one-shot
//! `skypod sync`) over real loopback sockets: its messages are several times larger than a
//! data channel message (64 KiB) and a relayed one (44 KiB), so they only arrive if the mesh
//! fragments and reassembles them. Once over the direct channel, once over the relay.

use crate::common::{TestServer, quiet_node, run, skypod};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// An OPML file of `n` feeds in 40 folders, with titles and URLs that do not compress (so
/// the library is large on the wire, as a real one is).
fn opml(n: usize, tag: &str) -> String {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ tag.len() as u64 ^ (n as u64) << 20;
    let mut word = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        format!("{x:016x}")
    };
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\"><head><title>big</title></head><body>\n",
    );
    for f in 0..40 {
        s.push_str(&format!("<outline text=\"{tag} folder {f}\">\n"));
        for i in 0..n / 40 {
            let (a, b, c) = (word(), word(), word());
            s.push_str(&format!(
                "<outline type=\"rss\" text=\"{tag} {a}{b}\" xmlUrl=\"https://{tag}-{f}-{i}.example/{c}.xml\"/>\n"
            ));
        }
        s.push_str("</outline>\n");
    }
    s.push_str("</body></opml>\n");
    s
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn feed_urls(home: &str) -> BTreeSet<String> {
    let opml = run(&["--home", home, "export", "--offline"]);
    opml.split("xmlUrl=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

/// `(bytes, via)` of every library sync message a command's debug log says it sent.
fn sent_messages(stderr: &str) -> Vec<(usize, String)> {
    // Without colour escapes (tracing colours its output unless NO_COLOR is set).
    let mut plain = String::new();
    let mut esc = false;
    for c in stderr.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => plain.push(c),
        }
    }
    plain
        .lines()
        .filter(|l| l.contains("library: sent sync message"))
        .filter_map(|l| {
            let field = |k: &str| {
                l.split(&format!("{k}=")).nth(1).map(|v| {
                    v.split(|c: char| c.is_whitespace())
                        .next()
                        .unwrap_or("")
                        .to_owned()
                })
            };
            Some((field("bytes")?.parse().ok()?, field("via")?))
        })
        .collect()
}

fn first_sync_of_a_large_library(relay_only: bool) {
    let started = Instant::now();
    let srv = TestServer::start();
    let env = if relay_only { "1" } else { "0" };
    // Over the channel: wait as long as it takes for the direct link (a loaded CI machine
    // can take seconds) so the large messages cannot go by the relay.
    let grace = "60000";
    let (a, b) = (srv.path("a"), srv.path("b"));

    // A: 8,000 feeds; B (a new device): 4,000 others of its own, made before it ever synced.
    srv.init(&a);
    for (home, n, tag) in [(&a, 8000, "alpha"), (&b, 4000, "beta")] {
        let f = srv.dir.path().join(format!("{tag}.opml"));
        std::fs::write(&f, opml(n, tag)).unwrap();
        let out = run(&["--home", home, "import", f.to_str().unwrap(), "--offline"]);
        assert!(out.contains(&format!("Imported {n} new feed(s)")), "{out}");
    }
    let a_size = dir_size(&srv.dir.path().join("a/library"));
    assert!(a_size > 4 * 64 * 1024, "A's library is only {a_size} bytes");

    let mut node = quiet_node(
        &a,
        &[("SKYPOD_RELAY_ONLY", env), ("SKYPOD_P2P_GRACE_MS", grace)],
    );
    let link = run(&["--home", &a, "invite", "--no-qr"]);
    let joined = run(&["--home", &b, "join", link.trim(), "--key-timeout", "30"]);
    assert!(joined.contains("Realm key received"), "{joined}");

    let out = skypod()
        .args(["--home", &b, "sync", "--sync-timeout", "120"])
        .env("SKYPOD_RELAY_ONLY", env)
        .env("SKYPOD_P2P_GRACE_MS", grace)
        .env("SKYPOD_LOG", "warn,skypod::libsync=debug")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("synced with 1 device(s)"),
        "{stdout}\n{stderr}"
    );
    // B's own history went out as one message far above both transport limits, on the
    // path this test chose (and so did A's: B merged it, checked below).
    // (tracing writes to stdout)
    let sent = sent_messages(&stdout);
    let want_via = if relay_only { "Relay" } else { "P2p" };
    assert!(
        sent.iter()
            .any(|(n, via)| *n > 2 * 64 * 1024 && via == want_via),
        "no large message sent via {want_via}: {sent:?}\n{stdout}"
    );

    // B has everything (read offline: what B stored).
    let on_b = feed_urls(&b);
    assert_eq!(on_b.len(), 12_000, "B has {} feeds", on_b.len());

    // Stop the node the way a service manager does, so it saves; then A must have the same.
    let pid = node.0.id() as libc::pid_t;
    // SAFETY: signalling our own child process by its pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = node.0.try_wait().unwrap() {
            assert!(st.success(), "node exited with {st}");
            break;
        }
        assert!(Instant::now() < deadline, "the node did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    let on_a = feed_urls(&a);
    assert_eq!(on_a, on_b, "A and B differ after the sync");
    eprintln!(
        "large first sync ({}): A's library {a_size} bytes, messages sent by B {sent:?}, {:?}",
        if relay_only { "relay" } else { "p2p" },
        started.elapsed()
    );
}

#[test]
fn first_sync_of_a_large_library_over_the_data_channel() {
    first_sync_of_a_large_library(false);
}

#[test]
fn first_sync_of_a_large_library_over_the_relay() {
    first_sync_of_a_large_library(true);
}
