//! What a person can ask for, and KubeVirt's run strategies.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A lifecycle action as a person asks for it in the console.
///
/// `ForceStop` is the seed's `stop` with `force: true` (grace period 0); `Delete` deletes the Wukong
/// (a finalizer stops the VM first). The rest map one to one onto `spec.lifecycleAction.action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Start,
    Stop,
    ForceStop,
    Restart,
    Suspend,
    Resume,
    Delete,
}

impl Action {
    /// Every action, in the order the console shows its buttons.
    pub const ALL: [Action; 7] = [
        Action::Start,
        Action::Stop,
        Action::ForceStop,
        Action::Restart,
        Action::Suspend,
        Action::Resume,
        Action::Delete,
    ];

    /// The stable, English, kebab-case name (`force-stop`), used on the wire and in selectors.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::ForceStop => "force-stop",
            Action::Restart => "restart",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::Delete => "delete",
        }
    }

    /// Actions that lose guest state or the VM itself; the console asks before doing them.
    pub const fn is_destructive(self) -> bool {
        matches!(self, Action::ForceStop | Action::Delete)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseActionError(pub String);

impl fmt::Display for ParseActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        write!(
            f,
            "unknown action {:?}; expected one of {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for ParseActionError {}

impl FromStr for Action {
    type Err = ParseActionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| ParseActionError(s.to_owned()))
    }
}

/// KubeVirt's `spec.runStrategy`: the five a VM can run under (`WaitAsReceiver`, for migrations
/// between clusters, is not one a person picks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RunStrategy {
    /// KubeVirt keeps a VMI running; a manual start is refused, a stop switches to `Halted`.
    Always,
    /// KubeVirt restarts the VMI only when it fails.
    RerunOnFailure,
    /// Only explicit start/stop requests change anything.
    #[default]
    Manual,
    /// The VM is kept stopped; a start switches to `Always`.
    Halted,
    /// KubeVirt starts the VM once and does not restart it; a manual start or restart is refused,
    /// a stop switches to `Halted`.
    Once,
}

impl RunStrategy {
    pub const ALL: [RunStrategy; 5] = [
        RunStrategy::Always,
        RunStrategy::RerunOnFailure,
        RunStrategy::Manual,
        RunStrategy::Halted,
        RunStrategy::Once,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RunStrategy::Always => "Always",
            RunStrategy::RerunOnFailure => "RerunOnFailure",
            RunStrategy::Manual => "Manual",
            RunStrategy::Halted => "Halted",
            RunStrategy::Once => "Once",
        }
    }

    pub fn parse(s: &str) -> Option<RunStrategy> {
        RunStrategy::ALL.into_iter().find(|rs| rs.as_str() == s)
    }

    /// KubeVirt starts the VM by itself (`Always`, `Once`): a manual start is refused, and a stop
    /// switches the strategy to `Halted`.
    pub const fn starts_by_itself(self) -> bool {
        matches!(self, RunStrategy::Always | RunStrategy::Once)
    }

    /// Whether KubeVirt itself brings a failed VMI back, so a Failed VM still has a live (crash-looping) VMI.
    pub const fn restarts_failed_vm(self) -> bool {
        matches!(self, RunStrategy::Always | RunStrategy::RerunOnFailure)
    }
}

impl fmt::Display for RunStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>(), Ok(action));
        }
    }

    #[test]
    fn unknown_action_error_lists_the_known_ones() {
        let err = "reboot".parse::<Action>().unwrap_err().to_string();
        assert!(err.contains("\"reboot\""), "{err}");
        assert!(err.contains("force-stop"), "{err}");
    }

    #[test]
    fn only_force_stop_and_delete_are_destructive() {
        let destructive: Vec<_> = Action::ALL
            .into_iter()
            .filter(|a| a.is_destructive())
            .collect();
        assert_eq!(destructive, vec![Action::ForceStop, Action::Delete]);
    }
}
