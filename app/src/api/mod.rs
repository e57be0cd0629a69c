//! Server functions: thin wrappers that validate at the edge and call plain async code in
//! `wukong-cluster`. One file per function.

mod bulk_action;
mod bulk_preview;
mod delete_vm;
mod list_vms;
mod request_action;
mod schedules;
mod session;
mod vm_history;
mod vm_page;

pub use bulk_action::*;
pub use bulk_preview::*;
pub use delete_vm::*;
pub use list_vms::*;
pub use request_action::*;
pub use schedules::*;
pub use session::*;
pub use vm_history::*;
pub use vm_page::*;

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use crate::error::ErrorKind;
    use crate::ConsoleError;
    use leptos::prelude::*;
    use wukong_cluster::{Audience, Console, Identity};
    use wukong_view::Viewer;
    use wukong_view::{Said, SignedOutWhy};

    pub fn console() -> Result<Console, ConsoleError> {
        use_context::<Console>()
            .ok_or_else(|| ConsoleError::new(ErrorKind::Unavailable, Said::NotConnected))
    }

    /// Who is asking, as the server's authentication middleware decided (fails closed).
    pub fn identity() -> Result<(Identity, Viewer), ConsoleError> {
        let parts = use_context::<http::request::Parts>();
        let found = parts.as_ref().and_then(|p| {
            Some((
                p.extensions.get::<Identity>()?.clone(),
                p.extensions.get::<Viewer>()?.clone(),
            ))
        });
        found.ok_or_else(|| {
            ConsoleError::new(
                ErrorKind::SignedOut,
                Said::SignedOut {
                    why: SignedOutWhy::Required,
                },
            )
        })
    }

    /// One action off `who`'s budget; a clear 429 when it is spent.
    pub fn take_budget(console: &Console, who: &Identity) -> Result<(), ConsoleError> {
        console.budget.take(who.name()).map_err(|wait| {
            let seconds = ConsoleError::retry_seconds(wait);
            ConsoleError::new(
                ErrorKind::TooMany,
                Said::TooManyActions {
                    per_minute: console.budget.per_minute(),
                    retry_after_seconds: seconds,
                },
            )
        })
    }

    /// `vms` writes of one bulk action off `who`'s bulk budget, all or none: above
    /// `--bulk-max-vms` a clear 400, over the remaining budget a 429 saying when it fits.
    pub fn take_bulk_budget(
        console: &Console,
        who: &Identity,
        vms: usize,
    ) -> Result<(), ConsoleError> {
        if vms > console.bulk_max_vms {
            return Err(ConsoleError::new(
                ErrorKind::Invalid,
                Said::BulkTooLarge {
                    vms: vms as u64,
                    max: console.bulk_max_vms as u64,
                },
            ));
        }
        let count = u32::try_from(vms).unwrap_or(u32::MAX);
        console
            .bulk_budget
            .take_many(who.name(), count)
            .map_err(|wait| {
                let seconds = ConsoleError::retry_seconds(wait);
                ConsoleError::new(
                    ErrorKind::TooMany,
                    Said::BulkOverAllowance {
                        vms: vms as u64,
                        per_minute: console.bulk_budget.per_minute(),
                        retry_after_seconds: seconds,
                    },
                )
            })
    }

    /// The person asking, with what the console needs to filter for them.
    pub fn audience(console: &Console) -> Result<Audience, ConsoleError> {
        let (who, viewer) = identity()?;
        Ok(Audience {
            who,
            viewer,
            access: console.access.clone(),
        })
    }
}
