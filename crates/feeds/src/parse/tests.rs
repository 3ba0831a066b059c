//! Parser tests: one fixture (testdata/feeds) per behaviour.
use super::*;

fn fixture(name: &str) -> Vec<u8> {
    crate::testdata::read("feeds", name)
}

#[test]
fn durations() {
    assert_eq!(parse_duration("3600"), Some(3600));
    assert_eq!(parse_duration("1:02:03"), Some(3723));
    assert_eq!(parse_duration("62:03"), Some(3723));
    assert_eq!(parse_duration("00:45"), Some(45));
    assert_eq!(parse_duration(" 1:00:00.6 "), Some(3601));
    assert_eq!(parse_duration("125.4"), Some(125));
    assert_eq!(parse_duration(""), None);
    assert_eq!(parse_duration("abc"), None);
    assert_eq!(parse_duration("1:2:3:4"), None);
    assert_eq!(parse_duration("-5"), None);
    assert_eq!(parse_duration("1e300"), None);
}

#[test]
fn rss_podcast_full() {
    let feed = parse_feed(
        &fixture("podcast.xml"),
        Some("https://example.com/feed.xml"),
    )
    .expect("parse");
    let c = &feed.channel;
    assert_eq!(c.feed_type, "rss2");
    assert_eq!(c.title.as_deref(), Some("The Skypod Test Show"));
    assert_eq!(c.author.as_deref(), Some("Ada Host"));
    assert_eq!(c.image.as_deref(), Some("https://example.com/cover.jpg"));
    assert_eq!(
        c.podcast_guid.as_deref(),
        Some("917393e3-1b1e-5cef-ace4-edaa54e1f810")
    );
    assert_eq!(c.locked, Some(true));
    assert_eq!(c.locked_owner.as_deref(), Some("owner@example.com"));
    assert_eq!(c.funding.len(), 1);
    assert_eq!(c.funding[0].url, "https://example.com/support");
    assert_eq!(c.funding[0].text.as_deref(), Some("Support the show"));
    assert_eq!(
        c.new_feed_url.as_deref(),
        Some("https://example.com/new-feed.xml")
    );
    assert!(c.categories.iter().any(|x| x == "Technology"));
    assert_eq!(c.explicit, Some(false));
    assert_eq!(feed.episodes.len(), 3);

    let e = &feed.episodes[0];
    assert_eq!(e.guid.as_deref(), Some("ep-3"));
    assert_eq!(e.title.as_deref(), Some("Episode 3 & friends"));
    let enc = e.enclosure.as_ref().expect("enclosure");
    assert_eq!(enc.url, "https://example.com/ep3.mp3");
    assert_eq!(enc.mime_type.as_deref(), Some("audio/mpeg"));
    assert_eq!(enc.length, Some(12345678));
    assert_eq!(e.duration_seconds, Some(3723));
    assert_eq!(e.season, Some(2));
    assert_eq!(e.episode, Some(3.0));
    assert_eq!(e.episode_type.as_deref(), Some("full"));
    assert_eq!(e.explicit, Some(true));
    assert_eq!(
        e.chapters_url.as_deref(),
        Some("https://example.com/ep3.chapters.json")
    );
    assert_eq!(e.transcripts.len(), 2);
    assert_eq!(e.transcripts[0].mime_type.as_deref(), Some("text/vtt"));
    assert_eq!(e.persons.len(), 2);
    assert_eq!(e.persons[1].role.as_deref(), Some("guest"));
    assert_eq!(e.image.as_deref(), Some("https://example.com/ep3.jpg"));
    assert_eq!(e.alternate_enclosures.len(), 1);
    assert_eq!(
        e.alternate_enclosures[0].sources,
        vec!["https://example.com/ep3.opus".to_string()]
    );
    assert!(e.published.is_some());

    assert_eq!(feed.episodes[1].duration_seconds, Some(1800));
    assert_eq!(feed.episodes[1].episode_type.as_deref(), Some("bonus"));
    assert_eq!(feed.episodes[2].duration_seconds, Some(45));
    assert_eq!(feed.episodes[2].episode_type.as_deref(), Some("trailer"));
}

