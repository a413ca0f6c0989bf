//! Token mode: who a connection is, from a signed connection token (JWT).
//!
//! With `--auth-secret` (HS256) or `--auth-public-key` (a PEM file holding
//! an RSA key for RS256 or an Ed25519 key for EdDSA) the relay accepts only
//! connections that present a token signed by the operator's login service,
//! in `hello.token` or in the `?token=` query parameter of `/ws`. The token's
//! claims are `sub` (the user id), `name` (the nick), `exp` (Unix seconds)
//! and, optionally, `rooms`: the only rooms the user may join. Without
//! either flag the relay is anonymous, as before, and no token is read.
//!
//! Optional checks: `aud` must hold `--auth-audience`, `iss` must equal
//! `--auth-issuer`. A connection lives as long as its token: shortly
//! before `exp` the session sends `token_expiring`, the client answers with
//! `reauth` and a fresh token for the same `sub`, and without one the
//! session closes at `exp` (plus the leeway) with 4005.

use std::collections::BTreeSet;

use anyhow::Context;
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use shared::{Nick, RoomName, UserId};

use crate::config::Config;

/// Seconds of clock difference tolerated unless configured otherwise.
const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Longest `sub` accepted, in bytes: it becomes a user id every peer sees.
const MAX_SUB_BYTES: usize = 128;

/// Checks connection tokens with the operator's key.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// What token mode checks beyond the signature (the flags
/// `--auth-audience`, `--auth-issuer`, `--auth-leeway-secs`).
#[derive(Debug, Clone)]
pub struct Checks {
    pub audience: Option<String>,
    pub issuer: Option<String>,
    /// Seconds of clock difference tolerated with the login service.
    pub leeway_secs: u64,
}

/// Who a valid token says the connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: UserId,
    pub nick: Nick,
    /// The rooms the user may join; `None` means any room.
    pub rooms: Option<BTreeSet<RoomName>>,
    /// When the token expires, Unix seconds.
    pub exp: u64,
    /// The token's `roles` include `moderator`: may delete others' messages.
    pub moderator: bool,
}

/// Why a token was refused; the text goes into the `unauthorized` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this relay requires a signed token, in hello.token or the ?token= query parameter")]
    Missing,
    #[error("the token has expired; get a new one from your login")]
    Expired,
    #[error("the token's signature is not valid for this relay")]
    BadSignature,
    #[error("the token is for another audience or issuer than this relay's")]
    WrongAudience,
    #[error("the token is malformed: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    name: String,
    exp: u64,
    #[serde(default)]
    rooms: Option<Vec<String>>,
    /// Optional; `"moderator"` may delete any message.
    #[serde(default)]
    roles: Vec<String>,
}

