//! The views. [`App`] lays out the screen; each other module is one part of
//! it and reads what it shows from the `Chat` context.

mod app;
mod attach;
mod attachments;
mod banner;
mod composer;
mod draft;
mod lightbox;
mod members;
mod mention_picker;
mod message;
mod message_actions;
mod message_press;
mod messages;
mod modal;
mod nick_form;
mod notify_settings;
mod rich_text;
mod search;
mod search_jump;
mod shortcuts;
mod sidebar;
mod switcher;
mod ui;

pub use app::App;

/// `14:05` in the browser's time zone.
fn clock(ts: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

/// The full local date and time, for tooltips.
fn full_time(ts: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
    String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

/// `2026-11-25T14:05:00.000Z`, for `<time datetime>`.
fn iso_time(ts: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
    String::from(date.to_iso_string())
}
