//! Property tests of protocol v1: every frame round-trips through its JSON
//! codec, and no input at all (bytes, strings, JSON of any shape) makes the
//! decoder or a validator panic.
//!
//! The strategies build names and texts the way users type them (mixed
//! case, decomposed accents, bidi marks in text) and keep those the
//! validators accept, so the round-trips exercise normalisation too.

use proptest::prelude::*;
use serde_json::{Map, Value};
use shared::{
    protocol::{Limits, PresenceEvent},
    ChatMessage, ClientId, ClientMsg, ErrorCode, Nick, RoomName, ServerMsg, Text, User, UserId,
};

fn room() -> impl Strategy<Value = RoomName> {
    "[\\p{L}\\p{N}_-]{1,32}".prop_filter_map("valid room", |s| RoomName::new(&s).ok())
}

fn nick() -> impl Strategy<Value = Nick> {
    prop_oneof!["[a-zA-Z0-9 ._'-]{1,32}", "[\\p{L}\\p{M}\\p{N} ._'-]{1,32}",]
        .prop_filter_map("valid nick", |s| Nick::new(&s).ok())
}

fn text() -> impl Strategy<Value = Text> {
    prop_oneof![
        4 => "\\PC{1,64}",
        2 => "[\\PC\n\t\u{200F}\u{202E}]{1,300}",
        1 => Just("x".repeat(shared::limits::MAX_TEXT_CHARS)),
    ]
    .prop_filter_map("valid text", |s| Text::new(&s).ok())
}

fn client_id() -> impl Strategy<Value = ClientId> {
    "[!-~]{1,64}".prop_map(|s| ClientId::new(&s).expect("printable ASCII is a valid id"))
}

fn user() -> impl Strategy<Value = User> {
    (any::<String>(), nick()).prop_map(|(id, nick)| User {
        id: UserId(id),
        nick,
    })
}

