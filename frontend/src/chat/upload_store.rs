//! Waiting uploads kept across a reload, in IndexedDB.
//!
//! A file attached in the composer is kept here, as the `File` itself
//! (localStorage holds only strings), until its message is acked or the
//! user removes it; so is the text of a message that waits for its
//! uploads. After a reload (or a crash) the composer of the room shows
//! the files again as waiting uploads and sends the message once they are
//! uploaded. Records are this tab's, like its outbox (`storage`): a record
//! carries the tab's id and is read back only by that tab.
//!
//! One object store, `uploads`, keyed by `id`. A file record: `tab`,
//! `room`, `name`, `file` (the `File`), `size`, and `client_id` once its
//! message went to the outbox (then it is kept until the outbox is done
//! with that message, so a reload before the ack loses nothing). A
//! message record (`id` = `TAB/ROOM/message`): `tab`, `room`, `text`.
//!
//! Bounded: a file over [`MAX_FILE_BYTES`] (the relay's default upload
//! limit) or past [`BUDGET_BYTES`] of kept files in all is not kept, and
//! the composer says so. Without IndexedDB (some private modes) nothing
//! is kept and the composer says that too.

use js_sys::{Object, Reflect};
use shared::ClientId;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbRequest, IdbTransactionMode};

const DB: &str = "palaver-uploads";
const STORE: &str = "uploads";
/// Files over this are not kept (the relay's default `--max-file-bytes`).
pub const MAX_FILE_BYTES: f64 = 25.0 * 1024.0 * 1024.0;
/// Bytes of kept files in all, every tab together.
pub const BUDGET_BYTES: f64 = 64.0 * 1024.0 * 1024.0;

/// Whether a file attached in the composer survives a reload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kept {
    /// Kept (or being written).
    Yes,
    /// Over [`MAX_FILE_BYTES`], or [`BUDGET_BYTES`] is used up.
    TooLarge,
    /// This browser gives the app no IndexedDB.
    Unavailable,
}

/// A kept file, as read back.
pub struct KeptFile {
    pub id: String,
    pub room: String,
    pub file: web_sys::File,
    pub client_id: Option<String>,
}

/// What this tab kept, as read back.
#[derive(Default)]
pub struct Restored {
    pub files: Vec<KeptFile>,
    /// Rooms and the text of the message waiting for their uploads.
    pub messages: Vec<(String, String)>,
}

/// The id of a new file record.
pub fn file_record_id(tab: &str, room: &str) -> String {
    format!(
        "{tab}/{room}/file/{:x}{:x}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * f64::from(u32::MAX)) as u32
    )
}

fn message_record_id(tab: &str, room: &str) -> String {
    format!("{tab}/{room}/message")
}

/// Keeps `file` attached in `room`, unless it is too large.
pub async fn keep_file(id: &str, tab: &str, room: &str, file: &web_sys::File) -> Kept {
    let Some(db) = open().await else {
        return Kept::Unavailable;
    };
    let size = file.size();
    if size > MAX_FILE_BYTES {
        return Kept::TooLarge;
    }
    let used: f64 = read_all(&db)
        .await
        .iter()
        .filter(|r| field(r, "id").as_deref() != Some(id))
        .filter_map(|r| Reflect::get(r, &"size".into()).ok()?.as_f64())
        .sum();
    if used + size > BUDGET_BYTES {
        return Kept::TooLarge;
    }
    let record = record(&[("id", id), ("tab", tab), ("room", room)]);
    let _ = Reflect::set(&record, &"name".into(), &file.name().into());
    let _ = Reflect::set(&record, &"file".into(), file);
    let _ = Reflect::set(&record, &"size".into(), &size.into());
    match write(&db, |store| store.put(&record).map(drop)).await {
        true => Kept::Yes,
        false => Kept::TooLarge,
    }
}

/// Marks kept files as sent in the outbox message `client_id`: they are
/// kept until it is acked ([`forget`] then).
pub async fn mark_sent(files: &[(String, web_sys::File)], tab: &str, room: &str, client_id: &str) {
    let Some(db) = open().await else {
        return;
    };
    let records: Vec<Object> = files
        .iter()
        .map(|(id, file)| {
            let record = record(&[
                ("id", id),
                ("tab", tab),
                ("room", room),
                ("client_id", client_id),
            ]);
            let _ = Reflect::set(&record, &"name".into(), &file.name().into());
            let _ = Reflect::set(&record, &"file".into(), file);
            let _ = Reflect::set(&record, &"size".into(), &file.size().into());
            record
        })
        .collect();
    let message = message_record_id(tab, room);
    write(&db, |store| {
        for record in &records {
            store.put(record)?;
        }
        store.delete(&message.as_str().into()).map(drop)
    })
    .await;
}

