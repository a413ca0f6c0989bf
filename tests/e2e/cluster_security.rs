//! The backplane secured: relays authenticate to a real nats-server
//! configured with users and permissions, a token, operator mode (a
//! credentials file, JWTs signed here) or TLS that verifies client
//! certificates (generated here); a relay whose credentials NATS
//! refuses exits and says which flags to check; a NATS user without the
//! relays' rights cannot post into a room.
//!
//! Every test takes [`tests::heavy`]: each runs a nats-server and relays.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use relay::{backplane::STREAM, Config};
use tests::{
    client::history_of, files::upload, relay::run_relay, Client, InProcessRelay, NatsServer, WAIT,
};

/// Writes `text` as `name` in `dir`; returns its path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The users of the permission tests: `relay` has exactly the rights
/// docs/DEPLOY.md gives relays; `watcher` may not publish on the rooms' subjects nor use
/// JetStream's API (docs/DEPLOY.md has the full setup).
const USERS: &str = r#"
authorization {
  users = [
    { user: relay, password: relay-secret,
      permissions: {
        publish:   ["palaver.>", "$JS.API.>", "$O.PALAVER_FILES.>", "_INBOX.>"]
        subscribe: ["palaver.>", "_INBOX.>"]
      } }
    { user: watcher, password: watcher-secret,
      permissions: { publish: { deny: ["palaver.>", "$JS.API.>"] } } }
  ]
}
"#;

fn cluster_config(nats: &NatsServer) -> Config {
    let mut config = Config::for_tests();
    config.nats = vec![nats.url()];
    config.rate_limit = 0;
    config
}

/// A relay with `config` is ready and a member's message is stored (acked
/// by JetStream) through it.
async fn relay_works(config: Config) {
    let relay = InProcessRelay::start(config).await;
    relay.wait_ready().await.unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("vault", None).await.unwrap();
    let seq = alice.say_acked("vault", "secured", "c1").await.unwrap();
    // Another member reads it back from the stream.
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    let joined = bob.join("vault", None).await.unwrap();
    let seqs: Vec<u64> = history_of(&joined).iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [seq]);
    // Files too: the relays' rights cover the file bucket.
    let up = upload(relay.addr, alice.resume.as_deref(), "note.txt", b"hello")
        .await
        .unwrap();
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    relay.stop().await.unwrap();
}

/// Runs the relay binary against `nats` with `args`; it must exit with a
/// failure whose log contains every one of `says`.
async fn relay_refused(nats: &NatsServer, args: &[&str], says: &[&str]) {
    let url = nats.url();
    let mut all = vec![
        "--bind",
        "127.0.0.1:0",
        "--static-dir",
        "/nonexistent",
        "--exit-on-fault-secs",
        "0",
        "--nats",
        &url,
    ];
    all.extend_from_slice(args);
    let output = run_relay(&all).await;
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the relay kept running:\n{log}");
    for said in says {
        assert!(log.contains(said), "no {said:?} in:\n{log}");
    }
}

#[tokio::test]
async fn a_relay_authenticates_with_a_user_and_password_and_a_wrong_one_exits() {
    let _heavy = tests::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start_with_config(&write(dir.path(), "users.conf", USERS))
        .await
        .unwrap();

    let mut config = cluster_config(&nats);
    config.nats_user = Some("relay".into());
    config.nats_password = Some("relay-secret".into());
    relay_works(config).await;

    relay_refused(
        &nats,
        &["--nats-user", "relay", "--nats-password", "wrong"],
        &[
            "refused the relay's credentials",
            "--nats-user/--nats-password",
        ],
    )
    .await;
    relay_refused(&nats, &[], &["refused the relay's credentials"]).await;
}

#[tokio::test]
async fn a_relay_authenticates_with_a_token() {
    let _heavy = tests::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "token.conf",
        "authorization { token: \"t0ken-for-relays\" }\n",
    );
    let nats = NatsServer::start_with_config(&conf).await.unwrap();

    let mut config = cluster_config(&nats);
    config.nats_token = Some("t0ken-for-relays".into());
    relay_works(config).await;

    relay_refused(
        &nats,
        &["--nats-token", "another"],
        &["refused the relay's credentials", "--nats-token"],
    )
    .await;
}

#[tokio::test]
async fn a_credentials_file_that_cannot_be_read_stops_the_relay_naming_the_flag() {
    let output = run_relay(&[
        "--bind",
        "127.0.0.1:0",
        "--static-dir",
        "/nonexistent",
        "--nats",
        "nats://127.0.0.1:1",
        "--nats-creds",
        "/nonexistent/relay.creds",
    ])
    .await;
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains("--nats-creds /nonexistent/relay.creds"),
        "{log}"
    );
}

