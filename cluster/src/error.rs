use wukong_lifecycle::Refusal;
use wukong_view::{Action, Said, VmKey};

/// Why a request to the cluster failed, phrased for the person who clicked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("{key} no longer exists")]
    NotFound { key: VmKey },
    #[error("cannot {action} {key}: {reason}")]
    Refused {
        key: VmKey,
        action: Action,
        reason: Refusal,
    },
    #[error("{key} was deleted and created again since you saw it; nothing was done to the new one: look at it and ask again")]
    Replaced { key: VmKey },
    #[error("{key} was changed by someone else at the same time; try again ({message})")]
    Conflict { key: VmKey, message: String },
    #[error("you are not allowed to {action} {key}: {message}")]
    Forbidden {
        key: VmKey,
        action: Action,
        message: String,
    },
    #[error("the cluster rejected the request: {0}")]
    Invalid(String),
    #[error("you are not allowed to change schedules in namespace {namespace}: {message}")]
    ScheduleForbidden { namespace: String, message: String },
    #[error("schedule {schedule} was changed or deleted by someone else since you opened it; look at it again and redo your change")]
    ScheduleConflict { schedule: String },
    #[error("the cluster cannot be reached: {0}")]
    Unavailable(String),
    /// RBAC could not be asked; nothing was written (a 503: try again).
    #[error("{0}")]
    AccessUnknown(#[from] crate::AccessUnknown),
}

impl ClusterError {
    /// A schedule created under a name already taken (the apiserver's 409 AlreadyExists).
    pub fn schedule_exists(schedule: &str) -> ClusterError {
        ClusterError::Invalid(format!(
            "a schedule named {schedule} already exists; pick another name or edit that one"
        ))
    }

    /// What the person is told, as a code with its parameters (worded in their language by the
    /// page; its English is this error's own).
    pub fn said(&self) -> Said {
        match self {
            ClusterError::NotFound { key } => Said::Gone { vm: key.clone() },
            ClusterError::Refused {
                key,
                action,
                reason,
            } => Said::Refused {
                action: *action,
                vm: key.clone(),
                reason: *reason,
            },
            ClusterError::Replaced { key } => Said::Replaced { vm: key.clone() },
            ClusterError::Conflict { key, message } => Said::Conflict {
                vm: key.clone(),
                detail: message.clone(),
            },
            ClusterError::Forbidden {
                key,
                action,
                message,
            } => Said::Forbidden {
                action: *action,
                vm: key.clone(),
                detail: message.clone(),
            },
            // Said only by the schedules page's server function, which words them in the
            // person's language on the server (`app/src/error.rs`): no code of their own, so the
            // main WASM carries no decoder for them.
            ClusterError::ScheduleForbidden { .. } | ClusterError::ScheduleConflict { .. } => {
                Said::Other {
                    detail: self.to_string(),
                }
            }
            ClusterError::Invalid(detail) => Said::ClusterRejected {
                detail: detail.clone(),
            },
            ClusterError::Unavailable(detail) => Said::ClusterUnreachable {
                detail: detail.clone(),
            },
            ClusterError::AccessUnknown(e) => Said::AccessUnknown {
                namespace: e.namespace.clone(),
                detail: e.reason.clone(),
            },
        }
    }
}

#[cfg(test)]
mod said_tests {
    use super::*;
    use crate::AccessUnknown;
    use wukong_lifecycle::VmState;

    /// The page's English and the error's own are the same words.
    #[test]
    fn every_error_says_in_english_what_its_display_says() {
        let key = VmKey::new("team-a", "web-01");
        let errors = [
            ClusterError::NotFound { key: key.clone() },
            ClusterError::Refused {
                key: key.clone(),
                action: Action::Stop,
                reason: Refusal::NotRunning(VmState::Stopped),
            },
            ClusterError::Replaced { key: key.clone() },
            ClusterError::Conflict {
                key: key.clone(),
                message: "the object has been modified".into(),
            },
            ClusterError::Forbidden {
                key: key.clone(),
                action: Action::Start,
                message: "RBAC: no".into(),
            },
            ClusterError::Invalid("spec.x: bad".into()),
            ClusterError::ScheduleForbidden {
                namespace: "team-a".into(),
                message: "RBAC: no".into(),
            },
            ClusterError::ScheduleConflict {
                schedule: "team-a/dev-hours".into(),
            },
            ClusterError::Unavailable("connection refused".into()),
            ClusterError::AccessUnknown(AccessUnknown {
                namespace: "team-a".into(),
                reason: "timed out".into(),
            }),
        ];
        for e in errors {
            assert_eq!(e.said().to_string(), e.to_string());
        }
    }
}
