#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = skypod_feeds::opml::parse_opml(data) {
        // what we parse we can write and read back
        let xml = skypod_feeds::opml::to_opml(&doc);
        let _ = skypod_feeds::opml::parse_opml(xml.as_bytes());
    }
});
