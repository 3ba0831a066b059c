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
