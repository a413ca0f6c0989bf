//! Debian's irssi, a real full-screen IRC client, in a tmux pane
//! (`tests::tmux::Pane`) against the IRC gateway: it registers, joins
//! `#general` and chats with a WebSocket user both ways, then quits.

use relay::Config;
use shared::{protocol::PresenceEvent, ServerMsg};
use tests::{tmux::Pane, Client, InProcessRelay};

#[tokio::test]
async fn irssi_chats_with_a_websocket_user() {
    let relay = InProcessRelay::with_gateways(Config::for_tests()).await;
    let irc = relay.irc_addr.unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();

    // Its own home, so no user config and no autoconnect list apply.
    let home = tempfile::tempdir().unwrap();
    let irssi = Pane::run(
        &format!(
            "exec irssi --home={} -n bob -c {} -p {}",
            home.path().display(),
            irc.ip(),
            irc.port()
        ),
        &[],
    )
    .await;
    irssi
        .until("the welcome", |s| s.contains("Welcome to Palaver, bob"))
        .await;
    irssi.say("/join #general").await;
    let joined = alice.recv_presence(PresenceEvent::Join).await.unwrap();
    let ServerMsg::Presence { user, .. } = joined else {
        unreachable!()
    };
    assert_eq!(user.nick.as_str(), "bob");
    irssi
        .until("the channel", |s| s.contains("[#general]"))
        .await;

    irssi.say("hello from irssi").await;
    let said = alice
        .recv_until(|m| matches!(m, ServerMsg::Message(m) if m.from.id == user.id))
        .await
        .unwrap();
    let ServerMsg::Message(m) = said else {
        unreachable!()
    };
    assert_eq!(m.text.as_str(), "hello from irssi");

    alice
        .say_acked("general", "hi irssi, from the web", "a-1")
        .await
        .unwrap();
    irssi
        .until("alice's message", |s| {
            s.contains("alice> hi irssi, from the web")
        })
        .await;

    irssi.say("/quit bye").await;
    let left = alice.recv_presence(PresenceEvent::Leave).await.unwrap();
    assert!(
        matches!(&left, ServerMsg::Presence { user: u, .. } if u.id == user.id),
        "{left:?}"
    );
}
