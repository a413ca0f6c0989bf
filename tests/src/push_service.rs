//! A local Web Push service for the tests: what a browser vendor's push
//! service does with the relay's POSTs, on 127.0.0.1 over plain http (the
//! relay runs with `--push-allow-insecure`).
//!
//! It checks each request as a real one would and more: the VAPID JWT
//! (RFC 8292) against the relay's public key from `welcome`, `aud` equal to
//! this service's origin, `exp` within 24 hours; then, as the browser
//! would, decrypts the aes128gcm body (RFC 8291) with the test
//! subscription's private key. It records what it got and answers each
//! subscription with the statuses the test configured (201 by default).
//! The crypto here is written apart from the relay's, so a shared mistake
//! would have to be made twice.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use aes_gcm::{aead::Aead, Aes128Gcm, KeyInit, Nonce};
use anyhow::{bail, ensure, Context};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hkdf::Hkdf;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use p256::{ecdh::diffie_hellman, elliptic_curve::sec1::ToEncodedPoint, PublicKey, SecretKey};
use sha2::Sha256;
use shared::{protocol::PushKeys, ClientMsg, ServerMsg};
use tokio::sync::Notify;

use crate::{Client, WAIT};

/// What the service got in one request.
#[derive(Debug, Clone)]
pub struct Received {
    /// The subscription it was for.
    pub name: String,
    /// The status the service answered.
    pub answered: u16,
    pub ttl: Option<String>,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    /// The decrypted payload.
    pub payload: serde_json::Value,
}

/// One browser's subscription to this service.
pub struct TestSubscription {
    pub name: String,
    pub endpoint: String,
    secret: SecretKey,
    auth: [u8; 16],
}

impl TestSubscription {
    /// The `push_subscribe` frame a browser with this subscription sends.
    pub fn subscribe_frame(&self) -> ClientMsg {
        self.subscribe_frame_hiding_text(false)
    }

    /// The same, with the device's "hide message text" setting.
    pub fn subscribe_frame_hiding_text(&self, hide_text: bool) -> ClientMsg {
        ClientMsg::PushSubscribe {
            hide_text,
            endpoint: self.endpoint.clone(),
            keys: PushKeys {
                p256dh: URL_SAFE_NO_PAD
                    .encode(self.secret.public_key().to_encoded_point(false).as_bytes()),
                auth: URL_SAFE_NO_PAD.encode(self.auth),
            },
        }
    }
}

#[derive(Default)]
struct Inner {
    /// The relay's VAPID public key, from its `welcome`.
    relay_key: Option<String>,
    /// Each subscription's private key and auth secret.
    keys: HashMap<String, (SecretKey, [u8; 16])>,
    /// The statuses (and `Retry-After` seconds) each subscription answers
    /// next; 201 once they run out.
    answers: HashMap<String, VecDeque<(u16, Option<u64>)>>,
    received: Vec<Received>,
    /// Requests that failed a check (a bad JWT, a body that does not
    /// decrypt): a test asserts there are none.
    rejected: Vec<String>,
}

pub struct PushService {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    /// Woken on every request.
    changed: Arc<Notify>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for PushService {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Clone)]
struct Shared {
    origin: String,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

impl PushService {
    pub async fn start() -> anyhow::Result<PushService> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Shared {
            origin: format!("http://{addr}"),
            inner: Arc::default(),
            changed: Arc::default(),
        };
        let (inner, changed) = (shared.inner.clone(), shared.changed.clone());
        let app = Router::new()
            .route("/push/{name}", post(receive))
            .with_state(shared);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(PushService {
            addr,
            inner,
            changed,
            server,
        })
    }

    /// The key every request must be signed with (`welcome`'s `push_key`).
    pub fn trust(&self, relay_key: &str) {
        self.inner.lock().unwrap().relay_key = Some(relay_key.to_string());
    }

    /// The endpoint of subscription `name`.
    pub fn endpoint(&self, name: &str) -> String {
        format!("http://{}/push/{name}", self.addr)
    }

    /// A new subscription `name` (its own key pair and auth secret).
    pub fn subscription(&self, name: &str) -> TestSubscription {
        let mut bytes = [0u8; 32];
        let secret = loop {
            getrandom(&mut bytes);
            if let Ok(secret) = SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let mut auth = [0u8; 16];
        getrandom(&mut auth);
        self.inner
            .lock()
            .unwrap()
            .keys
            .insert(name.to_string(), (secret.clone(), auth));
        TestSubscription {
            name: name.to_string(),
            endpoint: self.endpoint(name),
            secret,
            auth,
        }
    }

    /// What `name` answers next, in order: (status, `Retry-After` seconds).
    pub fn answer(&self, name: &str, answers: &[(u16, Option<u64>)]) {
        self.inner
            .lock()
            .unwrap()
            .answers
            .entry(name.to_string())
            .or_default()
            .extend(answers.iter().copied());
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let inner = self.inner.lock().unwrap();
        assert!(inner.rejected.is_empty(), "rejected: {:?}", inner.rejected);
        inner.received.clone()
    }

    /// Waits (bounded) until `n` requests have been received.
    pub async fn wait_for(&self, n: usize) -> anyhow::Result<Vec<Received>> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let notified = self.changed.notified();
            let got = self.received();
            if got.len() >= n {
                return Ok(got);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                bail!(
                    "{} of {n} pushes arrived within {WAIT:?}: {got:?}",
                    got.len()
                );
            }
        }
    }
}

