//! Joined rooms with unread counts (and, apart, unread mentions of us),
//! joining by name, leaving; who I am.

use leptos::prelude::*;
use shared::RoomName;

use super::notify_settings::NotifySettings;
use super::ui::{Ui, SIDEBAR};
use crate::chat::{navigate, notification_permission, room_href, Chat};

#[derive(Clone, PartialEq)]
struct Entry {
    name: RoomName,
    unread: u32,
    /// Unread messages that mention us.
    mentions: u32,
    active: bool,
}

#[component]
pub fn Sidebar(
    on_change_nick: Callback<()>,
    on_pick: Callback<()>,
    /// The members drawer is open over it.
    inert: Signal<bool>,
) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let ui = expect_context::<Ui>();
    let entries = Memo::new(move |_| {
        let route = chat.route.get();
        chat.client.with(|c| {
            c.rooms()
                .iter()
                .map(|r| Entry {
                    name: r.name().clone(),
                    unread: r.unread(),
                    mentions: r.mentions(),
                    active: route.as_ref() == Some(r.name()),
                })
                .collect::<Vec<_>>()
        })
    });
    let my_nick = Memo::new(move |_| chat.client.with(|c| c.display_nick()));

    let join_value = RwSignal::new(String::new());
    let join_error = RwSignal::new(None::<&'static str>);
    let join = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match RoomName::new(&join_value.get_untracked()) {
            Ok(room) => {
                join_value.set(String::new());
                join_error.set(None);
                navigate(Some(&room));
                on_pick.run(());
            }
            Err(_) => join_error.set(Some("1 to 32 letters, digits, - or _")),
        }
    };

    view! {
        <nav
            class="sidebar"
            id=SIDEBAR
            aria-label="Rooms"
            data-testid="sidebar"
            inert=move || inert.get()
        >
            <div class="brand">"Palaver"</div>
            <ul class="room-list" data-testid="room-list">
                <For
                    each=move || entries.get()
                    key=|e| (e.name.clone(), e.unread, e.mentions, e.active)
                    children=move |e| {
                        let name = e.name.clone();
                        let leave_name = e.name.clone();
                        let label = format!("Leave #{}", e.name);
                        view! {
                            <li
                                class="room-entry"
                                class:active=e.active
                                class:has-unread={e.unread > 0}
                                data-testid="room-entry"
                                data-room=name.to_string()
                                data-unread=e.unread.to_string()
                                data-mentions=e.mentions.to_string()
                            >
                                <a
                                    href=room_href(&name)
                                    aria-current=e.active.then_some("page")
                                    on:click=move |_| on_pick.run(())
                                >
                                    <span class="hash" aria-hidden="true">
                                        "#"
                                    </span>
                                    <span class="room-name">{name.to_string()}</span>
                                    {(e.mentions > 0)
                                        .then(|| {
                                            view! {
                                                <span
                                                    class="badge mention-badge"
                                                    data-testid="mention-badge"
                                                    aria-label=format!(
                                                        "{} mention{}",
                                                        e.mentions,
                                                        if e.mentions == 1 { "" } else { "s" },
                                                    )
                                                >
                                                    {format!("@{}", e.mentions.min(99))}
                                                </span>
                                            }
                                        })}
                                    {(e.unread > 0)
                                        .then(|| {
                                            view! {
                                                <span
                                                    class="badge"
                                                    data-testid="unread-badge"
                                                    aria-label=format!("{} unread", e.unread)
                                                >
                                                    {if e.unread > 99 {
                                                        "99+".to_string()
                                                    } else {
                                                        e.unread.to_string()
                                                    }}
                                                </span>
                                            }
                                        })}
                                </a>
                                <button
                                    class="leave"
                                    data-testid="leave-room"
                                    aria-label=label.clone()
                                    title=label
                                    on:click=move |_| chat.leave(&leave_name)
                                >
                                    "×"
                                </button>
                            </li>
                        }
                    }
                />
            </ul>
            <form class="join-form" data-testid="join-form" on:submit=join>
                <label for="join-input" class="sr-only">
                    "Join a room"
                </label>
                <input
                    id="join-input"
                    data-testid="join-input"
                    placeholder="Join a room…"
                    maxlength="32"
                    autocomplete="off"
                    prop:value=move || join_value.get()
                    on:input=move |ev| join_value.set(event_target_value(&ev))
                />
                <button type="submit" data-testid="join-submit">
                    "Join"
                </button>
                <p class="field-error" data-testid="join-error" role="alert">
                    {move || join_error.get()}
                </p>
            </form>
            <div class="me">
                <span class="avatar" aria-hidden="true">
                    {move || initial(&my_nick.get())}
                </span>
                <span class="my-nick" data-testid="my-nick">
                    {move || my_nick.get()}
                </span>
                <button
                    id="change-nick"
                    class="link-button"
                    data-testid="change-nick"
                    on:click=move |_| on_change_nick.run(())
                >
                    "Change"
                </button>
            </div>
            {(notification_permission() != "unsupported").then(|| view! { <NotifySettings /> })}
            <button
                class="link-button shortcuts-button"
                data-testid="open-shortcuts"
                aria-keyshortcuts="?"
                on:click=move |_| ui.help_open.set(true)
            >
                "Keyboard shortcuts"
            </button>
        </nav>
    }
}

/// The first letter of a nick, for the avatar.
pub fn initial(nick: &str) -> String {
    nick.chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}
