//! TLS on the gateways (`--irc-tls`, `--line-tls`) with their own
//! certificate (`--gateway-tls-cert`): Debian's irssi connects with `-tls`
//! and verifies it, `openssl s_client` is the line gateway's TLS `nc`, and
//! the HTTP listener stays plain.

use std::{path::Path, process::Stdio};

use relay::Config;
use shared::{protocol::PresenceEvent, ServerMsg};
use tests::{tmux::Pane, Client, InProcessRelay, LineClient, WAIT};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
};
use tokio_rustls::rustls::pki_types::CertificateDer;

/// A relay whose gateways speak TLS with a fresh certificate for
/// `localhost` and 127.0.0.1, written to `dir/cert.pem`, with `tweak`
/// applied to its configuration; and the certificate, for a client to
/// trust.
async fn relay_with_gateway_tls(
    dir: &Path,
    tweak: impl FnOnce(&mut Config),
) -> (InProcessRelay, CertificateDer<'static>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let mut config = Config::for_tests();
    config.irc_tls = true;
    config.line_tls = true;
    config.gateway_tls_cert = Some(cert);
    config.gateway_tls_key = Some(key);
    tweak(&mut config);
    let relay = InProcessRelay::with_gateways(config).await;
    (relay, certified.cert.der().clone())
}

#[tokio::test]
async fn irssi_chats_over_tls_and_a_plain_client_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, _) = relay_with_gateway_tls(dir.path(), |_| {}).await;
    let irc = relay.irc_addr.unwrap();
    // The WebSocket stays plain: only the gateways were given TLS.
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();

    // A plain-text IRC client on the TLS port: no greeting, no welcome.
    let mut plain = LineClient::connect(irc).await.unwrap();
    plain.send("NICK eve").await.unwrap();
    plain.send("USER eve 0 * :Eve").await.unwrap();
    let said = plain.expect_closed().await.unwrap_or_default();
    assert!(
        !said.iter().any(|l| l.contains("palaver")),
        "a plain client got IRC lines: {said:?}"
    );

    let home = tempfile::tempdir().unwrap();
    let irssi = Pane::run(
        &format!("exec irssi --home={} -n bob", home.path().display()),
        &[],
    )
    .await;
    irssi.until("irssi's screen", |s| s.contains("Irssi")).await;
    // -tls_verify: irssi checks the certificate against this CA and name
    // (by name: irssi does not match IP addresses).
    irssi
        .say(&format!(
            "/connect -4 -tls -tls_verify -tls_cafile {} localhost {}",
            dir.path().join("cert.pem").display(),
            irc.port()
        ))
        .await;
    irssi
        .until("the welcome over TLS", |s| {
            s.contains("Welcome to Palaver, bob")
        })
        .await;
    irssi.say("/join #general").await;
    let ServerMsg::Presence { user: bob, .. } =
        alice.recv_presence(PresenceEvent::Join).await.unwrap()
    else {
        unreachable!()
    };
    irssi
        .until("the channel", |s| s.contains("[#general]"))
        .await;
    irssi.say("sealed hello").await;
    let m = alice.next_message().await.unwrap();
    assert_eq!((m.from.id, m.text.as_str()), (bob.id, "sealed hello"));
    alice
        .say_acked("general", "sealed reply", "a-1")
        .await
        .unwrap();
    irssi
        .until("alice's reply", |s| s.contains("alice> sealed reply"))
        .await;
    irssi.say("/quit").await;
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn openssl_s_client_chats_on_the_tls_line_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, _) = relay_with_gateway_tls(dir.path(), |_| {}).await;
    let line = relay.line_addr.unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();

    let mut s_client = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-CAfile"])
        .arg(dir.path().join("cert.pem"))
        .args(["-verify_hostname", "localhost", "-connect"])
        .arg(line.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl is installed (Debian's openssl package)");
    let mut stdin = s_client.stdin.take().unwrap();
    let mut lines = BufReader::new(s_client.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("a line within WAIT")
            .unwrap()
            .expect("s_client still connected")
    };
    let greeting = next_line().await;
    assert!(greeting.contains("/nick"), "{greeting}");
    stdin.write_all(b"/nick carol\nover tls\n").await.unwrap();
    let m = alice.next_message().await.unwrap();
    assert_eq!(
        (m.from.nick.as_str(), m.text.as_str()),
        ("carol", "over tls")
    );
    alice.say_acked("general", "hi carol", "a-1").await.unwrap();
    loop {
        if next_line().await == "[general] alice: hi carol" {
            break;
        }
    }
    stdin.write_all(b"/quit\n").await.unwrap();
    relay.stop().await.unwrap();
}

#[test]
fn gateway_tls_without_a_certificate_is_refused_at_start_saying_what_to_add() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime.block_on(async {
        let mut config = Config::for_tests();
        config.irc_tls = true;
        let gateways = relay::gateway::Listeners {
            line: None,
            irc: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        relay::run_with_gateways(listener, None, gateways, config, std::future::ready(()))
            .await
            .expect_err("refused")
    });
    let err = format!("{err:#}");
    assert!(err.contains("--irc-tls needs a certificate"), "{err}");
    assert!(err.contains("--gateway-tls-cert"), "{err}");
}

/// Over the per-address cap, a TLS client still gets the refusal's one
/// line, over TLS, and is closed within the refusal's 2 s.
#[tokio::test]
async fn a_refused_tls_client_is_told_why_over_tls_and_closed() {
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;
    use tokio_rustls::{
        rustls::{self, pki_types::ServerName, RootCertStore},
        TlsConnector,
    };
    let dir = tempfile::tempdir().unwrap();
    let (relay, cert) = relay_with_gateway_tls(dir.path(), |c| c.max_conns_per_ip = 1).await;

    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(client));
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(relay.irc_addr.unwrap())
            .await
            .unwrap();
        connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .expect("a TLS handshake")
    };
    let mut first = connect().await;
    let mut greeting = [0u8; 64];
    let n = first.read(&mut greeting).await.unwrap();
    assert!(String::from_utf8_lossy(&greeting[..n]).contains("NOTICE"));

    let mut second = connect().await;
    let mut said = String::new();
    tokio::time::timeout(WAIT, second.read_to_string(&mut said))
        .await
        .expect("closed within WAIT")
        .ok();
    assert!(
        said.starts_with("ERROR :Closing link: too many connections from your address"),
        "{said:?}"
    );
    drop(first);
    relay.stop().await.unwrap();
}
