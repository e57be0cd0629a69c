use crate::actions::perform;
use crate::i18n::texts;
use crate::state::{ConsoleState, Dialog, Entry};
use leptos::prelude::*;
use wukong_view::{Action, VmKey};

/// The VM table; `selectable` adds the bulk selection column (the list has it, the VM page's
/// one row does not).
#[component]
pub fn VmTable(#[prop(default = true)] selectable: bool) -> impl IntoView {
    let t = texts();
    let state = expect_context::<ConsoleState>();
    let rows = state.rows;
    view! {
        <table class="vms" data-testid="vm-table">
            <thead>
                <tr>
                    {selectable.then(|| view! {
                    <th scope="col" class="select">
                        <input type="checkbox" data-testid="select-all" aria-label=t.select_all_visible
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                state.all_matching.set(false);
                                state.selected.update(|s| {
                                    rows.with_untracked(|rows| for e in rows {
                                        if on { s.insert(e.row.key.clone(), e.row.uid.clone()); } else { s.remove(&e.row.key); }
                                    })
                                });
                            }/>
                    </th>
                    })}
                    <th scope="col" class="col-name">{t.col_name}</th>
                    <th scope="col" class="col-namespace">{t.col_namespace}</th>
                    <th scope="col" class="col-state">{t.col_state}</th>
                    <th scope="col" class="col-last-action">{t.col_last_action}</th>
                    <th scope="col" class="col-message">{t.col_message}</th>
                    <th scope="col" class="col-resources">{t.col_resources}</th>
                    <th scope="col" class="col-node">{t.col_node}</th>
                    <th scope="col" class="col-actions">{t.col_actions}</th>
                </tr>
            </thead>
            <tbody>
                // Keyed by row and revision: a changed row is rebuilt, the others are left alone.
                <For each=move || rows.get() key=|e: &Entry| (e.row.key.clone(), e.rev) let:entry>
                    <VmRowView entry selectable/>
                </For>
            </tbody>
        </table>
    }
}

