//! Files being attached in the composer: the attach button (a labelled
//! button opening a hidden file input), and one row per upload with a
//! progress bar, a cancel button and, on failure, what to do. Paste and
//! drop hand files to the same `Uploads`.
//!
//! Offline first: a file attached while the relay is unreachable, or whose
//! upload the network cut, waits, and uploads again by itself once the
//! relay welcomes this tab again (the composer then sends a message that
//! was waiting for it). A file the relay refused (too large, unreadable)
//! does not: that needs the user.
//!
//! Kept across a reload: each attached file, and the text of a message
//! waiting for its uploads, is kept in IndexedDB (`chat::upload_store`)
//! until the message is acked or the file removed; the composer of the
//! room shows them again after a reload and sends the message once they
//! are uploaded. A file that cannot be kept (too large, no IndexedDB)
//! says so in its row.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::{ClientId, FileId, RoomName};
use wasm_bindgen::JsCast;

use crate::chat::upload_store::{self, Kept};
use crate::chat::{Chat, UploadEvent, UploadFailure, UploadHandle};

/// Where one upload stands.
#[derive(Clone, PartialEq)]
pub enum Stage {
    Sending {
        loaded: f64,
        total: f64,
    },
    /// Not reachable now: uploads when the relay is back.
    Waiting,
    Done(FileId),
    Failed(String),
}

#[derive(Clone, PartialEq)]
pub struct Item {
    pub key: u32,
    pub name: String,
    pub stage: Stage,
    /// Its record in `upload_store`.
    pub record: String,
    /// Whether it survives a reload.
    pub kept: Kept,
}

/// The composer's uploads. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Uploads {
    chat: Chat,
    room: StoredValue<RoomName>,
    /// A message waits for the uploads and its text is kept.
    message_kept: StoredValue<bool>,
    pub items: RwSignal<Vec<Item>>,
    /// The running requests by key, so cancel can abort them.
    handles: StoredValue<Vec<(u32, UploadHandle)>, LocalStorage>,
    /// The files by key, until the list empties, so a waiting upload can
    /// start again.
    files: StoredValue<Vec<(u32, web_sys::File)>, LocalStorage>,
    next: StoredValue<u32>,
}

impl Uploads {
    pub fn new(chat: Chat, room: RoomName) -> Self {
        let uploads = Uploads {
            chat,
            room: StoredValue::new(room),
            message_kept: StoredValue::new(false),
            items: RwSignal::new(Vec::new()),
            handles: StoredValue::new_local(Vec::new()),
            files: StoredValue::new_local(Vec::new()),
            next: StoredValue::new(0),
        };
        // Welcomed again: what waited for the relay uploads now.
        let connected = Memo::new(move |_| chat.client.with(|c| c.is_connected()));
        Effect::new(move |_| {
            if connected.get() {
                uploads.start_waiting();
            }
        });
        uploads
    }

    /// Starts uploading each file of `files`.
    pub fn add_list(self, files: &web_sys::FileList) {
        for i in 0..files.length() {
            if let Some(file) = files.get(i) {
                self.add(&file);
            }
        }
    }

    pub fn add(self, file: &web_sys::File) {
        let (tab, room) = (self.chat.tab_id(), self.room.get_value());
        let record = upload_store::file_record_id(&tab, room.as_str());
        let key = self.push(file, record.clone(), Kept::Yes);
        let file = file.clone();
        let (items, files) = (self.items, self.files);
        spawn_local(async move {
            let kept = upload_store::keep_file(&record, &tab, room.as_str(), &file).await;
            // Removed meanwhile: its record goes too.
            if files.with_value(|f| !f.iter().any(|(k, _)| *k == key)) {
                upload_store::forget(&[record]).await;
                return;
            }
            items.update(|items| {
                if let Some(item) = items.iter_mut().find(|i| i.key == key) {
                    item.kept = kept;
                }
            });
        });
        if self.chat.client.with_untracked(|c| c.is_connected()) {
            self.start(key);
        }
    }

    /// A row for `file`, waiting; its key.
    fn push(self, file: &web_sys::File, record: String, kept: Kept) -> u32 {
        let key = self.next.get_value();
        self.next.set_value(key + 1);
        self.items.update(|items| {
            items.push(Item {
                key,
                name: file.name(),
                stage: Stage::Waiting,
                record,
                kept,
            })
        });
        self.files.update_value(|f| f.push((key, file.clone())));
        key
    }

    /// Shows again what this room's composer kept before a reload: the
    /// files as waiting uploads, and hands `on_message` the text of the
    /// message that waited for them.
    pub fn restore(self, on_message: impl FnOnce(String) + 'static) {
        let (tab, room) = (self.chat.tab_id(), self.room.get_value());
        spawn_local(async move {
            let restored = upload_store::restore(&tab).await;
            let mine = |r: &str| r == room.as_str();
            for kept in restored.files {
                if mine(&kept.room) && kept.client_id.is_none() {
                    self.push(&kept.file, kept.id, Kept::Yes);
                }
            }
            if let Some((_, text)) = restored.messages.into_iter().find(|(r, _)| mine(r)) {
                self.message_kept.set_value(true);
                on_message(text);
            }
            if self.chat.client.with_untracked(|c| c.is_connected()) {
                self.start_waiting();
            }
        });
    }

