//! The Wukong VM lifecycle rules, in one place and free of I/O.
//!
//! Everything that decides *whether* an action may happen and *what it passes through* lives here:
//! the console uses it to ship the actions a VM offers now, the sandbox and the lifecycle
//! controller use it to accept or refuse a request, and `kubevirt` maps actions onto KubeVirt calls
//! and KubeVirt's status back onto states. No rule is written twice.
//!
//! The rules follow KubeVirt's own answers (see `shared/kubevirt-lifecycle.md`): a manual start is
//! refused under `Always`, a restart under `Halted`, pause only from Running, and a lone (force)
//! stop may replace a pending request.

mod action;
pub mod decide;
mod grace;
pub mod kubevirt;
mod rules;
mod says;
mod state;

pub use action::{Action, ParseActionError, RunStrategy};
pub use grace::{
    effective_grace_period, validate_grace_period, GraceError, DEFAULT_GRACE_PERIOD_SECONDS,
    MAX_GRACE_PERIOD_SECONDS,
};
pub use rules::{
    check, offered_actions, plan, Plan, Refusal, Situation, Vmi, REFUSAL_STATE_KEY,
    RUN_STRATEGY_KEY,
};
pub use says::Says;
pub use state::VmState;
