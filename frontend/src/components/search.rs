//! The search dialog (`/` when not typing): a text field that is an ARIA
//! combobox over a listbox of hits grouped by room (`shared::search::
//! by_room`), newest first, the matched words in `<mark>`s (DOM nodes,
//! cut by `shared::search::pieces`). Enter searches; once the hits are
//! there ↑/↓ move the active hit (`aria-activedescendant`, focus stays in
//! the field) and Enter opens it: the room shows the page around the hit
//! (`Chat::open_hit`). "More results" asks for the next page.

use leptos::prelude::*;
use shared::protocol::SearchHit;
use shared::search::{by_room, display_order, pieces};
use wasm_bindgen::JsCast;

use super::modal::Modal;
use super::ui::Ui;
use super::{clock, full_time, iso_time};
use crate::chat::Chat;

/// The DOM id of hit `i` (its index in the relay's answer).
fn hit_id(i: usize) -> String {
    format!("search-hit-{i}")
}

#[component]
pub fn SearchDialog() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let ui = expect_context::<Ui>();
    let close = Callback::new(move |()| ui.search_open.set(false));
    // The last query stays, with its hits, for another look.
    let query = RwSignal::new(chat.search.with_untracked(|s| s.q.clone()));
    let groups = Memo::new(move |_| chat.search.with(|s| by_room(&s.hits)));
    let order = Memo::new(move |_| groups.with(|g| display_order(g)));
    // The active hit, as a position in `order`.
    let active = RwSignal::new(0usize);
    // Hits are for what the field says: after an edit, Enter searches.
    let current = move || query.with(|q| chat.search.with(|s| s.q == q.trim()));
    let active_hit = move || {
        (current() && !chat.search.with(|s| s.waiting))
            .then(|| order.with(|o| o.get(active.get()).copied()))
            .flatten()
    };
    let open = move |i: usize| {
        let target = chat
            .search
            .with_untracked(|s| s.hits.get(i).map(|h| (h.room.clone(), h.seq)));
        if let Some((room, seq)) = target {
            close.run(());
            chat.open_hit(&room, seq);
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let count = order.with_untracked(Vec::len);
        match ev.key().as_str() {
            "ArrowDown" | "ArrowUp" if count > 0 && current() => {
                ev.prevent_default();
                let at = active.get_untracked();
                let next = match ev.key().as_str() {
                    "ArrowDown" => (at + 1).min(count - 1),
                    _ => at.saturating_sub(1),
                };
                active.set(next);
                if let Some(i) = order.with_untracked(|o| o.get(next).copied()) {
                    request_animation_frame(move || scroll_into_view(&hit_id(i)));
                }
            }
            "Enter" => {
                ev.prevent_default();
                match active_hit() {
                    Some(i) => open(i),
                    None => {
                        active.set(0);
                        chat.search(&query.get_untracked());
                    }
                }
            }
            _ => {}
        }
    };
    let input = NodeRef::<leptos::html::Input>::new();
    input.on_load(|el| {
        let _ = el.focus();
        el.select();
    });
    let status = move || {
        chat.search.with(|s| {
            if s.waiting {
                "Searching…".to_string()
            } else if let Some(why) = &s.refused {
                format!("Search failed: {why}")
            } else if s.q.is_empty() {
                "Words, \"a phrase\", prefix*, in:room, from:nick. Enter searches.".to_string()
            } else if s.hits.is_empty() {
                format!("Nothing found for {}.", s.q)
            } else {
                let rooms = groups.with(Vec::len);
                let n = s.hits.len();
                let more = if s.next.is_some() { " so far" } else { "" };
                format!(
                    "{n} message{} in {rooms} room{}{more}. ↑ ↓ to choose, Enter to open.",
                    if n == 1 { "" } else { "s" },
                    if rooms == 1 { "" } else { "s" },
                )
            }
        })
    };
    let has_hits = move || chat.search.with(|s| !s.hits.is_empty());
    view! {
        <Modal labelled_by="search-title" testid="search" on_close=close>
            <div class="search">
                <h2 id="search-title">"Search messages"</h2>
                <label for="search-input" class="sr-only">
                    "Search your rooms"
                </label>
                <input
                    id="search-input"
                    data-testid="search-input"
                    type="search"
                    node_ref=input
                    role="combobox"
                    aria-autocomplete="list"
                    aria-controls="search-results"
                    aria-expanded=move || has_hits().to_string()
                    aria-activedescendant=move || active_hit().map(hit_id)
                    aria-describedby="search-status"
                    placeholder="Search; Enter to search"
                    autocomplete="off"
                    maxlength="256"
                    prop:value=move || query.get()
                    on:input=move |ev| {
                        query.set(event_target_value(&ev));
                        active.set(0);
                    }
                    on:keydown=on_key
                />
                <p id="search-status" class="search-status" data-testid="search-status" role="status">
                    {status}
                </p>
                <div
                    id="search-results"
                    class="search-results"
                    data-testid="search-results"
                    role="listbox"
                    aria-label="Messages found"
                    hidden=move || !has_hits()
                >
                    {move || {
                        let hits = chat.search.with(|s| s.hits.clone());
                        groups
                            .get()
                            .into_iter()
                            .enumerate()
                            .map(|(g, group)| {
                                let label = format!("search-room-{g}");
                                let labelled_by = label.clone();
                                let options = group
                                    .hits
                                    .iter()
                                    .map(|&i| hit_option(i, &hits[i], active_hit, open))
                                    .collect_view();
                                view! {
                                    <div role="group" aria-labelledby=labelled_by class="search-group">
                                        <div role="presentation" id=label class="search-room" data-testid="search-room">
                                            {format!("#{}", group.room)}
                                        </div>
                                        {options}
                                    </div>
                                }
                            })
                            .collect_view()
                    }}
                </div>
                <div class="actions">
                    {move || {
                        chat.search
                            .with(|s| s.next.is_some() && !s.waiting)
                            .then(|| {
                                view! {
                                    <button
                                        type="button"
                                        data-testid="search-more"
                                        on:click=move |_| chat.search(&chat.search.with_untracked(|s| s.q.clone()))
                                    >
                                        "More results"
                                    </button>
                                }
                            })
                    }}
                    <button type="button" data-testid="search-close" on:click=move |_| close.run(())>
                        "Close"
                    </button>
                </div>
            </div>
        </Modal>
    }
}

