//! docs/PROTOCOL.md is the public contract: every JSON example in it must
//! parse as the frame type it documents and encode back to the same JSON,
//! and every frame type and error code must be documented.

use std::collections::BTreeSet;

use serde_json::Value;
use shared::{ClientMsg, ErrorCode, ServerMsg};

const PROTOCOL_MD: &str = include_str!("../../docs/PROTOCOL.md");

/// The ```json client / ```json server blocks of the document.
fn examples(direction: &str) -> Vec<String> {
    let fence = format!("```json {direction}");
    let mut out = Vec::new();
    let mut lines = PROTOCOL_MD.lines();
    while let Some(line) = lines.next() {
        if line.trim() == fence {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            out.push(block.join("\n"));
        }
    }
    out
}

/// The example as the encoder would write it: explicit nulls are how the
/// document shows optional fields, and the encoder omits them.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn frame_type(json: &str) -> String {
    let value: Value = serde_json::from_str(json).unwrap();
    value["type"].as_str().unwrap().to_string()
}

#[test]
fn client_examples_parse_and_round_trip() {
    let examples = examples("client");
    assert!(
        examples.len() >= 8,
        "found only {} client examples",
        examples.len()
    );
    for json in &examples {
        let msg = ClientMsg::decode(json).unwrap_or_else(|e| panic!("{json}: {}", e.message));
        let expected = without_nulls(serde_json::from_str(json).unwrap());
        let actual: Value = serde_json::from_str(&msg.encode()).unwrap();
        assert_eq!(actual, expected, "{json}");
    }
}

#[test]
fn server_examples_parse_and_round_trip() {
    let examples = examples("server");
    assert!(
        examples.len() >= 10,
        "found only {} server examples",
        examples.len()
    );
    for json in &examples {
        let msg = ServerMsg::decode(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        let expected = without_nulls(serde_json::from_str(json).unwrap());
        let actual: Value = serde_json::from_str(&msg.encode()).unwrap();
        assert_eq!(actual, expected, "{json}");
    }
}

#[test]
fn every_frame_type_has_an_example() {
    let client: BTreeSet<String> = examples("client").iter().map(|j| frame_type(j)).collect();
    let server: BTreeSet<String> = examples("server").iter().map(|j| frame_type(j)).collect();
    let all_client = [
        "hello", "join", "leave", "send", "typing", "history", "nick", "ping", "reauth",
    ];
    let all_server = [
        "welcome",
        "joined",
        "message",
        "ack",
        "presence",
        "typing",
        "history",
        "error",
        "pong",
        "token_expiring",
    ];
    for t in all_client {
        assert!(client.contains(t), "client frame {t} has no example");
    }
    for t in all_server {
        assert!(server.contains(t), "server frame {t} has no example");
    }
}

#[test]
fn every_error_code_is_documented() {
    for code in ErrorCode::ALL {
        let row = format!("| `{}` |", code.as_str());
        assert!(
            PROTOCOL_MD.contains(&row),
            "error code {} is not in the table",
            code.as_str()
        );
        // The wire name is the serde name.
        assert_eq!(
            serde_json::to_string(&code).unwrap(),
            format!("\"{}\"", code.as_str())
        );
    }
}

#[test]
fn every_close_code_is_documented() {
    use shared::close::*;
    for code in [
        GOING_AWAY,
        MESSAGE_TOO_BIG,
        SLOW_CONSUMER,
        IDLE_TIMEOUT,
        UNAUTHORIZED,
        FLOODING,
        TOKEN_EXPIRED,
    ] {
        assert!(
            PROTOCOL_MD.contains(&format!("| {code} |")),
            "close code {code} is not documented"
        );
    }
}
