use crate::actions::perform;
use crate::i18n::texts;
use crate::state::{ConsoleState, Dialog};
use leptos::prelude::*;
use wukong_view::Action;

/// The confirmation dialog for stop (grace period and force), force stop and delete.
#[component]
pub fn ConfirmDialog() -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    // Focus into the dialog when it opens, back to the row when it closes.
    Effect::new(move |before: Option<Option<Dialog>>| {
        let now = state.dialog.get();
        match (before.flatten(), &now) {
            // (Focus goes in when the dialog is there: `DialogBox`, loaded lazily.)
            (_, Some(_)) => {}
            (Some(closed), None) => {
                let row = super::modal::row_selector(&closed.key);
                super::modal::focus_back(vec![
                    format!("{row} button[data-action=\"{}\"]", closed.action.as_str()),
                    format!("{row} [data-testid=\"vm-link\"]"),
                ]);
            }
            (None, None) => {}
        }
        now
    });
    // The dialog's code is split off the main WASM (`#[lazy]`): fetched on the first opening
    // (a person reads the row before clicking, and the piece is small).
    move || {
        state.dialog.get().map(|dialog| {
            view! {
                <Suspense fallback=|| ()>
                    {Suspend::new(async move { dialog_box(dialog).await })}
                </Suspense>
            }
        })
    }
}

#[lazy]
fn dialog_box(dialog: Dialog) -> AnyView {
    view! { <DialogBox dialog/> }.into_any()
}

#[component]
fn DialogBox(dialog: Dialog) -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    let t = texts();
    let Dialog {
        key,
        uid,
        action,
        default_grace_period_seconds,
    } = dialog;
    let grace = RwSignal::new(default_grace_period_seconds.to_string());
    let force = RwSignal::new(false);
    let invalid = RwSignal::new(false);
    let (title, body) = match action {
        Action::Stop => (t.stop_title, t.stop_body),
        Action::ForceStop => (t.force_stop_title, t.force_stop_body),
        _ => (t.delete_title, t.delete_body),
    };
    let cancel = move || state.dialog.set(None);
    let confirm = {
        let key = key.clone();
        move || {
            let (action, grace_seconds) = match action {
                Action::Stop if force.get_untracked() => (Action::ForceStop, None),
                Action::Stop => match grace.with_untracked(|g| g.trim().parse::<i64>()) {
                    Ok(s)
                        if (0..=i64::from(wukong_view::MAX_GRACE_PERIOD_SECONDS)).contains(&s) =>
                    {
                        (Action::Stop, Some(s as u32))
                    }
                    _ => {
                        invalid.set(true);
                        return;
                    }
                },
                other => (other, None),
            };
            state.dialog.set(None);
            perform(state, key.clone(), uid.clone(), action, grace_seconds);
        }
    };
    let stop_fields = (action == Action::Stop).then(|| {
        view! {
            <label class="field">
                <span>{t.grace_label}</span>
                <input type="number" min="0" max="3600" step="1" data-testid="grace-period"
                    prop:value=move || grace.get()
                    disabled=move || force.get()
                    on:input=move |ev| { grace.set(event_target_value(&ev)); invalid.set(false); }/>
                <small class="muted">{t.grace_hint}</small>
            </label>
            {move || invalid.get().then(|| view! { <p class="field-error" data-testid="grace-error">{t.grace_invalid}</p> })}
            <label class="check">
                <input type="checkbox" data-testid="force" on:change=move |ev| force.set(event_target_checked(&ev))/>
                <span>{t.force_label}</span>
            </label>
        }
    });
    let confirm_label = t.action(action);
    Effect::new(|_| super::modal::focus_into("[data-testid=\"confirm\"]"));
    view! {
        <div class="modal-backdrop" on:click=move |_| cancel()>
            <div class="modal" role="dialog" aria-modal="true" aria-labelledby="dialog-title" data-testid="confirm"
                on:click=|ev| ev.stop_propagation()
                on:keydown=move |ev| super::modal::on_key(ev, cancel)>
                <h2 id="dialog-title">{title}" "<code translate="no">{key.to_string()}</code>{t.question}</h2>
                <p>{body}</p>
                {stop_fields}
                <div class="modal-actions">
                    <button type="button" class="secondary" data-testid="confirm-cancel" on:click=move |_| cancel()>{t.cancel}</button>
                    <button type="button" class=if action == Action::Stop { "primary" } else { "danger" } data-testid="confirm-ok"
                        on:click={
                            let confirm = confirm.clone();
                            move |_| confirm()
                        }>
                        {confirm_label}
                    </button>
                </div>
            </div>
        </div>
    }
}
