//! Keyboard behaviour shared by the dialogs: focus moves into a dialog when it opens (and when
//! its content changes), Tab and Shift+Tab stay inside it, Escape closes it, and focus goes back
//! to what opened it when it closes. The dialogs stay plain elements (`role="dialog"`,
//! `aria-modal`), so server and browser render them alike; this is browser-only behaviour.

#[cfg(feature = "hydrate")]
use leptos::prelude::*;

/// What can take focus inside a dialog.
#[cfg(feature = "hydrate")]
const FOCUSABLE: &str = "button:not([disabled]), input:not([disabled]), select:not([disabled]), \
                         textarea:not([disabled]), a[href], [tabindex]:not([tabindex=\"-1\"])";

/// A key pressed in a dialog: Escape closes it, Tab and Shift+Tab wrap around inside it.
pub fn on_key(ev: leptos::ev::KeyboardEvent, close: impl Fn()) {
    if ev.key() == "Escape" {
        ev.prevent_default();
        close();
    } else if ev.key() == "Tab" {
        #[cfg(feature = "hydrate")]
        wrap_tab(&ev);
    }
}

#[cfg(feature = "hydrate")]
fn wrap_tab(ev: &leptos::ev::KeyboardEvent) {
    use wasm_bindgen::JsCast;
    let Some(dialog) = ev
        .current_target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return;
    };
    let Ok(list) = dialog.query_selector_all(FOCUSABLE) else {
        return;
    };
    let count = list.length();
    let (Some(first), Some(last)) = (list.item(0), list.item(count.saturating_sub(1))) else {
        return;
    };
    let active = document().active_element();
    let is = |node: &web_sys::Node| active.as_ref().is_some_and(|a| a.is_same_node(Some(node)));
    let inside = active.as_ref().is_some_and(|a| dialog.contains(Some(a)));
    let next = if ev.shift_key() && (is(&first) || !inside) {
        Some(last)
    } else if !ev.shift_key() && (is(&last) || !inside) {
        Some(first)
    } else {
        None
    };
    if let Some(element) = next.and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok()) {
        ev.prevent_default();
        let _ = element.focus();
    }
}

/// Moves focus to the first thing that can take it inside the element `selector` names (a
/// dialog), once the page shows it.
pub fn focus_into(selector: &'static str) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(0).await;
        let found = document()
            .query_selector(selector)
            .ok()
            .flatten()
            .and_then(|dialog| dialog.query_selector(FOCUSABLE).ok().flatten());
        focus_element(found);
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = selector;
}

/// Gives focus back after a dialog closes: to the first of `selectors` on the page that can
/// take it (the button that opened the dialog may have been disabled by what it did).
pub fn focus_back(selectors: Vec<String>) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(0).await;
        let found = selectors.iter().find_map(|selector| {
            document()
                .query_selector(selector)
                .ok()
                .flatten()
                .filter(|e| !e.has_attribute("disabled"))
        });
        focus_element(found);
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = selectors;
}

#[cfg(feature = "hydrate")]
fn focus_element(element: Option<web_sys::Element>) {
    use wasm_bindgen::JsCast;
    if let Some(element) = element.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = element.focus();
    }
}

/// The selector of a VM's row.
pub fn row_selector(key: &wukong_view::VmKey) -> String {
    format!(
        "tr[data-testid=\"vm-row\"][data-namespace=\"{}\"][data-name=\"{}\"]",
        key.namespace, key.name
    )
}