/// Keeps the text of `room`'s message that waits for its uploads.
pub async fn keep_message(tab: &str, room: &str, text: &str) {
    let Some(db) = open().await else {
        return;
    };
    let id = message_record_id(tab, room);
    let record = record(&[("id", &id), ("tab", tab), ("room", room), ("text", text)]);
    write(&db, |store| store.put(&record).map(drop)).await;
}

/// Forgets records: removed files, a message sent or given up.
pub async fn forget(ids: &[String]) {
    let Some(db) = open().await else {
        return;
    };
    write(&db, |store| {
        for id in ids {
            store.delete(&id.as_str().into())?;
        }
        Ok(())
    })
    .await;
}

/// Forgets the waiting message of `room`.
pub async fn forget_message(tab: &str, room: &str) {
    forget(&[message_record_id(tab, room)]).await;
}

/// Everything this tab kept.
pub async fn restore(tab: &str) -> Restored {
    let Some(db) = open().await else {
        return Restored::default();
    };
    let mut restored = Restored::default();
    for record in read_all(&db).await {
        if field(&record, "tab").as_deref() != Some(tab) {
            continue;
        }
        let (Some(id), Some(room)) = (field(&record, "id"), field(&record, "room")) else {
            continue;
        };
        if let Some(text) = field(&record, "text") {
            restored.messages.push((room, text));
        } else if let Some(file) = Reflect::get(&record, &"file".into())
            .ok()
            .and_then(|f| f.dyn_into::<web_sys::File>().ok())
        {
            restored.files.push(KeptFile {
                id,
                room,
                file,
                client_id: field(&record, "client_id"),
            });
        }
    }
    restored
}

/// The client id of a kept file's message, as the outbox knows it.
pub fn client_id(file: &KeptFile) -> Option<ClientId> {
    file.client_id
        .as_deref()
        .and_then(|id| ClientId::new(id).ok())
}

fn record(fields: &[(&str, &str)]) -> Object {
    let record = Object::new();
    for (key, value) in fields {
        let _ = Reflect::set(&record, &(*key).into(), &(*value).into());
    }
    record
}

fn field(record: &JsValue, key: &str) -> Option<String> {
    Reflect::get(record, &key.into()).ok()?.as_string()
}

/// The database, made on first use; `None` without IndexedDB.
async fn open() -> Option<IdbDatabase> {
    let factory = web_sys::window()?.indexed_db().ok().flatten()?;
    let request = factory.open_with_u32(DB, 1).ok()?;
    let upgrade = Closure::<dyn FnMut(web_sys::Event)>::new({
        let request = request.clone();
        move |_| {
            let Some(db) = request
                .result()
                .ok()
                .and_then(|db| db.dyn_into::<IdbDatabase>().ok())
            else {
                return;
            };
            if !db.object_store_names().contains(STORE) {
                let params = web_sys::IdbObjectStoreParameters::new();
                params.set_key_path(&"id".into());
                let _ = db.create_object_store_with_optional_parameters(STORE, &params);
            }
        }
    });
    request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let db = done(&request).await;
    request.set_onupgradeneeded(None);
    db?.dyn_into::<IdbDatabase>().ok()
}

/// Every record (files as `File` handles, not their bytes).
async fn read_all(db: &IdbDatabase) -> Vec<JsValue> {
    let Ok(request) = db
        .transaction_with_str(STORE)
        .and_then(|t| t.object_store(STORE))
        .and_then(|s| s.get_all())
    else {
        return Vec::new();
    };
    done(&request)
        .await
        .map(|all| js_sys::Array::from(&all).to_vec())
        .unwrap_or_default()
}

/// Runs `change` in a read-write transaction; true once it committed.
async fn write(
    db: &IdbDatabase,
    change: impl FnOnce(&web_sys::IdbObjectStore) -> Result<(), JsValue>,
) -> bool {
    let Ok(transaction) = db.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)
    else {
        return false;
    };
    let Ok(store) = transaction.object_store(STORE) else {
        return false;
    };
    if change(&store).is_err() {
        let _ = transaction.abort();
        return false;
    }
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        transaction.set_oncomplete(Some(&resolve));
        transaction.set_onerror(Some(&reject));
        transaction.set_onabort(Some(&reject));
    });
    JsFuture::from(promise).await.is_ok()
}

/// A request's result once it succeeded.
async fn done(request: &IdbRequest) -> Option<JsValue> {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    JsFuture::from(promise).await.ok()?;
    request.result().ok()
}
