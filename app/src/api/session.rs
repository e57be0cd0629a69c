use crate::ConsoleError;
use leptos::prelude::*;

/// Whether the caller still has a session (`ConsoleError::SignedOut` when not). The live client
/// asks when its socket is refused, so an ended session leads to the sign-in page.
#[server(endpoint = "session", output = crate::codec::TextJson)]
pub async fn session() -> Result<(), ConsoleError> {
    super::ssr::identity().map(drop)
}
