//! Resume tokens and the only form the relay keeps them in: their SHA-256.
//!
//! A resume token is 128 random bits that stand for a user. The relay
//! hands it out once, in `welcome`, and from then on keeps only its hash:
//! in memory, in SQLite and in NATS. Whoever reads a data directory, a NATS
//! stream or a memory dump finds no token they could present. A presented
//! token is hashed and the hashes are compared; an attacker cannot steer a
//! SHA-256 output, so comparing hashes leaks nothing a timing could use.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::random::random_hex;

/// The SHA-256 of a resume token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of a token as a client presents it.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// A new random token and its hash.
    pub fn new_token() -> (String, TokenHash) {
        let token = random_hex(16);
        let hash = TokenHash::of(&token);
        (token, hash)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<TokenHash> {
        bytes.try_into().ok().map(TokenHash)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters: a NATS subject token.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Only a prefix: enough to tell two apart in a log, not to look one up.
impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_sha256_of_the_token_text() {
        // sha256("abc"), from FIPS 180-2.
        assert_eq!(
            TokenHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (token, hash) = TokenHash::new_token();
        assert_eq!(token.len(), 32, "128 random bits, hex");
        assert_eq!(hash, TokenHash::of(&token));
        assert_eq!(TokenHash::from_bytes(hash.as_bytes()), Some(hash));
        assert!(!format!("{hash:?}").contains(&hash.to_hex()));
    }
}
