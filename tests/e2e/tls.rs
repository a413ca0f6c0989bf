//! TLS in the relay itself: `--tls-cert` and `--tls-key` serve wss://.

use std::sync::Arc;

use relay::Config;
use shared::ServerMsg;
use tests::InProcessRelay;
use tokio::net::TcpStream;
use tokio_rustls::{
    rustls::{self, pki_types::ServerName, RootCertStore},
    TlsConnector,
};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn the_relay_speaks_wss_with_its_own_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();

    let mut config = Config::for_tests();
    config.tls_cert = Some(cert);
    config.tls_key = Some(key);
    let relay = InProcessRelay::start(config).await;

    // A client that trusts exactly this certificate.
    let mut roots = RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(relay.addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(client_config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the relay");
    let url = format!("wss://localhost:{}/ws", relay.addr.port());
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();

    use futures_util::{SinkExt, StreamExt};
    ws.send(Message::Text(r#"{"type":"hello","nick":"secure"}"#.into()))
        .await
        .unwrap();
    let frame = tokio::time::timeout(tests::WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = frame else {
        panic!("{frame:?}")
    };
    let welcome = ServerMsg::decode(&text).unwrap();
    assert!(
        matches!(welcome, ServerMsg::Welcome { ref user, .. } if user.nick.as_str() == "secure"),
        "{welcome:?}"
    );

    // Plain HTTP on the TLS port gets no answer: the handshake fails.
    let plain = tests::relay::http_get(relay.addr, "/healthz").await;
    assert!(plain.is_err() || plain.unwrap().0 != 200);
    relay.stop().await.unwrap();
}

#[test]
fn a_key_that_is_not_pem_is_refused_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let err = relay::tls::acceptor(&cert, &key).err().expect("refused");
    assert!(format!("{err:#}").contains("key.pem"), "{err:#}");
}