#[tokio::test]
async fn a_user_without_the_relays_rights_cannot_post_into_a_room() {
    let _heavy = tests::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start_with_config(&write(dir.path(), "users.conf", USERS))
        .await
        .unwrap();
    // A relay creates the stream.
    let mut config = cluster_config(&nats);
    config.nats_user = Some("relay".into());
    config.nats_password = Some("relay-secret".into());
    let relay = InProcessRelay::start(config).await;
    relay.wait_ready().await.unwrap();

    let as_user = |user: &str, password: &str| {
        async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
            .connect(nats.url())
    };
    let relay_user = as_user("relay", "relay-secret").await.unwrap();
    let watcher = as_user("watcher", "watcher-secret").await.unwrap();
    let stream = async_nats::jetstream::new(relay_user.clone())
        .get_stream(STREAM)
        .await
        .unwrap();
    let stored = || {
        let mut stream = stream.clone();
        async move { stream.info().await.unwrap().state.messages }
    };
    let before = stored().await;

    // The watcher's forgery, then (once the server has handled it) a
    // relay's marker on the same subject: only the marker is stored.
    let subject = "palaver.room.666f72676564";
    watcher.publish(subject, "forged".into()).await.unwrap();
    watcher.flush().await.unwrap();
    relay_user.publish(subject, "marker".into()).await.unwrap();
    relay_user.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while stored().await == before {
        assert!(tokio::time::Instant::now() < deadline, "nothing stored");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let last = stream
        .get_last_raw_message_by_subject(subject)
        .await
        .unwrap();
    assert_eq!(&last.payload[..], b"marker");
    assert_eq!(stored().await, before + 1, "the forgery was stored");
    relay.stop().await.unwrap();
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate,
/// each as PEM files in `dir`: (ca, server cert, server key, client cert,
/// client key).
fn certificates(dir: &Path) -> [PathBuf; 5] {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "palaver test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let signed = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = signed(vec!["127.0.0.1".into(), "localhost".into()]);
    let (client_cert, client_key) = signed(vec!["palaver-relay".into()]);
    [
        write(dir, "ca.pem", &ca.pem()),
        write(dir, "server.pem", &server_cert),
        write(dir, "server-key.pem", &server_key),
        write(dir, "client.pem", &client_cert),
        write(dir, "client-key.pem", &client_key),
    ]
}

#[tokio::test]
async fn a_relay_speaks_tls_to_nats_with_a_client_certificate() {
    let _heavy = tests::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let [ca, server_cert, server_key, client_cert, client_key] = certificates(dir.path());
    // `verify`: the server refuses a client without a certificate its CA
    // signed, so a relay that is ready presented one.
    let conf = format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n}}\n",
        server_cert.display(),
        server_key.display(),
        ca.display()
    );
    let nats = NatsServer::start_with_config(&write(dir.path(), "tls.conf", &conf))
        .await
        .unwrap();

    let mut config = cluster_config(&nats);
    config.nats_tls_ca = Some(ca.clone());
    config.nats_tls_cert = Some(client_cert);
    config.nats_tls_key = Some(client_key);
    relay_works(config).await;

    // Without a client certificate the server will not talk to it.
    let plain = async_nats::ConnectOptions::new()
        .add_root_certificates(ca)
        .require_tls(true)
        .connect(nats.url())
        .await;
    assert!(plain.is_err(), "connected without a client certificate");
}

/// A JWT as NATS's operator mode wants it: signed with the issuer's nkey.
fn nats_jwt(issuer: &nkeys::KeyPair, subject: &str, nats: serde_json::Value) -> String {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let claims = serde_json::json!({
        "jti": tests::relay::free_port().unwrap().to_string(),
        "iat": 1_700_000_000u64,
        "iss": issuer.public_key(),
        "name": subject,
        "sub": subject,
        "nats": nats,
    });
    let input = format!(
        "{}.{}",
        b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#),
        b64(claims.to_string().as_bytes())
    );
    let signature = issuer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&signature))
}

#[tokio::test]
async fn a_relay_authenticates_with_a_credentials_file() {
    let _heavy = tests::heavy().await;
    let dir = tempfile::tempdir().unwrap();
    // An operator, an account with JetStream, and the relays' user.
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let operator_jwt = nats_jwt(
        &operator,
        &operator.public_key(),
        serde_json::json!({"type": "operator", "version": 2}),
    );
    let account_jwt = nats_jwt(
        &operator,
        &account.public_key(),
        serde_json::json!({
            "type": "account", "version": 2,
            "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                       "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
                       "mem_storage": -1, "disk_storage": -1, "streams": -1,
                       "consumer": -1},
            "default_permissions": {"pub": {}, "sub": {}},
        }),
    );
    let user_jwt = nats_jwt(
        &account,
        &user.public_key(),
        serde_json::json!({"type": "user", "version": 2, "pub": {}, "sub": {},
                           "subs": -1, "data": -1, "payload": -1}),
    );
    // JetStream needs a system account.
    let system = nkeys::KeyPair::new_account();
    let system_jwt = nats_jwt(
        &operator,
        &system.public_key(),
        serde_json::json!({"type": "account", "version": 2,
                           "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                                      "exports": -1, "wildcards": true, "conn": -1, "leaf": -1}}),
    );
    let operator_file = write(dir.path(), "operator.jwt", &operator_jwt);
    let conf = format!(
        "operator: \"{}\"\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n  {}: \"{}\"\n  {}: \"{}\"\n}}\n",
        operator_file.display(),
        system.public_key(),
        account.public_key(),
        account_jwt,
        system.public_key(),
        system_jwt
    );
    let nats = NatsServer::start_with_config(&write(dir.path(), "operator.conf", &conf))
        .await
        .unwrap();
    let creds = format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().unwrap()
    );
    let creds = write(dir.path(), "relay.creds", &creds);

    let mut config = cluster_config(&nats);
    config.nats_creds = Some(creds);
    relay_works(config).await;

    // A user the account did not sign is refused, and the relay exits.
    let stranger = nkeys::KeyPair::new_user();
    let forged = format!(
        "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        nats_jwt(
            &nkeys::KeyPair::new_account(),
            &stranger.public_key(),
            serde_json::json!({"type": "user", "version": 2, "pub": {}, "sub": {},
                               "subs": -1, "data": -1, "payload": -1}),
        ),
        stranger.seed().unwrap()
    );
    let forged = write(dir.path(), "forged.creds", &forged);
    relay_refused(
        &nats,
        &["--nats-creds", forged.to_str().unwrap()],
        &["refused the relay's credentials", "--nats-creds"],
    )
    .await;
}