#[test]
fn atom_feed() {
    let feed = parse_feed(&fixture("atom.xml"), None).expect("parse");
    assert_eq!(feed.channel.feed_type, "atom");
    assert_eq!(feed.channel.title.as_deref(), Some("Atom Cast"));
    assert_eq!(feed.episodes.len(), 2);
    let e = &feed.episodes[0];
    assert_eq!(
        e.guid.as_deref(),
        Some("urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a")
    );
    let enc = e.enclosure.as_ref().expect("enclosure");
    assert_eq!(enc.url, "https://example.org/a1.m4a");
    assert_eq!(e.duration_seconds, Some(600));
}

#[test]
fn json_feed() {
    let feed = parse_feed(&fixture("feed.json"), None).expect("parse");
    assert_eq!(feed.channel.feed_type, "json");
    assert_eq!(feed.channel.title.as_deref(), Some("JSON Cast"));
    assert_eq!(feed.episodes.len(), 2);
    let enc = feed.episodes[0].enclosure.as_ref().expect("enclosure");
    assert_eq!(enc.url, "https://example.net/j1.mp3");
    assert_eq!(enc.length, Some(1000));
}

#[test]
fn latin1_feed() {
    let feed = parse_feed(&fixture("latin1.xml"), None).expect("parse");
    assert_eq!(feed.channel.title.as_deref(), Some("Café Crème"));
    assert_eq!(feed.episodes[0].title.as_deref(), Some("Épisode un"));
}

#[test]
fn hostile_inputs_are_errors() {
    for name in [
        "fuzz-double-decl.xml",
        "billion-laughs.xml",
        "external-entity.xml",
        "not-a-feed.html",
        "truncated.xml",
    ] {
        let res = parse_feed(&fixture(name), None);
        assert!(res.is_err(), "{name} should be rejected, got {res:?}");
    }
    assert!(parse_feed(b"", None).is_err());
    assert!(parse_feed(b"{not json", None).is_err());
    assert!(parse_feed(&vec![b' '; MAX_FEED_BYTES + 1], None).is_err());
}

#[test]
fn second_xml_declaration_is_refused() {
    // Regression (cargo-fuzz): a second declaration made feed-rs panic.
    let r = parse_feed(&fixture("fuzz-double-decl.xml"), None);
    assert!(
        matches!(&r, Err(FeedError::Parse(m)) if m.contains("misplaced")),
        "{r:?}"
    );
}

#[test]
fn malformed_long_declaration_is_refused() {
    // Regression (cargo-fuzz): an unterminated declaration running into the
    // document made feed-rs panic while switching encodings.
    let r = parse_feed(&fixture("fuzz-long-decl.xml"), None);
    assert!(
        matches!(&r, Err(FeedError::Parse(m)) if m.contains("declaration")),
        "{r:?}"
    );
    assert!(normalize_decl("<?xml version=\"1.0\"?><rss/>").is_ok());
    assert!(normalize_decl("<?xml version=\"1.0\"").is_err());
}

#[test]
fn overflowing_duration_does_not_lose_the_feed() {
    // Regression (cargo-fuzz): feed-rs unwraps a u64 parse of itunes:duration.
    let doc = r#"<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>T</title>
        <item><title>a</title><guid>a</guid><itunes:duration>99999999999999999999999</itunes:duration></item>
        <item><title>b</title><guid>b</guid><itunes:duration>1:00</itunes:duration></item></channel></rss>"#;
    let feed = parse_feed(doc.as_bytes(), None).expect("parsed despite the bad duration");
    assert_eq!(feed.episodes.len(), 2);
    assert_eq!(feed.episodes[0].duration_seconds, None);
    assert_eq!(feed.episodes[1].duration_seconds, Some(60));
    // the original fuzz input: must return (Ok or Err) without escaping panic
    let _ = parse_feed(&fixture("fuzz-duration-overflow.xml"), None);
}

