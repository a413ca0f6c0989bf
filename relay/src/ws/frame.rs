//! RFC 6455 frames as bytes: the header of a client's frame, read, and a
//! server's frame, written. Pure functions, no I/O.
//!
//! A client's frames are masked; a server's are not (section 5.1). No
//! extension is negotiated, so every reserved bit must be clear.

use super::Error;

/// What a frame carries (section 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// The largest payload of a control frame (section 5.5).
pub const MAX_CONTROL: usize = 125;

/// A client frame's header, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub opcode: Opcode,
    pub mask: [u8; 4],
    /// Payload bytes after the header.
    pub len: u64,
    /// Bytes of the header itself (2 to 14).
    pub size: usize,
}

/// Reads a client frame's header from the start of `buf`: `None` while
/// more bytes are needed, an error for a frame no client may send.
pub fn parse_header(buf: &[u8]) -> Result<Option<Header>, Error> {
    let [first, second, ..] = *buf else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err(Error::Protocol(
            "a reserved bit is set, and no extension was agreed",
        ));
    }
    let opcode = Opcode::from_bits(first & 0x0F).ok_or(Error::Protocol("a reserved opcode"))?;
    let fin = first & 0x80 != 0;
    if second & 0x80 == 0 {
        return Err(Error::Protocol("a client's frame must be masked"));
    }
    let (len, at) = match second & 0x7F {
        126 => match buf.get(2..4) {
            Some(bytes) => (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(bytes) => {
                let len = u64::from_be_bytes(bytes.try_into().expect("8 bytes"));
                if len >> 63 != 0 {
                    return Err(Error::Protocol("a 64-bit length with its top bit set"));
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        len => (u64::from(len), 2),
    };
    if opcode.is_control() && (!fin || len > MAX_CONTROL as u64) {
        return Err(Error::Protocol(
            "a control frame must be whole and at most 125 bytes",
        ));
    }
    let Some(mask) = buf.get(at..at + 4) else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask: mask.try_into().expect("4 bytes"),
        len,
        size: at + 4,
    }))
}

