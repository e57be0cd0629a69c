//! What the lifecycle controller says about a VM, as a code with parameters.
//!
//! Status messages, history lines and Event notes are written in English; a console that shows
//! them in another language needs to know *which* message it is and what it names. [`Says`] is
//! that: one variant per message, its `Display` the English words (the only place they are
//! written), [`Says::code`] and [`Says::params`] what status stores next to the English message,
//! and [`Says::from_parts`] the way back. A status written before codes existed, or by a newer
//! controller with a code this build does not know, has none: the console shows the English.
//!
//! Texts that are not ours (KubeVirt's own words, a namespace and a name) travel as they are and
//! stay untranslated.

use crate::kubevirt::FORCED_MESSAGE;
use crate::rules::{REFUSAL_STATE_KEY, RUN_STRATEGY_KEY};
use crate::{Action, Refusal, VmState};
use std::collections::BTreeMap;
use std::fmt;

/// One message of the lifecycle controller's.
///
/// A 403 from KubeVirt is one of two variants ([`Says::KubeVirtRbac`], [`Says::KubeVirtOwn403`]),
/// not a [`Says::KubeVirtRefused`] with code 403: the two read differently, and telling them apart
/// here means a console need not repeat the test. [`Says::kubevirt_refused`] picks the variant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "SaysParts", try_from = "SaysParts")]
pub enum Says {
    /// KubeVirt accepted the call for `action`; `force` and `grace` (seconds) as requested.
    Accepted {
        action: Action,
        force: bool,
        grace: u32,
    },
    /// The lifecycle rules refused `action`.
    Refused {
        action: Action,
        refusal: Refusal,
    },
    /// KubeVirt's API server refused the call for `action` (403 naming the aggregated
    /// `.subresources.kubevirt.io` resource): the controller's RBAC lacks it.
    KubeVirtRbac {
        action: Action,
        detail: String,
    },
    /// KubeVirt itself refused `action` with a 403 (pausing a VM with a liveness probe).
    KubeVirtOwn403 {
        action: Action,
        detail: String,
    },
    /// KubeVirt answered the call for `action` with error `code` (not 403) and `detail`.
    KubeVirtRefused {
        action: Action,
        code: u16,
        detail: String,
    },
    /// The state settled.
    Settled {
        state: VmState,
    },
    /// What KubeVirt says about an Error or Failed VM, in its own words.
    KubeVirtProblem {
        detail: String,
    },
    /// The guest failed and KubeVirt says no more (a Failed VMI).
    GuestFailed,
    /// The controller forced a graceful stop at its deadline.
    ForcedOff,
    /// Deletion waits `grace` seconds for the guest to shut down.
    Deleting {
        grace: u32,
    },
    DeletingForced,
    DeletingVm,
    AutoStarted,
    /// KubeVirt refused the start on creation, in its own words.
    AutoStartRefused {
        detail: String,
    },
    /// The VirtualMachine `namespace`/`name` is someone else's.
    NotOwned {
        namespace: String,
        name: String,
    },
    /// `action` was refused because the VirtualMachine is someone else's.
    NotOwnedRefused {
        action: Action,
        namespace: String,
        name: String,
    },
    /// The state changed `from` → `to` with no request to explain it.
    Unexplained {
        from: VmState,
        to: VmState,
    },
}

const ACTION: &str = "action";
const FORCE: &str = "force";
const GRACE: &str = "grace";
const REFUSAL: &str = "refusal";
const CODE: &str = "code";
const DETAIL: &str = "detail";
const STATE: &str = "state";
const NAMESPACE: &str = "namespace";
const NAME: &str = "name";
const FROM: &str = "from";
const TO: &str = "to";

impl Says {
    /// Every code, as [`Says::code`] gives it: a console can check it words each one.
    pub const CODES: [&'static str; 17] = [
        "Accepted",
        "Refused",
        "KubeVirtRbac",
        "KubeVirtOwn403",
        "KubeVirtRefused",
        "Settled",
        "KubeVirtProblem",
        "GuestFailed",
        "ForcedOff",
        "Deleting",
        "DeletingForced",
        "DeletingVm",
        "AutoStarted",
        "AutoStartRefused",
        "NotOwned",
        "NotOwnedRefused",
        "Unexplained",
    ];

