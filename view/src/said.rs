//! What the server tells a person (a refusal, an error, a bulk result) as a code with its
//! parameters, so the page words it in the person's language. The English wording is here
//! (`Display`: logs, the JSON `message` other clients read, and the page in English); other
//! languages word the same codes in the app's string table. `detail` fields are the cluster's
//! own words and are never translated.

use crate::VmKey;
use serde::{Deserialize, Serialize};
use std::fmt;
use wukong_lifecycle::{Action, Refusal};

// Externally tagged (`{"Refused": {...}}`): an internally tagged enum costs the WASM bundle
// about twice as much to decode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Said {
    /// A bulk action's VM whose request was written.
    Accepted,
    /// The lifecycle rules refuse the action in the VM's current state.
    Refused {
        action: Action,
        vm: VmKey,
        reason: Refusal,
    },
    Gone {
        vm: VmKey,
    },
    /// Deleted and created again since the person saw it.
    Replaced {
        vm: VmKey,
    },
    /// Changed by someone else at the same moment.
    Conflict {
        vm: VmKey,
        detail: String,
    },
    /// RBAC does not allow it (`detail`: the apiserver's words).
    Forbidden {
        action: Action,
        vm: VmKey,
        detail: String,
    },
    /// No `list` on wukongs in that namespace.
    NoAccess {
        namespace: String,
    },
    /// RBAC could not be asked just now (not a refusal).
    AccessUnknown {
        namespace: String,
        detail: String,
    },
    TooManyActions {
        per_minute: u32,
        retry_after_seconds: u64,
    },
    BulkTooManyKeys {
        listed: u64,
        max: u64,
    },
    BulkTooLarge {
        vms: u64,
        max: u64,
    },
    BulkOverAllowance {
        vms: u64,
        per_minute: u32,
        retry_after_seconds: u64,
    },
    NothingSelected,
    SignedOut {
        why: SignedOutWhy,
    },
    /// The cluster has not answered the list in time.
    ClusterSlow {
        seconds: u32,
    },
    NotConnected,
    ClusterUnreachable {
        detail: String,
    },
    /// The apiserver refused the request as invalid.
    ClusterRejected {
        detail: String,
    },
    /// The request itself is malformed (`detail` names the field).
    InvalidRequest {
        detail: String,
    },
    /// The console server did not answer (said by the browser itself).
    ServerUnreachable {
        detail: String,
    },
    /// Anything else, in the words it came in.
    Other {
        detail: String,
    },
}

/// Why a person has to sign in (again); also the `reason` of `/login?reason=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignedOutWhy {
    Required,
    Idle,
    Expired,
    Revoked,
    Ended,
    /// Proxy mode, reached without the authenticating proxy.
    ThroughProxy,
    /// Proxy mode: the proxy sent no user name.
    ProxyNamedNoOne,
}

impl SignedOutWhy {
    pub const fn code(self) -> &'static str {
        match self {
            SignedOutWhy::Required => "required",
            SignedOutWhy::Idle => "idle",
            SignedOutWhy::Expired => "expired",
            SignedOutWhy::Revoked => "revoked",
            SignedOutWhy::Ended => "ended",
            SignedOutWhy::ThroughProxy => "through-proxy",
            SignedOutWhy::ProxyNamedNoOne => "proxy-named-no-one",
        }
    }

    pub fn parse(code: &str) -> Option<SignedOutWhy> {
        [
            SignedOutWhy::Required,
            SignedOutWhy::Idle,
            SignedOutWhy::Expired,
            SignedOutWhy::Revoked,
            SignedOutWhy::Ended,
            SignedOutWhy::ThroughProxy,
            SignedOutWhy::ProxyNamedNoOne,
        ]
        .into_iter()
        .find(|w| w.code() == code)
    }
}

