//! The apiserver's rules for the writes the console makes, for the sandbox: a JSON merge patch
//! (RFC 7386) applied to the stored object, and the uid and resource-version preconditions with
//! the apiserver's answers. The sandbox must behave like the apiserver for every write, or a bug
//! hides in the real backend only (a merge patch that leaves fields of an earlier request behind
//! did, once).

use crate::ClusterError;
use serde_json::Value;
use wukong_api::{Preconditions, Wukong};
use wukong_view::VmKey;

/// The apiserver's 409 text for a write conditional on an old resource version.
const MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// The apiserver's answer to a write whose preconditions `stored` does not meet. The two kinds of
/// write answer differently (both seen on kube-apiserver 1.37, `tests/kube_apiserver.rs`):
/// a uid in a patch's metadata is an attempt to change an immutable field (422), a uid in a
/// delete's preconditions is a conflict (409); a stale resource version is a conflict in both.
pub fn check_preconditions(
    key: &VmKey,
    stored: &Wukong,
    preconditions: &Preconditions,
    write: Write,
) -> Result<(), ClusterError> {
    let cannot = |why: String| ClusterError::Conflict {
        key: key.clone(),
        message: format!(
            "Operation cannot be fulfilled on Wukong.vm.novasphere.dev {:?}: {why}",
            key.name
        ),
    };
    // A patch is checked for a stale version first (kube-apiserver 1.37 answers a patch carrying
    // both a stale version and another uid with 409, not 422); a delete checks its uid first.
    let stale = preconditions
        .resource_version
        .as_ref()
        .is_some_and(|version| Some(version) != stored.metadata.resource_version.as_ref());
    if write == Write::Patch && stale {
        return Err(cannot(MODIFIED.to_owned()));
    }
    if let Some(uid) = &preconditions.uid {
        let stored_uid = stored.metadata.uid.as_deref().unwrap_or_default();
        if uid != stored_uid {
            return Err(match write {
                Write::Patch => ClusterError::Invalid(format!(
                    "Wukong.vm.novasphere.dev {:?} is invalid: metadata.uid: Invalid value: {uid:?}: field is immutable",
                    key.name
                )),
                Write::Delete => cannot(format!(
                    "the UID in the precondition ({uid}) does not match the UID in record ({stored_uid}). The object might have been deleted and then recreated"
                )),
            });
        }
    }
    if stale {
        return Err(cannot(MODIFIED.to_owned()));
    }
    Ok(())
}

/// Which kind of write preconditions are checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    Patch,
    Delete,
}

