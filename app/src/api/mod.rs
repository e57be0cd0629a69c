//! Server functions: thin wrappers that validate at the edge and call plain async code in
//! `wukong-cluster`. One file per function.

mod delete_vm;
mod list_vms;
mod request_action;

pub use delete_vm::*;
pub use list_vms::*;
pub use request_action::*;

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use crate::ConsoleError;
    use leptos::prelude::*;
    use wukong_cluster::Console;

    pub fn console() -> Result<Console, ConsoleError> {
        use_context::<Console>().ok_or_else(|| {
            ConsoleError::Unavailable("the console is not connected to a cluster".into())
        })
    }
}
