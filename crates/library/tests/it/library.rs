//! Document API: schema, migration, validation, OPML.

use skypod_library::automerge::transaction::Transactable;
use skypod_library::automerge::{AutoCommit, ObjType, ROOT};
use skypod_library::{
    ImportProgress, Library, LibraryError, NewFeed, SCHEMA_VERSION, SettingValue, episode_key,
    genesis_bytes,
};
use skypod_model::opml::{Opml, Outline, parse_opml, to_opml};

#[test]
fn genesis_is_deterministic() {
    assert_eq!(genesis_bytes(), genesis_bytes());
    let mut a = Library::new("a").expect("a");
    let mut b = Library::new("b").expect("b");
    assert_eq!(a.heads(), b.heads());
    assert_eq!(a.schema_version(), SCHEMA_VERSION);
}

#[test]
fn migrates_schema_0_and_refuses_writes_to_newer_schema() {
    // A document from before the schema key, with only subscriptions.
    let mut old = AutoCommit::new();
    let subs = old
        .put_object(ROOT, "subscriptions", ObjType::Map)
        .expect("put");
    let s = old
        .put_object(&subs, "https://old.example/f.xml", ObjType::Map)
        .expect("put");
    old.put(&s, "title", "Old").expect("put");
    let bytes = old.save();
    let mut lib = Library::load(&bytes, "dev").expect("load + migrate");
    assert_eq!(lib.schema_version(), 1);
    assert_eq!(lib.feeds()[0].title, "Old");
    lib.set_device_name("Dev")
        .expect("devices map created by migration");

    // A document from a future version: readable, not writable.
    let mut newer = Library::new("x").expect("lib");
    newer
        .subscribe(NewFeed::url("https://n.example/f"))
        .expect("sub");
    let mut raw = AutoCommit::load(&newer.save()).expect("load");
    raw.put(ROOT, "schema", 99u64).expect("put");
    let mut lib = Library::load(&raw.save(), "dev").expect("load");
    assert_eq!(lib.feed_count(), 1);
    let err = lib
        .subscribe(NewFeed::url("https://m.example/f"))
        .expect_err("refused");
    assert!(
        matches!(err, LibraryError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn validates_input() {
    let mut lib = Library::new("dev").expect("lib");
    for bad in [
        "",
        "ftp://x/y",
        "not a url",
        "file:///etc/passwd",
        "http://",
    ] {
        assert!(lib.subscribe(NewFeed::url(bad)).is_err(), "{bad}");
    }
    assert!(lib.set_position("ep", f64::NAN, None).is_err());
    assert!(lib.set_position("ep", -1.0, None).is_err());
    assert!(lib.set_position("", 1.0, None).is_err());
    assert!(lib.set_speed("ep", 0.0).is_err());
    assert!(matches!(
        lib.set_title("https://none.example/", "x"),
        Err(LibraryError::NotSubscribed(_))
    ));
    assert!(!lib.unsubscribe("https://none.example/").expect("ok"));
}

#[test]
fn feeds_settings_queue_and_devices() {
    let mut lib = Library::new("dev").expect("lib");
    let url = lib
        .subscribe(NewFeed::url("HTTPS://Example.COM/feed.xml#x"))
        .expect("sub")
        .url()
        .to_owned();
    assert_eq!(url, "https://example.com/feed.xml");
    lib.set_title(&url, "Example").expect("title");
    lib.set_folder(&url, &["A".into(), "B".into()])
        .expect("folder");
    lib.set_feed_setting(&url, "speed", SettingValue::Float(1.5))
        .expect("set");
    lib.set_feed_setting(&url, "skip_intro", SettingValue::Int(30))
        .expect("set");
    lib.add_tag(&url, "t1").expect("tag");
    lib.add_tag(&url, "t2").expect("tag");
    lib.remove_tag(&url, "t1").expect("tag");
    lib.set_setting("theme", SettingValue::Str("dark".into()))
        .expect("set");
    let f = lib.feed(&url).expect("ok").expect("feed");
    assert_eq!(f.title, "Example");
    assert_eq!(f.folder, vec!["A", "B"]);
    assert_eq!(f.settings["speed"], SettingValue::Float(1.5));
    assert_eq!(f.settings["skip_intro"], SettingValue::Int(30));
    assert_eq!(f.tags.into_iter().collect::<Vec<_>>(), vec!["t2"]);
    assert_eq!(lib.setting("theme"), Some(SettingValue::Str("dark".into())));

    let e: Vec<String> = (0..4)
        .map(|i| episode_key(&url, &format!("g{i}")).expect("key"))
        .collect();
    assert!(lib.queue_add(&e[0]).expect("q"));
    assert!(lib.queue_add(&e[1]).expect("q"));
    assert!(!lib.queue_add(&e[0]).expect("q"), "no duplicates");
    lib.queue_insert(0, &e[2]).expect("q");
    lib.queue_insert(1, &e[1]).expect("q move");
    assert_eq!(
        lib.queue_list(),
        vec![e[2].clone(), e[1].clone(), e[0].clone()]
    );
    assert!(lib.queue_remove(&e[1]).expect("q"));
    assert_eq!(lib.queue_list(), vec![e[2].clone(), e[0].clone()]);

    lib.set_position(&e[0], 10.0, Some(60.0)).expect("pos");
    lib.set_speed(&e[0], 1.25).expect("speed");
    assert_eq!(
        lib.mark_all_played(e[1..].iter().map(String::as_str))
            .expect("played"),
        3
    );
    let r = lib.my_play(&e[0]).expect("rec");
    assert_eq!(
        (r.position, r.duration, r.speed, r.completed),
        (10.0, Some(60.0), 1.25, false)
    );
    assert!(lib.my_play(&e[3]).expect("rec").completed);
    assert_eq!(lib.plays_of("dev").len(), 4);
    assert_eq!(lib.play_count(), 4);
    lib.set_device_name("Desk").expect("name");
    let d = lib.devices();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].name.as_deref(), Some("Desk"));

    // Edits are batched: everything above (genesis aside) is one change.
    assert_eq!(lib.change_count(), 2);
    assert!(lib.commit().is_none(), "nothing pending");
    assert!(lib.unsubscribe(&url).expect("unsub"));
    assert_eq!(lib.feed_count(), 0);
}

fn generated_opml(n: usize) -> Opml {
    // 5 top folders, each with 4 subfolders, each with 2 sub-subfolders; feeds spread
    // over every level, plus loose feeds at the top.
    let mut k = 0;
    let next = |k: &mut usize| {
        *k += 1;
        let mut o = Outline::feed(
            &format!("Show #{k} — \"Q&A\" <live> 日本語"),
            &format!("https://feeds.example/{k}.xml?a=1&b=2"),
        );
        if (*k).is_multiple_of(3) {
            o.html_url = Some(format!("https://example.org/{k}"));
        }
        o
    };
    let mut outlines = Vec::new();
    for f in 0..5 {
        let mut subs = Vec::new();
        for s in 0..4 {
            let mut leaves = Vec::new();
            for l in 0..2 {
                let feeds = (0..10).map(|_| next(&mut k)).collect();
                leaves.push(Outline::folder(&format!("Leaf {f}.{s}.{l}"), feeds));
            }
            let mut children = leaves;
            children.extend((0..4).map(|_| next(&mut k)));
            subs.push(Outline::folder(&format!("Sub {f}.{s} & more"), children));
        }
        let mut children = subs;
        children.extend((0..4).map(|_| next(&mut k)));
        outlines.push(Outline::folder(&format!("Folder {f}"), children));
    }
    while k < n {
        outlines.push(next(&mut k));
    }
    Opml {
        title: Some("Generated".into()),
        outlines,
        ..Default::default()
    }
}

#[test]
fn opml_round_trip_500_feeds_nested_folders() {
    let src = generated_opml(500);
    let xml = to_opml(&src);
    let src_feeds = src.feeds();
    assert_eq!(src_feeds.len(), 500);

    let mut lib = Library::new("dev").expect("lib");
    let mut seen = Vec::new();
    let report = lib
        .import_opml(xml.as_bytes(), |p: ImportProgress| seen.push(p))
        .expect("import");
    assert_eq!(report.added, 500);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(seen.len(), 500);
    assert_eq!(
        seen.last().copied(),
        Some(ImportProgress {
            done: 500,
            total: 500
        })
    );
    assert_eq!(lib.feed_count(), 500);

    // Importing again changes nothing.
    let again = lib.import_opml(xml.as_bytes(), |_| {}).expect("import");
    assert_eq!((again.added, again.already), (0, 500));

    let out = lib.export_opml();
    let back = parse_opml(out.as_bytes()).expect("exported OPML parses");
    let norm = |o: &Opml| {
        let mut v: Vec<(String, Vec<String>, String, Option<String>)> = o
            .feeds()
            .into_iter()
            .map(|f| {
                (
                    f.outline.xml_url.clone().unwrap_or_default(),
                    f.folders.iter().map(|s| s.to_string()).collect(),
                    f.outline.text.clone(),
                    f.outline.html_url.clone(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(norm(&back), norm(&src), "same feeds, folders, titles");

    // And into a fresh library: identical subscriptions.
    let mut lib2 = Library::new("other").expect("lib");
    lib2.import_opml(out.as_bytes(), |_| {}).expect("import");
    let strip = |l: &Library| {
        l.feeds()
            .into_iter()
            .map(|f| (f.url, f.title, f.folder, f.html_url))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&lib2), strip(&lib));
}

#[test]
fn opml_errors_are_clear() {
    let mut lib = Library::new("dev").expect("lib");
    let err = lib.import_opml(b"<html/>", |_| {}).expect_err("refused");
    assert!(err.to_string().starts_with("OPML:"), "{err}");
    let xml = r#"<opml version="2.0"><body><outline text="bad" xmlUrl="javascript:alert(1)"/><outline text="ok" xmlUrl="https://ok.example/f"/></body></opml>"#;
    let r = lib.import_opml(xml.as_bytes(), |_| {}).expect("import");
    assert_eq!(r.added, 1);
    assert_eq!(r.skipped.len(), 1);
}

/// Changing the genesis change (keys, types, actor, time, message) would make new
/// devices unable to merge with existing libraries: this pin makes such a change loud.
#[test]
fn genesis_hash_is_pinned() {
    let mut lib = Library::new("any").expect("lib");
    let heads: Vec<String> = lib.heads().iter().map(|h| h.to_string()).collect();
    assert_eq!(heads, vec![PINNED_GENESIS.to_owned()], "genesis changed");
    assert_eq!(skypod_library::GENESIS_HASH, PINNED_GENESIS);
}

const PINNED_GENESIS: &str = "fe8b1a9a0c76d921e920905c8e22e9d0cb22290a95bf76ce37fc283b14b96d12";

/// "Seen" marks: new episodes are those published after the feed's watermark (subscription
/// time or the largest mark of any device) and played nowhere; marks sync and only rise.
#[test]
fn seen_marks_sync_and_decide_what_is_new() {
    let feed = "https://example.com/feed.xml";
    let mut phone = Library::new("phone").expect("phone");
    phone.set_clock(|| 3_000);
    phone.subscribe(NewFeed::url(feed)).expect("subscribe");
    let mut laptop = Library::new("laptop").expect("laptop");
    laptop.merge(&mut phone).expect("merge");
    let ep = |g: &str| episode_key(feed, g).expect("key");

    assert_eq!(phone.seen_watermark(feed), 3_000);
    assert!(
        !phone.is_new(feed, Some(2_000), &ep("old")),
        "before subscribing"
    );
    assert!(phone.is_new(feed, Some(4_000), &ep("four")));
    assert!(phone.is_new(feed, Some(5_000), &ep("five")));
    assert!(!phone.is_new(feed, None, &ep("undated")));

    // The phone shows episode four; the laptop learns it.
    assert!(phone.mark_seen(feed, 4_000).expect("mark"));
    assert!(
        !phone.mark_seen(feed, 3_500).expect("lower mark"),
        "marks only rise"
    );
    laptop.merge(&mut phone).expect("merge");
    assert!(!laptop.is_new(feed, Some(4_000), &ep("four")));
    assert!(laptop.is_new(feed, Some(5_000), &ep("five")));

    // Played on any device: not new.
    laptop.mark_played(&ep("five"), true).expect("played");
    phone.merge(&mut laptop).expect("merge");
    assert!(phone.played_anywhere(&ep("five")));
    assert!(!phone.is_new(feed, Some(5_000), &ep("five")));

    // Concurrent marks: the larger one wins on both sides.
    phone.mark_seen(feed, 6_000).expect("mark");
    laptop.mark_seen(feed, 7_000).expect("mark");
    phone.merge(&mut laptop).expect("merge");
    laptop.merge(&mut phone).expect("merge");
    assert_eq!(phone.seen_watermark(feed), 7_000);
    assert_eq!(laptop.seen_watermark(feed), 7_000);

    // Bad input changes nothing.
    let heads = phone.heads();
    assert!(phone.mark_seen("not a url", 9_000).is_err());
    assert!(phone.mark_seen(feed, -1).is_err());
    assert_eq!(phone.heads(), heads);
}
