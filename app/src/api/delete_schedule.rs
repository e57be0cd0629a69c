use crate::ConsoleError;
use leptos::prelude::*;

/// Deletes a schedule as the person, if it is still the one they saw (`uid`).
#[server(endpoint = "delete_schedule")]
pub async fn delete_schedule(
    namespace: String,
    name: String,
    uid: String,
) -> Result<(), ConsoleError> {
    use super::ssr::{console, identity, take_budget};
    let (who, _) = identity()?;
    wukong_view::validate_dns1123_label("namespace", &namespace).map_err(ConsoleError::invalid)?;
    wukong_view::validate_dns1123_subdomain("name", &name).map_err(ConsoleError::invalid)?;
    wukong_view::validate_uid(&uid).map_err(ConsoleError::invalid)?;
    let console = console()?;
    take_budget(&console, &who)?;
    Ok(console
        .cluster
        .delete_schedule(&who, &namespace, &name, &uid)
        .await?)
}
