use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::{BulkHolds, Filter};

/// Before a bulk action on "all matching the filter" is confirmed: how many VMs it would reach
/// now, and how many of them cannot take the action and why (the rules, or the person's role),
/// counted on the rows as watched, as the person sees them. Nothing is written.
#[server(endpoint = "bulk_preview", input = crate::codec::TextJson, output = crate::codec::TextJson)]
pub async fn bulk_preview(filter: Filter, action: String) -> Result<BulkHolds, ConsoleError> {
    use super::ssr::{audience, console};
    let console = console()?;
    let audience = audience(&console)?;
    let (action, _) = wukong_view::validate_action(&action, None).map_err(ConsoleError::invalid)?;
    let rows = console
        .store
        .rows_matching(&audience, &filter)
        .await
        .map_err(wukong_cluster::ClusterError::from)?;
    Ok(BulkHolds::count(action, &rows))
}
