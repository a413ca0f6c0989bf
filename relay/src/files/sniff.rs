//! What a file is, from its first bytes, never from the uploader's
//! `Content-Type` or name: a client can lie about both, and the type
//! decides whether a browser may show the file inline.

/// An image format the relay decodes, thumbnails and may serve inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Gif,
    WebP,
}

impl ImageKind {
    pub fn mime(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Gif => "image/gif",
            ImageKind::WebP => "image/webp",
        }
    }

    pub fn of_mime(mime: &str) -> Option<ImageKind> {
        [
            ImageKind::Png,
            ImageKind::Jpeg,
            ImageKind::Gif,
            ImageKind::WebP,
        ]
        .into_iter()
        .find(|kind| kind.mime() == mime)
    }

    pub fn format(self) -> image::ImageFormat {
        match self {
            ImageKind::Png => image::ImageFormat::Png,
            ImageKind::Jpeg => image::ImageFormat::Jpeg,
            ImageKind::Gif => image::ImageFormat::Gif,
            ImageKind::WebP => image::ImageFormat::WebP,
        }
    }
}

/// Bytes [`sniff`] looks at.
pub const SNIFF_BYTES: usize = 512;

/// The media type of a file that starts with `head`.
pub fn sniff(head: &[u8]) -> &'static str {
    if let Some(kind) = image_kind(head) {
        return kind.mime();
    }
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"%PDF-") {
        "application/pdf"
    } else if starts(b"PK\x03\x04") {
        "application/zip"
    } else if starts(b"\x1f\x8b") {
        "application/gzip"
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" {
        "video/mp4"
    } else if starts(b"\x1a\x45\xdf\xa3") {
        "video/webm"
    } else if starts(b"OggS") {
        "audio/ogg"
    } else if starts(b"ID3") || starts(b"\xff\xfb") {
        "audio/mpeg"
    } else if starts(b"RIFF") && head.get(8..12) == Some(b"WAVE") {
        "audio/wav"
    } else if let Some(text) = as_text(head) {
        markup(text).unwrap_or("text/plain; charset=utf-8")
    } else {
        "application/octet-stream"
    }
}

/// The image formats the relay thumbnails, by magic number.
pub fn image_kind(head: &[u8]) -> Option<ImageKind> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageKind::Png)
    } else if head.starts_with(b"\xff\xd8\xff") {
        Some(ImageKind::Jpeg)
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some(ImageKind::Gif)
    } else if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        Some(ImageKind::WebP)
    } else {
        None
    }
}

/// Text that a browser would run: HTML, SVG, XML. Recognised so it is
/// labelled for what it is (and never served inline).
fn markup(text: &str) -> Option<&'static str> {
    let lower = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_lowercase();
    if lower.contains("<svg") {
        Some("image/svg+xml")
    } else if lower.starts_with("<!doctype html")
        || lower.contains("<html")
        || lower.contains("<script")
        || lower.contains("<body")
    {
        Some("text/html")
    } else if lower.starts_with("<?xml") {
        Some("application/xml")
    } else {
        None
    }
}

/// `head` as text: UTF-8 without control characters but whitespace.
fn as_text(head: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(trim_partial_utf8(head)).ok()?;
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\x0c'))
        .then_some(text)
}

/// `head` cut before a UTF-8 sequence the sniff window split.
fn trim_partial_utf8(head: &[u8]) -> &[u8] {
    match std::str::from_utf8(head) {
        Ok(_) => head,
        Err(err) if err.error_len().is_none() => &head[..err.valid_up_to()],
        Err(_) => head,
    }
}

/// Whether a browser may show this type inline from the relay's origin:
/// only raster images, which run no script.
pub fn inline_safe(mime: &str) -> bool {
    ImageKind::of_mime(mime).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(sniff(b"\xff\xd8\xff\xe0"), "image/jpeg");
        assert_eq!(sniff(b"GIF89a"), "image/gif");
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(sniff(b"%PDF-1.7"), "application/pdf");
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><svg onload=alert(1)>"),
            "image/svg+xml"
        );
        assert_eq!(sniff(b"  <!DOCTYPE html><p>hi"), "text/html");
        assert_eq!(sniff(b"<script>alert(1)</script>"), "text/html");
        assert_eq!(sniff(b"hello, world\n"), "text/plain; charset=utf-8");
        assert_eq!(sniff("h\u{e9}".as_bytes()), "text/plain; charset=utf-8");
        assert_eq!(sniff(&[0, 159, 146, 150]), "application/octet-stream");
        assert_eq!(sniff(b"\0\0\0\x01abc"), "application/octet-stream");
        assert!(inline_safe("image/png"));
        assert!(!inline_safe("image/svg+xml"));
        assert!(!inline_safe("text/html"));
    }
}
