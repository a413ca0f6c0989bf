//! Signed, expiring capability URLs for attachments.
//!
//! A browser loads an attachment with `<img src>` or a link, which cannot
//! send an `Authorization` header, and the web app is usually on another
//! origin than the relay, so a cookie would be a third-party cookie. So
//! each attachment's `url` carries its own proof: an HMAC-SHA256, with a
//! secret only the relay knows, over the file id, the room it was posted
//! in and an expiry. The relay gives such URLs only to the members of
//! that room (in the messages it delivers to them), checks the signature
//! and the expiry on every download, and a URL is worth nothing for any
//! other file or room, or after it expires (docs/SECURITY.md).
//!
//! The room, not the user, is signed: the relay serializes a message once
//! for all its recipients, and a URL that leaks works for whoever holds
//! it either way (no browser request can prove who is asking). Expiry is
//! rounded up to the hour so a message's URLs stay the same, and the
//! browser's cache keeps working, for an hour at a time; a TTL under an
//! hour (tests of URL refresh; the relay warns at start) is rounded up to
//! a multiple of itself instead, so a URL never lives past twice its TTL.

use std::{io, path::Path, sync::OnceLock};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use shared::{FileId, RoomName};

use super::blobs::hex;

/// Expiries are rounded up to a multiple of this many seconds (or of the
/// TTL, when it is shorter).
pub const ALIGN_SECS: u64 = 3600;

pub struct Signer {
    /// The secret; empty in cluster mode until NATS gave the cluster's
    /// (`backplane::NatsFiles`), and while empty no URL is valid.
    key: OnceLock<[u8; 32]>,
    /// How long a URL stays valid at least, in seconds.
    ttl_secs: u64,
}

/// What a capability URL's query carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub room: RoomName,
    pub exp: u64,
    pub sig: String,
}

impl Signer {
    pub fn new(key: [u8; 32], ttl_secs: u64) -> Signer {
        Signer {
            key: OnceLock::from(key),
            ttl_secs,
        }
    }

    /// A signer whose secret comes later ([`Signer::set_key`]): the
    /// cluster's, shared by every relay through NATS.
    pub fn awaiting_key(ttl_secs: u64) -> Signer {
        Signer {
            key: OnceLock::new(),
            ttl_secs,
        }
    }

    /// Gives an [`awaiting_key`](Signer::awaiting_key) signer its secret
    /// (once; later calls are ignored).
    pub fn set_key(&self, key: [u8; 32]) {
        let _ = self.key.set(key);
    }

    /// A new random secret.
    pub fn random_key() -> [u8; 32] {
        random_key()
    }

    /// The relay's secret kept in `path` (created with 32 random bytes,
    /// readable by the relay's user only), so URLs outlive a restart.
    pub fn load_or_create(path: &Path, ttl_secs: u64) -> io::Result<Signer> {
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() == 32 => {
                return Ok(Signer::new(bytes.try_into().expect("32 bytes"), ttl_secs))
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a 32-byte secret; delete it to make a new one (every attachment URL given out so far stops working)", path.display()),
                ))
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        let key = random_key();
        let temp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temp)?;
            file.write_all(&key)?;
            file.sync_all()?;
        }
        std::fs::rename(&temp, path)?;
        Ok(Signer::new(key, ttl_secs))
    }

    fn mac(&self, id: &FileId, room: &RoomName, exp: u64) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.get()?).expect("any key length");
        mac.update(format!("palaver-file-v1\n{id}\n{room}\n{exp}").as_bytes());
        Some(mac)
    }

    /// The expiry of a URL made at `now` (Unix seconds).
    pub fn expiry(&self, now: u64) -> u64 {
        let align = ALIGN_SECS.min(self.ttl_secs).max(1);
        (now / align + 1) * align + self.ttl_secs
    }

    pub fn grant(&self, id: &FileId, room: &RoomName, now: u64) -> Grant {
        let exp = self.expiry(now);
        // Without a secret yet, a signature nothing accepts.
        let sig = self
            .mac(id, room, exp)
            .map(|mac| hex(&mac.finalize().into_bytes()[..16]))
            .unwrap_or_default();
        Grant {
            room: room.clone(),
            exp,
            sig,
        }
    }

    /// Whether `grant` was made by this relay for `id` and has not expired.
    pub fn check(&self, id: &FileId, grant: &Grant, now: u64) -> bool {
        if grant.exp < now {
            return false;
        }
        let Some(sig) = unhex(&grant.sig) else {
            return false;
        };
        self.mac(id, &grant.room, grant.exp)
            .is_some_and(|mac| mac.verify_truncated_left(&sig).is_ok())
            && sig.len() == 16
    }
}

