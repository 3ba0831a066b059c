#![no_main]
//! Chapter extraction from hostile bytes (JSON, ID3v2, MP4 boxes), read through
//! the same `RangeSource` interface the HTTP path uses: Ok or Err, bounded
//! memory, never a crash or a hang.
use futures_util::FutureExt;
use libfuzzer_sys::fuzz_target;
use skypod_feeds::chapters::{SliceSource, extract};

fuzz_target!(|data: &[u8]| {
    let mut src = SliceSource(bytes::Bytes::copy_from_slice(data));
    let _ = extract(&mut src).now_or_never();
});