fn chat_message() -> impl Strategy<Value = ChatMessage> {
    (
        room(),
        any::<u64>(),
        user(),
        text(),
        any::<u64>(),
        proptest::option::of(client_id()),
    )
        .prop_map(|(room, seq, from, text, ts, client_id)| ChatMessage {
            state: Default::default(),
            room,
            seq,
            from,
            text,
            ts,
            client_id,
        })
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    use proptest::option::of;
    prop_oneof![
        (of(nick()), of(any::<String>()), of(any::<String>())).prop_map(|(nick, resume, token)| {
            ClientMsg::Hello {
                nick,
                resume,
                token,
            }
        }),
        (room(), of(any::<u64>())).prop_map(|(room, since)| ClientMsg::Join { room, since }),
        room().prop_map(|room| ClientMsg::Leave { room }),
        (room(), text(), client_id()).prop_map(|(room, text, client_id)| ClientMsg::Send {
            reply_to: None,
            attachments: Vec::new(),
            room,
            text,
            client_id
        }),
        room().prop_map(|room| ClientMsg::Typing { room }),
        (
            room(),
            of(any::<u64>()),
            of(any::<u32>()),
            of(any::<u64>()),
            of(any::<u64>())
        )
            .prop_map(|(room, before, limit, around, after)| ClientMsg::History {
                room,
                before,
                limit,
                around,
                after,
            }),
        nick().prop_map(|nick| ClientMsg::Nick { nick }),
        Just(ClientMsg::Ping),
        any::<String>().prop_map(|token| ClientMsg::Reauth { token }),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
    any::<[u32; 6]>().prop_map(|[a, b, c, d, e, f]| Limits {
        max_text_chars: a,
        max_frame_bytes: b,
        rate_per_sec: c,
        rate_burst: d,
        max_rooms: e,
        max_history_page: f,
    })
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    use proptest::{collection::vec, option::of, sample::select};
    let event = select(vec![
        PresenceEvent::Join,
        PresenceEvent::Leave,
        PresenceEvent::Nick,
    ]);
    prop_oneof![
        (user(), any::<String>(), limits()).prop_map(|(user, resume, limits)| {
            ServerMsg::Welcome {
                protocol: shared::PROTOCOL_VERSION,
                user,
                resume,
                limits,
                push_key: None,
                roles: Vec::new(),
            }
        }),
        (
            room(),
            vec(user(), 0..4),
            vec(chat_message(), 0..4),
            any::<bool>()
        )
            .prop_map(|(room, members, history, truncated)| ServerMsg::Joined {
                updates: Vec::new(),
                room,
                members,
                history,
                truncated,
                member_count: None,
                members_next: None,
            }),
        chat_message().prop_map(ServerMsg::Message),
        (room(), client_id(), any::<u64>()).prop_map(|(room, client_id, seq)| ServerMsg::Ack {
            room,
            client_id,
            seq
        }),
        (room(), event, user()).prop_map(|(room, event, user)| ServerMsg::Presence {
            room,
            event,
            user
        }),
        (room(), user()).prop_map(|(room, user)| ServerMsg::Typing { room, user }),
        (room(), vec(chat_message(), 0..4))
            .prop_map(|(room, messages)| ServerMsg::History { room, messages }),
        (
            select(ErrorCode::ALL.to_vec()),
            any::<String>(),
            of(any::<String>()),
            of(any::<u64>())
        )
            .prop_map(|(code, message, reference, retry_after_ms)| {
                ServerMsg::Error {
                    code,
                    message,
                    reference,
                    retry_after_ms,
                }
            }),
        Just(ServerMsg::Pong),
        any::<u64>().prop_map(|exp| ServerMsg::TokenExpiring { exp }),
    ]
}

/// Any JSON value, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// JSON objects shaped like client frames: a real `type` and real field
/// names, with values of any type (and sometimes valid ones).
fn frame_like_json() -> impl Strategy<Value = Value> {
    use proptest::sample::select;
    let types = select(vec![
        "hello", "join", "leave", "send", "typing", "history", "nick", "ping", "launch",
    ]);
    let fields = proptest::collection::vec(
        (
            select(vec![
                "nick",
                "resume",
                "token",
                "room",
                "since",
                "text",
                "client_id",
                "before",
                "limit",
                "type",
            ]),
            prop_oneof![
                json(),
                Just(Value::from("general")),
                Just(Value::from("c-1")),
                Just(Value::from(7)),
            ],
        ),
        0..6,
    );
    (types, fields).prop_map(|(kind, fields)| {
        let mut object = Map::new();
        object.insert("type".into(), Value::from(kind));
        for (name, value) in fields {
            object.insert(name.into(), value);
        }
        Value::Object(object)
    })
}

/// Whatever the decoder says about `frame`, it says it without panicking,
/// and what it accepts re-encodes to the same message.
fn decode_is_total(frame: &str) -> Result<(), TestCaseError> {
    match ClientMsg::decode(frame) {
        Ok(msg) => prop_assert_eq!(ClientMsg::decode(&msg.encode()), Ok(msg)),
        Err(err) => {
            prop_assert!(!err.message.is_empty());
            if let Some(reference) = err.reference {
                prop_assert!(ClientId::new(&reference).is_ok());
            }
        }
    }
    let _ = ServerMsg::decode(frame);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn client_messages_round_trip(msg in client_msg()) {
        prop_assert_eq!(ClientMsg::decode(&msg.encode()), Ok(msg));
    }

    #[test]
    fn server_messages_round_trip(msg in server_msg()) {
        let decoded = ServerMsg::decode(&msg.encode());
        prop_assert!(decoded.is_ok(), "{:?}", decoded);
        prop_assert_eq!(decoded.unwrap(), msg);
    }

    #[test]
    fn arbitrary_strings_never_panic_the_decoder(frame in any::<String>()) {
        decode_is_total(&frame)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_is_total(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn arbitrary_json_never_panics_the_decoder(value in json()) {
        decode_is_total(&value.to_string())?;
    }

    #[test]
    fn frame_shaped_json_never_panics_the_decoder(value in frame_like_json()) {
        decode_is_total(&value.to_string())?;
    }

    /// Any string at all: no validator panics. (Random strings are rarely
    /// valid names; `typed_names_normalise_to_a_fixed_point` is the test of
    /// the fixed point, with counted accepted cases.)
    #[test]
    fn validators_are_total(input in any::<String>()) {
        if let Ok(room) = RoomName::new(&input) {
            prop_assert_eq!(RoomName::new(room.as_str()), Ok(room.clone()));
        }
        if let Ok(nick) = Nick::new(&input) {
            prop_assert!(!nick.as_str().chars().any(shared::names::is_invisible_format));
            prop_assert_eq!(Nick::new(nick.as_str()), Ok(nick.clone()));
        }
        if let Ok(text) = Text::new(&input) {
            prop_assert_eq!(Text::new(text.as_str()), Ok(text.clone()));
        }
        if let Ok(id) = ClientId::new(&input) {
            prop_assert_eq!(ClientId::new(id.as_str()), Ok(id.clone()));
        }
    }
}

/// Names and texts as people type them (mixed case, accents composed or
/// not, spaces, punctuation) are mostly valid; each validator must accept
/// most of them, and what it accepts must be a fixed point: validating the
/// normalised form gives the same value. The accepted cases are counted,
/// so a validator that refuses everything fails here instead of passing
/// vacuously.
#[test]
fn typed_names_normalise_to_a_fixed_point() {
    use proptest::test_runner::{Config, TestRunner};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    const CASES: u32 = 512;
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        ..Config::default()
    });
    let typed = (
        "[\\p{L}\\p{N}_-]{1,32}",
        "[\\p{L}\\p{M}\\p{N}._'-][\\p{L}\\p{M}\\p{N} ._'-]{0,30}",
        "\\PC{1,64}",
        "[!-~]{1,64}",
        any::<bool>(),
    );
    let counts: [AtomicUsize; 4] = Default::default();
    runner
        .run(&typed, |(room, nick, text, id, shout)| {
            // Half the room names typed in capitals, which normalise away.
            let room = if shout { room.to_uppercase() } else { room };
            if let Ok(valid) = RoomName::new(&room) {
                counts[0].fetch_add(1, Relaxed);
                prop_assert_eq!(RoomName::new(valid.as_str()), Ok(valid.clone()));
            }
            if let Ok(valid) = Nick::new(&nick) {
                counts[1].fetch_add(1, Relaxed);
                prop_assert!(!valid
                    .as_str()
                    .chars()
                    .any(shared::names::is_invisible_format));
                prop_assert_eq!(Nick::new(valid.as_str()), Ok(valid.clone()));
            }
            if let Ok(valid) = Text::new(&text) {
                counts[2].fetch_add(1, Relaxed);
                prop_assert_eq!(Text::new(valid.as_str()), Ok(valid.clone()));
            }
            let valid = ClientId::new(&id).expect("printable ASCII is a valid id");
            counts[3].fetch_add(1, Relaxed);
            prop_assert_eq!(ClientId::new(valid.as_str()), Ok(valid.clone()));
            Ok(())
        })
        .unwrap();
    // proptest may run each case more than once while shrinking; only a
    // passing run gets here, where each case ran once.
    let [rooms, nicks, texts, ids] = counts.map(AtomicUsize::into_inner);
    // Random letters include what the validators refuse on purpose
    // (invisible fillers, marks with nothing to combine with), so about
    // half the nicks pass; a quarter is a bound no run misses by chance.
    let quarter = CASES as usize / 4;
    assert!(
        rooms >= quarter,
        "only {rooms} of {CASES} typed room names accepted"
    );
    assert!(
        nicks >= quarter,
        "only {nicks} of {CASES} typed nicks accepted"
    );
    assert!(
        texts >= quarter,
        "only {texts} of {CASES} typed texts accepted"
    );
    assert_eq!(ids, CASES as usize);
}
