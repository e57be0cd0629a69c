use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::{ScheduleOp, SchedulesPage};

/// The schedules page's one server function (see [`ScheduleOp`]), read and written as the
/// person, who becomes the owner of what they write. A write answers with no page (`None`); the
/// page lists again. JSON in: a URL-encoded form would drop empty lists.
#[server(endpoint = "schedules", input = crate::codec::TextJson, output = crate::codec::TextJson)]
pub async fn schedules(op: ScheduleOp) -> Result<Option<SchedulesPage>, ConsoleError> {
    use super::ssr::{audience, console, identity, take_budget};
    let console = console()?;
    if let ScheduleOp::List = op {
        let audience = audience(&console)?;
        let snapshot = console
            .store
            .page_for(&audience, &wukong_view::View::default())
            .await;
        return Ok(Some(
            wukong_cluster::schedules::views(
                console.cluster.as_ref(),
                audience.access.as_ref(),
                &console.store,
                &audience.who,
                snapshot.namespaces,
            )
            .await?,
        ));
    }
    let (who, _) = identity()?;
    match &op {
        ScheduleOp::List | ScheduleOp::Save { .. } => {}
        ScheduleOp::Change {
            namespace,
            name,
            change,
        } => {
            schedule_named(namespace, name)?;
            if let wukong_view::ScheduleChange::AddVms(vms) = change {
                for vm in vms {
                    wukong_view::validate_dns1123_subdomain("VM name", vm)
                        .map_err(ConsoleError::invalid)?;
                }
            }
        }
        ScheduleOp::Delete {
            namespace,
            name,
            uid,
        } => {
            schedule_named(namespace, name)?;
            wukong_view::validate_uid(uid).map_err(ConsoleError::invalid)?;
        }
    }
    take_budget(&console, &who)?;
    let cluster = console.cluster.as_ref();
    match op {
        ScheduleOp::List => {}
        // The whole form is checked first: nothing is written while any of it is wrong.
        ScheduleOp::Save { form, version } => {
            wukong_cluster::schedules::save(cluster, &who, &form, version).await?
        }
        ScheduleOp::Change {
            namespace,
            name,
            change,
        } => wukong_cluster::schedules::change(cluster, &who, &namespace, &name, &change).await?,
        ScheduleOp::Delete {
            namespace,
            name,
            uid,
        } => {
            cluster
                .delete_schedule(&who, &namespace, &name, &uid)
                .await?
        }
    }
    Ok(None)
}

/// A schedule's namespace and name, as Kubernetes allows them.
#[cfg(feature = "ssr")]
fn schedule_named(namespace: &str, name: &str) -> Result<(), ConsoleError> {
    wukong_view::validate_dns1123_label("namespace", namespace).map_err(ConsoleError::invalid)?;
    wukong_view::validate_dns1123_subdomain("name", name).map_err(ConsoleError::invalid)
}
