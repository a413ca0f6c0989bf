//! A message's files: images as their thumbnail (sized before it loads, so
//! the timeline does not jump), opening the full image in a lightbox;
//! other files as a download link with name and size.

use std::collections::HashSet;

use leptos::prelude::*;
use shared::protocol::Attachment;
use shared::RoomName;

use super::lightbox::Lightbox;
use crate::chat::file_urls::expiry;
use crate::chat::Chat;

/// The relay's thumbnails are at most this many pixels on the longer side.
const THUMB_MAX: u32 = 320;

/// `files` of `room`'s message `seq` (none for a page apart from the
/// model, such as the one around a search hit). The URLs are the model's
/// current ones: fresh ones are asked for when they expire or an image
/// fails (`chat::file_urls`), and swapped in place.
#[component]
pub fn Attachments(room: RoomName, seq: Option<u64>, files: Vec<Attachment>) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let current = {
        let (room, files) = (room.clone(), files.clone());
        Memo::new(move |_| {
            seq.and_then(|seq| {
                chat.client.with(|c| {
                    let message = c.room(&room)?.message(seq)?;
                    Some(message.state.attachments.clone())
                })
            })
            .filter(|now| now.len() == files.len())
            .unwrap_or_else(|| files.clone())
        })
    };
    let url_of = move |i: usize| {
        current.with(|c| c.get(i).map(|a| chat.file_url(&a.url)).unwrap_or_default())
    };
    let thumb_of = move |i: usize| {
        current.with(|c| {
            c.get(i)
                .and_then(|a| a.thumb.as_deref())
                .map(|t| chat.file_url(t))
                .unwrap_or_default()
        })
    };
    let now_secs = move || chat.now.get_untracked() / 1000;
    // A URL that expired: fresh ones are asked for (once per URL), before
    // anyone clicks a dead link.
    if let Some(seq) = seq {
        let room = room.clone();
        Effect::new(move |_| {
            let now = chat.now.get() / 1000;
            let expired = current.with(|c| {
                c.iter()
                    .flat_map(|a| [Some(&a.url), a.thumb.as_ref()])
                    .flatten()
                    .find(|u| expiry(u).is_some_and(|e| e <= now))
                    .cloned()
            });
            if let Some(url) = expired {
                chat.refresh_file_url(&room, seq, &url);
            }
        });
    }
    // Images whose URL failed for another reason than its expiry (or
    // again after a refresh): the file is gone.
    let gone = RwSignal::new(HashSet::<String>::new());
    let failed = move |url: String| {
        let expired = expiry(&url).is_some_and(|e| e <= now_secs());
        let asked = match seq {
            Some(seq) if expired => chat.refresh_file_url(&room, seq, &url),
            _ => false,
        };
        if !asked {
            gone.update(|g| {
                g.insert(url);
            });
        }
    };
    let open = RwSignal::new(None::<usize>);
    let items = files
        .iter()
        .enumerate()
        .map(|(i, file)| match (&file.thumb, file.width, file.height) {
            (Some(_), Some(w), Some(h)) => {
                let (tw, th) = thumb_size(w, h);
                let name = file.name.clone();
                let failed = failed.clone();
                (move || {
                    if gone.with(|g| g.contains(&thumb_of(i))) {
                        return view! {
                            <li class="attachment">
                                <span class="attachment-file" data-testid="attachment-gone">
                                    <span class="attachment-name">{name.clone()}</span>
                                    " "
                                    <span class="attachment-meta">"no longer available"</span>
                                </span>
                            </li>
                        }
                        .into_any();
                    }
                    let failed = failed.clone();
                    view! {
                        <li class="attachment">
                            <button
                                type="button"
                                class="attachment-image"
                                data-testid="attachment-image"
                                aria-label=format!("Open {name} ({w} × {h})")
                                on:click=move |_| open.set(Some(i))
                            >
                                <img
                                    src=move || thumb_of(i)
                                    alt=name.clone()
                                    width=tw
                                    height=th
                                    loading="lazy"
                                    on:error=move |_| failed(thumb_of(i))
                                />
                            </button>
                        </li>
                    }
                    .into_any()
                })
                .into_any()
            }
            _ => view! {
                <li class="attachment">
                    <a
                        class="attachment-file"
                        data-testid="attachment-file"
                        href=move || url_of(i)
                        download=file.name.clone()
                    >
                        <span class="attachment-name">{file.name.clone()}</span>
                        " "
                        <span class="attachment-meta">
                            {format!("{}, {}", human_size(file.size), file.mime)}
                        </span>
                    </a>
                </li>
            }
            .into_any(),
        })
        .collect_view();
    view! {
        <ul class="attachments" data-testid="attachments">
            {items}
        </ul>
        {move || {
            open.get()
                .map(|i| {
                    let name = files.get(i).map(|f| f.name.clone()).unwrap_or_default();
                    view! {
                        <Lightbox
                            url=Signal::derive(move || url_of(i))
                            name=name
                            on_close=Callback::new(move |_| open.set(None))
                        />
                    }
                })
        }}
    }
}

/// The thumbnail's size: the image scaled to fit `THUMB_MAX`, never up.
fn thumb_size(w: u32, h: u32) -> (u32, u32) {
    let longer = w.max(h).max(1);
    if longer <= THUMB_MAX {
        return (w, h);
    }
    let scale = |x: u32| ((x as u64 * THUMB_MAX as u64) / longer as u64).max(1) as u32;
    (scale(w), scale(h))
}

/// Bytes in words a person reads: `512 B`, `1.5 KB`, `25.0 MB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
