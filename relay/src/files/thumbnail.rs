//! Thumbnails of uploaded images, decoded by the `image` crate under
//! limits, so a small file that claims (or decompresses to) an enormous
//! image is refused before its pixels are allocated.
//!
//! Decoding is CPU work on the blocking pool, and the relay decodes at
//! most [`DECODES_AT_ONCE`] images at a time, so the memory images can
//! take is bounded by that times [`MAX_ALLOC`], whatever is uploaded.

use std::{fs::File, io::BufReader, path::Path};

use image::{error::ImageError, DynamicImage, ImageReader, Limits};

use super::sniff::ImageKind;

/// The longest side of a thumbnail, in pixels.
pub const THUMB_SIDE: u32 = 320;
/// The largest image side the relay decodes; larger images are refused.
pub const MAX_SIDE: u32 = 8192;
/// Bytes one decode may allocate (an 8192 x 4096 RGBA image is 128 MiB).
pub const MAX_ALLOC: u64 = 160 * 1024 * 1024;
/// Images decoded at once, relay-wide.
pub const DECODES_AT_ONCE: usize = 1;

#[derive(Debug, thiserror::Error)]
pub enum ThumbError {
    #[error("the image is larger than {MAX_SIDE} x {MAX_SIDE} pixels or needs too much memory to decode")]
    TooLarge,
    #[error("the image cannot be decoded: {0}")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A decoded image's size and its thumbnail (JPEG bytes).
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

fn refused(err: ImageError) -> ThumbError {
    match err {
        ImageError::Limits(_) => ThumbError::TooLarge,
        ImageError::IoError(err) => ThumbError::Malformed(err.to_string()),
        other => ThumbError::Malformed(other.to_string()),
    }
}

/// Decodes the image at `path` (of `kind`, as sniffed) and makes its
/// thumbnail, at most [`THUMB_SIDE`] on its longer side, never enlarged.
pub fn make(kind: ImageKind, path: &Path) -> Result<Thumbnail, ThumbError> {
    let mut reader = ImageReader::new(BufReader::new(File::open(path)?));
    reader.set_format(kind.format());
    reader.limits(limits());
    let image = reader.decode().map_err(refused)?;
    let (width, height) = (image.width(), image.height());
    let small = if width <= THUMB_SIDE && height <= THUMB_SIDE {
        image
    } else {
        image.thumbnail(THUMB_SIDE, THUMB_SIDE)
    };
    // JPEG has no alpha: flatten onto white, not black.
    let rgb = flatten(small);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&rgb)
        .map_err(refused)?;
    Ok(Thumbnail {
        width,
        height,
        jpeg,
    })
}

fn flatten(image: DynamicImage) -> image::RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| ((u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a))) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbaImage::from_pixel(width, height, image::Rgba([10, 200, 30, 255]));
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    /// PNG's chunk checksum (CRC-32, ISO 3309).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn thumb_of(bytes: &[u8], kind: ImageKind) -> Result<Thumbnail, ThumbError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image");
        std::fs::write(&path, bytes).unwrap();
        make(kind, &path)
    }

    #[test]
    fn thumbnails_fit_320_and_keep_the_aspect() {
        let thumb = thumb_of(&png(1000, 500), ImageKind::Png).unwrap();
        assert_eq!((thumb.width, thumb.height), (1000, 500));
        let decoded = image::load_from_memory(&thumb.jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 160));
        let small = thumb_of(&png(40, 30), ImageKind::Png).unwrap();
        let decoded = image::load_from_memory(&small.jpeg).unwrap();
        assert_eq!(
            (decoded.width(), decoded.height()),
            (40, 30),
            "never enlarged"
        );
    }

    #[test]
    fn a_bomb_and_garbage_are_refused() {
        // A PNG header that claims 10,000 x 10,000 pixels: refused by the
        // dimension limit before anything is allocated.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&10_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&10_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            thumb_of(&bomb, ImageKind::Png),
            Err(ThumbError::TooLarge)
        ));
        let garbage = [
            0xff, 0xd8, 0xff, 0xe0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 2, 3,
        ];
        assert!(matches!(
            thumb_of(&garbage, ImageKind::Jpeg),
            Err(ThumbError::Malformed(_))
        ));
    }
}
