//! The nickname prompt: on the first visit, and from "change" in the sidebar.

use leptos::prelude::*;
use shared::Nick;

#[component]
pub fn NickForm(
    /// The nick to start from (the current one when changing it).
    initial: String,
    /// A first visit: there is nothing to cancel to.
    first: bool,
    on_done: Callback<Nick>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let value = RwSignal::new(initial);
    let error = RwSignal::new(None::<&'static str>);
    let input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
        }
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
    view! {
        <div class="modal-backdrop">
            <form
                class="modal nick-form"
                data-testid="nick-form"
                role="dialog"
                aria-modal="true"
                aria-labelledby="nick-title"
                on:submit=submit
            >
                <h2 id="nick-title">
                    {if first { "Welcome to Palaver" } else { "Change your nickname" }}
                </h2>
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
        </div>
    }
}
