use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::Snapshot;

/// One page of the VMs the person may see, filtered, sorted and windowed on the server, with the
/// actions they may take now, and which cluster they come from. The parameters are those of the
/// page's address (`namespace`, `q`, `sort`, `page` counting from 1, `size`); all are optional.
#[server(endpoint = "list_vms", output = crate::codec::TextJson)]
pub async fn list_vms(
    namespace: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    page: Option<String>,
    size: Option<String>,
) -> Result<Snapshot, ConsoleError> {
    use super::ssr::{audience, console};
    let view = wukong_view::View::from_query(|name| match name {
        "namespace" => namespace.clone(),
        "q" => q.clone(),
        "sort" => sort.clone(),
        "page" => page.clone(),
        "size" => size.clone(),
        _ => None,
    });
    let console = console()?;
    let audience = audience(&console)?;
    let ready = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        console.store.wait_ready(),
    )
    .await;
    match ready {
        Ok(()) => Ok(console.store.page_for(&audience, &view).await),
        Err(_) => Err(ConsoleError::new(
            crate::error::ErrorKind::Unavailable,
            wukong_view::Said::ClusterSlow { seconds: 10 },
        )),
    }
}
