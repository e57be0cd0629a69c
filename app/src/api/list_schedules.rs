use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::SchedulesPage;

/// The power schedules the person may read, in the namespaces where they see VMs, each with its
/// next edge and the VMs it runs now; read as the person (RBAC applies).
#[server(endpoint = "list_schedules")]
pub async fn list_schedules() -> Result<SchedulesPage, ConsoleError> {
    use super::ssr::{audience, console};
    let console = console()?;
    let audience = audience(&console)?;
    let snapshot = console
        .store
        .page_for(&audience, &wukong_view::View::default())
        .await;
    Ok(wukong_cluster::schedules::views(
        console.cluster.as_ref(),
        &console.store,
        &audience.who,
        snapshot.namespaces,
    )
    .await?)
}
