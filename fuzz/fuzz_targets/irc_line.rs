//! Fuzzes the IRC gateway's line parser and text handling
//! (`relay/src/gateway/irc/message.rs`): every line an IRC client sends
//! goes through `parse`, every message text through `plain`, and every
//! text sent to IRC through `split_utf8`. A panic there ends a gateway
//! connection's task.
//!
//! The module is pure (std only), so it is compiled in from the relay's
//! source rather than through the `relay` crate: that would build the whole
//! relay (tokio, axum, SQLite, NATS) with nightly and coverage
//! instrumentation on every cold CI run, for these 130 lines.
//!
//! Invariants checked besides "no panic": a parsed command is non-empty
//! and upper-case, only the last parameter may hold a space, an escaped
//! tag value parses back to itself, pieces fit and rebuild the text, and
//! `plain` leaves no formatting codes.

#![no_main]

#[path = "../../relay/src/gateway/irc/message.rs"]
mod message;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&max, rest)) = data.split_first() else {
        return;
    };
    let Ok(line) = std::str::from_utf8(rest) else {
        return;
    };
    if let Some(msg) = message::parse(line) {
        assert!(!msg.command.is_empty());
        assert_eq!(msg.command, msg.command.to_ascii_uppercase());
        assert!(!msg.command.contains(' '));
        if let Some((_, middle)) = msg.params.split_last() {
            assert!(middle.iter().all(|p| !p.is_empty() && !p.contains(' ')));
        }
    }
    // A tag value sent escaped comes back as it was.
    let tagged = format!("@k={} PING", message::escape(line));
    let parsed = message::parse(&tagged).expect("a command");
    assert_eq!(parsed.tag("k"), Some(line));
    let max = usize::from(max);
    let pieces = message::split_utf8(line, max);
    assert!(pieces.iter().all(|p| p.len() <= max.max(4)));
    assert_eq!(pieces.concat(), line);
    let plain = message::plain(line);
    assert!(!plain.contains(['\u{2}', '\u{3}', '\u{f}', '\u{16}', '\u{1d}', '\u{1e}', '\u{1f}']));
});
