//! The Wukong Console application: every component, route and server function.
//!
//! `frontend` hydrates it in the browser (feature `hydrate`), `server` renders it and serves its
//! server functions (feature `ssr`); the two features are never on together.

#![recursion_limit = "512"]

mod actions;
pub mod api;
mod codec;
mod components;
mod error;
mod i18n;
#[cfg(feature = "hydrate")]
mod live_client;
#[cfg(feature = "ssr")]
mod request;
mod state;
mod theme;
mod zone;

pub use error::{ConsoleError, ErrorKind};

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{ParamSegment, SsrMode, StaticSegment};

/// The build that serves this page (the server's `site_build`, the hash of its WASM). The page
/// names it in `<meta name="wukong-build">`; the live socket names the build that answers it, and
/// a tab left open across an upgrade sees the two differ and asks to be reloaded.
#[derive(Clone, Debug)]
pub struct SiteBuild(pub std::sync::Arc<str>);

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The page's language, from the request; the browser reads it back from `lang` on hydration.
    let lang = i18n::page_lang();
    provide_context(lang);
    // The theme the person picked (none: the system's); the browser reads it back likewise.
    let theme = theme::page_theme();
    provide_context(theme);
    // The time zone times are rendered in (UTC until the browser has said its own).
    let zone = zone::page_zone();
    provide_context(zone.clone());
    view! {
        <!DOCTYPE html>
        <html lang=lang.tag() data-theme=theme.attribute() data-tz=zone.attribute()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                {use_context::<SiteBuild>().map(|build| view! {
                    <meta name="wukong-build" content=build.0.to_string()/>
                })}
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_context(i18n::page_lang());
    provide_context(theme::page_theme());
    let zone = zone::PageZone(RwSignal::new(zone::page_zone()));
    provide_context(zone);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| zone::adopt_browser_zone(zone));
    view! {
        <Title text=i18n::texts().title/>
        <Router>
            <Routes fallback=|| i18n::texts().not_found.into_view()>
                // Async: the whole list is in the first HTML response, so it reads without JavaScript.
                <Route path=StaticSegment("") view=components::ConsolePage ssr=SsrMode::Async/>
                <Route path=StaticSegment("login") view={leptos_router::Lazy::<components::LoginRoute>::new()}/>
                // Power schedules, read and written as the person.
                <Route
                    path=StaticSegment("schedules")
                    view={leptos_router::Lazy::<components::SchedulesRoute>::new()}
                    ssr=SsrMode::Async
                />
                // One VM, read as the person; server-rendered whole like the list.
                <Route
                    path=(StaticSegment("vm"), ParamSegment("namespace"), ParamSegment("name"))
                    view={leptos_router::Lazy::<components::VmRoute>::new()}
                    ssr=SsrMode::Async
                />
            </Routes>
        </Router>
    }
}
