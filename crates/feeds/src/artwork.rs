//! `/proxy/image`: podcast artwork resized on the server, so devices never ask
//! artwork hosts themselves (and never reveal their address to them) and never
//! download a 3000×3000 original to draw a 96-pixel tile.
//!
//! The source is decoded with `image` (JPEG, PNG, WebP, GIF's first frame)
//! after its header has been checked against a pixel cap, so a small file that
//! claims a huge canvas (a decompression bomb) is refused before any pixel
//! buffer exists; `image`'s own allocation limit backs that up. Resizing is
//! `fast_image_resize` (SIMD Lanczos3, alpha-aware). Opaque results are JPEG
//! (quality 85); results with transparency are lossless WebP (the `image`
//! crate's WebP encoder is lossless only) so logos keep their alpha.

use std::io::Cursor;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{ExtendedColorType, ImageEncoder, ImageFormat, ImageReader, Limits};

use crate::error::{FeedError, Result};

/// The sizes served (longest side in pixels).
pub const SIZES: [u32; 3] = [96, 256, 512];

/// Largest source canvas decoded (width × height): 8000×8000 is far above any
/// real artwork (Apple asks for 3000×3000 at most).
pub const MAX_PIXELS: u64 = 64_000_000;

/// Allocation limit handed to the decoder (an RGBA canvas of `MAX_PIXELS`, with room).
const MAX_DECODE_ALLOC: u64 = MAX_PIXELS * 4 + (16 << 20);

/// A resized image ready to send.
#[derive(Debug, Clone)]
pub struct Resized {
    /// Encoded bytes.
    pub bytes: bytes::Bytes,
    /// `image/jpeg` or `image/webp`.
    pub content_type: &'static str,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
}

/// Whether `size` is one of the served sizes.
pub fn valid_size(size: u32) -> bool {
    SIZES.contains(&size)
}

/// The output dimensions: the source fitted into `size`×`size`, aspect kept,
/// never enlarged.
fn fit(w: u32, h: u32, size: u32) -> (u32, u32) {
    if w <= size && h <= size {
        return (w, h);
    }
    if w >= h {
        let nh = ((u64::from(h) * u64::from(size) + u64::from(w) / 2) / u64::from(w)).max(1);
        (size, nh as u32)
    } else {
        let nw = ((u64::from(w) * u64::from(size) + u64::from(h) / 2) / u64::from(h)).max(1);
        (nw as u32, size)
    }
}

