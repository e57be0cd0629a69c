use wukong_view::{Action, VmKey};

/// Why a request to the cluster failed, phrased for the person who clicked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("{key} no longer exists")]
    NotFound { key: VmKey },
    #[error("cannot {action} {key}: {reason}")]
    Refused {
        key: VmKey,
        action: Action,
        reason: String,
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
    #[error("the cluster cannot be reached: {0}")]
    Unavailable(String),
    /// RBAC could not be asked; nothing was written (a 503: try again).
    #[error("{0}")]
    AccessUnknown(#[from] crate::AccessUnknown),
}