#[test]
fn huge_text_node_is_bounded() {
    let mut doc = String::from("<rss version=\"2.0\"><channel><title>");
    doc.push_str(&"A".repeat(4 * 1024 * 1024));
    doc.push_str("</title><item><title>x</title><guid>g</guid></item></channel></rss>");
    let feed = parse_feed(doc.as_bytes(), None).expect("large but under cap");
    assert_eq!(feed.episodes.len(), 1);
}

// ----- section 1 of issue 10: behaviours seen in published feeds -----

fn parse_fixture(name: &str) -> ParsedFeed {
    parse_feed(&fixture(name), Some("https://example.com/feed.xml"))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn enclosure_url(e: &Episode) -> Option<&str> {
    e.enclosure.as_ref().map(|x| x.url.as_str())
}

#[test]
fn enclosure_wins_over_an_image_media_content() {
    let f = parse_fixture("enclosure-then-image-media.xml");
    assert_eq!(f.episodes.len(), 2);
    let e = &f.episodes[0];
    let enc = e.enclosure.as_ref().expect("enclosure");
    assert_eq!(enc.url, "https://cdn.example.com/ep1.mp3");
    assert_eq!(enc.mime_type.as_deref(), Some("audio/mpeg"));
    assert_eq!(enc.length, Some(31337));
    // The image is the episode's artwork, never its audio.
    assert_eq!(e.image.as_deref(), Some("https://cdn.example.com/ep1.jpg"));
    let e = &f.episodes[1];
    assert_eq!(enclosure_url(e), Some("https://cdn.example.com/ep2.mp3"));
    assert_eq!(e.enclosure.as_ref().and_then(|x| x.length), Some(42));
}

#[test]
fn enclosure_wins_over_media_player_and_group() {
    let f = parse_fixture("enclosure-and-media-player.xml");
    let e = &f.episodes[0];
    let enc = e.enclosure.as_ref().expect("enclosure");
    assert_eq!(enc.url, "https://cdn.example.com/p1.m4a");
    assert_eq!(enc.mime_type.as_deref(), Some("audio/x-m4a"));
    assert_eq!(enc.length, Some(123456));
    assert_eq!(
        enclosure_url(&f.episodes[1]),
        Some("https://cdn.example.com/g1.mp3")
    );
    assert_eq!(
        f.episodes[1].image.as_deref(),
        Some("https://cdn.example.com/g1.jpg")
    );
    // A player page is never the media.
    assert_eq!(f.episodes[2].enclosure, None);
}

#[test]
fn audio_media_content_is_the_media_when_there_is_no_enclosure() {
    let f = parse_fixture("media-content-fallback.xml");
    let e = &f.episodes[0];
    let enc = e.enclosure.as_ref().expect("enclosure");
    assert_eq!(enc.url, "https://cdn.example.com/mc1.mp3");
    assert_eq!(enc.length, Some(777));
    assert_eq!(e.duration_seconds, Some(95));
    assert_eq!(e.image.as_deref(), Some("https://cdn.example.com/mc1.jpg"));
}

/// A feed whose XML declaration is followed by a title of `ch` repeated, with `pad`
/// ASCII bytes before it, so byte 512 falls at every offset inside some `ch`.
fn feed_with_char_at_boundary(ch: char, pad: usize) -> String {
    let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    let mut doc = format!(
        "{decl}<rss version=\"2.0\"><channel><title>{}",
        "a".repeat(pad)
    );
    while doc.len() < 600 {
        doc.push(ch);
    }
    doc.push_str("</title><item><title>Julián</title><guid>j</guid></item></channel></rss>");
    doc
}

#[test]
fn never_cut_a_utf8_character_at_the_sniff_boundary() {
    for ch in ['é', '€', '𝄞'] {
        let width = ch.len_utf8();
        let mut cut_inside = 0;
        for pad in 0..width {
            let doc = feed_with_char_at_boundary(ch, pad);
            if !doc.is_char_boundary(DECL_SNIFF_BYTES) {
                cut_inside += 1;
            }
            let f = parse_feed(doc.as_bytes(), None)
                .unwrap_or_else(|e| panic!("{ch:?} pad {pad}: {e}"));
            let title = f.channel.title.expect("title");
            assert!(title.ends_with(ch) && title.starts_with(&"a".repeat(pad)));
            assert_eq!(f.episodes[0].title.as_deref(), Some("Julián"));
        }
        // Every position inside the character was tried.
        assert_eq!(cut_inside, width - 1, "{ch:?}");
    }
    // The encoding sniffer reads the declaration as bytes too.
    let mut latin =
        b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><channel><title>".to_vec();
    latin.extend(std::iter::repeat_n(0xe9u8, 600));
    latin.extend_from_slice(b"</title></channel></rss>");
    let f = parse_feed(&latin, None).expect("latin-1");
    assert!(f.channel.title.expect("title").starts_with("ééé"));
}

#[test]
fn itunes_namespace_in_another_case() {
    let f = parse_fixture("itunes-ns-uppercase.xml");
    assert_eq!(
        f.channel.image.as_deref(),
        Some("https://example.com/upper.jpg")
    );
    assert_eq!(f.channel.author.as_deref(), Some("Upper Case"));
    let e = &f.episodes[0];
    assert_eq!(e.duration_seconds, Some(3661));
    assert_eq!(e.season, Some(4));
    assert_eq!(e.episode, Some(12.0));
    assert_eq!(e.image.as_deref(), Some("https://example.com/u1.jpg"));
}

#[test]
fn itunes_prefix_without_declaration() {
    let f = parse_fixture("itunes-undeclared-prefix.xml");
    assert_eq!(
        f.channel.image.as_deref(),
        Some("https://example.com/undeclared.jpg")
    );
    assert_eq!(f.channel.explicit, Some(true));
    let e = &f.episodes[0];
    assert_eq!(e.duration_seconds, Some(2520));
    assert_eq!(e.season, Some(1));
    assert_eq!(e.episode, Some(2.0));
    assert_eq!(e.episode_type.as_deref(), Some("bonus"));
}

#[test]
fn rss_without_version_or_with_old_versions() {
    let f = parse_fixture("rss-no-version.xml");
    assert_eq!(f.channel.feed_type, "rss2");
    assert_eq!(f.episodes.len(), 1);
    for (version, kind) in [
        ("2", "rss2"),
        ("2.0", "rss2"),
        ("2.00", "rss2"),
        ("0.91", "rss0"),
        ("0.92", "rss0"),
        ("0.93", "rss0"),
        ("0.94", "rss0"),
    ] {
        let doc = format!(
            "<rss version=\"{version}\"><channel><title>V</title><item><title>i</title>\
             <enclosure url=\"https://example.com/a.mp3\" type=\"audio/mpeg\" length=\"3\"/></item></channel></rss>"
        );
        let f = parse_feed(doc.as_bytes(), None).unwrap_or_else(|e| panic!("{version}: {e}"));
        assert_eq!(f.channel.feed_type, kind, "{version}");
        assert_eq!(f.channel.title.as_deref(), Some("V"));
        assert_eq!(
            enclosure_url(&f.episodes[0]),
            Some("https://example.com/a.mp3")
        );
    }
}

#[test]
fn dates_as_feeds_write_them() {
    let f = parse_fixture("dates.xml");
    let want = "2003-06-10T04:00:00+00:00";
    for e in &f.episodes[..8] {
        assert_eq!(
            e.published.map(|d| d.to_rfc3339()).as_deref(),
            Some(want),
            "{:?}",
            e.title
        );
        assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    }
    let bad = &f.episodes[8];
    assert_eq!(bad.published, None);
    assert_eq!(bad.warnings.len(), 1);
    assert!(
        bad.warnings[0].contains("the tenth of June"),
        "{:?}",
        bad.warnings
    );
    // The warning is in the JSON the proxy serves.
    let json = serde_json::to_value(bad).expect("json");
    assert!(
        json["warnings"][0]
            .as_str()
            .expect("warning")
            .contains("unreadable date")
    );
}

#[test]
fn guid_only_from_guid_or_the_entrys_own_id() {
    let f = parse_fixture("guid-sources.xml");
    assert_eq!(f.episodes[0].guid.as_deref(), Some("real-guid-1"));
    assert_eq!(f.episodes[1].guid, None);
    // The library still has a key for it: the enclosure URL.
    assert_eq!(
        f.episodes[1].library_key(),
        Some("https://example.com/g2.mp3")
    );
    let f = parse_fixture("atom-source-id.xml");
    assert_eq!(f.episodes[0].guid.as_deref(), Some("urn:entry-1"));
    assert_eq!(f.episodes[1].guid.as_deref(), Some("urn:entry-2"));
    assert_eq!(f.episodes[0].title.as_deref(), Some("Entry with a source"));
}

#[test]
fn item_extras_survive_stray_item_elements() {
    let f = parse_fixture("item-count-mismatch.xml");
    assert_eq!(f.episodes.len(), 2);
    assert_eq!(f.episodes[0].duration_seconds, Some(600));
    assert_eq!(f.episodes[0].episode, Some(1.0));
    assert_eq!(
        f.episodes[0].chapters_url.as_deref(),
        Some("https://example.com/m1.json")
    );
    assert_eq!(f.episodes[1].duration_seconds, Some(1200));
    assert_eq!(f.episodes[1].episode, Some(2.0));
}

#[test]
fn titles_with_inline_markup_keep_their_whole_text() {
    let f = parse_fixture("title-inline-markup.xml");
    assert_eq!(f.channel.title.as_deref(), Some("Markup in titles"));
    let e = &f.episodes[0];
    assert_eq!(e.title.as_deref(), Some("this includes html"));
    // Unescaped XHTML in a description is kept as markup.
    assert_eq!(
        e.description.as_deref(),
        Some(
            "A <p>paragraph with <a href=\"https://example.com/x?a=1&amp;b=2\">a link</a></p><br/>and more"
        )
    );
}

#[test]
fn html_entities_and_relative_urls() {
    let doc = r#"<rss version="2.0"><channel><title>Caf&eacute;&nbsp;&amp;&#233;&#x20AC;&bogus;</title>
        <item><title>x</title><link>/ep/1</link><enclosure url="media/1.mp3" type="audio/mpeg" length="1,024"/></item>
        </channel></rss>"#;
    let f = parse_feed(doc.as_bytes(), Some("https://example.com/shows/feed.xml")).expect("parse");
    assert_eq!(f.channel.title.as_deref(), Some("Café\u{a0}&é€&bogus;"));
    assert_eq!(
        f.episodes[0].link.as_deref(),
        Some("https://example.com/ep/1")
    );
    let enc = f.episodes[0].enclosure.as_ref().expect("enclosure");
    assert_eq!(enc.url, "https://example.com/shows/media/1.mp3");
    assert_eq!(enc.length, Some(1024));
}

#[test]
fn nesting_is_bounded() {
    let doc = format!(
        "<rss><channel>{}</channel></rss>",
        "<x>".repeat(MAX_DEPTH + 10)
    );
    assert!(parse_feed(doc.as_bytes(), None).is_err());
    assert!(parse_feed(b"<html><body>hi</body></html>", None).is_err());
    assert!(parse_feed(b"{\"items\": []}", None).is_err());
}
