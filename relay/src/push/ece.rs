//! Message encryption for Web Push: the `aes128gcm` content coding of
//! RFC 8188 with the key derivation of RFC 8291.
//!
//! A push service stores and forwards the body but must not read it: the
//! relay makes a fresh P-256 key pair and salt per message, agrees a secret
//! with the browser's subscription key (`p256dh`), mixes in the
//! subscription's `auth` secret, and seals the payload in one record.
//! Only that browser can open it.

use aes_gcm::{aead::Aead, Aes128Gcm, KeyInit, Nonce};
use hkdf::Hkdf;
use p256::{ecdh::diffie_hellman, elliptic_curve::sec1::ToEncodedPoint, PublicKey, SecretKey};
use sha2::Sha256;

/// The record size announced in the header. One record carries the whole
/// payload: push services accept bodies up to 4096 bytes.
const RECORD_SIZE: u32 = 4096;
/// Salt (16), record size (4), key id length (1), the sender's key (65).
pub const HEADER_LEN: usize = 16 + 4 + 1 + 65;
/// The AES-GCM tag and the last-record delimiter.
const OVERHEAD: usize = 16 + 1;
/// The largest plaintext that fits one 4096-byte push body.
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - HEADER_LEN - OVERHEAD;

/// A browser's subscription keys, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UaKeys {
    /// The subscription's P-256 public key (`keys.p256dh`).
    pub public: PublicKey,
    /// The subscription's authentication secret (`keys.auth`).
    pub auth: [u8; 16],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EceError {
    #[error("the payload is {0} bytes; at most {MAX_PLAINTEXT} fit a push message")]
    TooLong(usize),
    #[error("the body is not one aes128gcm record for this key")]
    Malformed,
}

/// Encrypts `plaintext` for `ua` with a fresh key pair and salt.
pub fn encrypt(plaintext: &[u8], ua: &UaKeys) -> Result<Vec<u8>, EceError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source works");
    encrypt_with(plaintext, ua, &crate::push::vapid::random_secret(), &salt)
}

/// Encrypts with the given sender key and salt (fixed only in tests, to
/// reproduce RFC 8291's example).
pub fn encrypt_with(
    plaintext: &[u8],
    ua: &UaKeys,
    sender: &SecretKey,
    salt: &[u8; 16],
) -> Result<Vec<u8>, EceError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EceError::TooLong(plaintext.len()));
    }
    let sender_public = sender.public_key().to_encoded_point(false);
    let shared = diffie_hellman(sender.to_nonzero_scalar(), ua.public.as_affine());
    let (key, nonce) = derive(
        shared.raw_secret_bytes(),
        &ua.auth,
        ua.public.to_encoded_point(false).as_bytes(),
        sender_public.as_bytes(),
        salt,
    );
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    // The delimiter of the last (here the only) record; no padding.
    record.push(2);
    let sealed = Aes128Gcm::new(&key.into())
        .encrypt(Nonce::from_slice(&nonce), record.as_slice())
        .expect("AES-GCM encrypts any record under 64 GiB");
    let mut body = Vec::with_capacity(HEADER_LEN + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(sender_public.as_bytes().len() as u8);
    body.extend_from_slice(sender_public.as_bytes());
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// The browser's side, for the round-trip test: opens a one-record body
/// with the subscription's private key.
#[cfg(test)]
pub fn decrypt(body: &[u8], ua_secret: &SecretKey, auth: &[u8; 16]) -> Result<Vec<u8>, EceError> {
    if body.len() < HEADER_LEN + OVERHEAD || body[20] != 65 {
        return Err(EceError::Malformed);
    }
    let salt: [u8; 16] = body[..16].try_into().expect("16 bytes");
    let sender =
        PublicKey::from_sec1_bytes(&body[21..HEADER_LEN]).map_err(|_| EceError::Malformed)?;
    let ua_public = ua_secret.public_key();
    let shared = diffie_hellman(ua_secret.to_nonzero_scalar(), sender.as_affine());
    let (key, nonce) = derive(
        shared.raw_secret_bytes(),
        auth,
        ua_public.to_encoded_point(false).as_bytes(),
        sender.to_encoded_point(false).as_bytes(),
        &salt,
    );
    let mut record = Aes128Gcm::new(&key.into())
        .decrypt(Nonce::from_slice(&nonce), &body[HEADER_LEN..])
        .map_err(|_| EceError::Malformed)?;
    while record.last() == Some(&0) {
        record.pop();
    }
    match record.pop() {
        Some(2) => Ok(record),
        _ => Err(EceError::Malformed),
    }
}

/// RFC 8291 §3.4: the content encryption key and nonce from the ECDH
/// secret, the auth secret, both public keys and the salt.
fn derive(
    ecdh: &[u8],
    auth: &[u8; 16],
    ua_public: &[u8],
    sender_public: &[u8],
    salt: &[u8; 16],
) -> ([u8; 16], [u8; 12]) {
    let mut info = Vec::with_capacity(14 + 65 + 65);
    info.extend_from_slice(b"WebPush: info\0");
    info.extend_from_slice(ua_public);
    info.extend_from_slice(sender_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), ecdh)
        .expand(&info, &mut ikm)
        .expect("32 bytes is a valid HKDF-SHA-256 length");
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let (mut key, mut nonce) = ([0u8; 16], [0u8; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut key)
        .expect("16 bytes is a valid HKDF-SHA-256 length");
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .expect("12 bytes is a valid HKDF-SHA-256 length");
    (key, nonce)
}

#[cfg(test)]
mod tests {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap()
    }

    // RFC 8291, Appendix A.
    const PLAINTEXT: &[u8] = b"When I grow up, I want to be a watermelon";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn ua() -> UaKeys {
        UaKeys {
            public: PublicKey::from_sec1_bytes(&b64(UA_PUBLIC)).unwrap(),
            auth: b64(AUTH).try_into().unwrap(),
        }
    }

    #[test]
    fn encrypts_rfc_8291_appendix_a_to_the_published_bytes() {
        let sender = SecretKey::from_slice(&b64(AS_PRIVATE)).unwrap();
        let salt: [u8; 16] = b64(SALT).try_into().unwrap();
        let body = encrypt_with(PLAINTEXT, &ua(), &sender, &salt).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(&body), BODY);
    }

    #[test]
    fn the_published_body_and_a_fresh_one_decrypt_with_the_subscription_key() {
        let ua_secret = SecretKey::from_slice(&b64(UA_PRIVATE)).unwrap();
        assert_eq!(ua_secret.public_key(), ua().public);
        let auth = ua().auth;
        assert_eq!(decrypt(&b64(BODY), &ua_secret, &auth).unwrap(), PLAINTEXT);
        let fresh = encrypt(b"{\"room\":\"general\"}", &ua()).unwrap();
        assert_ne!(fresh[..16], b64(SALT)[..], "a fresh salt each time");
        assert_eq!(
            decrypt(&fresh, &ua_secret, &auth).unwrap(),
            b"{\"room\":\"general\"}"
        );
        let mut tampered = fresh.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            decrypt(&tampered, &ua_secret, &auth),
            Err(EceError::Malformed)
        );
    }

    #[test]
    fn a_payload_too_big_for_one_push_is_refused() {
        assert!(encrypt(&[b'x'; MAX_PLAINTEXT], &ua()).unwrap().len() <= RECORD_SIZE as usize);
        assert_eq!(
            encrypt(&[b'x'; MAX_PLAINTEXT + 1], &ua()),
            Err(EceError::TooLong(MAX_PLAINTEXT + 1))
        );
    }
}
