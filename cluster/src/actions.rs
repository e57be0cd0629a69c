//! A person's click, turned into a lifecycle request (or a delete) on the cluster.

use crate::{row_from_wukong, Access, Cluster, ClusterError, Grants, Identity, LiveStore};
use futures::StreamExt;
use wukong_api::{LifecycleAction, Preconditions};
use wukong_lifecycle::check;
use wukong_view::{Accepted, Action, BulkOutcome, Said, VmKey, VmRef, VmRow};

/// An already validated request (names, action and grace period are checked at the edge).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionRequest {
    pub key: VmKey,
    pub action: Action,
    pub grace_period_seconds: Option<u32>,
    /// The uid of the Wukong the person saw. When given, a Wukong of that name with another uid
    /// (deleted and created again since) is never acted on: the answer is `ClusterError::Replaced`.
    pub uid: Option<String>,
}

/// Refuses what RBAC refuses `who` (as the apiserver would, but with a clearer message), reads
/// the Wukong fresh as `who`, refuses what the lifecycle rules refuse for it, then writes the
/// request as `who` with a fresh request id and their name, conditional on the uid and version
/// it decided on (a delete on the uid). If someone else changed the VM in between (409), it
/// decides once more on a fresh read; a second conflict is reported. A Wukong that is no longer
/// the one the person saw (another uid) is reported as replaced and left alone.
pub async fn request_action(
    cluster: &dyn Cluster,
    access: &dyn Access,
    who: &Identity,
    request: ActionRequest,
) -> Result<Accepted, ClusterError> {
    request_action_known(cluster, access, who, request, None).await
}

/// [`request_action`], deciding first on `known` (the row as the console's watch last saw it and
/// its `resourceVersion`), which saves a read: the write is conditional on that version, so if
/// the Wukong has changed since, the answer is 409 and the request is decided again on a fresh
/// read. A refusal on the known row is also checked again on a fresh read.
pub async fn request_action_known(
    cluster: &dyn Cluster,
    access: &dyn Access,
    who: &Identity,
    request: ActionRequest,
    known: Option<(VmRow, String)>,
) -> Result<Accepted, ClusterError> {
    let ActionRequest {
        key,
        action,
        grace_period_seconds,
        uid: expected_uid,
    } = request;
    // Unknown rights refuse the write with "could not be checked", never with "not allowed".
    let grants = access.grants(who, &key.namespace).await?;
    if !grants.allows(action) {
        let message = if grants.list {
            format!(
                "your Kubernetes role in namespace {} lets you view VMs but not {} them (RBAC verb {:?} on wukongs); ask an admin of that namespace for edit rights",
                key.namespace,
                action,
                Grants::verb(action),
            )
        } else {
            format!(
                "you have no access to namespace {} (RBAC); ask an admin of that namespace for a role",
                key.namespace
            )
        };
        return Err(ClusterError::Forbidden {
            key,
            action,
            message,
        });
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let is_expected = |row: &VmRow| expected_uid.as_ref().is_none_or(|uid| *uid == row.uid);
    // The watched row is used only when it allows the action and is the object the person saw;
    // anything else is looked at again on a fresh read.
    let mut known =
        known.filter(|(row, _)| is_expected(row) && check(action, &row.situation()).is_ok());
    let mut attempts_left = 2;
    loop {
        let (row, version) = match known.take() {
            Some(known) => known,
            None => {
                attempts_left -= 1;
                let wukong = cluster.get(who, &key).await?;
                let row = row_from_wukong(&wukong)
                    .ok_or_else(|| ClusterError::NotFound { key: key.clone() })?;
                let version = wukong.metadata.resource_version.clone().unwrap_or_default();
                (row, version)
            }
        };
        if !is_expected(&row) {
            return Err(ClusterError::Replaced { key });
        }
        if let Err(refusal) = check(action, &row.situation()) {
            return Err(ClusterError::Refused {
                key,
                action,
                reason: refusal,
            });
        }
        // The write lands only on the object decided on: same uid, and for a request, same version.
        let uid = (!row.uid.is_empty()).then(|| row.uid.clone());
        let Some(mut lifecycle_action) =
            LifecycleAction::for_action(action, grace_period_seconds, request_id.clone())
        else {
            let preconditions = Preconditions {
                uid,
                resource_version: None,
            };
            match cluster.delete(who, &key, preconditions).await {
                Ok(()) => {
                    return Ok(Accepted {
                        key,
                        action,
                        request_id: String::new(),
                    })
                }
                // Only a uid precondition can fail a delete: the name now belongs to another object.
                Err(ClusterError::Conflict { .. }) => return Err(ClusterError::Replaced { key }),
                Err(e) => return Err(e),
            }
        };
        lifecycle_action.requested_by = Some(cluster.requester(who).await);
        // On this process's clock: how long a request has waited is measured on it.
        lifecycle_action.requested_at =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        let preconditions = Preconditions {
            uid: uid.clone(),
            resource_version: (!version.is_empty()).then_some(version),
        };
        match cluster
            .request_action(who, &key, lifecycle_action, preconditions)
            .await
        {
            // The apiserver answers a patch on another uid as an attempt to change an immutable
            // field (422): a fresh read tells a replaced Wukong from any other invalid write.
            Err(ClusterError::Invalid(message)) if uid.is_some() => {
                return Err(match cluster.get(who, &key).await {
                    Ok(now) if now.metadata.uid != uid => ClusterError::Replaced { key },
                    Err(ClusterError::NotFound { .. }) => ClusterError::NotFound { key },
                    _ => ClusterError::Invalid(message),
                });
            }
            Ok(()) => {
                return Ok(Accepted {
                    key,
                    action,
                    request_id,
                })
            }
            // Changed or replaced since: a fresh read tells which, and decides again.
            Err(ClusterError::Conflict { .. }) if attempts_left > 0 => continue,
            Err(e) => return Err(e),
        }
    }
}

/// How many requests of one bulk action are in flight at once.
const BULK_PARALLEL: usize = 32;

/// One action on many VMs, each exactly as [`request_action_known`] does it (RBAC, the row as
/// `store` last saw it or a fresh read, rules, conditional write as `who`); every VM gets its own outcome, in key order.
pub async fn request_many(
    cluster: &dyn Cluster,
    access: &dyn Access,
    who: &Identity,
    targets: Vec<VmRef>,
    action: Action,
    grace_period_seconds: Option<u32>,
    store: Option<&LiveStore>,
) -> Vec<BulkOutcome> {
    let mut outcomes: Vec<BulkOutcome> = futures::stream::iter(targets)
        .map(|VmRef { key, uid }| async move {
            // Decided on the row as last watched and written on its uid; a uid the person saw
            // that is no longer there is refused as replaced (see request_action_known).
            let request = ActionRequest {
                key: key.clone(),
                action,
                grace_period_seconds,
                uid,
            };
            let known = store.and_then(|s| s.known(&key));
            match request_action_known(cluster, access, who, request, known).await {
                Ok(_) => BulkOutcome {
                    key,
                    accepted: true,
                    message: Said::Accepted.to_string(),
                    said: Said::Accepted,
                },
                Err(e) => BulkOutcome {
                    key,
                    accepted: false,
                    message: e.to_string(),
                    said: e.said(),
                },
            }
        })
        .buffer_unordered(BULK_PARALLEL)
        .collect()
        .await;
    outcomes.sort_by(|a, b| a.key.cmp(&b.key));
    outcomes
}
