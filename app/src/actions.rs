//! What happens when a person confirms an action: one request, progress on the row, and any
//! failure on screen (toast and row message).

use crate::api::{delete_vm, request_action};
use crate::i18n::texts;
use crate::state::{Click, ConsoleState};
use leptos::prelude::*;
use wukong_view::{Action, VmKey};

pub fn perform(state: ConsoleState, key: VmKey, action: Action, grace_period_seconds: Option<u32>) {
    if state.busy(&key) {
        return; // a request for this VM is already in flight
    }
    let since_rev = state.rev(&key).unwrap_or_default();
    state.clicks.update(|clicks| {
        clicks.insert(
            key.clone(),
            Click {
                action,
                since_rev,
                answered: false,
            },
        );
    });
    leptos::task::spawn_local(async move {
        let (namespace, name) = (key.namespace.clone(), key.name.clone());
        let result = match action {
            Action::Delete => delete_vm(namespace, name).await,
            _ => {
                request_action(
                    namespace,
                    name,
                    action.as_str().to_owned(),
                    grace_period_seconds.map(i64::from),
                )
                .await
            }
        };
        let error = result
            .err()
            .map(|e| format!("{} {key}: {e}", texts().action(action)));
        state.answered(&key, error);
    });
}
