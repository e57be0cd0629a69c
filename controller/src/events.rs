//! Events on Wukongs, each carrying what the controller says as a code with parameters (in
//! annotations, `wukong_api::says_annotations`), so a console words it in the person's language
//! while `kubectl describe` shows the English note.
//!
//! Written here rather than with kube's `Recorder`: an Event built by it cannot carry
//! annotations, and it folds Events of the same reason and action into one series whatever
//! their notes (two stops of the same VM within minutes would read as one).

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use wukong_lifecycle::Says;

/// Who writes the Events: `reportingController` and `reportingInstance`.
#[derive(Clone)]
pub struct EventWriter {
    client: Client,
    controller: String,
    instance: String,
}

/// One Event to write.
pub struct NewEvent<'a> {
    pub warning: bool,
    pub reason: &'a str,
    pub action: &'a str,
    pub note: Option<String>,
    pub says: Option<&'a Says>,
}

impl EventWriter {
    pub fn new(client: Client, controller: &str, instance: &str) -> EventWriter {
        EventWriter {
            client,
            controller: controller.to_owned(),
            instance: instance.to_owned(),
        }
    }

    /// Writes `event` about `regarding` (in its namespace).
    pub async fn publish(
        &self,
        event: NewEvent<'_>,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let namespace = regarding.namespace.clone().unwrap_or_default();
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(&self.controller),
            now.as_nanosecond()
        );
        let annotations = wukong_api::says_annotations(event.says);
        let object = Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.clone()),
                annotations: (!annotations.is_empty()).then_some(annotations),
                ..ObjectMeta::default()
            },
            action: Some(event.action.to_owned()),
            reason: Some(event.reason.to_owned()),
            note: event.note,
            type_: Some(if event.warning { "Warning" } else { "Normal" }.to_owned()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        Api::<Event>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &object)
            .await
            .map(drop)
    }
}
