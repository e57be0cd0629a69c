use crate::i18n::texts;
use crate::state::ConsoleState;
use leptos::prelude::*;

/// Failures, shown to the person who clicked until they dismiss them.
#[component]
pub fn Toasts() -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    view! {
        // State changes of the VMs this person acted on, for screen readers.
        <div class="sr-only" role="status" aria-live="polite" data-testid="announcer">
            {move || state.announcement.get()}
        </div>
        <div class="toasts" aria-live="assertive">
            <For each=move || state.toasts.get() key=|toast| toast.id let:toast>
                <div class="toast" role="alert" data-testid="toast">
                    <span>{toast.text.clone()}</span>
                    <button type="button" class="link" on:click=move |_| state.dismiss(toast.id)>{texts().close}</button>
                </div>
            </For>
        </div>
    }
}
