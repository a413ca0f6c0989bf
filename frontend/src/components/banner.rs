//! The connection banner ("reconnecting in 4 s, 2 messages queued") and the
//! relay's notices that are about no particular message.

use leptos::prelude::*;
use shared::client::ConnState;

use crate::chat::Chat;

#[component]
pub fn Banner() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let queued = Memo::new(move |_| chat.client.with(|c| c.outbox().unacked()));
    let state_name = move || match chat.conn.get() {
        ConnState::Online => "online",
        ConnState::Connecting { attempt: 0 } => "connecting",
        ConnState::Connecting { .. } | ConnState::Reconnecting { .. } => "reconnecting",
        ConnState::Offline => "offline",
    };
    let text = move || {
        let status = match chat.conn.get() {
            ConnState::Online => String::new(),
            ConnState::Connecting { attempt: 0 } => "Connecting…".into(),
            ConnState::Connecting { .. } => "Reconnecting…".into(),
            ConnState::Reconnecting { retry_at, .. } => {
                let secs = retry_at.saturating_sub(chat.now.get()).div_ceil(1000);
                if secs == 0 {
                    "Reconnecting…".into()
                } else {
                    format!("Connection lost. Reconnecting in {secs} s…")
                }
            }
            ConnState::Offline => "You are offline.".into(),
        };
        match queued.get() {
            0 => status,
            1 => format!("{status} 1 message queued."),
            n => format!("{status} {n} messages queued."),
        }
    };
    let online = move || chat.conn.get() == ConnState::Online;
    view! {
        <div
            class="banner"
            role="status"
            data-testid="connection-banner"
            data-state=state_name
            hidden=online
        >
            <span>{text}</span>
            {move || {
                matches!(chat.conn.get(), ConnState::Reconnecting { .. })
                    .then(|| {
                        view! {
                            <button
                                class="link-button"
                                data-testid="reconnect-now"
                                on:click=move |_| chat.retry_now()
                            >
                                "Retry now"
                            </button>
                        }
                    })
            }}
        </div>
    }
}

#[component]
pub fn Notices() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let notices = Memo::new(move |_| {
        chat.client.with(|c| {
            c.notices()
                .iter()
                .map(|n| (n.code.as_str(), n.message.clone()))
                .collect::<Vec<_>>()
        })
    });
    view! {
        <div class="notices">
            {move || {
                notices
                    .get()
                    .into_iter()
                    .enumerate()
                    .map(|(index, (code, message))| {
                        view! {
                            <div class="notice" role="alert" data-testid="notice" data-code=code>
                                <span>{message}</span>
                                <button
                                    class="icon-button"
                                    aria-label="Dismiss"
                                    on:click=move |_| chat.dismiss_notice(index)
                                >
                                    "×"
                                </button>
                            </div>
                        }
                    })
                    .collect_view()
            }}
        </div>
    }
}
