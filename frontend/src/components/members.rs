//! Who is in the room shown.

use leptos::prelude::*;

use super::sidebar::initial;
use super::ui::MEMBERS;
use crate::chat::Chat;

#[component]
pub fn Members(
    /// The rooms drawer is open over it.
    inert: Signal<bool>,
) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let members = Memo::new(move |_| {
        let Some(room) = chat.route.get() else {
            return Vec::new();
        };
        chat.client.with(|c| {
            let me = c.me().map(|u| u.id.clone());
            c.room(&room)
                .map(|r| {
                    r.members()
                        .into_iter()
                        .map(|u| {
                            (
                                u.id.to_string(),
                                u.nick.to_string(),
                                Some(&u.id) == me.as_ref(),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    view! {
        <aside
            class="members"
            id=MEMBERS
            aria-labelledby="members-title"
            tabindex="-1"
            inert=move || inert.get()
        >
            <h2 id="members-title">
                "Members "
                <span class="count">{move || members.with(Vec::len)}</span>
            </h2>
            <ul data-testid="member-list">
                <For
                    each=move || members.get()
                    key=|m| m.clone()
                    children=|(id, nick, me)| {
                        let avatar = initial(&nick);
                        let nick_attr = nick.clone();
                        view! {
                            <li class="member" data-testid="member" data-user-id=id data-nick=nick_attr>
                                <span class="avatar small" aria-hidden="true">
                                    {avatar}
                                </span>
                                <span class="nick">{nick}</span>
                                {me.then(|| view! { <span class="you">"(you)"</span> })}
                                <span class="online-dot" title="online" aria-hidden="true"></span>
                            </li>
                        }
                    }
                />
            </ul>
        </aside>
    }
}
