//! A moment in time as people read it: "3 minutes ago" once the browser's clock runs, with the
//! exact time in the person's time zone on hover and in UTC for machines (`datetime`). Before
//! that (the server's render, a page without JavaScript) the exact time, so server and hydration
//! render the same text.

use crate::i18n::texts;
use crate::state::ConsoleState;
use crate::zone::PageZone;
use leptos::prelude::*;
use wukong_view::{ago, iso_utc};

#[component]
pub fn Moment(at_ms: i64) -> impl IntoView {
    let t = texts();
    let state = use_context::<ConsoleState>();
    let zone = use_context::<PageZone>();
    let exact = move || match zone {
        Some(zone) => zone.0.with(|z| z.format(at_ms)),
        None => wukong_view::format_utc(at_ms),
    };
    let text = move || {
        // Measured on the server's clock, which wrote the time.
        match state.filter(|s| s.now_ms.get().is_some()) {
            Some(s) => t.ago(ago(at_ms, s.server_now_ms())),
            None => exact(),
        }
    };
    view! { <time class="muted" datetime=iso_utc(at_ms) title=exact data-testid="moment">{text}</time> }
}
