//! The error every server function returns: typed, so the screen can say what happened.

use crate::codec::TextJsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use std::fmt;
use wukong_view::Said;

/// What kind of failure it is: the HTTP status, and whether trying again can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// Bad input; nothing was changed.
    Invalid,
    NotFound,
    /// A concurrent change; try again.
    Conflict,
    /// The lifecycle rules refuse the action in the VM's current state.
    Refused,
    Forbidden,
    /// No (longer a) signed-in person: sign in again.
    SignedOut,
    /// Too many requests in a short time; try again after the wait the code names (the
    /// limiter's own figure; the server also sends it as `Retry-After`).
    TooMany,
    /// The cluster cannot be reached.
    Unavailable,
    /// The request did not reach the server or its answer did not come back.
    Transport,
}

/// The error every server function returns: its kind, what happened as a code with parameters
/// (`said`, worded in the person's language by the page), and the same in English (`message`,
/// for logs and for clients that are not the page).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleError {
    pub kind: ErrorKind,
    pub said: Said,
    pub message: String,
}

impl ConsoleError {
    pub fn new(kind: ErrorKind, said: Said) -> Self {
        ConsoleError {
            kind,
            message: said.to_string(),
            said,
        }
    }

    /// Bad input, `detail` naming what is wrong with it.
    pub fn invalid(detail: impl Into<String>) -> Self {
        ConsoleError::new(
            ErrorKind::Invalid,
            Said::InvalidRequest {
                detail: detail.into(),
            },
        )
    }

    /// The HTTP status a server function answers with.
    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::Invalid => 400,
            ErrorKind::Forbidden => 403,
            ErrorKind::SignedOut => 401,
            ErrorKind::TooMany => 429,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict | ErrorKind::Refused => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::Transport => 500,
        }
    }

    pub fn message(&self) -> &str {
        &self.message
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
        match self.said {
            Said::TooManyActions {
                retry_after_seconds,
                ..
            }
            | Said::BulkOverAllowance {
                retry_after_seconds,
                ..
            } => Some(retry_after_seconds),
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
    type Encoder = TextJsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        // Made in the browser too: worded without `Said`'s `Display`, which stays out of the bundle.
        let made = |kind, said: Said, message: String| ConsoleError {
            kind,
            said,
            message,
        };
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => made(
                ErrorKind::Invalid,
                Said::InvalidRequest { detail: m.clone() },
                format!("invalid request: {m}"),
            ),
            // On the server this is the request's body that could not be read or decoded (JSON
            // that is not the arguments, text that is not UTF-8, a body over the size limit):
            // the caller's mistake, a 400, not a 500. In the browser it is the answer, below.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(m) => ConsoleError::invalid(m),
            ServerFnErrorErr::Request(m) => made(
                ErrorKind::Transport,
                Said::ServerUnreachable { detail: m.clone() },
                format!("the console server cannot be reached: {m}"),
            ),
            other => {
                let detail = other.to_string();
                made(
                    ErrorKind::Transport,
                    Said::Other {
                        detail: detail.clone(),
                    },
                    detail,
                )
            }
        }
    }
}

#[cfg(feature = "ssr")]
impl From<wukong_cluster::ClusterError> for ConsoleError {
    fn from(e: wukong_cluster::ClusterError) -> Self {
        use wukong_cluster::ClusterError as E;
        let kind = match e {
            E::NotFound { .. } => ErrorKind::NotFound,
            E::Refused { .. } => ErrorKind::Refused,
            E::Conflict { .. } | E::Replaced { .. } | E::ScheduleConflict { .. } => {
                ErrorKind::Conflict
            }
            E::Forbidden { .. } | E::ScheduleForbidden { .. } => ErrorKind::Forbidden,
            E::Invalid(_) => ErrorKind::Invalid,
            E::Unavailable(_) | E::AccessUnknown(_) => ErrorKind::Unavailable,
        };
        let said = match (crate::i18n::page_lang(), &e) {
            (wukong_view::Lang::ZhCn, E::ScheduleForbidden { namespace, message }) => Said::Other {
                detail: format!("你无权更改命名空间 {namespace} 中的计划：{message}"),
            },
            (wukong_view::Lang::ZhCn, E::ScheduleConflict { schedule }) => Said::Other {
                detail: format!("计划 {schedule} 在你打开后已被他人更改或删除；请重新查看后再改"),
            },
            _ => e.said(),
        };
        ConsoleError::new(kind, said)
    }
}
