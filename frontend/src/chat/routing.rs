//! The app's URLs: `#/room/NAME` names the room shown, so deep links and
//! the back button work without a server route.

use shared::RoomName;

/// The room in `#/room/NAME`, if the hash is one.
pub fn route_from_hash() -> Option<RoomName> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let name = hash.strip_prefix("#/room/")?;
    let name = js_sys::decode_uri_component(name).ok()?.as_string()?;
    RoomName::new(&name).ok()
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
