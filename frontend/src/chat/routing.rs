//! The app's URLs: `#/room/NAME` names the room shown, so deep links and
//! the back button work without a server route; `#/room/NAME/SEQ` names a
//! message in it (a copied link), which is scrolled to.

use shared::RoomName;

/// The room in `#/room/NAME`, if the hash is one.
pub fn route_from_hash() -> Option<RoomName> {
    message_from_hash().map(|(room, _)| room)
}

/// The room in the hash, and the message seq if it names one.
pub fn message_from_hash() -> Option<(RoomName, Option<u64>)> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let rest = hash.strip_prefix("#/room/")?;
    let (name, seq) = match rest.split_once('/') {
        Some((name, seq)) => (name, seq.parse().ok()),
        None => (rest, None),
    };
    let name = js_sys::decode_uri_component(name).ok()?.as_string()?;
    Some((RoomName::new(&name).ok()?, seq))
}

/// Changes the hash to a room (or clears it); the hashchange listener does
/// the rest.
pub fn navigate(room: Option<&RoomName>) {
    if let Some(window) = web_sys::window() {
        let hash = match room {
            Some(room) => format!(
                "#/room/{}",
                String::from(js_sys::encode_uri_component(room.as_str()))
            ),
            None => "#/".into(),
        };
        let _ = window.location().set_hash(&hash);
    }
}

pub fn room_href(room: &RoomName) -> String {
    format!(
        "#/room/{}",
        String::from(js_sys::encode_uri_component(room.as_str()))
    )
}

/// The link to message `seq` of `room`, absolute (for the clipboard).
pub fn message_href(room: &RoomName, seq: u64) -> String {
    let base = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .map(|href| href.split('#').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    format!("{base}{}/{seq}", room_href(room))
}
