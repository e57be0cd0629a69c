//! The error every server function returns: typed, so the screen can say what happened.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsoleError {
    /// Bad input; nothing was changed.
    Invalid(String),
    NotFound(String),
    /// A concurrent change; try again.
    Conflict(String),
    /// The lifecycle rules refuse the action in the VM's current state.
    Refused(String),
    Forbidden(String),
    /// No (longer a) signed-in person: sign in again.
    SignedOut(String),
    /// Too many requests in a short time; try again after `retry_after_seconds` (the limiter's
    /// own figure; the server also sends it as `Retry-After`).
    TooMany {
        message: String,
        retry_after_seconds: u64,
    },
    /// The cluster cannot be reached.
    Unavailable(String),
    /// The request did not reach the server or its answer did not come back.
    Transport(String),
}

impl ConsoleError {
    /// The HTTP status a server function answers with.
    pub fn status(&self) -> u16 {
        match self {
            ConsoleError::Invalid(_) => 400,
            ConsoleError::Forbidden(_) => 403,
            ConsoleError::SignedOut(_) => 401,
            ConsoleError::TooMany { .. } => 429,
            ConsoleError::NotFound(_) => 404,
            ConsoleError::Conflict(_) | ConsoleError::Refused(_) => 409,
            ConsoleError::Unavailable(_) => 503,
            ConsoleError::Transport(_) => 500,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ConsoleError::Invalid(m)
            | ConsoleError::NotFound(m)
            | ConsoleError::Conflict(m)
            | ConsoleError::Refused(m)
            | ConsoleError::Forbidden(m)
            | ConsoleError::SignedOut(m)
            | ConsoleError::TooMany { message: m, .. }
            | ConsoleError::Unavailable(m)
            | ConsoleError::Transport(m) => m,
        }
    }
}

impl ConsoleError {
    /// A limiter's wait in whole seconds, rounded up and never 0 (which would invite an
    /// immediate retry): the figure a 429 names in its message and its `Retry-After`.
    pub fn retry_seconds(wait: std::time::Duration) -> u64 {
        (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
    }

    /// Seconds after which trying again may succeed (the `Retry-After` of a 429).
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            ConsoleError::TooMany {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }
}

impl fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ConsoleError {}

impl FromServerFnError for ConsoleError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                ConsoleError::Invalid(format!("invalid request: {m}"))
            }
            // On the server this is the request's body that could not be read or decoded (JSON
            // that is not the arguments, text that is not UTF-8, a body over the size limit):
            // the caller's mistake, a 400, not a 500. In the browser it is the answer, below.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(m) => {
                ConsoleError::Invalid(format!("invalid request: {m}"))
            }
            ServerFnErrorErr::Request(m) => {
                ConsoleError::Transport(format!("the console server cannot be reached: {m}"))
            }
            other => ConsoleError::Transport(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<wukong_cluster::ClusterError> for ConsoleError {
    fn from(e: wukong_cluster::ClusterError) -> Self {
        use wukong_cluster::ClusterError as E;
        let message = e.to_string();
        match e {
            E::NotFound { .. } => ConsoleError::NotFound(message),
            E::Refused { .. } => ConsoleError::Refused(message),
            E::Conflict { .. } | E::Replaced { .. } => ConsoleError::Conflict(message),
            E::Forbidden { .. } => ConsoleError::Forbidden(message),
            E::Invalid(_) => ConsoleError::Invalid(message),
            E::Unavailable(_) | E::AccessUnknown(_) => ConsoleError::Unavailable(message),
        }
    }
}
