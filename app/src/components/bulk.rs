//! Bulk actions: tick rows (or take every VM matching the filter), pick an action, confirm, and
//! read what became of each VM. No single success toast: every refusal is listed with its reason.

use crate::api::{bulk_action, bulk_preview};
use crate::i18n::texts;
use crate::state::{Bulk, ConsoleState};
use leptos::prelude::*;
use wukong_view::{Action, BulkHolds, BulkTarget, VmRef};

/// The bar above the table: how many are selected, "all matching the filter", and the actions.
#[component]
pub fn BulkBar() -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    let t = texts();
    let count = move || {
        if state.all_matching.get() {
            state.matching.get() as usize
        } else {
            state.selected.with(|s| s.len())
        }
    };
    let label = move || {
        if state.all_matching.get() {
            t.all_matching(u64::from(state.matching.get()))
        } else {
            t.selected(state.selected.with(|s| s.len()) as u64)
        }
    };
    let ask = move |action: Action| {
        let target = if state.all_matching.get_untracked() {
            BulkTarget::Matching(state.view.with_untracked(|v| v.filter.clone()))
        } else {
            BulkTarget::Keys(state.selected.with_untracked(|s| {
                s.iter()
                    .map(|(key, uid)| VmRef {
                        key: key.clone(),
                        uid: (!uid.is_empty()).then(|| uid.clone()),
                    })
                    .collect()
            }))
        };
        let count = count();
        if count == 0 {
            return;
        }
        // For "all matching" the dialog has the server count what would be refused first.
        let holds = match target {
            BulkTarget::Matching(_) => None,
            BulkTarget::Keys(_) => Some(selected_holds(state, action)),
        };
        state.bulk.set(Some(Bulk::Confirm {
            target,
            action,
            count,
            holds,
        }));
    };
    let buttons = Action::ALL
        .into_iter()
        .map(|action| {
            // Why some or all of the ticked VMs cannot take it (those on this page; "all
            // matching" is counted by the server when asked).
            let holds = Memo::new(move |_| {
                (!state.all_matching.get())
                    .then(|| selected_holds(state, action))
                    .filter(|h| h.held_count() > 0)
            });
            let reason = move || {
                holds.get().map(|h| {
                    if h.none_can() {
                        t.bulk_none_can(action, &h)
                    } else {
                        t.bulk_some_held(action, &h)
                    }
                })
            };
            let reason_id = format!("bulk-why-{}", action.as_str());
            let described = reason_id.clone();
            view! {
                <button type="button"
                    class=if action.is_destructive() { "act destructive" } else { "act" }
                    data-bulk-action=action.as_str()
                    disabled=move || count() == 0 || holds.with(|h| h.as_ref().is_some_and(BulkHolds::none_can))
                    title=reason
                    aria-describedby=move || holds.with(|h| h.is_some()).then(|| described.clone())
                    on:click=move |_| ask(action)>
                    {t.action(action)}
                </button>
                {move || reason().map(|why| view! {
                    <span id=reason_id.clone() class="sr-only" data-testid="bulk-reason" data-for=action.as_str()>{why}</span>
                })}
            }
        })
        .collect_view();
    view! {
        <div class="bulk-bar" data-testid="bulk-bar" hidden=move || !state.hydrated.get()>
            <span data-testid="bulk-count">{label}</span>
            <button type="button" class="act link" data-testid="bulk-select-matching"
                on:click=move |_| state.all_matching.set(true)>{t.bulk_all_matching}</button>
            <button type="button" class="act link" data-testid="bulk-clear"
                on:click=move |_| { state.all_matching.set(false); state.selected.set(Default::default()); }>
                {t.bulk_clear}
            </button>
            <span class="bulk-actions">{buttons}</span>
            // The ticked VMs of this page, to the schedules page (its code is split off).
            <a class="act link" data-testid="bulk-apply-schedule"
                hidden=move || state.all_matching.get() || count() == 0
                href=move || format!("/schedules?apply={}", state.selected.with(|s| {
                    s.keys().map(|k| format!("{}/{}", k.namespace, k.name)).collect::<Vec<_>>().join(",")
                }))>
                {t.apply_schedule}
            </a>
        </div>
    }
}

/// Among the ticked VMs on this page: how many cannot take `action`, and why.
fn selected_holds(state: ConsoleState, action: Action) -> BulkHolds {
    state.selected.with(|selected| {
        state.rows.with(|rows| {
            BulkHolds::count(
                action,
                rows.iter()
                    .map(|e| &e.row)
                    .filter(|row| selected.contains_key(&row.key)),
            )
        })
    })
}

/// The confirmation, progress and per-VM results of a bulk action. Its code is split off the
/// main WASM (`#[lazy]`, fetched on the first bulk action).
#[component]
pub fn BulkDialog() -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    // Focus back to the bar when it closes (it takes the focus itself when shown).
    Effect::new(move |before: Option<Option<Bulk>>| {
        let now = state.bulk.get();
        if let (Some(closed), None) = (before.flatten(), &now) {
            let action = match closed {
                Bulk::Confirm { action, .. }
                | Bulk::Running { action, .. }
                | Bulk::Done { action, .. } => Some(action),
                Bulk::Failed(_) => None,
            };
            let mut back: Vec<String> = action
                .map(|a| format!("button[data-bulk-action=\"{}\"]", a.as_str()))
                .into_iter()
                .collect();
            back.push("[data-testid=\"bulk-select-matching\"]".to_owned());
            back.push("[data-testid=\"search\"]".to_owned());
            super::modal::focus_back(back);
        }
        now
    });
    move || {
        let bulk = state.bulk.get()?;
        Some(view! {
            <Suspense fallback=|| ()>
                {Suspend::new(async move { bulk_dialog(bulk).await })}
            </Suspense>
        })
    }
}

