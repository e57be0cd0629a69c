#[allow(unused_imports)]
use super::request_action;
use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::Accepted;

/// Deletes a VM's Wukong if it is still the one with `uid`; the lifecycle controller's finalizer
/// stops the VM first.
#[server(endpoint = "delete_vm", output = crate::codec::TextJson)]
pub async fn delete_vm(
    namespace: String,
    name: String,
    #[server(default)] uid: Option<String>,
) -> Result<Accepted, ConsoleError> {
    request_action(namespace, name, "delete".to_owned(), None, uid).await
}
