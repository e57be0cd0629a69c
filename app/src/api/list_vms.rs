use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::Snapshot;

/// Every VM row the person may see, with the actions they may take now, and which cluster they
/// come from.
#[server(endpoint = "list_vms")]
pub async fn list_vms() -> Result<Snapshot, ConsoleError> {
    use super::ssr::{audience, console};
    let console = console()?;
    let audience = audience(&console)?;
    let ready = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        console.store.wait_ready(),
    )
    .await;
    match ready {
        Ok(()) => Ok(console.store.snapshot_for(&audience).await),
        Err(_) => Err(ConsoleError::Unavailable(
            "the cluster has not answered within 10 s; the list will appear when it does".into(),
        )),
    }
}
