//! The sign-in page of `--auth=token`: a plain form posted to `/auth/login` (works without
//! JavaScript). Why the person is here comes as a short code in the URL; only known codes are
//! shown, as fixed texts.

use crate::i18n::texts;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use leptos_router::{lazy_route, LazyRoute};

/// The sign-in page's route: its view is split off the main WASM (`#[lazy_route]`), since a
/// signed-in person, who loads the list, does not need it.
pub struct LoginRoute;

#[lazy_route]
impl LazyRoute for LoginRoute {
    fn data() -> Self {
        LoginRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <LoginPage/> }.into_any()
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let t = texts();
    let query = use_query_map();
    let notice = move || {
        query.with(|q| {
            let error = match q.get("error").as_deref() {
                Some("invalid") => Some(t.login_invalid),
                Some("unavailable") => Some(t.login_unavailable),
                _ => None,
            };
            let reason = match q.get("reason").as_deref() {
                Some("signed-out") => Some(t.login_signed_out),
                Some(code) => wukong_view::SignedOutWhy::parse(code).map(|why| t.signed_out(why)),
                None => None,
            };
            error.map(|e| (e, true)).or(reason.map(|r| (r, false)))
        })
    };
    view! {
        <main class="login">
            <div class="login-lang"><super::topbar::LangSwitch/><super::topbar::ThemeSwitch/></div>
            <h1>{t.login_title}</h1>
            {move || notice().map(|(text, is_error)| view! {
                <p
                    class=if is_error { "notice error" } else { "notice" }
                    role=if is_error { "alert" } else { "status" }
                    data-testid="login-notice"
                >{text}</p>
            })}
            <p class="hint">{t.login_intro}</p>
            <form method="post" action="/auth/login" class="login-form">
                <label>
                    <span>{t.login_token}</span>
                    <input
                        type="password"
                        name="token"
                        required
                        autocomplete="off"
                        spellcheck="false"
                        data-testid="login-token"
                    />
                </label>
                <button type="submit" class="primary" data-testid="login-submit">{t.login_submit}</button>
            </form>
        </main>
    }
}
