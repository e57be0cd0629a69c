//! The console page and its parts.

mod bulk;
mod dialog;
mod filters;
mod history;
mod login;
mod modal;
mod moment;
mod schedules;
mod table;
mod toasts;
mod topbar;
mod vm_page;

use crate::api::list_vms;
use crate::i18n::texts;
use crate::state::ConsoleState;
use leptos::prelude::*;
use wukong_view::Snapshot;

pub use login::LoginRoute;
pub use schedules::SchedulesRoute;
pub use vm_page::VmRoute;

/// The one page: loads the snapshot (server-rendered), then keeps it live in the browser.
#[component]
pub fn ConsolePage() -> impl IntoView {
    // The page's view comes from its address, so a filtered or paged link renders as such.
    let query = leptos_router::hooks::use_query_map().get_untracked();
    let snapshot = Resource::new_blocking(
        move || query.clone(),
        |query| {
            let get = |name: &str| query.get(name);
            list_vms(
                get("namespace"),
                get("q"),
                get("sort"),
                get("page"),
                get("size"),
            )
        },
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">{texts().loading}</p> }>
            {move || Suspend::new(async move {
                match snapshot.await {
                    Ok(snapshot) => view! { <Console snapshot/> }.into_any(),
                    Err(e) => view! {
                        <main class="console">
                            <div class="error-state" role="alert" data-testid="load-error">
                                <h2>{texts().load_failed}</h2>
                                <p>{texts().said(&e.said, &e.message)}</p>
                            </div>
                        </main>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Console(snapshot: Snapshot) -> impl IntoView {
    let state = ConsoleState::new(snapshot);
    provide_context(state);
    // Effects run only in the browser: start the live stream and the clock, mark hydration.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            state.hydrated.set(true);
            crate::live_client::connect(state);
            start_clock(state);
            mark_hydrated();
        }
    });
    view! {
        <topbar::TopBar/>
        <main class="console">
            <filters::FilteredTable/>
        </main>
        <dialog::ConfirmDialog/>
        <history::HistoryPanel/>
        <bulk::BulkDialog/>
        <toasts::Toasts/>
    }
}

#[cfg(feature = "hydrate")]
fn start_clock(state: ConsoleState) {
    let tick = move || state.now_ms.set(Some(js_sys::Date::now() as i64));
    state.clock_started(js_sys::Date::now() as i64);
    tick();
    // The interval lives as long as the page.
    let _ = set_interval_with_handle(tick, std::time::Duration::from_secs(1));
}

/// Lets tests (and people with slow machines) see when buttons start working.
#[cfg(feature = "hydrate")]
fn mark_hydrated() {
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
