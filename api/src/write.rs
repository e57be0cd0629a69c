//! How a person's request is written to a Wukong, in one place for both backends: the console
//! sends exactly this merge patch to the apiserver, and the sandbox applies exactly this merge
//! patch to its stored object with the apiserver's semantics.

use crate::LifecycleAction;
use serde_json::{json, Map, Value};

/// What a write is conditional on: the Wukong a decision was made on.
///
/// `uid` pins the object (a Wukong deleted and created again under the same name has a new uid);
/// `resource_version` pins its version (any change since answers 409).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// The fields of `spec.lifecycleAction` a request may leave out. A JSON merge patch only replaces
/// the fields it names, so the patch names every one of them (null when absent): a new request
/// replaces the whole previous one instead of inheriting its `force` or `gracePeriodSeconds`.
/// A test checks this list against the CRD schema, so a new field cannot be forgotten here.
pub const OPTIONAL_REQUEST_FIELDS: [&str; 4] =
    ["force", "gracePeriodSeconds", "requestedBy", "requestedAt"];

impl LifecycleAction {
    /// The JSON merge patch that makes this request the whole `spec.lifecycleAction`, conditional
    /// on `preconditions` (`metadata.uid` and `metadata.resourceVersion` in the patch: the
    /// apiserver refuses the write when either differs from the stored object).
    pub fn merge_patch(&self, preconditions: &Preconditions) -> Value {
        let mut request = match serde_json::to_value(self) {
            Ok(Value::Object(fields)) => fields,
            // A struct of strings, numbers and booleans always serializes to an object.
            _ => Map::new(),
        };
        for field in OPTIONAL_REQUEST_FIELDS {
            request.entry(field).or_insert(Value::Null);
        }
        let mut metadata = Map::new();
        if let Some(uid) = &preconditions.uid {
            metadata.insert("uid".into(), uid.clone().into());
        }
        if let Some(version) = &preconditions.resource_version {
            metadata.insert("resourceVersion".into(), version.clone().into());
        }
        let mut patch = json!({ "spec": { "lifecycleAction": request } });
        if !metadata.is_empty() {
            patch["metadata"] = Value::Object(metadata);
        }
        patch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LifecycleActionKind, WukongSpec};
    use wukong_lifecycle::Action;

    fn stop(grace: Option<u32>) -> LifecycleAction {
        LifecycleAction::for_action(Action::Stop, grace, "r2".into()).expect("stop is written")
    }

    /// RFC 7386, as the apiserver applies it to a custom resource.
    fn apply(target: &mut Value, patch: &Value) {
        json_patch::merge(target, patch);
    }

    #[test]
    fn a_stop_after_a_force_stop_is_not_forced_and_keeps_no_old_grace_period() {
        let forced = LifecycleAction::for_action(Action::ForceStop, None, "r1".into())
            .expect("force stop is written");
        let mut stored = json!({ "spec": {} });
        apply(&mut stored, &forced.merge_patch(&Preconditions::default()));
        assert_eq!(stored["spec"]["lifecycleAction"]["force"], json!(true));

        apply(
            &mut stored,
            &stop(Some(30)).merge_patch(&Preconditions::default()),
        );
        assert_eq!(
            stored["spec"]["lifecycleAction"],
            json!({ "action": "stop", "gracePeriodSeconds": 30, "requestId": "r2" })
        );

        apply(
            &mut stored,
            &stop(None).merge_patch(&Preconditions::default()),
        );
        assert_eq!(
            stored["spec"]["lifecycleAction"],
            json!({ "action": "stop", "requestId": "r2" }),
            "a stop without a grace period uses the VM's own, not the last request's"
        );
    }

    #[test]
    fn a_restart_after_a_force_restart_is_graceful() {
        let mut forced = LifecycleAction::for_action(Action::Restart, None, "r1".into())
            .expect("restart is written");
        forced.force = true;
        forced.grace_period_seconds = Some(0);
        forced.requested_by = Some("alice".into());
        let mut stored = json!({ "spec": { "lifecycleAction": forced } });
        let restart = LifecycleAction::for_action(Action::Restart, None, "r2".into())
            .expect("restart is written");
        apply(&mut stored, &restart.merge_patch(&Preconditions::default()));
        let spec: WukongSpec =
            serde_json::from_value(stored["spec"].clone()).expect("a valid spec");
        assert_eq!(spec.lifecycle_action, Some(restart));
        assert_eq!(
            spec.lifecycle_action.map(|a| (a.action, a.force)),
            Some((LifecycleActionKind::Restart, false))
        );
    }

    #[test]
    fn preconditions_travel_in_the_patch_metadata() {
        let patch = stop(None).merge_patch(&Preconditions {
            uid: Some("u-1".into()),
            resource_version: Some("42".into()),
        });
        assert_eq!(
            patch["metadata"],
            json!({ "uid": "u-1", "resourceVersion": "42" })
        );
        assert!(stop(None)
            .merge_patch(&Preconditions::default())
            .get("metadata")
            .is_none());
    }

    #[test]
    fn the_patch_names_every_optional_field_of_the_schema() {
        let schema = schemars::schema_for!(LifecycleAction);
        let schema = serde_json::to_value(&schema).expect("a schema is JSON");
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut optional: Vec<&str> = schema["properties"]
            .as_object()
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        optional.retain(|field| !required.contains(field));
        optional.sort_unstable();
        let mut listed = OPTIONAL_REQUEST_FIELDS.to_vec();
        listed.sort_unstable();
        assert_eq!(optional, listed);
    }
}
