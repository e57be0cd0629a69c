use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::Accepted;

/// Asks for a lifecycle action on one VM. Everything is validated before anything is written:
/// DNS-1123 names, a known action, a grace period of 0–3600 s (stop only), the uid's form.
/// `uid` is the uid of the Wukong the person saw (the browser always sends it): a Wukong created
/// again under that name since is refused as replaced, never acted on.
#[server(endpoint = "request_action", output = crate::codec::TextJson)]
pub async fn request_action(
    namespace: String,
    name: String,
    action: String,
    grace_period_seconds: Option<i64>,
    #[server(default)] uid: Option<String>,
) -> Result<Accepted, ConsoleError> {
    use super::ssr::{console, identity, take_budget};
    use wukong_cluster::actions::{self, ActionRequest};
    let (who, _) = identity()?;
    let valid = wukong_view::validate_request(&namespace, &name, &action, grace_period_seconds)
        .map_err(ConsoleError::invalid)?;
    if let Some(uid) = &uid {
        wukong_view::validate_uid(uid).map_err(ConsoleError::invalid)?;
    }
    let console = console()?;
    if let Err(e) = take_budget(&console, &who) {
        tracing::info!(target: "audit", user = %who, vm = %valid.key, action = %valid.action, result = "rate-limited");
        wukong_cluster::metrics::metrics().action(
            &valid.action.to_string(),
            "rate_limited",
            false,
            1,
        );
        return Err(e);
    }
    let request = ActionRequest {
        key: valid.key.clone(),
        action: valid.action,
        grace_period_seconds: valid.grace_period_seconds,
        uid,
    };
    // Decided on the row as the console's watch shows it, written conditionally on its version.
    let known = console.store.known(&valid.key);
    let accepted = actions::request_action_known(
        console.cluster.as_ref(),
        console.access.as_ref(),
        &who,
        request,
        known,
    )
    .await;
    wukong_cluster::metrics::metrics().action(
        &valid.action.to_string(),
        if accepted.is_ok() {
            "accepted"
        } else {
            "refused"
        },
        false,
        1,
    );
    match &accepted {
        Ok(a) => {
            tracing::info!(target: "audit", user = %who, vm = %valid.key, action = %valid.action, lifecycle_request_id = %a.request_id, result = "accepted")
        }
        Err(e) => {
            tracing::info!(target: "audit", user = %who, vm = %valid.key, action = %valid.action, result = "refused", reason = %e)
        }
    }
    Ok(accepted?)
}