/// Decode `data`, fit it into `size`×`size` and encode it (JPEG, or lossless WebP
/// when it has transparency).
pub fn resize(data: &[u8], size: u32) -> Result<Resized> {
    if !valid_size(size) {
        return Err(FeedError::BadRequest(format!(
            "size must be one of {SIZES:?}"
        )));
    }
    let reader = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .map_err(|e| FeedError::Parse(format!("reading image: {e}")))?;
    let format = reader
        .format()
        .ok_or_else(|| FeedError::UnsupportedMedia("not an image (unknown format)".into()))?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif
    ) {
        return Err(FeedError::UnsupportedMedia(format!(
            "image format {format:?} is not served (JPEG, PNG, WebP, GIF)"
        )));
    }
    // The header alone first: a bomb is refused before any pixel is allocated.
    let (w, h) = ImageReader::with_format(Cursor::new(data), format)
        .into_dimensions()
        .map_err(|e| FeedError::Parse(format!("image header: {e}")))?;
    if w == 0 || h == 0 {
        return Err(FeedError::Parse("image has no pixels".into()));
    }
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(FeedError::OverLimit(format!(
            "image of {w}×{h} pixels is over the {MAX_PIXELS}-pixel cap"
        )));
    }
    let mut reader = ImageReader::with_format(Cursor::new(data), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| FeedError::Parse(format!("decoding image: {e}")))?;
    let alpha = img.color().has_alpha();
    let (pixel_type, src_buf) = if alpha {
        (PixelType::U8x4, img.to_rgba8().into_raw())
    } else {
        (PixelType::U8x3, img.to_rgb8().into_raw())
    };
    drop(img);
    let (sw, sh) = (w, h);
    let (dw, dh) = fit(sw, sh, size);
    let out = if (dw, dh) == (sw, sh) {
        src_buf
    } else {
        let src = ImageRef::new(sw, sh, &src_buf, pixel_type)
            .map_err(|e| FeedError::Parse(format!("image buffer: {e}")))?;
        let mut dst = Image::new(dw, dh, pixel_type);
        Resizer::new()
            .resize(
                &src,
                &mut dst,
                &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)),
            )
            .map_err(|e| FeedError::Parse(format!("resizing image: {e}")))?;
        dst.into_vec()
    };
    let mut encoded = Vec::with_capacity((dw * dh) as usize / 4);
    let content_type = if alpha {
        image::codecs::webp::WebPEncoder::new_lossless(&mut encoded)
            .write_image(&out, dw, dh, ExtendedColorType::Rgba8)
            .map_err(|e| FeedError::Parse(format!("encoding WebP: {e}")))?;
        "image/webp"
    } else {
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, 85)
            .write_image(&out, dw, dh, ExtendedColorType::Rgb8)
            .map_err(|e| FeedError::Parse(format!("encoding JPEG: {e}")))?;
        "image/jpeg"
    };
    Ok(Resized {
        bytes: bytes::Bytes::from(encoded),
        content_type,
        width: dw,
        height: dh,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba};

    fn png(w: u32, h: u32, alpha: bool) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        if alpha {
            ImageBuffer::from_fn(w, h, |x, y| {
                Rgba([(x % 256) as u8, (y % 256) as u8, 90, (x % 200) as u8])
            })
            .write_to(&mut out, ImageFormat::Png)
            .expect("png");
        } else {
            ImageBuffer::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]))
                .write_to(&mut out, ImageFormat::Png)
                .expect("png");
        }
        out.into_inner()
    }

    /// A valid 1×1 PNG whose header (IHDR, CRC fixed) claims `w`×`h` pixels.
    pub(crate) fn png_claiming(w: u32, h: u32) -> Vec<u8> {
        let mut bomb = png(1, 1, false);
        bomb[16..20].copy_from_slice(&w.to_be_bytes());
        bomb[20..24].copy_from_slice(&h.to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.sum().to_be_bytes());
        bomb
    }

    #[test]
    fn fits_without_enlarging() {
        assert_eq!(fit(3000, 3000, 256), (256, 256));
        assert_eq!(fit(1200, 600, 512), (512, 256));
        assert_eq!(fit(600, 1200, 96), (48, 96));
        assert_eq!(fit(80, 40, 256), (80, 40));
        assert_eq!(fit(10000, 1, 96), (96, 1));
    }

    #[test]
    fn resizes_opaque_to_jpeg_and_alpha_to_webp() {
        let r = resize(&png(1400, 1400, false), 256).expect("resize");
        assert_eq!(
            (r.width, r.height, r.content_type),
            (256, 256, "image/jpeg")
        );
        let back = image::load_from_memory(&r.bytes).expect("decodes");
        assert_eq!((back.width(), back.height()), (256, 256));

        let r = resize(&png(600, 300, true), 96).expect("resize");
        assert_eq!((r.width, r.height, r.content_type), (96, 48, "image/webp"));
        let back = image::load_from_memory(&r.bytes).expect("decodes");
        assert!(back.color().has_alpha());
    }

    #[test]
    fn refuses_non_images_and_bad_sizes() {
        let e = resize(b"<html><body>hi</body></html>", 96).expect_err("html");
        assert_eq!(e.status(), 415);
        assert_eq!(
            resize(&png(10, 10, false), 100).expect_err("size").status(),
            400
        );
        let mut truncated = png(300, 300, false);
        truncated.truncate(truncated.len() / 2);
        assert_eq!(resize(&truncated, 96).expect_err("truncated").status(), 422);
    }

    #[test]
    fn refuses_decompression_bombs_from_the_header() {
        // A valid PNG header claiming 100000×100000 pixels (10 G pixels), no data.
        let e = resize(&png_claiming(100_000, 100_000), 96).expect_err("bomb");
        assert_eq!(e.status(), 413, "{e}");
        assert!(e.to_string().contains("pixel"), "{e}");
    }
}
