use wukong_api::Wukong;
use wukong_lifecycle::{effective_grace_period, offered_actions, Situation};
use wukong_view::{HistoryEntry, VmKey, VmRow};

/// The requests a person sees in History: the controller's records in the Wukong's status
/// (written by the controller only, kept for the last 20 requests), newest first.
pub fn history_from_status(wukong: &Wukong) -> Vec<HistoryEntry> {
    wukong
        .status
        .iter()
        .flat_map(|status| status.recent_requests.iter())
        .rev()
        .map(|record| HistoryEntry {
            at_ms: record.at.as_ref().map(|t| t.0.as_millisecond()),
            action: record.action.clone(),
            requested_by: record.requested_by.clone(),
            outcome: record.outcome.clone(),
            message: record.message.clone(),
            says: record.says(),
        })
        .collect()
}

/// The table row for a Wukong, with the actions its state, run strategy and pending request allow.
/// `None` for an object without namespace or name (the API server never sends one).
pub fn row_from_wukong(wukong: &Wukong) -> Option<VmRow> {
    let key = VmKey::new(
        wukong.metadata.namespace.clone()?,
        wukong.metadata.name.clone()?,
    );
    let situation = wukong.situation();
    let Situation {
        state,
        run_strategy,
        vmi,
        ..
    } = situation;
    let status = wukong.status.as_ref();
    let lifecycle = wukong.lifecycle_state();
    let request = wukong.pending_request();
    let pending = request.map(|request| request.action());
    let stop_deadline_ms = lifecycle
        .and_then(|l| l.stop_deadline.as_ref())
        .filter(|_| state == wukong_lifecycle::VmState::Stopping)
        .map(|t| t.0.as_millisecond());
    Some(VmRow {
        key,
        uid: wukong.metadata.uid.clone().unwrap_or_default(),
        state,
        run_strategy,
        last_action: lifecycle.and_then(|l| l.last_action.clone()),
        last_action_time_ms: lifecycle
            .and_then(|l| l.last_action_time.as_ref())
            .map(|t| t.0.as_millisecond()),
        message: lifecycle
            .and_then(|l| l.message.clone())
            .filter(|m| !m.is_empty()),
        says: lifecycle.and_then(|l| l.says()),
        cpu_cores: wukong.spec.cpu_cores,
        memory: wukong.spec.memory.clone(),
        node: status.and_then(|s| s.node_name.clone()),
        default_grace_period_seconds: effective_grace_period(
            false,
            None,
            wukong.spec.termination_grace_period_seconds,
        ),
        vmi,
        actions: offered_actions(&situation),
        pending,
        pending_since_ms: request
            .and_then(|r| r.requested_at.as_ref())
            .map(|t| t.0.as_millisecond()),
        stop_deadline_ms,
        next: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use wukong_api::{LifecycleAction, LifecycleState, WukongSpec, WukongStatus};
    use wukong_lifecycle::{Action, RunStrategy, VmState};

    fn wukong(state: &str, observed: Option<&str>, requested: Option<&str>) -> Wukong {
        let mut w = Wukong::new(
            "web-01",
            WukongSpec {
                run_strategy: RunStrategy::Manual,
                ..Default::default()
            },
        );
        w.metadata = ObjectMeta {
            namespace: Some("team-a".into()),
            name: Some("web-01".into()),
            ..Default::default()
        };
        w.spec.lifecycle_action = requested
            .and_then(|id| LifecycleAction::for_action(Action::Stop, Some(60), id.to_owned()));
        w.status = Some(WukongStatus {
            lifecycle_state: Some(LifecycleState {
                state: state.into(),
                observed_request_id: observed.map(str::to_owned),
                ..Default::default()
            }),
            ..Default::default()
        });
        w
    }

    #[test]
    fn a_running_vm_offers_the_running_actions() {
        let row = row_from_wukong(&wukong("Running", None, None)).unwrap();
        assert_eq!(row.key, VmKey::new("team-a", "web-01"));
        assert_eq!(row.state, VmState::Running);
        assert_eq!(
            row.actions,
            vec![
                Action::Stop,
                Action::ForceStop,
                Action::Restart,
                Action::Suspend,
                Action::Delete
            ]
        );
        assert_eq!(row.default_grace_period_seconds, 30);
        assert_eq!(row.pending, None);
    }

    #[test]
    fn an_unacknowledged_request_is_pending_and_blocks_duplicates() {
        let row = row_from_wukong(&wukong("Running", Some("old"), Some("new"))).unwrap();
        assert_eq!(row.pending, Some(Action::Stop));
        assert_eq!(row.actions, vec![Action::ForceStop, Action::Delete]);
        let acknowledged = row_from_wukong(&wukong("Stopping", Some("new"), Some("new"))).unwrap();
        assert_eq!(acknowledged.pending, None);
    }

    #[test]
    fn no_status_means_unknown_with_only_delete() {
        let mut w = wukong("Running", None, None);
        w.status = None;
        let row = row_from_wukong(&w).unwrap();
        assert_eq!(row.state, VmState::Unknown);
        assert_eq!(row.actions, vec![Action::Delete]);
    }
}
