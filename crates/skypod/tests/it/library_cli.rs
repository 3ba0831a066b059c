//! The library commands end to end: a real `skypod serve`, an always-on `skypod node` and
//! devices that are never online at the same time, on loopback.

use crate::common::{TestServer, quiet_node, run};
use std::time::Duration;

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
    let srv = TestServer::start();
    let (a, b, c) = (srv.path("a"), srv.path("b"), srv.path("c"));
    srv.init(&a);
    let _node = quiet_node(&a, &[]);
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
    let opml = srv.dir.path().join("in.opml");
    std::fs::write(&opml, OPML).unwrap();
    let out = run(&["--home", &c, "import", opml.to_str().unwrap(), "--offline"]);
    assert!(out.contains("Imported 2 new feed(s)"), "{out}");
    let exported = srv.dir.path().join("out.opml");
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
    let again = srv.dir.path().join("again.opml");
    std::fs::write(&again, &stdout_export).unwrap();
    let out = run(&[
        "--home",
        &srv.path("fresh"),
        "import",
        again.to_str().unwrap(),
        "--offline",
    ]);
    assert!(out.contains("Imported 3 new feed(s)"), "{out}");
    let fresh = run(&["--home", &srv.path("fresh"), "feeds", "--offline"]);
    assert!(
        fresh.contains("[News] Daily News") && fresh.contains("Tech Talk"),
        "{fresh}"
    );
}
