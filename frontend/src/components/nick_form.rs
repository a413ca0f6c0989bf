//! The nickname prompt: on the first visit it is the page itself; from
//! "Change" in the sidebar it is a modal dialog over the room.

use leptos::prelude::*;
use shared::Nick;

use super::modal::Modal;

#[component]
pub fn NickForm(
    /// The nick to start from (the current one when changing it).
    initial: String,
    /// A first visit: there is nothing to cancel to, nor anything behind.
    first: bool,
    on_done: Callback<Nick>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let value = RwSignal::new(initial);
    let error = RwSignal::new(None::<&'static str>);
    let input = NodeRef::<leptos::html::Input>::new();
    input.on_load(|input| {
        let _ = input.focus();
        input.select();
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match Nick::new(&value.get_untracked()) {
            Ok(nick) => {
                error.set(None);
                on_done.run(nick);
            }
            Err(_) => error.set(Some(
                "1 to 32 letters, digits, spaces, and - _ . ' (no double spaces)",
            )),
        }
    };
    let form = view! {
        <form class="nick-form" data-testid="nick-form" on:submit=submit>
            {if first {
                view! { <h1 id="nick-title">"Welcome to Palaver"</h1> }.into_any()
            } else {
                view! { <h2 id="nick-title">"Change your nickname"</h2> }.into_any()
            }}
            <label for="nick-input">"Choose a nickname"</label>
            <input
                id="nick-input"
                data-testid="nick-input"
                node_ref=input
                autocomplete="nickname"
                maxlength="32"
                required
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby="nick-error"
            />
            <p id="nick-error" class="field-error" data-testid="nick-error" role="alert">
                {move || error.get()}
            </p>
            <div class="actions">
                {(!first)
                    .then(|| {
                        view! {
                            <button
                                type="button"
                                class="secondary"
                                data-testid="nick-cancel"
                                on:click=move |_| on_cancel.run(())
                            >
                                "Cancel"
                            </button>
                        }
                    })}
                <button type="submit" data-testid="nick-submit">
                    {if first { "Start chatting" } else { "Save" }}
                </button>
            </div>
        </form>
    };
    if first {
        // The same card the static shell in index.html shows while loading.
        view! {
            <main class="welcome">
                <div class="card">{form}</div>
            </main>
        }
        .into_any()
    } else {
        view! {
            <Modal labelled_by="nick-title" testid="nick-dialog" on_close=on_cancel>
                {form}
            </Modal>
        }
        .into_any()
    }
}
