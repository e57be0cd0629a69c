use crate::i18n::texts;
use crate::state::ConsoleState;
use leptos::prelude::*;
use wukong_view::{ClusterKind, ControllerPresence, SignIn};

/// Title, which cluster, the live indicator, and the sandbox banner when it applies.
#[component]
pub fn TopBar() -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    let t = texts();
    let cluster = state.cluster.get_value();
    let sandbox = cluster.kind == ClusterKind::Sandbox;
    let viewer = state.viewer.get_value();
    let open_cluster = !sandbox && viewer.sign_in == SignIn::Open;
    let sign_out = viewer.sign_in == SignIn::Token;
    let live = move || state.is_live();
    view! {
        <header class="topbar">
            <h1>{t.title}</h1>
            <a href="/schedules" class="nav" data-testid="schedules-link">{t.schedules}</a>
            <span class="cluster" data-testid="cluster-name">{t.cluster}<span translate="no">{cluster.name}</span></span>
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
            {viewer.name.map(|name| view! {
                <span class="viewer" data-testid="viewer">{t.signed_in_as}" "<strong>{name}</strong></span>
            })}
            <LangSwitch/>
            <ThemeSwitch/>
            {sign_out.then(|| view! {
                // A plain form: signing out works without JavaScript, and is a same-origin POST.
                <form method="post" action="/auth/logout" class="sign-out">
                    <button type="submit" class="secondary" data-testid="sign-out">{t.sign_out}</button>
                </form>
            })}
        </header>
        {sandbox.then(|| view! {
            <div class="banner sandbox" data-testid="sandbox-banner" role="status">
                {t.sandbox_banner}
                {(viewer.sign_in == SignIn::Open).then_some(t.open_sandbox_note)}
            </div>
        })}
        {open_cluster.then(|| view! {
            <div class="banner open" data-testid="open-banner" role="status">{t.open_banner}</div>
        })}
        <ControllerBanner/>
        {move || state.upgraded.get().then(|| view! {
            <div class="banner upgraded" data-testid="upgrade-banner" role="status">
                {t.upgraded}" "
                <button type="button" class="secondary" data-testid="upgrade-reload" on:click=|_| reload()>
                    {t.reload}
                </button>
            </div>
        })}
    }
}

/// Loads the page again, from the server's new build.
fn reload() {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().reload();
    }
}

/// Says so when no controller carries out requests: none holds the Lease, or requests on this
/// page have gone unanswered for too long.
#[component]
fn ControllerBanner() -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    let t = texts();
    let waiting = move || {
        state.rows.with(|rows| {
            rows.iter()
                .filter(|e| state.waiting_for_controller(&e.row))
                .count()
        })
    };
    move || {
        if state.controller.get() == ControllerPresence::Absent {
            Some(view! {
                <div class="banner controller" data-testid="controller-banner" data-reason="absent" role="status">
                    {t.controller_absent}
                </div>
            }.into_any())
        } else {
            let n = waiting();
            (n > 0).then(|| view! {
                <div class="banner controller" data-testid="controller-banner" data-reason="unanswered" role="status">
                    {t.controller_unanswered}{n}
                </div>
            }.into_any())
        }
    }
}

/// The switch to the other language: a plain form (works without JavaScript) that keeps the
/// choice in a cookie and comes back to the same address, filters and page included.
#[component]
pub fn LangSwitch() -> impl IntoView {
    let other = match texts().lang {
        wukong_view::Lang::En => wukong_view::Lang::ZhCn,
        wukong_view::Lang::ZhCn => wukong_view::Lang::En,
    };
    let back = here();
    view! {
        <form method="post" action="/lang" class="lang-switch">
            <input type="hidden" name="back" value=back/>
            <button type="submit" class="secondary" name="lang" value=other.tag() lang=other.tag()
                data-testid="lang-switch">
                {other.endonym()}
            </button>
        </form>
    }
}

/// The address of the page (path and query), for a switch's way back: filters and page kept.
fn here() -> impl Fn() -> String + Copy {
    let location = leptos_router::hooks::use_location();
    move || {
        let search = location.search.get();
        let search = search.trim_start_matches('?');
        let path = location.pathname.get();
        if search.is_empty() {
            path
        } else {
            format!("{path}?{search}")
        }
    }
}

/// The colour theme: the system's, light or dark, as three buttons of a plain form (works
/// without JavaScript); `POST /theme` keeps the choice in a cookie and comes back here.
#[component]
pub fn ThemeSwitch() -> impl IntoView {
    let t = texts();
    let current = crate::theme::page_theme();
    let back = here();
    let buttons = wukong_view::Theme::ALL
        .into_iter()
        .map(|theme| {
            let pressed = if theme == current { "true" } else { "false" };
            view! {
                <button type="submit" class="secondary" name="theme" value=theme.as_str()
                    aria-pressed=pressed data-testid="theme-switch" data-choice=theme.as_str()>
                    {t.theme(theme)}
                </button>
            }
        })
        .collect_view();
    view! {
        <form method="post" action="/theme" class="theme-switch" role="group" aria-label=t.theme_label>
            <input type="hidden" name="back" value=back/>
            {buttons}
        </form>
    }
}
