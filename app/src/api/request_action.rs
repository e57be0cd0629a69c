use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::Accepted;

/// Asks for a lifecycle action on one VM. Everything is validated before anything is written:
/// DNS-1123 names, a known action, a grace period of 0–3600 s (stop only).
#[server(endpoint = "request_action")]
pub async fn request_action(
    namespace: String,
    name: String,
    action: String,
    grace_period_seconds: Option<i64>,
) -> Result<Accepted, ConsoleError> {
    use super::ssr::{console, identity};
    use wukong_cluster::actions::{self, ActionRequest};
    let (who, _) = identity()?;
    let valid = wukong_view::validate_request(&namespace, &name, &action, grace_period_seconds)
        .map_err(ConsoleError::Invalid)?;
    let console = console()?;
    if let Err(wait) = console.budget.take(who.name()) {
        tracing::info!(target: "audit", user = %who, vm = %valid.key, action = %valid.action, result = "rate-limited");
        return Err(ConsoleError::TooMany(format!(
            "you have asked for more than {} actions in the last minute; the next one is possible in {} s",
            console.budget.per_minute(),
            wait.as_secs() + 1
        )));
    }
    let request = ActionRequest {
        key: valid.key.clone(),
        action: valid.action,
        grace_period_seconds: valid.grace_period_seconds,
    };
    let accepted = actions::request_action(
        console.cluster.as_ref(),
        console.access.as_ref(),
        &who,
        request,
    )
    .await;
    match &accepted {
        Ok(a) => {
            tracing::info!(target: "audit", user = %who, vm = %valid.key, action = %valid.action, request_id = %a.request_id, result = "accepted")
        }
        Err(e) => {
            tracing::info!(target: "audit", user = %who, vm = %valid.key, action = %valid.action, result = "refused", reason = %e)
        }
    }
    Ok(accepted?)
}
