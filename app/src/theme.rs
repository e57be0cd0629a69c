//! The page's colour theme: on the server, the request's `wukong-theme` cookie (else the
//! system's); in the browser, the one the server wrote on `<html data-theme>`. Both sides read
//! the same answer, so the switch hydrates as rendered.

use leptos::prelude::*;
use wukong_view::Theme;

pub fn page_theme() -> Theme {
    if let Some(theme) = use_context::<Theme>() {
        return theme;
    }
    detect()
}

#[cfg(feature = "ssr")]
fn detect() -> Theme {
    Theme::from_cookies(crate::request::cookies().as_deref())
}

#[cfg(feature = "hydrate")]
fn detect() -> Theme {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
        .and_then(|e| e.get_attribute("data-theme"))
        .and_then(|value| Theme::parse(&value))
        .unwrap_or_default()
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
fn detect() -> Theme {
    Theme::default()
}
