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
    use super::ssr::console;
    use wukong_cluster::actions::{self, ActionRequest};
    let valid = wukong_view::validate_request(&namespace, &name, &action, grace_period_seconds)
        .map_err(ConsoleError::Invalid)?;
    let console = console()?;
    let request = ActionRequest {
        key: valid.key,
        action: valid.action,
        grace_period_seconds: valid.grace_period_seconds,
    };
    let accepted = actions::request_action(console.cluster.as_ref(), request).await;
    if let Err(e) = &accepted {
        tracing::info!(%namespace, %name, %action, error = %e, "action refused");
    }
    Ok(accepted?)
}
