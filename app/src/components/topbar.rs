use crate::i18n::texts;
use crate::state::ConsoleState;
use leptos::prelude::*;
use wukong_view::ClusterKind;

/// Title, which cluster, the live indicator, and the sandbox banner when it applies.
#[component]
pub fn TopBar() -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    let t = texts();
    let cluster = state.cluster.get_value();
    let sandbox = cluster.kind == ClusterKind::Sandbox;
    let live = move || state.is_live();
    view! {
        <header class="topbar">
            <h1>{t.title}</h1>
            <span class="cluster" data-testid="cluster-name">{t.connected_to}": "{cluster.name}</span>
            <span
                class="live"
                class:live-on=live
                data-testid="live-status"
                data-live=move || if live() { "connected" } else { "reconnecting" }
                title=move || state.upstream.with(|u| match u {
                    wukong_view::Upstream::Reconnecting { reason } => reason.clone(),
                    wukong_view::Upstream::Connected => String::new(),
                })
            >
                <span class="dot" aria-hidden="true"></span>
                {move || if live() { t.live } else { t.reconnecting }}
            </span>
        </header>
        {sandbox.then(|| view! {
            <div class="banner sandbox" data-testid="sandbox-banner" role="status">{t.sandbox_banner}</div>
        })}
    }
}
