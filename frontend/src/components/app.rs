//! The screen: sidebar, the room (banner, messages, composer) and members,
//! with the nickname prompt over it on a first visit.

use leptos::prelude::*;
use shared::{Nick, RoomName};

use super::banner::{Banner, Notices};
use super::composer::Composer;
use super::members::Members;
use super::messages::{MessageList, TypingIndicator};
use super::nick_form::NickForm;
use super::sidebar::Sidebar;
use crate::chat::{navigate, route_from_hash, Chat};

#[component]
pub fn App() -> impl IntoView {
    let chat = Chat::new();
    provide_context(chat);
    chat.persist();
    let has_nick = RwSignal::new(chat.client.with_untracked(|c| c.nick().is_some()));
    let editing_nick = RwSignal::new(false);
    // Narrow screens: the sidebar and the member list are drawers.
    let show_rooms = RwSignal::new(false);
    let show_members = RwSignal::new(false);

    let begin = move || {
        chat.start();
        let room = route_from_hash()
            .or_else(|| {
                chat.client
                    .with_untracked(|c| c.rooms().first().map(|r| r.name().clone()))
            })
            .unwrap_or_else(|| RoomName::new("general").expect("a valid name"));
        chat.open_room(room.clone());
        if route_from_hash().as_ref() != Some(&room) {
            navigate(Some(&room));
        }
    };
    if has_nick.get_untracked() {
        begin();
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
                .with(|c| c.room(&room).map_or(0, |r| r.members().len()))
        })
    };

    view! {
        <Show when=move || has_nick.get()>
            <div
                class="app"
                data-testid="app"
                class:rooms-open=move || show_rooms.get()
                class:members-open=move || show_members.get()
            >
                <Sidebar
                    on_change_nick=Callback::new(move |()| editing_nick.set(true))
                    on_pick=Callback::new(move |()| show_rooms.set(false))
                />
                <main class="room" aria-labelledby="room-title">
                    <header class="room-header">
                        <button
                            class="icon-button drawer-toggle"
                            data-testid="toggle-rooms"
                            aria-label="Rooms"
                            on:click=move |_| show_rooms.update(|v| *v = !*v)
                        >
                            "☰"
                        </button>
                        <h1 id="room-title" data-testid="room-title">
                            {title}
                        </h1>
                        <button
                            class="members-toggle"
                            data-testid="toggle-members"
                            aria-label="Members"
                            on:click=move |_| show_members.update(|v| *v = !*v)
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
                                <MessageList room=room.clone() />
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
                <Members />
                <div
                    class="scrim"
                    on:click=move |_| {
                        show_rooms.set(false);
                        show_members.set(false);
                    }
                ></div>
            </div>
        </Show>
        <Show when=move || !has_nick.get() || editing_nick.get()>
            <NickForm
                initial=chat.client.with_untracked(|c| c.nick().map(|n| n.to_string()).unwrap_or_default())
                first=!has_nick.get_untracked()
                on_done=on_nick
                on_cancel=on_cancel
            />
        </Show>
    }
}
