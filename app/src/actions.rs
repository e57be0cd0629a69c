//! What happens when a person confirms an action: one request, progress on the row, and any
//! failure on screen (toast and row message).

use crate::api::{delete_vm, request_action};
use crate::i18n::texts;
use crate::state::{Click, ConsoleState};
use leptos::prelude::*;
use wukong_view::{Action, VmKey};

/// `uid` is the uid of the Wukong the person saw (empty if the cluster gave none): the server
/// refuses the request if the name now belongs to another object.
pub fn perform(
    state: ConsoleState,
    key: VmKey,
    uid: String,
    action: Action,
    grace_period_seconds: Option<u32>,
) {
    if state.busy(&key) {
        return; // a request for this VM is already in flight
    }
    let since_rev = state.rev(&key).unwrap_or_default();
    state.acted_on.update(|a| {
        a.insert(key.clone());
    });
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
    let t = texts();
    leptos::task::spawn_local(async move {
        let (namespace, name) = (key.namespace.clone(), key.name.clone());
        let uid = (!uid.is_empty()).then_some(uid);
        let result = match action {
            Action::Delete => delete_vm(namespace, name, uid).await,
            _ => {
                request_action(
                    namespace,
                    name,
                    action.as_str().to_owned(),
                    grace_period_seconds.map(i64::from),
                    uid,
                )
                .await
            }
        };
        let error = result
            .err()
            .map(|e| t.action_failed(action, &key, &t.said(&e.said, &e.message)));
        state.answered(&key, error);
    });
}
