//! The full image of an attachment in a modal dialog: Escape or the close
//! button closes it and focus goes back to the thumbnail (`Modal`).

use leptos::prelude::*;

use super::modal::Modal;

#[component]
pub fn Lightbox(url: Signal<String>, name: String, on_close: Callback<()>) -> impl IntoView {
    view! {
        <Modal labelled_by="lightbox-title" testid="lightbox" on_close=on_close>
            <div class="lightbox">
                <h2 id="lightbox-title" class="lightbox-title">{name.clone()}</h2>
                <img class="lightbox-image" src=url alt=name.clone() />
                <div class="lightbox-actions">
                    <a href=url download=name.clone() data-testid="lightbox-download">"Download"</a>
                    <button
                        type="button"
                        data-testid="lightbox-close"
                        autofocus
                        on:click=move |_| on_close.run(())
                    >
                        "Close"
                    </button>
                </div>
            </div>
        </Modal>
    }
}
