use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::ScheduleChange;

/// Suspends or resumes a schedule, adds or removes a one-off exception, or adds VMs to it (bulk
/// "apply schedule"), on the schedule as it is now, as the person (who becomes its owner).
#[server(endpoint = "change_schedule")]
pub async fn change_schedule(
    namespace: String,
    name: String,
    change: ScheduleChange,
) -> Result<(), ConsoleError> {
    use super::ssr::{console, identity, take_budget};
    let (who, _) = identity()?;
    wukong_view::validate_dns1123_label("namespace", &namespace).map_err(ConsoleError::invalid)?;
    wukong_view::validate_dns1123_subdomain("name", &name).map_err(ConsoleError::invalid)?;
    if let ScheduleChange::AddVms(vms) = &change {
        for vm in vms {
            wukong_view::validate_dns1123_subdomain("VM name", vm)
                .map_err(ConsoleError::invalid)?;
        }
    }
    let console = console()?;
    take_budget(&console, &who)?;
    Ok(wukong_cluster::schedules::change(
        console.cluster.as_ref(),
        &who,
        &namespace,
        &name,
        &change,
    )
    .await?)
}
