//! The relay's VAPID identity (RFC 8292): one P-256 key pair that signs a
//! short JWT on every push, so a push service knows which application
//! server sends and browsers only accept pushes from the key they
//! subscribed with (the `push_key` of `welcome`).
//!
//! The key is read from `--vapid-key FILE` (PEM, PKCS#8 or SEC1), or kept
//! in the data directory (`vapid-key.pem`, created on first start, mode
//! 0600): a new key would orphan every subscription. With `--store memory`
//! and no file the key lives in memory, like the subscriptions. In
//! cluster mode every relay signs with one key: `--vapid-key FILE` on
//! each, or the one the backplane keeps in NATS.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use p256::{
    ecdsa::{signature::Signer, Signature, SigningKey},
    elliptic_curve::sec1::ToEncodedPoint,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding},
    SecretKey,
};
use url::Url;

/// The file in the data directory that holds a generated key.
pub const KEY_FILE: &str = "vapid-key.pem";
/// How long a signed token is valid; RFC 8292 allows at most 24 hours.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    #[error("cannot read the VAPID key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the VAPID key {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a P-256 private key in PEM (PKCS#8 or SEC1)")]
    Format { path: PathBuf },
}

pub struct Vapid {
    key: SigningKey,
    /// The public key as browsers take it (`applicationServerKey`): the
    /// uncompressed point, base64url.
    public: String,
    /// The `sub` claim: how a push service reaches the operator.
    subject: String,
}

impl Vapid {
    pub fn new(secret: SecretKey, subject: String) -> Vapid {
        let public = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        Vapid {
            key: SigningKey::from(secret),
            public,
            subject,
        }
    }

    /// The key of `file`, else the data directory's (made on first use),
    /// else (`dir` None: nothing persists) a fresh one.
    pub fn load(
        file: Option<&Path>,
        dir: Option<&Path>,
        subject: String,
    ) -> Result<Vapid, VapidError> {
        let secret = match (file, dir) {
            (Some(file), _) => read(file)?,
            (None, Some(dir)) => {
                let path = dir.join(KEY_FILE);
                if path.exists() {
                    read(&path)?
                } else {
                    let secret = random_secret();
                    write(&path, &secret)?;
                    tracing::info!(path = %path.display(), "generated the relay's VAPID key");
                    secret
                }
            }
            (None, None) => random_secret(),
        };
        Ok(Vapid::new(secret, subject))
    }

    /// The public key, base64url (for `welcome`'s `push_key` and `k=`).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to `endpoint` at Unix time
    /// `now_secs`: `vapid t=<JWT>, k=<public key>`.
    pub fn authorization(&self, endpoint: &Url, now_secs: u64) -> String {
        format!(
            "vapid t={}, k={}",
            self.token(endpoint, now_secs),
            self.public
        )
    }

    /// The ES256 JWT: `aud` is the endpoint's origin, `exp` within 24 h.
    fn token(&self, endpoint: &Url, now_secs: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": now_secs + TOKEN_LIFETIME.as_secs(),
            "sub": self.subject,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        // JWS takes the raw r || s, not DER.
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}

/// A fresh P-256 secret key from the OS's random source.
pub fn random_secret() -> SecretKey {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        // Out of range (zero or past the group order) with odds of 2^-32.
        if let Ok(secret) = SecretKey::from_slice(&bytes) {
            return secret;
        }
    }
}

/// A P-256 private key from PEM (PKCS#8 or SEC1).
pub fn parse_pem(pem: &str) -> Option<SecretKey> {
    SecretKey::from_pkcs8_pem(pem)
        .or_else(|_| SecretKey::from_sec1_pem(pem))
        .ok()
}

/// The key as PKCS#8 PEM (the data directory's file, the cluster's
/// stored key).
pub fn pem(secret: &SecretKey) -> String {
    secret
        .to_pkcs8_pem(LineEnding::LF)
        .expect("a P-256 key encodes")
        .to_string()
}

fn read(path: &Path) -> Result<SecretKey, VapidError> {
    let pem = std::fs::read_to_string(path).map_err(|source| VapidError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_pem(&pem).ok_or_else(|| VapidError::Format {
        path: path.to_path_buf(),
    })
}

/// Writes a new key readable by its owner only.
fn write(path: &Path, secret: &SecretKey) -> Result<(), VapidError> {
    let err = |source| VapidError::Write {
        path: path.to_path_buf(),
        source,
    };
    let pem = pem(secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(err)?;
    file.write_all(pem.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};

    use super::*;

    #[test]
    fn the_token_verifies_with_the_announced_key_for_the_endpoint_origin() {
        let vapid = Vapid::new(random_secret(), "mailto:ops@example.com".into());
        let endpoint = Url::parse("https://push.example.net:8443/send/abc?x=1").unwrap();
        let now = crate::clock::now_ms() / 1000;
        let header = vapid.authorization(&endpoint, now);
        let (t, k) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap();
        assert_eq!(k, vapid.public_key());
        let point = URL_SAFE_NO_PAD.decode(k).unwrap();
        assert_eq!((point.len(), point[0]), (65, 4));
        let key = DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(&point[1..33]),
            &URL_SAFE_NO_PAD.encode(&point[33..]),
        )
        .unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://push.example.net:8443"]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        let claims = decode::<serde_json::Value>(t, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        let exp = claims["exp"].as_u64().unwrap();
        assert!(exp > now && exp <= now + 24 * 3600);
        let other = Vapid::new(random_secret(), "mailto:x@y".into());
        let forged = other.authorization(&endpoint, now);
        let forged_t = forged[8..].split_once(", k=").unwrap().0;
        assert!(decode::<serde_json::Value>(forged_t, &key, &validation).is_err());
    }

    #[test]
    fn a_generated_key_is_private_to_its_owner_and_kept_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let first = Vapid::load(None, Some(dir.path()), "mailto:a@b".into()).unwrap();
        let again = Vapid::load(None, Some(dir.path()), "mailto:a@b".into()).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let file =
            Vapid::load(Some(&dir.path().join(KEY_FILE)), None, "mailto:a@b".into()).unwrap();
        assert_eq!(file.public_key(), first.public_key());
        std::fs::write(dir.path().join("bad.pem"), "not a key").unwrap();
        assert!(matches!(
            Vapid::load(Some(&dir.path().join("bad.pem")), None, String::new()),
            Err(VapidError::Format { .. })
        ));
    }
}
