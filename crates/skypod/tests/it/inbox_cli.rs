//! `skypod inbox`: new episodes across the subscriptions, through a real `skypod serve` and
//! its feed proxy, from a feed host on loopback that gains an episode; `--mark-seen` marks
//! them seen in the library, so they are not new any more.

use crate::common::{TestServer, run, serve_feed};
use std::sync::{Arc, Mutex};

fn item(guid: &str, title: &str, date: &str) -> String {
    format!(
        "<item><title>{title}</title><guid isPermaLink=\"false\">{guid}</guid>\
         <enclosure url=\"http://127.0.0.1/{guid}.mp3\" type=\"audio/mpeg\" length=\"1\"/>\
         <pubDate>{date}</pubDate></item>"
    )
}

/// A feed host on loopback answering every request with the current feed.
fn feed_host(items: Arc<Mutex<Vec<String>>>) -> String {
    serve_feed(move |_| {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Inbox Cast</title>\
             <link>http://127.0.0.1/</link><description>d</description>{}</channel></rss>",
            items.lock().unwrap().join("")
        )
    })
}

#[test]
fn inbox_lists_episodes_published_since_subscribing_until_seen() {
    let srv = TestServer::fetching_loopback();
    let items = Arc::new(Mutex::new(vec![item(
        "old-1",
        "An old episode",
        "Mon, 02 Mar 2020 10:00:00 GMT",
    )]));
    let feed = feed_host(items.clone());

    let a = srv.path("a");
    srv.init(&a);
    let out = run(&["--home", &a, "subscribe", &feed, "--sync-timeout", "1"]);
    assert!(out.contains("Subscribed to Inbox Cast"), "{out}");

    // Episodes from before the subscription are not news.
    let out = run(&["--home", &a, "inbox", "--sync-timeout", "1"]);
    assert!(out.contains("Nothing new."), "{out}");

    // The feed gains an episode (dated after the subscription).
    items.lock().unwrap().push(item(
        "fresh-2",
        "A fresh episode",
        "Mon, 01 Jan 2035 10:00:00 GMT",
    ));
    let out = run(&["--home", &a, "inbox", "--sync-timeout", "1"]);
    assert!(
        out.contains("2035-01-01  Inbox Cast: A fresh episode"),
        "{out}"
    );
    assert!(!out.contains("old episode"), "{out}");

    let out = run(&["--home", &a, "inbox", "--mark-seen", "--sync-timeout", "1"]);
    assert!(out.contains("A fresh episode"), "{out}");
    assert!(out.contains("Marked 1 episode(s) seen."), "{out}");
    let out = run(&["--home", &a, "inbox", "--sync-timeout", "1"]);
    assert!(out.contains("Nothing new."), "{out}");
}