#[component]
fn VmRowView(entry: Entry, selectable: bool) -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    let t = texts();
    let row = entry.row;
    let key = row.key.clone();
    let busy = Memo::new({
        let key = key.clone();
        move |_| state.busy(&key)
    });
    let server_pending = row.pending.is_some();
    // A request no controller is taking up reads so, rather than looking in progress forever.
    let waiting = {
        let row = row.clone();
        Memo::new(move |_| state.waiting_for_controller(&row))
    };
    let error = {
        let key = key.clone();
        move || state.row_errors.with(|e| e.get(&key).cloned())
    };
    let (message, ours) = t.controller_words(
        row.says.as_ref(),
        row.message.as_deref().unwrap_or_default(),
    );
    let deadline = row.stop_deadline_ms;
    let countdown = move || {
        let (deadline, now) = (deadline?, state.now_ms.get()?);
        let seconds = ((deadline - now).max(0) + 999) / 1000;
        Some(
            view! { <span class="countdown" data-testid="stop-countdown">{t.forced_in(seconds)}</span> },
        )
    };
    let last_action = row.last_action.clone().unwrap_or_default();
    let last_time = row
        .last_action_time_ms
        .map(|at_ms| view! { <super::moment::Moment at_ms/> });
    let resources = match (row.cpu_cores, row.memory.clone()) {
        (Some(cpu), Some(mem)) => format!("{cpu} {} / {mem}", t.vcpu),
        (Some(cpu), None) => format!("{cpu} {}", t.vcpu),
        (None, Some(mem)) => mem,
        (None, None) => t.not_known.to_owned(),
    };
    let buttons = Action::ALL
        .into_iter()
        .map(|action| {
            let offered = row.offers(action);
            let key = key.clone();
            let uid = row.uid.clone();
            let default_grace = row.default_grace_period_seconds;
            // Why it is disabled: refused by the one rule, or allowed by it and not by the roles.
            let not_offered = wukong_view::Hold::of(action, &row).map(|hold| t.hold(&hold));
            // (While this browser's click is on its way the buttons are briefly disabled with no
            // reason of their own: the spinner says "working"; once the server has the request,
            // the rule's own "an earlier request ... is still being carried out" is the reason.)
            let own_id = format!("why-{}-{}-{}", key.namespace, key.name, action.as_str());
            let described_by = not_offered.as_ref().map(|_| own_id.clone());
            let title = not_offered.clone();
            view! {
                <button
                    type="button"
                    class=if action.is_destructive() { "act destructive" } else { "act" }
                    data-action=action.as_str()
                    disabled=move || !offered || busy.get()
                    title=title
                    aria-describedby=described_by
                    on:click=move |_| on_click(state, key.clone(), uid.clone(), action, default_grace)
                >
                    {t.action(action)}
                </button>
                {not_offered.map(|reason| view! {
                    <span id=own_id class="sr-only" data-testid="disabled-reason" data-for=action.as_str()>{reason}</span>
                })}
            }
        })
        .collect_view();
    // A row is rebuilt when it changes: the control that had the keyboard focus in the old one
    // gets it back in the new one (or the VM's name, when that control is disabled now).
    #[cfg(feature = "hydrate")]
    {
        let key = key.clone();
        Effect::new(move |_| {
            let had = state.row_focus.with_value(|f| {
                f.as_ref()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, s)| s.clone())
            });
            let lost = document()
                .active_element()
                .is_none_or(|e| e.tag_name().eq_ignore_ascii_case("body"));
            if let (Some(inside), true) = (had, lost) {
                let row = super::modal::row_selector(&key);
                super::modal::focus_back(vec![
                    format!("{row} {inside}"),
                    format!("{row} [data-testid=\"vm-link\"]"),
                ]);
            }
        });
    }
    let remember_focus = {
        let key = key.clone();
        move |ev: leptos::ev::FocusEvent| {
            let inside = event_target::<leptos::web_sys::Element>(&ev);
            let selector = if let Some(action) = inside.get_attribute("data-action") {
                format!("button[data-action=\"{action}\"]")
            } else if let Some(id) = inside.get_attribute("data-testid") {
                format!("[data-testid=\"{id}\"]")
            } else {
                return;
            };
            state.row_focus.set_value(Some((key.clone(), selector)));
        }
    };
    let forget_focus = move |ev: leptos::ev::FocusEvent| {
        // Focus went elsewhere on the page (not lost with a rebuilt row): nothing to give back.
        let to = ev.related_target();
        let row = ev.current_target();
        if let (Some(to), Some(row)) = (to, row) {
            use leptos::wasm_bindgen::JsCast;
            let (to, row) = (
                to.unchecked_into::<leptos::web_sys::Node>(),
                row.unchecked_into::<leptos::web_sys::Node>(),
            );
            if !row.contains(Some(&to)) {
                state.row_focus.set_value(None);
            }
        }
    };
    view! {
        <tr
            on:focusin=remember_focus
            on:focusout=forget_focus
            data-testid="vm-row"
            data-namespace=key.namespace.clone()
            data-name=key.name.clone()
            data-pending=move || (server_pending || busy.get()).then_some("true")
            data-waiting=move || waiting.get().then_some("true")
        >
            {selectable.then(|| view! {
            <td class="select">
                <input type="checkbox" data-testid="select-row" aria-label=t.select_row
                    prop:checked={
                        let key = key.clone();
                        move || state.all_matching.get() || state.selected.with(|s| s.contains_key(&key))
                    }
                    on:change={
                        let key = key.clone();
                        let uid = row.uid.clone();
                        move |ev| {
                            let on = event_target_checked(&ev);
                            state.all_matching.set(false);
                            state.selected.update(|s| { if on { s.insert(key.clone(), uid.clone()); } else { s.remove(&key); } });
                        }
                    }/>
            </td>
            })}
            <th scope="row" class="name" translate="no">
                <a href=format!("/vm/{}/{}", key.namespace, key.name) data-testid="vm-link">{key.name.clone()}</a>
            </th>
            <td translate="no">{key.namespace.clone()}</td>
            <td class="state">
                <span class=format!("badge state-{}", row.state.as_str().to_lowercase()) data-testid="vm-state" data-state=row.state.as_str()>
                    {t.state(row.state)}
                </span>
                {move || busy.get().then(|| view! { <span class="spinner" aria-label=t.working></span> })}
                {move || waiting.get().then(|| view! {
                    <span class="waiting" data-testid="waiting-for-controller">{t.waiting_for_controller}</span>
                })}
                {countdown}
                {row.next.clone().map(|next| {
                    let shown = next.clone();
                    view! {
                    <span class="next" data-testid="vm-next" data-action=next.action.as_str()
                        data-schedule=next.schedule.clone() data-at=next.at_ms>
                        {move || t.next_action(&shown, state.server_now_ms())}
                    </span>
                }})}
            </td>
            <td class="last-action">
                <span>{t.recorded_action(&last_action)}</span>
                {last_time}
            </td>
            <td class="message" data-testid="vm-message">
                {move || error().map(|e| view! { <span class="row-error">{e}</span> })}
                // The controller's words in the person's language; KubeVirt's as they came.
                <span translate=if ours { "yes" } else { "no" }>{message.clone()}</span>
            </td>
            // Quantities as KubeVirt writes them (`4Gi`).
            <td class="muted" translate="no">{resources}</td>
            <td class="muted" translate="no">{row.node.clone().unwrap_or_else(|| t.not_known.to_owned())}</td>
            <td class="actions">
                {buttons}
                <button type="button" class="act link" data-testid="history-button"
                    on:click={
                        let key = key.clone();
                        move |_| state.history.set(Some(key.clone()))
                    }>
                    {t.history}
                </button>
            </td>
        </tr>
    }
}

/// Stop, force stop and delete ask first; the others go straight out.
/// `uid` is the Wukong this row shows: the request is for that object, not for whatever has the
/// name by the time it arrives.
fn on_click(
    state: ConsoleState,
    key: VmKey,
    uid: String,
    action: Action,
    default_grace_period_seconds: u32,
) {
    match action {
        Action::Stop | Action::ForceStop | Action::Delete => {
            state.dialog.set(Some(Dialog {
                key,
                uid,
                action,
                default_grace_period_seconds,
            }));
        }
        _ => perform(state, key, uid, action, None),
    }
}
