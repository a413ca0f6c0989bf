//! A message's files: images as their thumbnail (sized before it loads, so
//! the timeline does not jump), opening the full image in a lightbox;
//! other files as a download link with name and size.

use leptos::prelude::*;
use shared::protocol::Attachment;

use super::lightbox::Lightbox;
use crate::chat::Chat;

/// The relay's thumbnails are at most this many pixels on the longer side.
const THUMB_MAX: u32 = 320;

#[component]
pub fn Attachments(files: Vec<Attachment>) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let open = RwSignal::new(None::<(String, String)>);
    let items = files
        .into_iter()
        .map(|file| match (&file.thumb, file.width, file.height) {
            (Some(thumb), Some(w), Some(h)) => {
                let (tw, th) = thumb_size(w, h);
                let full = chat.file_url(&file.url);
                let name = file.name.clone();
                view! {
                    <li class="attachment">
                        <button
                            type="button"
                            class="attachment-image"
                            data-testid="attachment-image"
                            aria-label=format!("Open {} ({w} × {h})", file.name)
                            on:click=move |_| open.set(Some((full.clone(), name.clone())))
                        >
                            <img
                                src=chat.file_url(thumb)
                                alt=file.name.clone()
                                width=tw
                                height=th
                                loading="lazy"
                            />
                        </button>
                    </li>
                }
                .into_any()
            }
            _ => view! {
                <li class="attachment">
                    <a
                        class="attachment-file"
                        data-testid="attachment-file"
                        href=chat.file_url(&file.url)
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
                .map(|(url, name)| {
                    view! { <Lightbox url=url name=name on_close=Callback::new(move |_| open.set(None)) /> }
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