    /// Enter while uploads are busy: `text` goes once they are done, also
    /// after a reload.
    pub fn keep_message(self, text: &str) {
        self.message_kept.set_value(true);
        let (tab, room, text) = (self.chat.tab_id(), self.room.get_value(), text.to_owned());
        spawn_local(async move { upload_store::keep_message(&tab, room.as_str(), &text).await });
    }

    /// A message went without files: a kept text waiting for uploads is
    /// not needed any more.
    pub fn forget_message(self) {
        if self.message_kept.get_value() {
            self.message_kept.set_value(false);
            let (tab, room) = (self.chat.tab_id(), self.room.get_value());
            spawn_local(async move { upload_store::forget_message(&tab, room.as_str()).await });
        }
    }

    /// The message went: into the outbox as `sent` with the uploaded
    /// files (kept until it is acked), or without them. The list empties.
    pub fn sent(self, sent: Option<ClientId>) {
        let (tab, room) = (self.chat.tab_id(), self.room.get_value());
        let kept: Vec<(String, web_sys::File)> = self.items.with_untracked(|items| {
            items
                .iter()
                .filter(|i| i.kept == Kept::Yes && matches!(i.stage, Stage::Done(_)))
                .filter_map(|i| {
                    let file = self.file(i.key)?;
                    Some((i.record.clone(), file))
                })
                .collect()
        });
        let chat = self.chat;
        match sent {
            // Marking them sent forgets the message's text too.
            Some(id) if !kept.is_empty() => {
                self.message_kept.set_value(false);
                spawn_local(async move {
                    upload_store::mark_sent(&kept, &tab, room.as_str(), id.as_str()).await;
                    chat.kept_sent(id, kept.into_iter().map(|(record, _)| record).collect());
                })
            }
            _ => self.forget_message(),
        }
        self.files.set_value(Vec::new());
        self.items.set(Vec::new());
    }

    fn file(self, key: u32) -> Option<web_sys::File> {
        self.files.with_value(|f| {
            f.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, file)| file.clone())
        })
    }

    /// Starts again every upload that waits for the relay.
    fn start_waiting(self) {
        let waiting: Vec<u32> = self.items.with_untracked(|items| {
            items
                .iter()
                .filter(|i| i.stage == Stage::Waiting)
                .map(|i| i.key)
                .collect()
        });
        for key in waiting {
            self.start(key);
        }
    }

    /// Uploads the file of `key`.
    fn start(self, key: u32) {
        let Some(file) = self.file(key) else {
            return;
        };
        let file = &file;
        let total = file.size();
        let items = self.items;
        let handles = self.handles;
        let set = move |stage: Stage| {
            items.update(|items| {
                if let Some(item) = items.iter_mut().find(|i| i.key == key) {
                    item.stage = stage;
                }
            })
        };
        set(Stage::Sending { loaded: 0.0, total });
        let started = self.chat.upload(file, move |event| match event {
            UploadEvent::Progress { loaded, total } => set(Stage::Sending { loaded, total }),
            UploadEvent::Done(result) => {
                handles.update_value(|h| h.retain(|(k, _)| *k != key));
                set(match result {
                    Ok(id) => Stage::Done(id),
                    Err(UploadFailure::Unreachable) => Stage::Waiting,
                    Err(UploadFailure::Refused(words)) => Stage::Failed(words),
                });
            }
        });
        match started {
            Ok(handle) => self.handles.update_value(|h| h.push((key, handle))),
            Err(words) => set(Stage::Failed(words)),
        }
    }

    /// Stops an upload (or forgets a finished one).
    pub fn remove(self, key: u32) {
        self.handles.update_value(|h| {
            if let Some((_, handle)) = h.iter().find(|(k, _)| *k == key) {
                handle.cancel();
            }
            h.retain(|(k, _)| *k != key);
        });
        self.files.update_value(|f| f.retain(|(k, _)| *k != key));
        let record = self.items.try_update(|items| {
            let record = items
                .iter()
                .find(|i| i.key == key)
                .map(|i| i.record.clone());
            items.retain(|i| i.key != key);
            record
        });
        if let Some(record) = record.flatten() {
            spawn_local(async move { upload_store::forget(&[record]).await });
        }
    }

    /// Some upload is under way or waits for the relay.
    pub fn busy(self) -> bool {
        self.items.with(|i| {
            i.iter()
                .any(|i| matches!(i.stage, Stage::Sending { .. } | Stage::Waiting))
        })
    }

    /// Some upload was refused and needs the user.
    pub fn failed(self) -> bool {
        self.items
            .with(|i| i.iter().any(|i| matches!(i.stage, Stage::Failed(_))))
    }

    /// The uploaded files' ids.
    pub fn done(self) -> Vec<FileId> {
        self.items.with(|items| {
            items
                .iter()
                .filter_map(|i| match &i.stage {
                    Stage::Done(id) => Some(id.clone()),
                    _ => None,
                })
                .collect()
        })
    }
}