/// Connects, says hello and returns the client with `welcome`'s `push_key`.
pub async fn hello_with_push_key(
    url: &str,
    nick: &str,
) -> anyhow::Result<(Client, Option<String>)> {
    let mut client = Client::connect(url).await?;
    client
        .send(&ClientMsg::Hello {
            nick: Some(shared::Nick::new(nick).expect("test nicks are valid")),
            resume: None,
            token: None,
        })
        .await?;
    match client.recv().await? {
        ServerMsg::Welcome {
            user,
            resume,
            push_key,
            ..
        } => {
            client.user = Some(user);
            client.resume = Some(resume);
            Ok((client, push_key))
        }
        other => bail!("expected welcome, got {other:?}"),
    }
}

async fn receive(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let checked = {
        let inner = shared.inner.lock().unwrap();
        check(&shared.origin, &inner, &name, &headers, &body)
    };
    let mut inner = shared.inner.lock().unwrap();
    let response = match checked {
        Err(err) => {
            inner.rejected.push(format!("{name}: {err:#}"));
            StatusCode::BAD_REQUEST.into_response()
        }
        Ok(payload) => {
            let (status, retry_after) = inner
                .answers
                .get_mut(&name)
                .and_then(VecDeque::pop_front)
                .unwrap_or((201, None));
            inner.received.push(Received {
                name,
                answered: status,
                ttl: header("ttl"),
                urgency: header("urgency"),
                topic: header("topic"),
                payload,
            });
            let status = StatusCode::from_u16(status).expect("a valid status");
            match retry_after {
                Some(secs) => (status, [("retry-after", secs.to_string())]).into_response(),
                None => status.into_response(),
            }
        }
    };
    drop(inner);
    shared.changed.notify_waiters();
    response
}

/// The checks of one request; the decrypted payload.
fn check(
    origin: &str,
    inner: &Inner,
    name: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> anyhow::Result<serde_json::Value> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    ensure!(
        header("content-encoding") == "aes128gcm",
        "content-encoding"
    );
    ensure!(header("ttl").parse::<u64>().is_ok(), "TTL");
    let relay_key = inner
        .relay_key
        .as_deref()
        .context("no relay key trusted yet")?;
    let (token, key) = header("authorization")
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .context("Authorization is not `vapid t=…, k=…`")?;
    ensure!(key == relay_key, "k= is not the relay's key");
    let point = URL_SAFE_NO_PAD.decode(key)?;
    ensure!(
        point.len() == 65 && point[0] == 4,
        "k= is not an uncompressed point"
    );
    let decoding = DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&point[1..33]),
        &URL_SAFE_NO_PAD.encode(&point[33..]),
    )?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[origin]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = decode::<serde_json::Value>(token, &decoding, &validation)?.claims;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let exp = claims["exp"].as_u64().context("exp")?;
    ensure!(exp <= now + 24 * 3600, "exp more than 24 hours ahead");
    ensure!(
        claims["sub"]
            .as_str()
            .is_some_and(|s| s.starts_with("mailto:") || s.starts_with("https:")),
        "sub is not mailto: or https:"
    );
    let (secret, auth) = inner.keys.get(name).context("no such subscription")?;
    let plaintext = decrypt(body, secret, auth)?;
    Ok(serde_json::from_slice(&plaintext)?)
}

/// A browser's side of RFC 8291/8188: one aes128gcm record.
fn decrypt(body: &[u8], secret: &SecretKey, auth: &[u8; 16]) -> anyhow::Result<Vec<u8>> {
    ensure!(
        body.len() > 86 + 16 && body.len() <= 4096,
        "body size {}",
        body.len()
    );
    let salt = &body[..16];
    let record_size = u32::from_be_bytes(body[16..20].try_into()?);
    ensure!(record_size >= 18, "record size");
    ensure!(body[20] == 65, "key id is not a P-256 point");
    let sender = PublicKey::from_sec1_bytes(&body[21..86])?;
    let shared = diffie_hellman(secret.to_nonzero_scalar(), sender.as_affine());
    let ua_public = secret.public_key().to_encoded_point(false);
    let info = [
        b"WebPush: info\0".as_slice(),
        ua_public.as_bytes(),
        &body[21..86],
    ]
    .concat();
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&info, &mut ikm)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let hkdf = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    hkdf.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    hkdf.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut record = Aes128Gcm::new_from_slice(&cek)?
        .decrypt(Nonce::from_slice(&nonce), &body[86..])
        .map_err(|_| anyhow::anyhow!("the record does not decrypt"))?;
    let end = record
        .iter()
        .rposition(|&b| b != 0)
        .context("no delimiter")?;
    ensure!(record[end] == 2, "not the last record's delimiter");
    record.truncate(end);
    Ok(record)
}

fn getrandom(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random source works");
}

/// Says hello until `welcome` carries the push key (a cluster's key is
/// read from NATS just after the relay is ready); the client and the key.
pub async fn hello_with_cluster_key(url: &str, nick: &str) -> (Client, String) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (client, key) = hello_with_push_key(url, nick).await.unwrap();
        if let Some(key) = key {
            return (client, key);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no push key in welcome within {WAIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