impl Grant {
    /// The query string of a URL carrying this grant.
    pub fn query(&self) -> String {
        format!(
            "r={}&e={}&s={}",
            encode(self.room.as_str()),
            self.exp,
            self.sig
        )
    }

    /// The grant in a URL's query, if it has a well-formed one.
    pub fn parse(query: &str) -> Option<Grant> {
        let (mut room, mut exp, mut sig) = (None, None, None);
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "r" => room = RoomName::new(&value).ok(),
                "e" => exp = value.parse().ok(),
                "s" => sig = Some(value.into_owned()),
                _ => {}
            }
        }
        Some(Grant {
            room: room?,
            exp: exp?,
            sig: sig?,
        })
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS has randomness");
    key
}

/// A signer whose key lives only in memory (`--store memory`).
pub fn ephemeral(ttl_secs: u64) -> Signer {
    Signer::new(random_key(), ttl_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_opens_its_file_in_its_room_until_it_expires() {
        let signer = Signer::new([7; 32], 86_400);
        let (id, room) = (
            FileId::new("f1").unwrap(),
            RoomName::new("general").unwrap(),
        );
        let grant = signer.grant(&id, &room, 1_000_000);
        assert!(grant.exp >= 1_000_000 + 86_400);
        assert_eq!(
            grant,
            signer.grant(&id, &room, 1_000_001),
            "stable within the hour"
        );
        assert!(signer.check(&id, &grant, 1_000_000));
        assert!(!signer.check(&id, &grant, grant.exp + 1), "expired");
        assert!(!signer.check(&FileId::new("f2").unwrap(), &grant, 1_000_000));
        let other_room = Grant {
            room: RoomName::new("other").unwrap(),
            ..grant.clone()
        };
        assert!(!signer.check(&id, &other_room, 1_000_000));
        let later = Grant {
            exp: grant.exp + 3600,
            ..grant.clone()
        };
        assert!(!signer.check(&id, &later, 1_000_000), "expiry is signed");
        let forged = Grant {
            sig: "00".repeat(16),
            ..grant.clone()
        };
        assert!(!signer.check(&id, &forged, 1_000_000));
        let short = Grant {
            sig: grant.sig[..8].to_string(),
            ..grant.clone()
        };
        assert!(
            !signer.check(&id, &short, 1_000_000),
            "a prefix is no signature"
        );
        assert!(!Signer::new([8; 32], 86_400).check(&id, &grant, 1_000_000));
        assert_eq!(Grant::parse(&grant.query()), Some(grant));
    }

    #[test]
    fn a_short_ttl_is_aligned_to_itself_not_to_the_hour() {
        let signer = Signer::new([7; 32], 5);
        for now in [1_000_000, 1_000_001, 1_000_004] {
            let exp = signer.expiry(now);
            assert!(exp > now + 5 && exp <= now + 10, "{now}: {exp}");
            assert_eq!(exp % 5, 0);
        }
        let day = Signer::new([7; 32], 86_400);
        assert_eq!(
            (day.expiry(1_000_000) - 86_400) % 3600,
            0,
            "a day: to the hour"
        );
    }

    #[test]
    fn the_secret_is_kept_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let first = Signer::load_or_create(&path, 60).unwrap();
        let again = Signer::load_or_create(&path, 60).unwrap();
        assert_eq!(first.key, again.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