    /// KubeVirt's refusal of the call for `action`: a 403 is told apart by the resource it names
    /// (the API server's RBAC names `virtualmachineinstances.subresources.kubevirt.io`, KubeVirt's
    /// own refusal `virtualmachineinstance.kubevirt.io`).
    pub fn kubevirt_refused(action: Action, code: u16, detail: &str) -> Says {
        let detail = detail.to_owned();
        match code {
            403 if detail.contains(".subresources.kubevirt.io") => {
                Says::KubeVirtRbac { action, detail }
            }
            403 => Says::KubeVirtOwn403 { action, detail },
            _ => Says::KubeVirtRefused {
                action,
                code,
                detail,
            },
        }
    }

    /// The stable PascalCase name of the message, stored in status next to the English words.
    pub const fn code(&self) -> &'static str {
        match self {
            Says::Accepted { .. } => "Accepted",
            Says::Refused { .. } => "Refused",
            Says::KubeVirtRbac { .. } => "KubeVirtRbac",
            Says::KubeVirtOwn403 { .. } => "KubeVirtOwn403",
            Says::KubeVirtRefused { .. } => "KubeVirtRefused",
            Says::Settled { .. } => "Settled",
            Says::KubeVirtProblem { .. } => "KubeVirtProblem",
            Says::GuestFailed => "GuestFailed",
            Says::ForcedOff => "ForcedOff",
            Says::Deleting { .. } => "Deleting",
            Says::DeletingForced => "DeletingForced",
            Says::DeletingVm => "DeletingVm",
            Says::AutoStarted => "AutoStarted",
            Says::AutoStartRefused { .. } => "AutoStartRefused",
            Says::NotOwned { .. } => "NotOwned",
            Says::NotOwnedRefused { .. } => "NotOwnedRefused",
            Says::Unexplained { .. } => "Unexplained",
        }
    }

    /// What the message names, as strings: an action by its name (`force-stop`), a state by its
    /// English name, numbers in decimal, `force` as `true`/`false`, a refusal by its code
    /// ([`Refusal::code`]) plus the state or run strategy it names ([`Refusal::param`]).
    pub fn params(&self) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        let mut put = |key: &str, value: &str| {
            p.insert(key.to_owned(), value.to_owned());
        };
        match self {
            Says::Accepted {
                action,
                force,
                grace,
            } => {
                put(ACTION, action.as_str());
                put(FORCE, if *force { "true" } else { "false" });
                put(GRACE, &grace.to_string());
            }
            Says::Refused { action, refusal } => {
                put(ACTION, action.as_str());
                put(REFUSAL, refusal.code());
                if let Some((key, value)) = refusal.param() {
                    put(key, value);
                }
            }
            Says::KubeVirtRbac { action, detail } | Says::KubeVirtOwn403 { action, detail } => {
                put(ACTION, action.as_str());
                put(DETAIL, detail);
            }
            Says::KubeVirtRefused {
                action,
                code,
                detail,
            } => {
                put(ACTION, action.as_str());
                put(CODE, &code.to_string());
                put(DETAIL, detail);
            }
            Says::Settled { state } => put(STATE, state.as_str()),
            Says::KubeVirtProblem { detail } | Says::AutoStartRefused { detail } => {
                put(DETAIL, detail);
            }
            Says::Deleting { grace } => put(GRACE, &grace.to_string()),
            Says::NotOwned { namespace, name } => {
                put(NAMESPACE, namespace);
                put(NAME, name);
            }
            Says::NotOwnedRefused {
                action,
                namespace,
                name,
            } => {
                put(ACTION, action.as_str());
                put(NAMESPACE, namespace);
                put(NAME, name);
            }
            Says::Unexplained { from, to } => {
                put(FROM, from.as_str());
                put(TO, to.as_str());
            }
            Says::GuestFailed
            | Says::ForcedOff
            | Says::DeletingForced
            | Says::DeletingVm
            | Says::AutoStarted => {}
        }
        p
    }

    /// The message for `code` and `params`, as [`Says::code`] and [`Says::params`] gave them;
    /// `None` for a code this build does not know or a missing or malformed parameter, so that
    /// the console falls back to the English message. Parameters it does not use are ignored.
    pub fn from_parts(code: &str, params: &BTreeMap<String, String>) -> Option<Says> {
        let get = |key: &str| params.get(key).map(String::as_str);
        let text = |key: &str| get(key).map(str::to_owned);
        let action = || get(ACTION)?.parse::<Action>().ok();
        let state = |key: &str| VmState::parse(get(key)?);
        let grace = || get(GRACE)?.parse::<u32>().ok();
        Some(match code {
            "Accepted" => Says::Accepted {
                action: action()?,
                force: match get(FORCE)? {
                    "true" => true,
                    "false" => false,
                    _ => return None,
                },
                grace: grace()?,
            },
            "Refused" => {
                let name = get(REFUSAL)?;
                let param = get(REFUSAL_STATE_KEY).or_else(|| get(RUN_STRATEGY_KEY));
                Says::Refused {
                    action: action()?,
                    refusal: Refusal::from_code(name, param)?,
                }
            }
            "KubeVirtRbac" => Says::KubeVirtRbac {
                action: action()?,
                detail: text(DETAIL)?,
            },
            "KubeVirtOwn403" => Says::KubeVirtOwn403 {
                action: action()?,
                detail: text(DETAIL)?,
            },
            "KubeVirtRefused" => Says::KubeVirtRefused {
                action: action()?,
                code: get(CODE)?.parse().ok()?,
                detail: text(DETAIL)?,
            },
            "Settled" => Says::Settled {
                state: state(STATE)?,
            },
            "KubeVirtProblem" => Says::KubeVirtProblem {
                detail: text(DETAIL)?,
            },
            "GuestFailed" => Says::GuestFailed,
            "ForcedOff" => Says::ForcedOff,
            "Deleting" => Says::Deleting { grace: grace()? },
            "DeletingForced" => Says::DeletingForced,
            "DeletingVm" => Says::DeletingVm,
            "AutoStarted" => Says::AutoStarted,
            "AutoStartRefused" => Says::AutoStartRefused {
                detail: text(DETAIL)?,
            },
            "NotOwned" => Says::NotOwned {
                namespace: text(NAMESPACE)?,
                name: text(NAME)?,
            },
            "NotOwnedRefused" => Says::NotOwnedRefused {
                action: action()?,
                namespace: text(NAMESPACE)?,
                name: text(NAME)?,
            },
            "Unexplained" => Says::Unexplained {
                from: state(FROM)?,
                to: state(TO)?,
            },
            _ => return None,
        })
    }
}

