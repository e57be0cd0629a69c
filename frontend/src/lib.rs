#![recursion_limit = "512"]
//! The browser entry point: hydrates the server-rendered page. Nothing else lives here.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // `hydrate_lazy`: the VM page's view is a lazily loaded piece of the WASM (`#[lazy_route]`).
    leptos::mount::hydrate_lazy(app::App);
}
