#![no_main]
//! Artwork decoding and resizing of hostile bytes: the pixel cap holds, no crash.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, image)) = data.split_first() else {
        return;
    };
    let size = skypod_feeds::artwork::SIZES[usize::from(selector) % 3];
    let _ = skypod_feeds::artwork::resize(image, size);
});