/// The English words: exactly what status, the history and Events carried before codes existed
/// (tests and people's scripts match them).
/// How a [`Says`] travels (to the browser): its code and parameters, the shape status keeps
/// them in. Much smaller in the WASM bundle than a derived enum of seventeen variants.
#[derive(serde::Serialize, serde::Deserialize)]
struct SaysParts {
    code: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    params: BTreeMap<String, String>,
}

impl From<Says> for SaysParts {
    fn from(says: Says) -> SaysParts {
        SaysParts {
            code: says.code().to_owned(),
            params: says.params(),
        }
    }
}

impl TryFrom<SaysParts> for Says {
    type Error = &'static str;

    fn try_from(parts: SaysParts) -> Result<Says, &'static str> {
        Says::from_parts(&parts.code, &parts.params).ok_or("an unknown code or its parameters")
    }
}

impl fmt::Display for Says {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Says::Accepted { action, force, grace } => match action {
                Action::Stop if *grace == 0 => f.write_str("stopping at once (grace period 0)"),
                Action::Stop => write!(
                    f,
                    "ACPI shutdown sent; forced off after {grace} s if still running"
                ),
                Action::ForceStop => f.write_str("force stopping"),
                Action::Restart if *force => f.write_str("force restarting"),
                Action::Restart => f.write_str("restarting"),
                Action::Start => f.write_str("starting"),
                Action::Suspend => f.write_str("pausing"),
                Action::Resume => f.write_str("unpausing"),
                Action::Delete => f.write_str("deleting: stopping the VM first"),
            },
            Says::Refused { action, refusal } => write!(f, "{action} refused: {refusal}"),
            Says::KubeVirtRbac { action, detail } => write!(
                f,
                "{action} refused: the lifecycle controller is not allowed to call KubeVirt's {action} (RBAC): {detail}"
            ),
            Says::KubeVirtOwn403 { action, detail } => write!(
                f,
                "KubeVirt itself refused {action} (403, not a permission problem): {detail}"
            ),
            Says::KubeVirtRefused {
                action,
                code,
                detail,
            } => write!(f, "KubeVirt refused {action} ({code}): {detail}"),
            Says::Settled { state } => write!(f, "the VM is {state}"),
            Says::KubeVirtProblem { detail } => f.write_str(detail),
            Says::GuestFailed => f.write_str("the guest failed (VMI phase Failed)"),
            Says::ForcedOff => f.write_str(FORCED_MESSAGE),
            Says::Deleting { grace } => write!(
                f,
                "deleting: shutting the guest down (forced after {grace} s)"
            ),
            Says::DeletingForced => {
                f.write_str("deleting: the grace period is over, forcing the guest off")
            }
            Says::DeletingVm => {
                f.write_str("deleting: the guest is off, removing the VirtualMachine")
            }
            Says::AutoStarted => f.write_str("started on creation (startStrategy.autoStart)"),
            Says::AutoStartRefused { detail } => {
                write!(f, "auto-start refused by KubeVirt: {detail}")
            }
            Says::NotOwned { namespace, name } => write!(
                f,
                "VirtualMachine {namespace}/{name} exists and is not managed by this Wukong"
            ),
            Says::NotOwnedRefused {
                action,
                namespace,
                name,
            } => write!(
                f,
                "{action} refused: VirtualMachine {namespace}/{name} exists and is not managed by this Wukong"
            ),
            Says::Unexplained { from, to } => write!(
                f,
                "{from} → {to} with no request from the console: KubeVirt shows {to} (a poweroff inside the guest, virtctl, or another client)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_travels_as_code_and_params() {
        let says = Says::Refused {
            action: Action::Stop,
            refusal: Refusal::NotRunning(VmState::Stopped),
        };
        let json = serde_json::to_value(&says).expect("serializes");
        assert_eq!(json["code"], "Refused");
        assert_eq!(json["params"]["refusal"], "NotRunning");
        assert_eq!(serde_json::from_value::<Says>(json).expect("back"), says);
        let unknown = serde_json::json!({ "code": "FromTheFuture" });
        assert!(serde_json::from_value::<Says>(unknown).is_err());
    }
    use crate::rules::tests::every_refusal;
    use std::collections::BTreeSet;

