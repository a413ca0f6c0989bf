//! Who is in the room shown: a search box, the list with the room's count,
//! "Load more" while a big room's list is partial, and a polite status
//! line that says what the list holds. What to list, page, search and
//! subscribe is the shared model's (`Client::member_list` and friends);
//! this maps it to DOM and forwards the panel's events.

use leptos::prelude::*;
use shared::client::MemberList;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::sidebar::initial;
use super::ui::{active_element, Ui, MEMBERS};
use crate::chat::Chat;

/// Where the member list is a column of its own rather than a drawer (the
/// stylesheet's breakpoint).
const WIDE: &str = "(min-width: 1001px)";
const SEARCH: &str = "member-search";
const LIST: &str = "member-list";
const STATUS: &str = "members-status";

/// The panel as shown: rows (id, nick, is me) and what the status says.
#[derive(Clone, PartialEq)]
struct Shown {
    rows: Vec<(String, String, bool)>,
    count: usize,
    more: bool,
    loading: bool,
    status: String,
}

impl Shown {
    fn new(list: MemberList<'_>, query: &str, me: Option<&shared::UserId>) -> Self {
        let rows = list
            .members
            .iter()
            .map(|u| (u.id.to_string(), u.nick.to_string(), Some(&u.id) == me))
            .collect::<Vec<_>>();
        let status = status(rows.len(), &list, query.trim());
        Shown {
            rows,
            count: list.count,
            more: list.more,
            loading: list.loading,
            status,
        }
    }
}

/// The status line, announced politely when it changes: only what the
/// user's own actions change (pages, searches), not the room's count,
/// which a busy room moves every second.
fn status(shown: usize, list: &MemberList<'_>, query: &str) -> String {
    let members = |n: usize| if n == 1 { "member" } else { "members" };
    let more = if list.more { ", more to load" } else { "" };
    match (list.loading, list.filtered, shown) {
        (true, true, _) => format!("Searching for “{query}”…"),
        (true, false, _) => "Loading more members…".into(),
        (false, true, 0) => format!("No member matches “{query}”"),
        (false, true, n) => {
            let verb = if n == 1 { "matches" } else { "match" };
            format!("{n} {} {verb} “{query}”{more}", members(n))
        }
        (false, false, n) if list.more => format!("{n} {} shown{more}", members(n)),
        (false, false, _) => String::new(),
    }
}

/// Whether `query` matches now, kept up to date.
fn media_matches(query: &'static str) -> ReadSignal<bool> {
    let list = web_sys::window().and_then(|w| w.match_media(query).ok().flatten());
    let (matches, set_matches) = signal(list.as_ref().is_some_and(|l| l.matches()));
    if let Some(list) = list {
        let watched = list.clone();
        let on_change = Closure::<dyn FnMut()>::new(move || set_matches.set(watched.matches()));
        let _ = list.add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
        // The panel lives as long as the page.
        on_change.forget();
    }
    matches
}

#[component]
pub fn Members(
    /// The rooms drawer is open over it.
    inert: Signal<bool>,
) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let ui = expect_context::<Ui>();
    let wide = media_matches(WIDE);
    // Subscribed to member-level presence only while the list is on
    // screen: a column on wide screens, the open drawer on narrow ones.
    Effect::new(move |_| {
        let room = chat.route.get();
        let on_screen = wide.get() || ui.members_open.get();
        chat.show_members(room.filter(|_| on_screen));
    });
    let shown = Memo::new(move |_| {
        let room = chat.route.get()?;
        chat.client.with(|c| {
            let me = c.me().map(|u| &u.id);
            let query = c.member_query(&room);
            c.member_list(&room).map(|list| Shown::new(list, query, me))
        })
    });
    let query = Memo::new(move |_| {
        let room = chat.route.get();
        chat.client
            .with(|c| room.map(|r| c.member_query(&r).to_owned()))
            .unwrap_or_default()
    });
    let more = Memo::new(move |_| shown.with(|s| s.as_ref().is_some_and(|s| s.more || s.loading)));
    let loading = Memo::new(move |_| shown.with(|s| s.as_ref().is_some_and(|s| s.loading)));

    // "Load more" leaves the DOM when the last page lands; if it had the
    // keyboard, the list takes it rather than the page's <body>.
    let pressed_more = StoredValue::new(false);
    Effect::new(move |_| {
        if !more.get() && pressed_more.get_value() {
            pressed_more.set_value(false);
            if active_element().is_none() {
                super::ui::focus_first(&format!("#{LIST}"));
            }
        }
    });
    let load_more = move |_| {
        if loading.get_untracked() {
            return;
        }
        pressed_more.set_value(true);
        if let Some(room) = chat.route.get_untracked() {
            chat.load_more_members(&room);
        }
    };
    let on_search = move |ev| {
        if let Some(room) = chat.route.get_untracked() {
            chat.set_member_query(&room, &event_target_value(&ev));
        }
    };

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
                <span class="count" data-testid="members-count">
                    {move || shown.with(|s| s.as_ref().map_or(0, |s| s.count))}
                </span>
            </h2>
            <label for=SEARCH class="sr-only">
                "Search members by nickname"
            </label>
            <input
                id=SEARCH
                class="member-search"
                data-testid="member-search"
                type="search"
                placeholder="Search by nickname"
                maxlength="32"
                autocomplete="off"
                spellcheck="false"
                aria-controls=LIST
                aria-describedby=STATUS
                prop:value=move || query.get()
                on:input=on_search
            />
            <p id=STATUS class="members-status" data-testid="members-status" role="status">
                {move || shown.with(|s| s.as_ref().map(|s| s.status.clone()).unwrap_or_default())}
            </p>
            <ul id=LIST data-testid="member-list" aria-labelledby="members-title" tabindex="-1">
                <For
                    each=move || shown.with(|s| s.as_ref().map(|s| s.rows.clone()).unwrap_or_default())
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
            <Show when=move || more.get()>
                <button
                    type="button"
                    class="secondary members-more"
                    data-testid="members-more"
                    aria-describedby=STATUS
                    aria-disabled=move || loading.get().then_some("true")
                    on:click=load_more
                >
                    "Load more"
                </button>
            </Show>
        </aside>
    }
}