/// One hit: who and when, then the text with its matches marked.
fn hit_option(
    i: usize,
    hit: &SearchHit,
    active_hit: impl Fn() -> Option<usize> + Copy + Send + Sync + 'static,
    open: impl Fn(usize) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let text = pieces(hit.text.as_str(), &hit.highlights)
        .into_iter()
        .map(|p| {
            let t = p.text.to_owned();
            match p.hit {
                true => view! { <mark>{t}</mark> }.into_any(),
                false => t.into_any(),
            }
        })
        .collect_view();
    let selected = move || active_hit() == Some(i);
    view! {
        <div
            role="option"
            id=hit_id(i)
            class="search-hit"
            class:active=selected
            data-testid="search-hit"
            data-seq=hit.seq.to_string()
            aria-selected=move || selected().to_string()
            on:click=move |_| open(i)
        >
            <div class="meta">
                <span class="author">{hit.from.nick.to_string()}</span>
                <time datetime=iso_time(hit.ts) title=full_time(hit.ts)>
                    {clock(hit.ts)}
                </time>
            </div>
            <div class="search-text" data-testid="search-text">
                {text}
            </div>
        </div>
    }
}

/// Keeps the active hit visible in the scrolling list.
fn scroll_into_view(id: &str) {
    let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
    else {
        return;
    };
    let options = web_sys::ScrollIntoViewOptions::new();
    options.set_block(web_sys::ScrollLogicalPosition::Nearest);
    el.scroll_into_view_with_scroll_into_view_options(&options);
}
