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
        use_context::<Console>()
            .ok_or_else(|| ConsoleError::Unavailable("the console is not connected to a cluster".into()))
    }

    /// Sets the HTTP status of a failed call, so non-browser clients see 400/403/404/409 too.
    pub fn with_status<T>(result: Result<T, ConsoleError>) -> Result<T, ConsoleError> {
        if let Err(e) = &result {
            if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
                if let Ok(status) = http::StatusCode::from_u16(e.status()) {
                    options.set_status(status);
                }
            }
        }
        result
    }
}
