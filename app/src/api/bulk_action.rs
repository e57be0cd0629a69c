use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::{BulkOutcome, BulkTarget};

/// One action on many VMs: those listed, or all the person can see that match a filter. Each VM
/// is decided on its own (RBAC, lifecycle rules, the row as last watched, a write conditional on it) and gets its own outcome.
/// Every VM counts against the person's bulk budget (`--bulk-vms-per-minute`, not the action
/// budget); an action over `--bulk-max-vms` or over what is left is refused whole, before any write.
#[server(endpoint = "bulk_action", input = crate::codec::TextJson, output = crate::codec::TextJson)]
pub async fn bulk_action(
    target: BulkTarget,
    action: String,
    grace_period_seconds: Option<i64>,
) -> Result<Vec<BulkOutcome>, ConsoleError> {
    use super::ssr::{audience, console, take_bulk_budget};
    use crate::error::ErrorKind;
    use wukong_view::{validate_action, validate_request, Said, VmRef, MAX_BULK_KEYS};
    let console = console()?;
    let audience = audience(&console)?;
    let (action, grace) =
        validate_action(&action, grace_period_seconds).map_err(ConsoleError::invalid)?;
    let keys = match target {
        BulkTarget::Keys(keys) if keys.len() > MAX_BULK_KEYS => {
            return Err(ConsoleError::new(
                ErrorKind::Invalid,
                Said::BulkTooManyKeys {
                    listed: keys.len() as u64,
                    max: MAX_BULK_KEYS as u64,
                },
            ))
        }
        BulkTarget::Keys(picked) => {
            for VmRef { key, uid } in &picked {
                validate_request(&key.namespace, &key.name, action.as_str(), None)
                    .map_err(ConsoleError::invalid)?;
                if let Some(uid) = uid {
                    wukong_view::validate_uid(uid).map_err(ConsoleError::invalid)?;
                }
            }
            picked
        }
        // Decided on the rows as watched now; each write is conditional on the uid decided on.
        BulkTarget::Matching(filter) => console
            .store
            .keys_matching(&audience, &filter)
            .await
            .map_err(wukong_cluster::ClusterError::from)?
            .into_iter()
            .map(|key| VmRef { key, uid: None })
            .collect(),
    };
    if keys.is_empty() {
        return Err(ConsoleError::new(ErrorKind::Invalid, Said::NothingSelected));
    }
    let who = audience.who;
    if let Err(e) = take_bulk_budget(&console, &who, keys.len()) {
        tracing::info!(target: "audit", user = %who, %action, bulk = true, vms = keys.len(), result = "rate-limited", reason = %e);
        wukong_cluster::metrics::metrics().action(
            &action.to_string(),
            "rate_limited",
            true,
            keys.len() as u64,
        );
        return Err(e);
    }
    let outcomes = wukong_cluster::actions::request_many(
        console.cluster.as_ref(),
        console.access.as_ref(),
        &who,
        keys,
        action,
        grace,
        Some(&console.store),
    )
    .await;
    for o in &outcomes {
        wukong_cluster::metrics::metrics().action(
            &action.to_string(),
            if o.accepted { "accepted" } else { "refused" },
            true,
            1,
        );
        tracing::info!(target: "audit", user = %who, vm = %o.key, %action, bulk = true, result = if o.accepted { "accepted" } else { "refused" }, reason = %o.message);
    }
    Ok(outcomes)
}