    /// Every variant, with every action, state and refusal it can carry.
    fn every_says() -> Vec<Says> {
        let detail = || "virtualmachineinstance.kubevirt.io \"web\": nope → ünïcode".to_owned();
        let mut all = vec![
            Says::KubeVirtProblem { detail: detail() },
            Says::KubeVirtProblem {
                detail: String::new(),
            },
            Says::GuestFailed,
            Says::ForcedOff,
            Says::Deleting { grace: 0 },
            Says::Deleting { grace: u32::MAX },
            Says::DeletingForced,
            Says::DeletingVm,
            Says::AutoStarted,
            Says::AutoStartRefused { detail: detail() },
            Says::NotOwned {
                namespace: "team-a".to_owned(),
                name: "web-01".to_owned(),
            },
        ];
        for action in Action::ALL {
            for (force, grace) in [(false, 0), (false, 30), (true, 0), (true, 7)] {
                all.push(Says::Accepted {
                    action,
                    force,
                    grace,
                });
            }
            for refusal in every_refusal() {
                all.push(Says::Refused { action, refusal });
            }
            all.extend([
                Says::KubeVirtRbac {
                    action,
                    detail: detail(),
                },
                Says::KubeVirtOwn403 {
                    action,
                    detail: detail(),
                },
                Says::KubeVirtRefused {
                    action,
                    code: 409,
                    detail: detail(),
                },
                Says::NotOwnedRefused {
                    action,
                    namespace: "ns".to_owned(),
                    name: "vm".to_owned(),
                },
            ]);
        }
        for state in VmState::ALL {
            all.push(Says::Settled { state });
            for to in VmState::ALL {
                all.push(Says::Unexplained { from: state, to });
            }
        }
        all
    }

