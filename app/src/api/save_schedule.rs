use crate::ConsoleError;
use leptos::prelude::*;
use wukong_view::ScheduleForm;

/// Creates a schedule (`version` none) or replaces it (only if still at `version`), as the
/// person, who becomes its owner. The whole form is checked first: nothing is written while any
/// of it is wrong.
#[server(endpoint = "save_schedule")]
pub async fn save_schedule(
    form: ScheduleForm,
    version: Option<String>,
) -> Result<(), ConsoleError> {
    use super::ssr::{console, identity, take_budget};
    let (who, _) = identity()?;
    let console = console()?;
    take_budget(&console, &who)?;
    Ok(wukong_cluster::schedules::save(console.cluster.as_ref(), &who, &form, version).await?)
}