impl fmt::Display for SignedOutWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignedOutWhy::Required => "sign in to use the console",
            SignedOutWhy::Idle => "your session ended after a period of inactivity; sign in again",
            SignedOutWhy::Expired => "your session reached its maximum length; sign in again",
            SignedOutWhy::Revoked => {
                "the cluster no longer accepts your token (it expired or was revoked); sign in with a new one"
            }
            SignedOutWhy::Ended => "your session has ended; sign in again",
            SignedOutWhy::ThroughProxy => {
                "this console is signed in to through its authenticating proxy; open it through the proxy"
            }
            SignedOutWhy::ProxyNamedNoOne => "the authenticating proxy did not name a user",
        })
    }
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Said::Accepted => f.write_str("accepted"),
            Said::Refused { action, vm, reason } => write!(f, "cannot {action} {vm}: {reason}"),
            Said::Gone { vm } => write!(f, "{vm} no longer exists"),
            Said::Replaced { vm } => write!(
                f,
                "{vm} was deleted and created again since you saw it; nothing was done to the new one: look at it and ask again"
            ),
            Said::Conflict { vm, detail } => write!(
                f,
                "{vm} was changed by someone else at the same time; try again ({detail})"
            ),
            Said::Forbidden { action, vm, detail } => {
                write!(f, "you are not allowed to {action} {vm}: {detail}")
            }
            Said::NoAccess { namespace } => {
                write!(f, "you have no access to namespace {namespace} (RBAC)")
            }
            Said::AccessUnknown { namespace, detail } => write!(
                f,
                "your permissions in namespace {namespace} could not be checked ({detail}); try again"
            ),
            Said::TooManyActions {
                per_minute,
                retry_after_seconds,
            } => write!(
                f,
                "you have asked for more than {per_minute} actions in the last minute; the next one is possible in {retry_after_seconds} s"
            ),
            Said::BulkTooManyKeys { listed, max } => write!(
                f,
                "at most {max} VMs can be listed in one bulk action ({listed} were); use \"all matching the filter\" instead"
            ),
            Said::BulkTooLarge { vms, max } => write!(
                f,
                "this bulk action would write {vms} VMs; at most {max} can be changed in one bulk action; narrow the filter (a namespace or a search) and do it in parts"
            ),
            Said::BulkOverAllowance {
                vms,
                per_minute,
                retry_after_seconds,
            } => write!(
                f,
                "this bulk action would write {vms} VMs, more than your bulk allowance has left ({per_minute} VMs per minute); nothing was done; the whole action is possible in {retry_after_seconds} s"
            ),
            Said::NothingSelected => f.write_str("no VM is selected"),
            Said::SignedOut { why } => write!(f, "{why}"),
            Said::ClusterSlow { seconds } => write!(
                f,
                "the cluster has not answered within {seconds} s; the list will appear when it does"
            ),
            Said::NotConnected => f.write_str("the console is not connected to a cluster"),
            Said::ClusterUnreachable { detail } => {
                write!(f, "the cluster cannot be reached: {detail}")
            }
            Said::ClusterRejected { detail } => {
                write!(f, "the cluster rejected the request: {detail}")
            }
            Said::InvalidRequest { detail } => write!(f, "invalid request: {detail}"),
            Said::ServerUnreachable { detail } => {
                write!(f, "the console server cannot be reached: {detail}")
            }
            Said::Other { detail } => f.write_str(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wukong_lifecycle::VmState;

    #[test]
    fn a_refusal_crosses_the_wire_as_a_code_with_its_parameters() {
        let said = Said::Refused {
            action: Action::Stop,
            vm: VmKey::new("team-a", "web-01"),
            reason: Refusal::NotRunning(VmState::Stopped),
        };
        let json = serde_json::to_value(&said).expect("json");
        assert_eq!(json["Refused"]["reason"]["NotRunning"], "Stopped");
        let back: Said = serde_json::from_value(json).expect("back");
        assert_eq!(back, said);
        assert_eq!(
            said.to_string(),
            "cannot stop team-a/web-01: the VM is not running (it is Stopped)"
        );
    }

    #[test]
    fn sign_in_reasons_round_trip_through_their_codes() {
        for why in [
            SignedOutWhy::Required,
            SignedOutWhy::Idle,
            SignedOutWhy::Expired,
            SignedOutWhy::Revoked,
            SignedOutWhy::Ended,
        ] {
            assert_eq!(SignedOutWhy::parse(why.code()), Some(why));
        }
        assert_eq!(SignedOutWhy::parse("nope"), None);
    }
}
