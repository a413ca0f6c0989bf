//! Removing metadata from images before they are stored: EXIF (a phone
//! photo's GPS position, camera serial, time), XMP, IPTC and text chunks.
//! The pixels are copied untouched (no re-encoding, no quality loss); only
//! the container's metadata segments are left out.
//!
//! Works as a stream from one file to another, segment by segment, so a
//! large image is never held in memory. A file that does not parse as its
//! container is refused (`Malformed`), like an image that does not decode.

use std::{
    fs::File,
    io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write},
    path::Path,
};

use super::sniff::ImageKind;

#[derive(Debug, thiserror::Error)]
pub enum StripError {
    #[error("the image's structure is malformed")]
    Malformed,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Copies the image `from` to `to` without its metadata. GIF carries no
/// EXIF and is copied as it is.
pub fn strip(kind: ImageKind, from: &Path, to: &Path) -> Result<(), StripError> {
    let mut input = BufReader::new(File::open(from)?);
    let mut output = BufWriter::new(File::create(to)?);
    match kind {
        ImageKind::Jpeg => jpeg(&mut input, &mut output)?,
        ImageKind::Png => png(&mut input, &mut output)?,
        ImageKind::WebP => webp(&mut input, &mut output)?,
        ImageKind::Gif => {
            io::copy(&mut input, &mut output)?;
        }
    }
    let file = output.into_inner().map_err(|err| err.into_error())?;
    file.sync_all()?;
    Ok(())
}

fn read_exact<const N: usize>(input: &mut impl Read) -> Result<[u8; N], StripError> {
    let mut buf = [0u8; N];
    input.read_exact(&mut buf).map_err(|err| match err.kind() {
        io::ErrorKind::UnexpectedEof => StripError::Malformed,
        _ => StripError::Io(err),
    })?;
    Ok(buf)
}

/// Copies exactly `len` bytes; too few is malformed.
fn pass(input: &mut impl Read, output: &mut impl Write, len: u64) -> Result<(), StripError> {
    if io::copy(&mut input.take(len), output)? == len {
        Ok(())
    } else {
        Err(StripError::Malformed)
    }
}

/// Skips exactly `len` bytes; too few is malformed.
fn skip(input: &mut impl Read, len: u64) -> Result<(), StripError> {
    if io::copy(&mut input.take(len), &mut io::sink())? == len {
        Ok(())
    } else {
        Err(StripError::Malformed)
    }
}

/// JPEG: segments up to the first scan; APP1 (EXIF, XMP), APP13 (IPTC)
/// and comments are dropped. From the scan on, the data is copied.
fn jpeg(input: &mut impl Read, output: &mut impl Write) -> Result<(), StripError> {
    if read_exact::<2>(input)? != [0xff, 0xd8] {
        return Err(StripError::Malformed);
    }
    output.write_all(&[0xff, 0xd8])?;
    loop {
        let [ff, mut marker] = read_exact::<2>(input)?;
        if ff != 0xff {
            return Err(StripError::Malformed);
        }
        while marker == 0xff {
            [marker] = read_exact::<1>(input)?;
        }
        match marker {
            0xd9 => {
                output.write_all(&[0xff, 0xd9])?;
                return Ok(());
            }
            0x01 | 0xd0..=0xd7 => output.write_all(&[0xff, marker])?,
            _ => {
                let len_bytes = read_exact::<2>(input)?;
                let len = u16::from_be_bytes(len_bytes);
                if len < 2 {
                    return Err(StripError::Malformed);
                }
                let body = u64::from(len - 2);
                if matches!(marker, 0xe1 | 0xed | 0xfe) {
                    skip(input, body)?;
                    continue;
                }
                output.write_all(&[0xff, marker])?;
                output.write_all(&len_bytes)?;
                pass(input, output, body)?;
                if marker == 0xda {
                    // Start of scan: the rest is image data.
                    io::copy(input, output)?;
                    return Ok(());
                }
            }
        }
    }
}

/// PNG: every chunk but eXIf and the text and time chunks.
fn png(input: &mut impl Read, output: &mut impl Write) -> Result<(), StripError> {
    let signature = read_exact::<8>(input)?;
    if &signature != b"\x89PNG\r\n\x1a\n" {
        return Err(StripError::Malformed);
    }
    output.write_all(&signature)?;
    loop {
        let head = read_exact::<8>(input)?;
        let len = u64::from(u32::from_be_bytes(head[..4].try_into().expect("4 bytes")));
        let kind = &head[4..8];
        let rest = len + 4; // data and CRC
        if matches!(kind, b"eXIf" | b"tEXt" | b"iTXt" | b"zTXt" | b"tIME") {
            skip(input, rest)?;
            continue;
        }
        output.write_all(&head)?;
        pass(input, output, rest)?;
        if kind == b"IEND" {
            return Ok(());
        }
    }
}

/// WebP: every RIFF chunk but EXIF and XMP; the extended header's flags
/// for them are cleared and the RIFF size rewritten.
fn webp(input: &mut impl Read, output: &mut (impl Write + Seek)) -> Result<(), StripError> {
    let head = read_exact::<12>(input)?;
    if &head[..4] != b"RIFF" || &head[8..12] != b"WEBP" {
        return Err(StripError::Malformed);
    }
    let riff_len = u64::from(u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")));
    output.write_all(&head)?;
    let mut read = 4u64; // "WEBP"
    let mut written = 4u64;
    while read < riff_len {
        let chunk = read_exact::<8>(input)?;
        let len = u64::from(u32::from_le_bytes(chunk[4..8].try_into().expect("4 bytes")));
        let padded = len + (len & 1);
        read += 8 + padded;
        match &chunk[..4] {
            b"EXIF" | b"XMP " => skip(input, padded)?,
            b"VP8X" if len >= 1 => {
                let [flags] = read_exact::<1>(input)?;
                output.write_all(&chunk)?;
                output.write_all(&[flags & !0x0c])?;
                pass(input, output, padded - 1)?;
                written += 8 + padded;
            }
            _ => {
                output.write_all(&chunk)?;
                pass(input, output, padded)?;
                written += 8 + padded;
            }
        }
    }
    let written = u32::try_from(written).map_err(|_| StripError::Malformed)?;
    output.seek(SeekFrom::Start(4))?;
    output.write_all(&written.to_le_bytes())?;
    output.seek(SeekFrom::End(0))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: ImageKind, bytes: &[u8]) -> Result<Vec<u8>, StripError> {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::write(&from, bytes).unwrap();
        strip(kind, &from, &to)?;
        Ok(std::fs::read(to).unwrap())
    }

    #[test]
    fn jpeg_loses_its_exif_and_keeps_its_pixels() {
        let mut jpeg = vec![0xff, 0xd8];
        jpeg.extend([0xff, 0xe0, 0, 4, b'J', b'F']); // APP0, kept
        jpeg.extend([0xff, 0xe1, 0, 8]); // APP1 Exif, dropped
        jpeg.extend(b"Exif\0\0");
        jpeg.extend([0xff, 0xda, 0, 3, 1, 0xaa, 0xbb, 0xff, 0xd9]); // scan
        let out = run(ImageKind::Jpeg, &jpeg).unwrap();
        assert_eq!(
            out,
            [
                0xff, 0xd8, 0xff, 0xe0, 0, 4, b'J', b'F', 0xff, 0xda, 0, 3, 1, 0xaa, 0xbb, 0xff,
                0xd9
            ]
        );
        assert!(run(ImageKind::Jpeg, &[0xff, 0xd8, 0xff, 0xe1, 0, 200, 1]).is_err());
    }

    #[test]
    fn png_loses_its_exif_and_text_chunks() {
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend(kind);
            c.extend(data);
            c.extend([0, 0, 0, 0]);
            c
        };
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &[1; 13]));
        png.extend(chunk(b"eXIf", b"GPS 51.5N"));
        png.extend(chunk(b"tEXt", b"Author\0me"));
        png.extend(chunk(b"IDAT", &[2; 5]));
        png.extend(chunk(b"IEND", &[]));
        let out = run(ImageKind::Png, &png).unwrap();
        let mut want = b"\x89PNG\r\n\x1a\n".to_vec();
        want.extend(chunk(b"IHDR", &[1; 13]));
        want.extend(chunk(b"IDAT", &[2; 5]));
        want.extend(chunk(b"IEND", &[]));
        assert_eq!(out, want);
    }

    #[test]
    fn webp_loses_its_exif_and_its_flag() {
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = kind.to_vec();
            c.extend((data.len() as u32).to_le_bytes());
            c.extend(data);
            if data.len() % 2 == 1 {
                c.push(0);
            }
            c
        };
        let body = [
            chunk(b"VP8X", &[0x08 | 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            chunk(b"VP8L", &[7; 5]),
            chunk(b"EXIF", b"GPS"),
        ]
        .concat();
        let mut webp = b"RIFF".to_vec();
        webp.extend(((body.len() + 4) as u32).to_le_bytes());
        webp.extend(b"WEBP");
        webp.extend(&body);
        let out = run(ImageKind::WebP, &webp).unwrap();
        let kept = [
            chunk(b"VP8X", &[0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            chunk(b"VP8L", &[7; 5]),
        ]
        .concat();
        let mut want = b"RIFF".to_vec();
        want.extend(((kept.len() + 4) as u32).to_le_bytes());
        want.extend(b"WEBP");
        want.extend(&kept);
        assert_eq!(out, want);
    }
}