#[lazy]
fn bulk_dialog(bulk: Bulk) -> AnyView {
    let state = expect_context::<ConsoleState>();
    let t = texts();
    // Closing waits for a running bulk action's answer (it would open the dialog again).
    let close = move || {
        if !matches!(state.bulk.get_untracked(), Some(Bulk::Running { .. })) {
            state.bulk.set(None);
        }
    };
    Effect::new(|_| super::modal::focus_into("[data-testid=\"bulk-dialog\"]"));
    let run = move |target: BulkTarget, action: Action, count: usize| {
        state.bulk.set(Some(Bulk::Running { action, count }));
        leptos::task::spawn_local(async move {
            let answer = bulk_action(target, action.as_str().to_owned(), None).await;
            state.bulk.set(Some(match answer {
                Ok(outcomes) => Bulk::Done { action, outcomes },
                Err(e) => Bulk::Failed(t.said(&e.said, &e.message)),
            }));
            state.selected.set(Default::default());
            state.all_matching.set(false);
        });
    };
    let body = match bulk {
        // "All matching the filter": the server counts what would be refused, then asks.
        Bulk::Confirm {
            target: BulkTarget::Matching(filter),
            action,
            holds: None,
            ..
        } => {
            leptos::task::spawn_local(async move {
                let counted = bulk_preview(filter.clone(), action.as_str().to_owned()).await;
                // Only if the person is still looking at this question.
                if !matches!(state.bulk.get_untracked(), Some(Bulk::Confirm { holds: None, .. })) {
                    return;
                }
                state.bulk.set(Some(match counted {
                    Ok(holds) => Bulk::Confirm {
                        count: holds.total as usize,
                        target: BulkTarget::Matching(filter),
                        action,
                        holds: Some(holds),
                    },
                    Err(e) => Bulk::Failed(t.said(&e.said, &e.message)),
                }));
            });
            view! {
                <h2 id="bulk-title">{t.action(action)}</h2>
                <p class="muted">{t.bulk_counting}</p>
                <div class="modal-actions">
                    <button type="button" class="secondary" data-testid="bulk-cancel" on:click=move |_| close()>{t.cancel}</button>
                </div>
            }
            .into_any()
        }
        Bulk::Confirm {
            target,
            action,
            count,
            holds,
        } => view! {
            <h2 id="bulk-title">{t.bulk_question(action, count as u64)}</h2>
            <p>{t.bulk_confirm_body}</p>
            {holds.filter(|h| h.held_count() > 0).map(|holds| view! {
                <p class="notice" data-testid="bulk-held">{t.bulk_some_held(action, &holds)}</p>
            })}
            <div class="modal-actions">
                <button type="button" class="secondary" data-testid="bulk-cancel" on:click=move |_| close()>{t.cancel}</button>
                <button type="button" class="danger" data-testid="bulk-ok"
                    on:click=move |_| run(target.clone(), action, count)>{t.action(action)}</button>
            </div>
        }
        .into_any(),
        Bulk::Running { action, count } => view! {
            <h2 id="bulk-title">{t.bulk_sending(action, count as u64)}</h2>
            <p class="muted">{t.bulk_running}</p>
        }
        .into_any(),
        Bulk::Failed(message) => view! {
            <h2 id="bulk-title">{t.bulk_failed}</h2>
            <p class="row-error" role="alert" data-testid="bulk-error">{message}</p>
            <div class="modal-actions">
                <button type="button" class="secondary" data-testid="bulk-close" on:click=move |_| close()>{t.close}</button>
            </div>
        }
        .into_any(),
        Bulk::Done { action, outcomes } => {
            let accepted = outcomes.iter().filter(|o| o.accepted).count();
            let refused = outcomes.len() - accepted;
            view! {
                <h2 id="bulk-title">{t.action(action)}</h2>
                <p data-testid="bulk-summary">
                    {t.bulk_summary(accepted as u64, refused as u64)}
                </p>
                <ol class="history">
                    {outcomes.into_iter().map(|o| view! {
                        <li data-testid="bulk-result" data-accepted=o.accepted.to_string()
                            data-namespace=o.key.namespace.clone() data-name=o.key.name.clone()>
                            <code translate="no">{o.key.to_string()}</code>" — "
                            <span class=if o.accepted { "ok" } else { "row-error" }>{t.said(&o.said, &o.message)}</span>
                        </li>
                    }).collect_view()}
                </ol>
                <div class="modal-actions">
                    <button type="button" class="secondary" data-testid="bulk-close" on:click=move |_| close()>{t.close}</button>
                </div>
            }
            .into_any()
        }
    };
    view! {
        <div class="modal-backdrop">
            <div class="modal wide" role="dialog" aria-modal="true" aria-labelledby="bulk-title" data-testid="bulk-dialog"
                on:keydown=move |ev| super::modal::on_key(ev, close)>{body}</div>
        </div>
    }
    .into_any()
}
