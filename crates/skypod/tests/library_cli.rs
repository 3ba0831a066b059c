//! The library commands end to end: a real `skypod serve`, an always-on `skypod node` and
//! devices that are never online at the same time, on loopback.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn skypod() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_skypod"));
    c.env("SKYPOD_LOG", "warn");
    c
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    if let Ok(l) = std::net::TcpListener::bind("127.0.0.1:0") {
        return l.local_addr().unwrap().port();
    }
    // The ephemeral range can be exhausted on a busy machine (load tests): look below it.
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
    for i in 0..2000u64 {
        let port = 20_000 + ((seed + i * 7919) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}

fn run(args: &[&str]) -> String {
    let out = skypod().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skypod {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const OPML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>fixture</title></head>
  <body>
    <outline text="News">
      <outline type="rss" text="Daily News" title="Daily News" xmlUrl="https://news.example/feed.xml"/>
    </outline>
    <outline type="rss" text="Tech Talk" title="Tech Talk" xmlUrl="https://tech.example/rss"/>
  </body>
</opml>
"#;

#[test]
fn node_relays_a_subscription_between_devices_never_online_together() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = |s: &str| dir.path().join(s).to_string_lossy().into_owned();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = format!("http://{listen}");
    let _srv = Kill(
        skypod()
            .args(["serve", "--listen", &listen, "--data-dir", &d("srv")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (a, b, c) = (d("a"), d("b"), d("c"));
    assert!(run(&["--home", &a, "init", "--server", &server]).contains("Created realm"));
    let _node = Kill(
        skypod()
            .args(["--home", &a, "node"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(800));

    let link = run(&["--home", &a, "invite", "--no-qr"]);
    let joined = run(&["--home", &b, "join", link.trim(), "--key-timeout", "15"]);
    assert!(joined.contains("Realm key received"), "{joined}");

    // The proxy refuses loopback targets: the subscription is made anyway.
    let feed = "http://127.0.0.1:9/podcast.xml";
    let out = run(&["--home", &b, "subscribe", feed]);
    assert!(out.contains("Subscribed to"), "{out}");
    let out = run(&["--home", &b, "position", "ep-1", "12:34", "--feed", feed]);
    assert!(out.contains("12:34"), "{out}");
    // B is offline from now on.

    let link = run(&["--home", &a, "invite", "--no-qr"]);
    let joined = run(&["--home", &c, "join", link.trim(), "--key-timeout", "15"]);
    assert!(joined.contains("Realm key received"), "{joined}");
    let feeds = run(&["--home", &c, "feeds"]);
    assert!(
        feeds.contains(feed),
        "C did not get B's subscription: {feeds}"
    );
    // B's position came along, and C can resolve the episode by its guid alone.
    let q = run(&["--home", &c, "queue", "add", "ep-1", "--offline"]);
    assert!(q.contains("Queued"), "{q}");
    let q = run(&["--home", &c, "queue", "list", "--offline"]);
    assert!(q.contains("ep-1"), "{q}");

    // OPML round trip (offline, on C).
    let opml = dir.path().join("in.opml");
    std::fs::write(&opml, OPML).unwrap();
    let out = run(&["--home", &c, "import", opml.to_str().unwrap(), "--offline"]);
    assert!(out.contains("Imported 2 new feed(s)"), "{out}");
    let exported = dir.path().join("out.opml");
    run(&[
        "--home",
        &c,
        "export",
        exported.to_str().unwrap(),
        "--offline",
    ]);
    let text = std::fs::read_to_string(&exported).unwrap();
    for want in [
        "version=\"2.0\"",
        "https://news.example/feed.xml",
        "https://tech.example/rss",
        "text=\"News\"",
        "Daily News",
        feed,
    ] {
        assert!(text.contains(want), "export lacks {want}: {text}");
    }
    // Export to stdout and re-import into a fresh library: the same feeds.
    let stdout_export = run(&["--home", &c, "export", "--offline"]);
    let again = dir.path().join("again.opml");
    std::fs::write(&again, &stdout_export).unwrap();
    let out = run(&[
        "--home",
        &d("fresh"),
        "import",
        again.to_str().unwrap(),
        "--offline",
    ]);
    assert!(out.contains("Imported 3 new feed(s)"), "{out}");
    let fresh = run(&["--home", &d("fresh"), "feeds", "--offline"]);
    assert!(
        fresh.contains("[News] Daily News") && fresh.contains("Tech Talk"),
        "{fresh}"
    );

    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
