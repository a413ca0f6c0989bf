//! Notification settings: the device's switch (with what it is for, and
//! what to do when the browser blocks notifications), "hide message text
//! in notifications", and each room's level (all, mentions, none) in the
//! room's header.

use leptos::prelude::*;
use shared::protocol::NotifyLevel;
use shared::RoomName;

use crate::chat::Chat;

/// The sidebar's "Notifications" section.
#[component]
pub fn NotifySettings() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let denied = move || chat.permission.get() == "denied";
    view! {
        <section class="notify-settings" aria-label="Notifications" data-testid="notify-settings">
            <button
                class="notify-toggle secondary"
                data-testid="notify-toggle"
                aria-pressed=move || chat.notify.get().to_string()
                aria-describedby="notify-help"
                on:click=move |_| chat.toggle_notifications()
            >
                {move || {
                    if chat.notify.get() { "Notifications: on" } else { "Notifications: off" }
                }}
            </button>
            <p id="notify-help" class="hint" data-testid="notify-help">
                {move || {
                    if denied() {
                        "Notifications are blocked for this site. To allow them, open the site \
                         settings (the icon left of the address bar, or the app's settings when \
                         installed), allow notifications, then press the button again."
                    } else {
                        "Tells you when someone writes in your rooms while Palaver is closed or \
                         in the background. Your browser asks for permission first."
                    }
                }}
            </p>
            <Show when=move || chat.notify.get()>
                <label class="hide-text">
                    <input
                        type="checkbox"
                        data-testid="hide-text"
                        prop:checked=move || chat.hide_text.get()
                        on:change=move |ev| chat.set_hide_text(event_target_checked(&ev))
                    />
                    "Hide message text in notifications"
                </label>
            </Show>
        </section>
    }
}

/// The room's notification level, in its header: the level listed by the
/// relay (or the default for the room's size), sent as `notify`.
#[component]
pub fn RoomNotify(room: RoomName) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let shown = room.clone();
    let level = Memo::new(move |_| {
        chat.client
            .with(|c| c.room(&shown).map(|r| r.level_or_default()))
            .unwrap_or(NotifyLevel::All)
    });
    let label = format!("Notifications for #{room}");
    let choose = move |ev: leptos::ev::Event| {
        if let Some(level) = NotifyLevel::parse(&event_target_value(&ev)) {
            chat.set_level(&room, level);
        }
    };
    view! {
        <select
            class="room-notify"
            data-testid="room-notify"
            aria-label=label.clone()
            title=label
            prop:value=move || level.get().as_str()
            on:change=choose
        >
            <option value="all">"All messages"</option>
            <option value="mentions">"Mentions only"</option>
            <option value="none">"Nothing"</option>
        </select>
    }
}
