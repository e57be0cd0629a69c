use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::VmDetail;

/// Everything the VM page shows, read as the person: the VM's live row (as in the list), its
/// Wukong's spec and YAML, KubeVirt's VM and VMI, its Events and its request history. A VM the
/// person may not list is a 404, worded exactly like one that does not exist.
#[server(endpoint = "vm_page", output = crate::codec::TextJson)]
pub async fn vm_page(namespace: String, name: String) -> Result<VmDetail, ConsoleError> {
    use super::ssr::{audience, console};
    wukong_view::validate_dns1123_label("namespace", &namespace).map_err(ConsoleError::invalid)?;
    wukong_view::validate_dns1123_subdomain("name", &name).map_err(ConsoleError::invalid)?;
    let console = console()?;
    let audience = audience(&console)?;
    let ready = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        console.store.wait_ready(),
    )
    .await;
    if ready.is_err() {
        return Err(ConsoleError::new(
            crate::error::ErrorKind::Unavailable,
            wukong_view::Said::ClusterSlow { seconds: 10 },
        ));
    }
    let key = wukong_view::VmKey::new(namespace, name);
    Ok(wukong_cluster::detail::vm_detail(&console, &audience, &key).await?)
}
