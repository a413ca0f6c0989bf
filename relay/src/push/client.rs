//! One POST to a push service: resolve and check the endpoint's addresses
//! (`endpoint`), connect to a checked address, TLS for https (the system's
//! roots), HTTP/1.1, and the answer's status and `Retry-After`.
//!
//! A connection per push keeps it simple and keeps the address check next
//! to the connect; a busy relay would pool connections per push service
//! (not done yet).

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use axum::body::Body;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::{
    rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore},
    TlsConnector,
};
use url::Url;

use super::endpoint::{self, EndpointError, Policy};

/// The whole exchange (resolve, connect, TLS, answer) may take this long.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The longest `Retry-After` honoured; longer ones are cut to it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What the push service answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// `Retry-After` in seconds (the form push services use), capped.
    pub retry_after: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("endpoint refused: {0}")]
    Endpoint(#[from] EndpointError),
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("no answer within {TIMEOUT:?}")]
    Timeout,
}

impl PostError {
    /// Whether trying again later may succeed (a refused endpoint will not).
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            PostError::Endpoint(
                EndpointError::NotPublic
                    | EndpointError::NotHttps
                    | EndpointError::Malformed
                    | EndpointError::TooLong
            )
        )
    }
}

/// POSTs `body` with `headers` to `url`.
pub async fn post(
    url: &Url,
    policy: Policy,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Result<Answer, PostError> {
    tokio::time::timeout(TIMEOUT, exchange(url, policy, headers, body))
        .await
        .map_err(|_| PostError::Timeout)?
}

async fn exchange(
    url: &Url,
    policy: Policy,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Result<Answer, PostError> {
    let url = endpoint::parse(url.as_str(), policy)?;
    let addrs = endpoint::resolve(&url, policy).await?;
    let tcp = connect(&addrs).await?;
    let mut request = hyper::Request::post(match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    })
    .header(hyper::header::HOST, host_header(&url))
    .header(hyper::header::CONTENT_LENGTH, body.len());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Body::from(body))
        .expect("the headers are valid");
    let response = if url.scheme() == "https" {
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| PostError::Tls(std::io::Error::other(e.to_string())))?;
        let tls = TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(PostError::Tls)?;
        send(TokioIo::new(tls), request).await?
    } else {
        send(TokioIo::new(tcp), request).await?
    };
    let retry_after = response
        .headers()
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    Ok(Answer {
        status: response.status().as_u16(),
        retry_after,
    })
}

async fn send<I>(
    io: I,
    request: hyper::Request<Body>,
) -> Result<hyper::Response<hyper::body::Incoming>, PostError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    // The connection is driven beside the request and ends with it.
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender.send_request(request).await;
    driver.abort();
    Ok(response?)
}

/// The first checked address that accepts a connection.
async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, PostError> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Some(err),
        }
    }
    Err(PostError::Connect(
        last.unwrap_or_else(|| std::io::Error::other("no address")),
    ))
}

fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The client TLS configuration, built once: the system's trust anchors.
fn tls_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            if !found.errors.is_empty() {
                tracing::warn!(
                    "some system certificates were unreadable: {:?}",
                    found.errors
                );
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::warn!("no system trust anchors: https pushes will fail");
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}
