//! The screen: sidebar, the room (banner, messages, composer) and members,
//! the nickname prompt (the page itself on a first visit, a dialog later),
//! the shortcuts and their dialogs.

use leptos::prelude::*;
use shared::{Nick, RoomName};

use super::banner::{Banner, Notices};
use super::composer::Composer;
use super::draft::Draft;
use super::members::Members;
use super::messages::TypingIndicator;
use super::nick_form::NickForm;
use super::notify_settings::RoomNotify;
use super::search::SearchDialog;
use super::search_jump::RoomMessages;
use super::shortcuts::{ShortcutHelp, Shortcuts};
use super::sidebar::Sidebar;
use super::switcher::Switcher;
use super::ui::{Ui, MEMBERS, MEMBERS_TOGGLE, ROOMS_TOGGLE, SIDEBAR};
use crate::chat::{message_from_hash, navigate, route_from_hash, Chat};

#[component]
pub fn App() -> impl IntoView {
    let chat = Chat::new();
    provide_context(chat);
    chat.persist();
    let ui = Ui::new();
    provide_context(ui);
    provide_context(Draft::new());
    let has_nick = RwSignal::new(chat.client.with_untracked(|c| c.nick().is_some()));
    let editing_nick = ui.editing_nick;

    let begin = move || {
        chat.start();
        let room = route_from_hash()
            .or_else(|| {
                chat.client
                    .with_untracked(|c| c.rooms().first().map(|r| r.name().clone()))
            })
            .unwrap_or_else(|| RoomName::new("general").expect("a valid name"));
        chat.open_room(room.clone());
        if let Some((linked, Some(seq))) = message_from_hash() {
            chat.jump_to(&linked, seq);
        }
        if route_from_hash().as_ref() != Some(&room) {
            navigate(Some(&room));
        }
    };
    // The nick prompt waits for config.json: in token mode the login token
    // names the user, so there is no prompt at all.
    let prompt = RwSignal::new(false);
    if has_nick.get_untracked() {
        begin();
    } else {
        leptos::task::spawn_local(async move {
            if Chat::token_mode().await {
                has_nick.set(true);
                begin();
            } else {
                prompt.set(true);
            }
        });
    }
    let on_nick = Callback::new(move |nick: Nick| {
        chat.set_nick(nick);
        editing_nick.set(false);
        if !has_nick.get_untracked() {
            has_nick.set(true);
            begin();
        }
    });
    let on_cancel = Callback::new(move |()| editing_nick.set(false));

    // The room shown; a Memo so setting the same room again changes nothing.
    let route = Memo::new(move |_| chat.route.get());
    let title = move || {
        route
            .get()
            .map(|r| format!("#{r}"))
            .unwrap_or_else(|| "Palaver".into())
    };
    let member_count = move || {
        route.get().map_or(0, |room| {
            chat.client
                .with(|c| c.room(&room).map_or(0, |r| r.member_count()))
        })
    };
    let drawer_open = move || ui.drawer_open();

    view! {
        <Show when=move || has_nick.get()>
            <div
                class="app"
                data-testid="app"
                class:rooms-open=move || ui.rooms_open.get()
                class:members-open=move || ui.members_open.get()
            >
                <Sidebar
                    on_change_nick=Callback::new(move |()| editing_nick.set(true))
                    on_pick=Callback::new(move |()| {
                        ui.rooms_open.set(false);
                    })
                    inert=Signal::derive(move || ui.members_open.get())
                />
                // While a drawer is open it has the keyboard (Escape or the
                // scrim closes it); the room behind it is inert.
                <main class="room" aria-labelledby="room-title" inert=drawer_open>
                    <header class="room-header">
                        <button
                            id=ROOMS_TOGGLE
                            class="icon-button drawer-toggle"
                            data-testid="toggle-rooms"
                            aria-label="Rooms"
                            aria-controls=SIDEBAR
                            aria-expanded=move || ui.rooms_open.get().to_string()
                            on:click=move |_| ui.toggle_rooms()
                        >
                            "☰"
                        </button>
                        <h1 id="room-title" data-testid="room-title">
                            {title}
                        </h1>
                        {move || route.get().map(|room| view! { <RoomNotify room=room /> })}
                        <button
                            id=MEMBERS_TOGGLE
                            class="members-toggle"
                            data-testid="toggle-members"
                            aria-controls=MEMBERS
                            aria-expanded=move || ui.members_open.get().to_string()
                            on:click=move |_| ui.toggle_members()
                        >
                            "Members "
                            <span class="count">{member_count}</span>
                        </button>
                    </header>
                    <Banner />
                    <Notices />
                    {move || match route.get() {
                        Some(room) => {
                            view! {
                                <RoomMessages room=room.clone() />
                                <TypingIndicator room=room.clone() />
                                <Composer room=room />
                            }
                                .into_any()
                        }
                        None => {
                            view! {
                                <div class="empty" data-testid="no-room">
                                    <p>"You are not in any room. Join one from the sidebar."</p>
                                </div>
                            }
                                .into_any()
                        }
                    }}
                </main>
                <p class="sr-only" role="status" data-testid="announcement">
                    {move || chat.announcement.get()}
                </p>
                <Members inert=Signal::derive(move || ui.rooms_open.get()) />
                <div class="scrim" on:click=move |_| {
                    ui.close_drawers();
                }></div>
            </div>
            <Shortcuts />
            <Show when=move || ui.help_open.get()>
                <ShortcutHelp />
            </Show>
            <Show when=move || ui.switcher_open.get()>
                <Switcher />
            </Show>
            <Show when=move || ui.search_open.get()>
                <SearchDialog />
            </Show>
        </Show>
        <Show when=move || (prompt.get() && !has_nick.get()) || editing_nick.get()>
            <NickForm
                initial=chat.client.with_untracked(|c| c.nick().map(|n| n.to_string()).unwrap_or_default())
                first=!has_nick.get_untracked()
                on_done=on_nick
                on_cancel=on_cancel
            />
        </Show>
    }
}