impl Verifier {
    /// The verifier the configuration asks for, or `None` in anonymous mode.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Verifier>> {
        let checks = Checks {
            audience: config.auth_audience.clone(),
            issuer: config.auth_issuer.clone(),
            leeway_secs: config.auth_leeway_secs,
        };
        if let Some(secret) = &config.auth_secret {
            anyhow::ensure!(
                secret.len() >= 32,
                "--auth-secret must be at least 32 bytes long to resist guessing"
            );
            return Ok(Some(Verifier::hs256(secret.as_bytes()).with(&checks)));
        }
        if let Some(path) = &config.auth_public_key {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read --auth-public-key {}", path.display()))?;
            return Verifier::from_public_key_pem(&pem)
                .with_context(|| format!("--auth-public-key {}", path.display()))
                .map(|verifier| Some(verifier.with(&checks)));
        }
        Ok(None)
    }

    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8]) -> Verifier {
        Verifier::new(DecodingKey::from_secret(secret), Algorithm::HS256)
    }

    /// Adds the audience, issuer and leeway checks.
    pub fn with(mut self, checks: &Checks) -> Verifier {
        self.validation.leeway = checks.leeway_secs;
        if let Some(audience) = &checks.audience {
            self.validation.set_audience(&[audience]);
            self.validation.validate_aud = true;
            self.validation.required_spec_claims.insert("aud".into());
        }
        if let Some(issuer) = &checks.issuer {
            self.validation.set_issuer(&[issuer]);
            self.validation.required_spec_claims.insert("iss".into());
        }
        self
    }

    /// The clock difference tolerated, also after `exp`.
    pub fn leeway_secs(&self) -> u64 {
        self.validation.leeway
    }

    /// RS256 for an RSA public key, EdDSA for an Ed25519 one; the PEM's
    /// content decides, and a token signed with another algorithm is refused.
    pub fn from_public_key_pem(pem: &[u8]) -> anyhow::Result<Verifier> {
        if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            return Ok(Verifier::new(key, Algorithm::RS256));
        }
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return Ok(Verifier::new(key, Algorithm::EdDSA));
        }
        anyhow::bail!("not a PEM RSA or Ed25519 public key")
    }

    fn new(key: DecodingKey, algorithm: Algorithm) -> Verifier {
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = DEFAULT_LEEWAY_SECS;
        // Checked only with --auth-audience (see `with`).
        validation.validate_aud = false;
        Verifier { key, validation }
    }

    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|err| {
                match err.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                        AuthError::BadSignature
                    }
                    ErrorKind::InvalidAudience | ErrorKind::InvalidIssuer => {
                        AuthError::WrongAudience
                    }
                    _ => AuthError::Malformed(err.to_string()),
                }
            })?;
        let claims = data.claims;
        let sub_ok = (1..=MAX_SUB_BYTES).contains(&claims.sub.len())
            && !claims.sub.chars().any(char::is_control);
        if !sub_ok {
            return Err(AuthError::Malformed(format!(
                "sub must be 1 to {MAX_SUB_BYTES} bytes without control characters"
            )));
        }
        let nick =
            Nick::new(&claims.name).map_err(|err| AuthError::Malformed(format!("name: {err}")))?;
        let rooms = claims
            .rooms
            .map(|rooms| {
                rooms
                    .iter()
                    .map(|room| RoomName::new(room))
                    .collect::<Result<BTreeSet<_>, _>>()
            })
            .transpose()
            .map_err(|err| AuthError::Malformed(format!("rooms: {err}")))?;
        Ok(Identity {
            id: UserId(claims.sub),
            nick,
            rooms,
            exp: claims.exp,
            moderator: claims
                .roles
                .iter()
                .any(|role| role == shared::protocol::ROLE_MODERATOR),
        })
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"a test secret that is long enough!";

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn sign(claims: serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn a_valid_token_gives_the_identity() {
        let token = sign(
            json!({"sub": "user-7", "name": " Ada ", "exp": now() + 60, "rooms": ["General", "ops"]}),
            SECRET,
        );
        let identity = Verifier::hs256(SECRET).verify(&token).unwrap();
        assert_eq!(identity.id, UserId("user-7".into()));
        assert_eq!(identity.nick.as_str(), "Ada");
        let rooms: Vec<&str> = identity
            .rooms
            .as_ref()
            .unwrap()
            .iter()
            .map(RoomName::as_str)
            .collect();
        assert_eq!(rooms, ["general", "ops"]);
    }

    #[test]
    fn bad_tokens_get_their_reason() {
        let verifier = Verifier::hs256(SECRET);
        let expired = sign(
            json!({"sub": "u", "name": "a", "exp": now() - 3600}),
            SECRET,
        );
        assert_eq!(verifier.verify(&expired), Err(AuthError::Expired));
        let forged = sign(
            json!({"sub": "u", "name": "a", "exp": now() + 60}),
            b"another secret, just as long.....",
        );
        assert_eq!(verifier.verify(&forged), Err(AuthError::BadSignature));
        for claims in [
            json!({"sub": "u", "exp": now() + 60}),
            json!({"name": "a", "exp": now() + 60}),
            json!({"sub": "u", "name": "a"}),
            json!({"sub": "u", "name": "a\u{202e}b", "exp": now() + 60}),
            json!({"sub": "", "name": "a", "exp": now() + 60}),
            json!({"sub": "u", "name": "a", "exp": now() + 60, "rooms": ["no spaces"]}),
        ] {
            let token = sign(claims.clone(), SECRET);
            assert!(
                matches!(verifier.verify(&token), Err(AuthError::Malformed(_))),
                "{claims}"
            );
        }
        for garbage in ["", "a.b.c", "not a token", "...."] {
            assert!(matches!(
                verifier.verify(garbage),
                Err(AuthError::Malformed(_))
            ));
        }
    }
}
