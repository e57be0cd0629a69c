use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::HistoryEntry;

/// Who asked for what on one VM and what became of it (newest first), read as the person.
#[server(endpoint = "vm_history", output = crate::codec::TextJson)]
pub async fn vm_history(
    namespace: String,
    name: String,
) -> Result<Vec<HistoryEntry>, ConsoleError> {
    use super::ssr::{console, identity};
    let (who, _) = identity()?;
    wukong_view::validate_dns1123_label("namespace", &namespace).map_err(ConsoleError::invalid)?;
    wukong_view::validate_dns1123_subdomain("name", &name).map_err(ConsoleError::invalid)?;
    let console = console()?;
    let key = wukong_view::VmKey::new(namespace, name);
    let grants = console
        .access
        .grants(&who, &key.namespace)
        .await
        .map_err(wukong_cluster::ClusterError::from)?;
    if !grants.list {
        return Err(ConsoleError::new(
            crate::error::ErrorKind::Forbidden,
            wukong_view::Said::NoAccess {
                namespace: key.namespace,
            },
        ));
    }
    Ok(console.cluster.history(&who, &key).await?)
}