    #[test]
    fn every_message_round_trips_through_its_code_and_params() {
        let mut codes = BTreeSet::new();
        for says in every_says() {
            codes.insert(says.code());
            assert_eq!(
                Says::from_parts(says.code(), &says.params()),
                Some(says.clone()),
                "{says:?}"
            );
        }
        assert_eq!(codes, Says::CODES.into_iter().collect(), "one code each");
    }

    #[test]
    fn the_english_is_what_the_controller_wrote_before_codes() {
        let cases = [
            (
                Says::Accepted {
                    action: Action::Stop,
                    force: false,
                    grace: 0,
                },
                "stopping at once (grace period 0)",
            ),
            (
                Says::Accepted {
                    action: Action::Stop,
                    force: false,
                    grace: 10,
                },
                "ACPI shutdown sent; forced off after 10 s if still running",
            ),
            (
                Says::Accepted {
                    action: Action::ForceStop,
                    force: true,
                    grace: 0,
                },
                "force stopping",
            ),
            (
                Says::Accepted {
                    action: Action::Restart,
                    force: true,
                    grace: 0,
                },
                "force restarting",
            ),
            (
                Says::Accepted {
                    action: Action::Restart,
                    force: false,
                    grace: 30,
                },
                "restarting",
            ),
            (
                Says::Accepted {
                    action: Action::Start,
                    force: false,
                    grace: 30,
                },
                "starting",
            ),
            (
                Says::Accepted {
                    action: Action::Suspend,
                    force: false,
                    grace: 30,
                },
                "pausing",
            ),
            (
                Says::Accepted {
                    action: Action::Resume,
                    force: false,
                    grace: 30,
                },
                "unpausing",
            ),
            (
                Says::Accepted {
                    action: Action::Delete,
                    force: false,
                    grace: 30,
                },
                "deleting: stopping the VM first",
            ),
            (
                Says::Refused {
                    action: Action::ForceStop,
                    refusal: Refusal::NotRunning(VmState::Stopped),
                },
                "force-stop refused: the VM is not running (it is Stopped)",
            ),
            (
                Says::Refused {
                    action: Action::Start,
                    refusal: Refusal::ManualStartUnsupported(crate::RunStrategy::Always),
                },
                "start refused: run strategy Always does not support manual start requests; KubeVirt starts the VM itself",
            ),
            (
                Says::kubevirt_refused(
                    Action::Suspend,
                    403,
                    "virtualmachineinstances.subresources.kubevirt.io \"web\" is forbidden",
                ),
                "suspend refused: the lifecycle controller is not allowed to call KubeVirt's suspend (RBAC): virtualmachineinstances.subresources.kubevirt.io \"web\" is forbidden",
            ),
            (
                Says::kubevirt_refused(
                    Action::Suspend,
                    403,
                    "virtualmachineinstance.kubevirt.io \"web\" is forbidden",
                ),
                "KubeVirt itself refused suspend (403, not a permission problem): virtualmachineinstance.kubevirt.io \"web\" is forbidden",
            ),
            (
                Says::kubevirt_refused(Action::Start, 409, "VM is already running"),
                "KubeVirt refused start (409): VM is already running",
            ),
            (
                Says::Settled {
                    state: VmState::Running,
                },
                "the VM is Running",
            ),
            (
                Says::KubeVirtProblem {
                    detail: "ErrImagePull: rpc error".to_owned(),
                },
                "ErrImagePull: rpc error",
            ),
            (Says::GuestFailed, "the guest failed (VMI phase Failed)"),
            (
                Says::ForcedOff,
                "forced off: the guest was still up when the grace period ran out",
            ),
            (
                Says::Deleting { grace: 20 },
                "deleting: shutting the guest down (forced after 20 s)",
            ),
            (
                Says::DeletingForced,
                "deleting: the grace period is over, forcing the guest off",
            ),
            (
                Says::DeletingVm,
                "deleting: the guest is off, removing the VirtualMachine",
            ),
            (
                Says::AutoStarted,
                "started on creation (startStrategy.autoStart)",
            ),
            (
                Says::AutoStartRefused {
                    detail: "boom".to_owned(),
                },
                "auto-start refused by KubeVirt: boom",
            ),
            (
                Says::NotOwned {
                    namespace: "team-a".to_owned(),
                    name: "web-01".to_owned(),
                },
                "VirtualMachine team-a/web-01 exists and is not managed by this Wukong",
            ),
            (
                Says::NotOwnedRefused {
                    action: Action::Stop,
                    namespace: "team-a".to_owned(),
                    name: "web-01".to_owned(),
                },
                "stop refused: VirtualMachine team-a/web-01 exists and is not managed by this Wukong",
            ),
            (
                Says::Unexplained {
                    from: VmState::Running,
                    to: VmState::Stopped,
                },
                "Running → Stopped with no request from the console: KubeVirt shows Stopped (a poweroff inside the guest, virtctl, or another client)",
            ),
        ];
        for (says, english) in cases {
            assert_eq!(says.to_string(), english, "{says:?}");
        }
    }