/// `stored` with the merge patch `patch` applied, as the apiserver would store it: preconditions
/// in the patch's metadata are checked first, status is not written through the main resource, and
/// the result must still be a valid Wukong (else the apiserver's 422).
pub fn merge_patch(key: &VmKey, stored: &Wukong, patch: &Value) -> Result<Wukong, ClusterError> {
    let text = |field: &str| {
        patch
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    check_preconditions(
        key,
        stored,
        &Preconditions {
            uid: text("uid"),
            resource_version: text("resourceVersion"),
        },
        Write::Patch,
    )?;
    let mut object = serde_json::to_value(stored)
        .map_err(|e| ClusterError::Invalid(format!("{key} cannot be patched: {e}")))?;
    json_patch::merge(&mut object, patch);
    let mut patched: Wukong = serde_json::from_value(object).map_err(|e| {
        ClusterError::Invalid(format!(
            "Wukong.vm.novasphere.dev {:?} is invalid: {e}",
            key.name
        ))
    })?;
    // Identity and bookkeeping stay the apiserver's; status has its own subresource.
    patched.metadata.uid = stored.metadata.uid.clone();
    patched.metadata.resource_version = stored.metadata.resource_version.clone();
    patched.metadata.generation = stored.metadata.generation;
    patched.metadata.creation_timestamp = stored.metadata.creation_timestamp.clone();
    patched.metadata.deletion_timestamp = stored.metadata.deletion_timestamp.clone();
    patched.status = stored.status.clone();
    if patched.spec != stored.spec {
        patched.metadata.generation = Some(stored.metadata.generation.unwrap_or(0) + 1);
    }
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sandbox_seed, seed_wukong};
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;
    use wukong_api::LifecycleAction;
    use wukong_lifecycle::Action;

    fn stored() -> (VmKey, Wukong) {
        let seed = sandbox_seed();
        let mut wukong = seed_wukong(&seed[0], 0, Timestamp::now());
        wukong.metadata.resource_version = Some("7".into());
        (VmKey::new(seed[0].namespace, seed[0].name), wukong)
    }

    #[test]
    fn a_merge_patch_with_nulls_removes_what_the_earlier_request_set() {
        let (key, mut wukong) = stored();
        wukong.spec.lifecycle_action =
            LifecycleAction::for_action(Action::ForceStop, None, "r1".into());
        let stop = LifecycleAction::for_action(Action::Stop, Some(30), "r2".into())
            .expect("stop is written");
        let patched = merge_patch(&key, &wukong, &stop.merge_patch(&Preconditions::default()))
            .expect("applied");
        assert_eq!(patched.spec.lifecycle_action, Some(stop));
        assert_eq!(
            patched.metadata.generation,
            Some(wukong.metadata.generation.unwrap_or(0) + 1)
        );
    }

    #[test]
    fn a_patch_naming_only_some_fields_keeps_the_others_as_the_apiserver_does() {
        let (key, mut wukong) = stored();
        wukong.spec.lifecycle_action =
            LifecycleAction::for_action(Action::ForceStop, None, "r1".into());
        let partial =
            json!({ "spec": { "lifecycleAction": { "action": "stop", "requestId": "r2" } } });
        let patched = merge_patch(&key, &wukong, &partial).expect("applied");
        let kept = patched.spec.lifecycle_action.expect("a request");
        assert!(
            kept.force,
            "a merge patch replaces only the fields it names"
        );
    }

    #[test]
    fn preconditions_are_checked_like_the_apiserver() {
        let (key, wukong) = stored();
        let stop = LifecycleAction::for_action(Action::Stop, None, "r".into()).expect("written");
        let uid = wukong.metadata.uid.clone();
        let stale = stop.merge_patch(&Preconditions {
            uid: uid.clone(),
            resource_version: Some("6".into()),
        });
        assert!(matches!(
            merge_patch(&key, &wukong, &stale),
            Err(ClusterError::Conflict { .. })
        ));
        let replaced = stop.merge_patch(&Preconditions {
            uid: Some("another-uid".into()),
            resource_version: None,
        });
        let err = merge_patch(&key, &wukong, &replaced).expect_err("another object");
        assert!(matches!(err, ClusterError::Invalid(_)), "{err:?}");
        assert!(err.to_string().contains("field is immutable"), "{err}");
        let delete = Preconditions {
            uid: Some("another-uid".into()),
            resource_version: None,
        };
        let err =
            check_preconditions(&key, &wukong, &delete, Write::Delete).expect_err("another object");
        assert!(matches!(err, ClusterError::Conflict { .. }), "{err:?}");
        assert!(
            err.to_string().contains("deleted and then recreated"),
            "{err}"
        );
        let both = stop.merge_patch(&Preconditions {
            uid: Some("another-uid".into()),
            resource_version: Some("6".into()),
        });
        assert!(
            matches!(
                merge_patch(&key, &wukong, &both),
                Err(ClusterError::Conflict { .. })
            ),
            "a stale version is answered first, as the apiserver does"
        );
        let current = stop.merge_patch(&Preconditions {
            uid,
            resource_version: Some("7".into()),
        });
        assert!(merge_patch(&key, &wukong, &current).is_ok());
    }

    #[test]
    fn an_invalid_result_is_refused_and_nothing_changes() {
        let (key, wukong) = stored();
        let bad =
            json!({ "spec": { "lifecycleAction": { "action": "explode", "requestId": "r" } } });
        assert!(matches!(
            merge_patch(&key, &wukong, &bad),
            Err(ClusterError::Invalid(_))
        ));
    }
}
