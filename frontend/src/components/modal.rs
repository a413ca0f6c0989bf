//! A modal dialog: a `<dialog>` opened with `showModal()`, so the page
//! behind is inert and Tab stays inside; Escape (the browser's own `cancel`)
//! closes it, and focus goes back to what had it before it opened.

use leptos::prelude::*;

use super::ui::Ui;

#[component]
pub fn Modal(
    /// The id of the heading that names the dialog.
    labelled_by: &'static str,
    /// The element's `data-testid`.
    testid: &'static str,
    /// The dialog closed itself (Escape); the owner removes it.
    on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    let ui = expect_context::<Ui>();
    ui.dialog_opened();
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    dialog.on_load(|el| {
        if !el.open() {
            let _ = el.show_modal();
        }
    });
    // However the owner removes the dialog (Escape, Cancel, Save).
    on_cleanup(move || ui.dialog_closed());
    view! {
        <dialog
            class="modal"
            data-testid=testid
            aria-labelledby=labelled_by
            node_ref=dialog
            on:close=move |_| on_close.run(())
        >
            {children()}
        </dialog>
    }
}