    #[test]
    fn a_403_is_never_a_plain_kubevirt_refusal() {
        assert_eq!(
            Says::kubevirt_refused(Action::Stop, 403, "x.subresources.kubevirt.io").code(),
            "KubeVirtRbac"
        );
        assert_eq!(
            Says::kubevirt_refused(Action::Stop, 403, "x").code(),
            "KubeVirtOwn403"
        );
        assert_eq!(
            Says::kubevirt_refused(Action::Stop, 500, "x").code(),
            "KubeVirtRefused"
        );
    }

    #[test]
    fn garbage_falls_back_to_the_english() {
        let params = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let none = [
            ("", params(&[])),
            ("SomethingNew", params(&[])),
            (
                "accepted",
                params(&[("action", "stop"), ("force", "false"), ("grace", "1")]),
            ),
            ("Accepted", params(&[("action", "stop"), ("grace", "1")])),
            (
                "Accepted",
                params(&[("action", "reboot"), ("force", "false"), ("grace", "1")]),
            ),
            (
                "Accepted",
                params(&[("action", "stop"), ("force", "yes"), ("grace", "1")]),
            ),
            (
                "Accepted",
                params(&[("action", "stop"), ("force", "false"), ("grace", "-1")]),
            ),
            (
                "Refused",
                params(&[("action", "stop"), ("refusal", "NotRunning")]),
            ),
            (
                "Refused",
                params(&[("action", "stop"), ("refusal", "Bored")]),
            ),
            (
                "KubeVirtRefused",
                params(&[("action", "stop"), ("code", "70000"), ("detail", "x")]),
            ),
            ("Settled", params(&[("state", "running")])),
            ("Deleting", params(&[("grace", "ten")])),
            ("NotOwned", params(&[("namespace", "ns")])),
            ("Unexplained", params(&[("from", "Running")])),
        ];
        for (code, params) in none {
            assert_eq!(Says::from_parts(code, &params), None, "{code} {params:?}");
        }
        // Parameters it does not use are no reason to fall back.
        assert_eq!(
            Says::from_parts("ForcedOff", &params(&[("extra", "1")])),
            Some(Says::ForcedOff)
        );
    }
}
