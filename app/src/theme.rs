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
    let Some(parts) = use_context::<http::request::Parts>() else {
        return Theme::default();
    };
    // A header may come more than once (HTTP/2 splits cookies): one list.
    let cookies = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    Theme::from_cookies(Some(&cookies))
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
