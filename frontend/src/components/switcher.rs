//! The room switcher (Ctrl-K): type to filter the joined rooms, Enter opens
//! the first match, or joins the room typed when none matches.

use leptos::prelude::*;
use shared::RoomName;

use super::modal::Modal;
use super::ui::Ui;
use crate::chat::{navigate, room_href, Chat};

#[component]
pub fn Switcher() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let ui = expect_context::<Ui>();
    let close = Callback::new(move |()| ui.switcher_open.set(false));
    let query = RwSignal::new(String::new());
    let matches = Memo::new(move |_| {
        let q = query.with(|q| q.trim().trim_start_matches('#').to_lowercase());
        chat.client.with(|c| {
            c.rooms()
                .iter()
                .map(|r| (r.name().clone(), r.unread()))
                .filter(|(name, _)| name.as_str().to_lowercase().contains(&q))
                .collect::<Vec<_>>()
        })
    });
    let open = move |room: RoomName| {
        close.run(());
        navigate(Some(&room));
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let first = matches.with_untracked(|m| m.first().map(|(name, _)| name.clone()));
        let typed = query.with_untracked(|q| RoomName::new(q.trim().trim_start_matches('#')));
        if let Some(room) = first.or(typed.ok()) {
            open(room);
        }
    };
    let input = NodeRef::<leptos::html::Input>::new();
    input.on_load(|el| {
        let _ = el.focus();
    });
    view! {
        <Modal labelled_by="switcher-title" testid="switcher" on_close=close>
            <form class="switcher" on:submit=submit>
                <h2 id="switcher-title">"Go to a room"</h2>
                <label for="switcher-input" class="sr-only">
                    "Room name"
                </label>
                <input
                    id="switcher-input"
                    data-testid="switcher-input"
                    node_ref=input
                    placeholder="Room name; Enter opens or joins it"
                    autocomplete="off"
                    maxlength="33"
                    prop:value=move || query.get()
                    on:input=move |ev| query.set(event_target_value(&ev))
                />
                <ul class="switcher-list" data-testid="switcher-list">
                    <For
                        each=move || matches.get()
                        key=|m| m.clone()
                        children=move |(name, unread)| {
                            view! {
                                <li>
                                    <a
                                        href=room_href(&name)
                                        on:click=move |_| close.run(())
                                        data-testid="switcher-room"
                                    >
                                        {format!("#{name}")}
                                        {(unread > 0)
                                            .then(|| {
                                                view! { <span class="badge">{format!("{unread} unread")}</span> }
                                            })}
                                    </a>
                                </li>
                            }
                        }
                    />
                </ul>
            </form>
        </Modal>
    }
}
