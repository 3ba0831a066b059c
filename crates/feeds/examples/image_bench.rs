//! `image_bench [REPEAT]` — `/proxy/image` resize time per size: artwork-like
//! sources (3000×3000 and 1400×1400 JPEG, 1400×1400 PNG with alpha) made in
//! memory, each resized to 96, 256 and 512 by `artwork::resize` (decode,
//! Lanczos3, encode), best of REPEAT (default 5) on one thread. One JSON line
//! per source and size. Used by bench/feeds/run.sh.

use std::io::Cursor;
use std::time::Instant;

use skypod_feeds::artwork::{SIZES, resize};

fn source(side: u32, alpha: bool) -> (String, Vec<u8>) {
    // Smooth gradients plus texture, like cover art (compresses as photos do).
    let px = |x: u32, y: u32| {
        let n = ((x * 7919 + y * 104_729) % 61) as u8;
        [
            (x * 255 / side) as u8 ^ n,
            (y * 255 / side) as u8,
            ((x + y) * 127 / side) as u8 ^ (n / 2),
        ]
    };
    let mut out = Cursor::new(Vec::new());
    if alpha {
        image::RgbaImage::from_fn(side, side, |x, y| {
            let [r, g, b] = px(x, y);
            image::Rgba([r, g, b, ((x + y) % 256) as u8])
        })
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
        (format!("{side}x{side} PNG (alpha)"), out.into_inner())
    } else {
        let img = image::RgbImage::from_fn(side, side, |x, y| image::Rgb(px(x, y)));
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .expect("jpeg");
        (format!("{side}x{side} JPEG"), out.into_inner())
    }
}

fn main() {
    let repeat: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5)
        .max(1);
    for (name, data) in [source(3000, false), source(1400, false), source(1400, true)] {
        for size in SIZES {
            let mut best = f64::INFINITY;
            let mut out = None;
            for _ in 0..repeat {
                let t = Instant::now();
                let r = resize(&data, size).expect("resize");
                best = best.min(t.elapsed().as_secs_f64());
                out = Some(r);
            }
            let r = out.expect("ran");
            let line = serde_json::json!({
                "source": name, "source_bytes": data.len(), "size": size,
                "ms": best * 1000.0, "out_bytes": r.bytes.len(), "out_type": r.content_type,
            });
            println!("{line}");
        }
    }
}
