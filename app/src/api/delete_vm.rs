#[allow(unused_imports)]
use super::request_action;
use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::Accepted;

/// Deletes a VM's Wukong; the lifecycle controller's finalizer stops the VM first.
#[server(endpoint = "delete_vm")]
pub async fn delete_vm(namespace: String, name: String) -> Result<Accepted, ConsoleError> {
    request_action(namespace, name, "delete".to_owned(), None).await
}
