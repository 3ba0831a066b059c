//! Generated podcast feeds for the benchmarks.

/// A realistic feed with `n` episodes.
pub fn generate_feed(n: usize) -> String {
    let mut s = String::with_capacity(n * 1400);
    s.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:podcast="https://podcastindex.org/namespace/1.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Bench Show</title><link>https://bench.example/</link><description>A long-running show.</description>
<itunes:author>Bench Host</itunes:author><itunes:image href="https://bench.example/cover.jpg"/>
<itunes:category text="Technology"/><podcast:guid>5d1b6c8e-0000-4000-8000-000000000000</podcast:guid>
<podcast:locked owner="a@b.example">no</podcast:locked><podcast:funding url="https://bench.example/fund">Fund</podcast:funding>
"#);
    for i in (1..=n).rev() {
        let day = 1 + i % 28;
        s.push_str(&format!(
            r#"<item><title>Episode {i}: on things &amp; stuff</title><guid isPermaLink="false">bench-{i}</guid>
<link>https://bench.example/ep/{i}</link><pubDate>Mon, {day:02} Nov 2026 10:00:00 GMT</pubDate>
<description><![CDATA[<p>In episode {i} we talk about <b>feeds</b>, caches and silence. Links: <a href="https://bench.example/{i}">notes</a>.</p>]]></description>
<content:encoded><![CDATA[<p>Full show notes for episode {i}. Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p>]]></content:encoded>
<enclosure url="https://cdn.bench.example/ep{i}.mp3" length="{len}" type="audio/mpeg"/>
<itunes:duration>{h}:{m:02}:{sec:02}</itunes:duration><itunes:episode>{i}</itunes:episode><itunes:season>{season}</itunes:season>
<itunes:episodeType>full</itunes:episodeType><itunes:explicit>false</itunes:explicit><itunes:image href="https://bench.example/ep{i}.jpg"/>
<podcast:chapters url="https://bench.example/ep{i}.json" type="application/json+chapters"/>
<podcast:transcript url="https://bench.example/ep{i}.vtt" type="text/vtt"/>
<podcast:person role="host">Bench Host</podcast:person><podcast:person role="guest">Guest {i}</podcast:person>
</item>
"#,
            len = 20_000_000 + i * 17,
            h = i % 2,
            m = i % 60,
            sec = (i * 7) % 60,
            season = 1 + i / 100,
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// A feed shaped like a long-running show on a hosting platform: `n` episodes with
/// long HTML show notes (twice: `description` and `content:encoded`), CDATA, entities,
/// iTunes and Podcasting 2.0 tags, an image `media:content` beside the enclosure, RFC 822
/// dates with numeric and named zones. 730 episodes (two a week for seven years) come
/// to about 1.6 MB.
#[allow(dead_code)]
pub fn generate_realworld_feed(n: usize) -> String {
    let mut s = String::with_capacity(n * 2300);
    s.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:podcast="https://podcastindex.org/namespace/1.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
<channel><atom:link href="https://feeds.host.example/show" rel="self" type="application/rss+xml"/>
<title>The Long Running Show</title><link>https://show.example/</link><language>en</language>
<description><![CDATA[<p>Two hosts, seven years, every Monday and Thursday.</p>]]></description>
<itunes:author>Long Running Media</itunes:author><itunes:image href="https://img.host.example/show/cover-3000.jpg"/>
<itunes:category text="Society &amp; Culture"><itunes:category text="Documentary"/></itunes:category>
<itunes:explicit>false</itunes:explicit><itunes:type>episodic</itunes:type>
<podcast:guid>0b4c7e1a-5d2f-5e3b-9a8c-1f2e3d4c5b6a</podcast:guid><podcast:locked owner="shows@host.example">yes</podcast:locked>
<podcast:funding url="https://show.example/support">Support the show</podcast:funding>
"#);
    let zones = ["+0000", "GMT", "-0500", "EST", "-0800", "PDT"];
    for i in (1..=n).rev() {
        let day = 1 + i % 28;
        let month = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ][i % 12];
        let year = 2019 + i / 105;
        let notes = format!(
            "<p>In episode {i} we talk with our guest about the history of the thing, why it \
             matters now, and what listeners wrote in about last week&#8217;s episode.</p>\
             <ul><li>00:00 Intro</li><li>04:12 The story so far</li><li>21:40 Listener mail</li>\
             <li>48:05 Recommendations</li></ul><p>Links: <a href=\"https://show.example/{i}/notes\">show \
             notes</a>, <a href=\"https://example.org/article-{i}\">the article</a>, \
             <a href=\"https://show.example/support\">support us</a>.</p><p>Hosted by a hosting \
             platform. See https://host.example/privacy for privacy information.</p>"
        );
        s.push_str(&format!(
            r#"<item><title>{i}: Things &amp; Stories, Part {part}</title><itunes:title>Things &amp; Stories, Part {part}</itunes:title>
<guid isPermaLink="false">{i:08x}-7d58-11ee-a0c2-0242ac120002</guid><link>https://show.example/episodes/{i}</link>
<pubDate>Mon, {day:02} {month} {year} 10:00:00 {zone}</pubDate>
<description><![CDATA[{notes}]]></description>
<content:encoded><![CDATA[{notes}]]></content:encoded>
<enclosure url="https://traffic.host.example/show/{i}.mp3?dest-id=12345&amp;ref=rss" length="{len}" type="audio/mpeg"/>
<media:content url="https://img.host.example/show/{i}.jpg" medium="image" type="image/jpeg"/>
<itunes:duration>{h:02}:{m:02}:{sec:02}</itunes:duration><itunes:episode>{i}</itunes:episode><itunes:season>{season}</itunes:season>
<itunes:episodeType>full</itunes:episodeType><itunes:explicit>false</itunes:explicit><itunes:image href="https://img.host.example/show/{i}.jpg"/>
<podcast:transcript url="https://host.example/show/{i}/transcript.vtt" type="text/vtt"/>
<podcast:chapters url="https://host.example/show/{i}/chapters.json" type="application/json+chapters"/>
</item>
"#,
            part = 1 + i % 3,
            zone = zones[i % zones.len()],
            len = 40_000_000 + i * 131,
            h = i % 2,
            m = (i * 7) % 60,
            sec = (i * 13) % 60,
            season = 1 + i / 105,
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}
