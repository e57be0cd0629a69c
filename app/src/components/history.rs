//! One VM's request history: who asked for what, when, and what became of it. Fetched when
//! opened (it is not part of the live rows, which stay small).

use crate::api::vm_history;
use crate::i18n::texts;
use crate::state::ConsoleState;
use leptos::prelude::*;
use wukong_view::{HistoryEntry, VmKey};

#[component]
pub fn HistoryPanel() -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    Effect::new(move |before: Option<Option<VmKey>>| {
        let now = state.history.get();
        match (before.flatten(), &now) {
            // (Focus goes in when the dialog is there: `HistoryBox`, loaded lazily.)
            (_, Some(_)) => {}
            (Some(closed), None) => super::modal::focus_back(vec![format!(
                "{} [data-testid=\"history-button\"]",
                super::modal::row_selector(&closed)
            )]),
            (None, None) => {}
        }
        now
    });
    // The dialog's code is split off the main WASM (`#[lazy]`): fetched on the first opening.
    move || {
        state.history.get().map(|key| {
            view! {
                <Suspense fallback=|| ()>
                    {Suspend::new(async move { history_box(key).await })}
                </Suspense>
            }
        })
    }
}

#[lazy]
fn history_box(key: VmKey) -> AnyView {
    view! { <HistoryBox key/> }.into_any()
}

#[component]
fn HistoryBox(key: VmKey) -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    let t = texts();
    // Fetched once when opened (a plain task and signal: lighter in the bundle than a resource).
    let entries = RwSignal::new(None::<Result<Vec<HistoryEntry>, String>>);
    {
        let key = key.clone();
        leptos::task::spawn_local(async move {
            let answer = vm_history(key.namespace, key.name).await;
            entries.set(Some(answer.map_err(|e| t.said(&e.said, &e.message))));
        });
    }
    let close = move || state.history.set(None);
    Effect::new(|_| super::modal::focus_into("[data-testid=\"history\"]"));
    let body = move || match entries.get() {
        None => view! { <p class="muted">{t.loading}</p> }.into_any(),
        Some(Err(e)) => view! { <p class="row-error" role="alert">{e}</p> }.into_any(),
        Some(Ok(list)) if list.is_empty() => {
            view! { <p class="muted">{t.history_empty}</p> }.into_any()
        }
        Some(Ok(list)) => view! { <HistoryList list/> }.into_any(),
    };
    view! {
        <div class="modal-backdrop" on:click=move |_| close()>
            <div class="modal wide" role="dialog" aria-modal="true" aria-labelledby="history-title" data-testid="history"
                on:click=|ev| ev.stop_propagation()
                on:keydown=move |ev| super::modal::on_key(ev, close)>
                <h2 id="history-title">{t.history}" "<code translate="no">{key.to_string()}</code></h2>
                {body}
                <div class="modal-actions">
                    <button type="button" class="secondary" data-testid="history-close" on:click=move |_| close()>{t.close}</button>
                </div>
            </div>
        </div>
    }
}

/// The lines of a history, newest first (the history dialog and the VM page).
#[component]
pub fn HistoryList(list: Vec<HistoryEntry>) -> impl IntoView {
    let t = texts();
    view! {
        <ol class="history">
            {list.into_iter().map(|e| {
                let outcome = e.outcome.clone();
                view! {
                <li data-testid="history-entry" data-outcome=outcome>
                    {e.at_ms.map(|at_ms| view! { <super::moment::Moment at_ms/> })}" "
                    <strong>{t.recorded_action(&e.action)}</strong>" "
                    {e.requested_by.map(|by| view! { <span>{t.history_by}" "<span data-testid="history-by" translate="no">{by}</span></span> })}
                    " — "<span class="outcome">{t.outcome(&e.outcome)}</span>
                    // The controller's words in the person's language; KubeVirt's as they came.
                    {e.message.map(|m| {
                        let (text, ours) = t.controller_words(e.says.as_ref(), &m);
                        view! { <div class="muted" translate=if ours { "yes" } else { "no" }>{text}</div> }
                    })}
                </li>
                }
            }).collect_view()}
        </ol>
    }
}