/// The attach button and its hidden file input.
#[component]
pub fn AttachButton(uploads: Uploads) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    view! {
        <input
            type="file"
            multiple
            hidden
            id="attach-input"
            data-testid="attach-input"
            node_ref=input
            on:change=move |ev| {
                let Some(el) = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else {
                    return;
                };
                if let Some(files) = el.files() {
                    uploads.add_list(&files);
                }
                el.set_value("");
            }
        />
        <button
            type="button"
            class="attach"
            data-testid="attach-button"
            aria-label="Attach files"
            title="Attach files (or paste or drop them here)"
            on:click=move |_| {
                if let Some(el) = input.get_untracked() {
                    el.click();
                }
            }
        >
            // A drawn paperclip: an emoji glyph is missing from some
            // systems' fonts (a box where the button should say "attach").
            <svg
                width="20"
                height="20"
                viewBox="0 0 24 24"
                aria-hidden="true"
                focusable="false"
                fill="none"
                stroke="currentColor"
                stroke-width="2"
                stroke-linecap="round"
                stroke-linejoin="round"
            >
                <path d="M20 11.5l-8 8a5 5 0 0 1-7-7l8.5-8.5a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3l7.5-7.5"></path>
            </svg>
        </button>
    }
}

/// One row per upload. A row is keyed by its upload alone and follows its
/// progress in place, so a keyboard user on its Cancel button keeps focus
/// while the bar moves.
#[component]
pub fn UploadList(uploads: Uploads) -> impl IntoView {
    view! {
        <ul class="uploads" data-testid="uploads" hidden=move || uploads.items.with(|i| i.is_empty())>
            <For
                each=move || uploads.items.get()
                key=|item| item.key
                let:item
            >
                {upload_row(uploads, item.key, item.name)}
            </For>
        </ul>
    }
}

fn upload_row(uploads: Uploads, key: u32, name: String) -> impl IntoView {
    let stage = Memo::new(move |_| {
        uploads
            .items
            .with(|items| items.iter().find(|i| i.key == key).map(|i| i.stage.clone()))
    });
    let percent = move || match stage.get() {
        Some(Stage::Sending { loaded, total }) if total > 0.0 => {
            Some((loaded / total * 100.0).round().min(100.0))
        }
        Some(Stage::Sending { .. }) => Some(0.0),
        _ => None,
    };
    let kept = Memo::new(move |_| {
        uploads
            .items
            .with(|items| items.iter().find(|i| i.key == key).map(|i| i.kept))
    });
    let status = move || match stage.get() {
        Some(Stage::Sending { .. }) => format!("{}%", percent().unwrap_or(0.0)),
        Some(Stage::Waiting) => {
            let waiting = "Waiting for the relay: uploads when you are back online";
            match kept.get() {
                Some(Kept::TooLarge) => format!(
                    "{waiting}. Too large to keep if the page reloads: keep this page open."
                ),
                Some(Kept::Unavailable) => format!(
                    "{waiting}. This browser keeps no files across a reload \
                     (private browsing?): keep this page open."
                ),
                _ => waiting.into(),
            }
        }
        Some(Stage::Done(_)) => "Ready to send".to_string(),
        Some(Stage::Failed(words)) => words,
        None => String::new(),
    };
    let failed = move || matches!(stage.get(), Some(Stage::Failed(_)));
    let bar_label = format!("Uploading {name}");
    let bar = move || {
        percent().map(|percent| {
            view! {
                <div
                    class="upload-bar"
                    role="progressbar"
                    aria-label=bar_label.clone()
                    aria-valuemin="0"
                    aria-valuemax="100"
                    aria-valuenow=percent.to_string()
                    data-testid="upload-progress"
                >
                    <div class="upload-fill" style=format!("width: {percent}%")></div>
                </div>
            }
        })
    };
    let cancel_label = {
        let name = name.clone();
        move || match stage.get() {
            Some(Stage::Sending { .. } | Stage::Waiting) => format!("Cancel the upload of {name}"),
            _ => format!("Remove {name}"),
        }
    };
    view! {
        <li class="upload" class:failed=failed data-testid="upload">
            <span class="upload-name">{name.clone()}</span>
            {bar}
            <span
                class="upload-status"
                data-testid="upload-status"
                role=move || failed().then_some("alert")
            >
                {status}
            </span>
            <button
                type="button"
                class="icon-button"
                data-testid="upload-cancel"
                aria-label=cancel_label
                on:click=move |_| uploads.remove(key)
            >
                "×"
            </button>
        </li>
    }
}