/// Unmasks a payload in place (section 5.3), eight bytes at a time.
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes((&*chunk).try_into().expect("8 bytes")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// Appends one whole, unmasked server frame to `out`.
pub fn write(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    let first = 0x80 | opcode.bits();
    match payload.len() {
        len @ 0..=125 => out.extend_from_slice(&[first, len as u8]),
        len @ 126..=0xFFFF => {
            out.extend_from_slice(&[first, 126]);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.extend_from_slice(&[first, 127]);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// The code and reason of a close frame's payload (section 5.5.1): `None`
/// for an empty one, an error for a code no endpoint may send or a reason
/// that is not UTF-8.
pub fn close_code(payload: &[u8]) -> Result<Option<u16>, Error> {
    match payload {
        [] => Ok(None),
        [_] => Err(Error::Protocol("a close frame of one byte")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !sendable {
                return Err(Error::Protocol("a close code no endpoint may send"));
            }
            std::str::from_utf8(reason).map_err(|_| Error::NotUtf8)?;
            Ok(Some(code))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with `mask`, header bits as given.
    fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, Opcode::Text, payload);
        out[0] = first;
        let at = out.len() - payload.len();
        out[1] |= 0x80;
        out.splice(at..at, mask);
        unmask(&mut out[at + 4..], mask);
        out
    }

    #[test]
    fn a_masked_text_frame_reads_back_as_sent() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = client_frame(0x81, b"Hello", mask);
        // RFC 6455 section 5.7's example of a masked "Hello".
        assert_eq!(
            frame,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        let header = parse_header(&frame).unwrap().unwrap();
        assert_eq!(
            (header.fin, header.opcode, header.len, header.size),
            (true, Opcode::Text, 5, 6)
        );
        unmask(&mut frame[6..], header.mask);
        assert_eq!(&frame[6..], b"Hello");
    }

    #[test]
    fn lengths_take_one_two_or_eight_bytes() {
        for (len, size) in [(125, 6), (126, 8), (65_535, 8), (65_536, 14), (300_000, 14)] {
            let payload = vec![b'x'; len];
            let frame = client_frame(0x82, &payload, [1, 2, 3, 4]);
            let header = parse_header(&frame).unwrap().unwrap();
            assert_eq!((header.len, header.size), (len as u64, size), "{len} bytes");
            // Every prefix shorter than the header asks for more.
            for cut in 0..size {
                assert_eq!(
                    parse_header(&frame[..cut]).unwrap(),
                    None,
                    "{len} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn server_frames_are_whole_and_unmasked() {
        for len in [0, 125, 126, 65_535, 65_536] {
            let mut out = Vec::new();
            write(&mut out, Opcode::Text, &vec![b'y'; len]);
            assert_eq!(out[0], 0x81);
            assert_eq!(out[1] & 0x80, 0, "unmasked");
            let size = out.len() - len;
            let read = match out[1] {
                126 => usize::from(u16::from_be_bytes([out[2], out[3]])),
                127 => u64::from_be_bytes(out[2..10].try_into().unwrap()) as usize,
                small => usize::from(small),
            };
            assert_eq!(read, len);
            assert_eq!(
                size,
                [2, 4, 10][usize::from(len > 125) + usize::from(len > 65_535)]
            );
        }
    }

    #[test]
    fn frames_no_client_may_send_are_protocol_errors() {
        let mask = [9, 9, 9, 9];
        let unmasked = [0x81, 0x01, b'a'];
        let rsv1 = client_frame(0xC1, b"a", mask);
        let opcode_3 = client_frame(0x83, b"a", mask);
        let fragmented_ping = client_frame(0x09, b"a", mask);
        let long_ping = client_frame(0x89, &[0; 126], mask);
        let mut top_bit = client_frame(0x82, &[0; 65_536], mask);
        top_bit[2] |= 0x80;
        for (what, frame) in [
            ("unmasked", &unmasked[..]),
            ("rsv1", &rsv1),
            ("opcode 3", &opcode_3),
            ("fragmented ping", &fragmented_ping),
            ("126-byte ping", &long_ping),
            ("64-bit length's top bit", &top_bit),
        ] {
            let err = parse_header(frame).expect_err(what);
            assert_eq!(err.close_code(), Some(1002), "{what}");
        }
    }

    #[test]
    fn any_bytes_give_a_header_more_to_read_or_an_error_never_a_panic() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..100_000 {
            let len = (next() % 16) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Ok(Some(header)) = parse_header(&bytes) {
                assert!(header.size <= bytes.len(), "{bytes:?}");
                assert!(!header.opcode.is_control() || header.len <= MAX_CONTROL as u64);
            }
        }
    }

    #[test]
    fn unmasking_twice_gives_the_payload_back_at_every_length() {
        let mask = [0xde, 0xad, 0xbe, 0xef];
        for len in 0..40 {
            let payload: Vec<u8> = (0..len as u8).collect();
            let mut bytes = payload.clone();
            unmask(&mut bytes, mask);
            for (i, byte) in bytes.iter().enumerate() {
                assert_eq!(*byte, payload[i] ^ mask[i % 4]);
            }
            unmask(&mut bytes, mask);
            assert_eq!(bytes, payload);
        }
    }

    #[test]
    fn close_payloads_carry_a_sendable_code_and_a_utf8_reason() {
        assert_eq!(close_code(b"").unwrap(), None);
        assert_eq!(close_code(&[0x03, 0xE8, b'o', b'k']).unwrap(), Some(1000));
        assert_eq!(close_code(&[0x0F, 0xA0]).unwrap(), Some(4000));
        for bad in [
            &[0x03][..],
            &[0x03, 0xED],
            &[0x03, 0xEE],
            &[0x00, 0x00],
            &[0x13, 0x88],
        ] {
            assert_eq!(
                close_code(bad).unwrap_err().close_code(),
                Some(1002),
                "{bad:?}"
            );
        }
        assert_eq!(
            close_code(&[0x03, 0xE8, 0xff]).unwrap_err().close_code(),
            Some(1007)
        );
    }
}
