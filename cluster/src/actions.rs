//! A person's click, turned into a lifecycle request (or a delete) on the cluster.

use crate::{Cluster, ClusterError, LiveStore};
use wukong_api::LifecycleAction;
use wukong_lifecycle::check;
use wukong_view::{Accepted, Action, VmKey};

/// An already validated request (names, action and grace period are checked at the edge).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionRequest {
    pub key: VmKey,
    pub action: Action,
    pub grace_period_seconds: Option<u32>,
}

/// Refuses early what the lifecycle rules refuse for the VM as the store sees it now, then writes
/// the request with a fresh request id (or deletes the Wukong).
pub async fn request_action(
    cluster: &dyn Cluster,
    store: &LiveStore,
    request: ActionRequest,
) -> Result<Accepted, ClusterError> {
    let ActionRequest {
        key,
        action,
        grace_period_seconds,
    } = request;
    let row = store
        .row(&key)
        .ok_or_else(|| ClusterError::NotFound { key: key.clone() })?;
    if let Err(refusal) = check(action, row.state, row.run_strategy, row.pending.is_some()) {
        return Err(ClusterError::Refused {
            key,
            action,
            reason: refusal.to_string(),
        });
    }
    let request_id = match LifecycleAction::for_action(
        action,
        grace_period_seconds,
        uuid::Uuid::new_v4().to_string(),
    ) {
        Some(lifecycle_action) => {
            let id = lifecycle_action.request_id.clone();
            cluster.request_action(&key, lifecycle_action).await?;
            id
        }
        None => {
            cluster.delete(&key).await?;
            String::new()
        }
    };
    Ok(Accepted {
        key,
        action,
        request_id,
    })
}
