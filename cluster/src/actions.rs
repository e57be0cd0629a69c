//! A person's click, turned into a lifecycle request (or a delete) on the cluster.

use crate::{row_from_wukong, Cluster, ClusterError};
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

/// Reads the Wukong fresh, refuses what the lifecycle rules refuse for it, then writes the request
/// with a fresh request id, conditional on the version it decided on. If someone else changed the
/// VM in between (409), it decides once more on a fresh read; a second conflict is reported.
pub async fn request_action(
    cluster: &dyn Cluster,
    request: ActionRequest,
) -> Result<Accepted, ClusterError> {
    let ActionRequest {
        key,
        action,
        grace_period_seconds,
    } = request;
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut attempts_left = 2;
    loop {
        attempts_left -= 1;
        let wukong = cluster.get(&key).await?;
        let row =
            row_from_wukong(&wukong).ok_or_else(|| ClusterError::NotFound { key: key.clone() })?;
        if let Err(refusal) = check(action, row.state, row.run_strategy, row.pending.is_some()) {
            return Err(ClusterError::Refused {
                key,
                action,
                reason: refusal.to_string(),
            });
        }
        let Some(lifecycle_action) =
            LifecycleAction::for_action(action, grace_period_seconds, request_id.clone())
        else {
            cluster.delete(&key).await?;
            return Ok(Accepted {
                key,
                action,
                request_id: String::new(),
            });
        };
        match cluster
            .request_action(
                &key,
                lifecycle_action,
                wukong.metadata.resource_version.clone(),
            )
            .await
        {
            Ok(()) => {
                return Ok(Accepted {
                    key,
                    action,
                    request_id,
                })
            }
            Err(ClusterError::Conflict { .. }) if attempts_left > 0 => continue,
            Err(e) => return Err(e),
        }
    }
}
