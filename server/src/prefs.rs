//! `POST /lang` and `POST /theme`: keep the person's language and colour theme in cookies and
//! send them back to the page they were on. Plain form posts, so the switches work without
//! JavaScript; same-origin like every other write (the origin guard), and open to signed-out
//! people (the sign-in page has them too).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use wukong_view::{Lang, Theme};

/// A year: a preference is not a secret and not a session.
const MAX_AGE_SECONDS: u32 = 365 * 24 * 3600;

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
    /// Where to go back to: a path on this console (anything else goes to `/`).
    back: Option<String>,
}

pub async fn choose(State(edge): State<crate::Edge>, Form(form): Form<LangForm>) -> Response {
    let Some(lang) = Lang::from_tag(&form.lang) else {
        let known: Vec<&str> = Lang::ALL.iter().map(|l| l.tag()).collect();
        return unknown("language", &form.lang, &known);
    };
    remember(&edge, Lang::COOKIE, lang.tag(), form.back.as_deref())
}

#[derive(Deserialize)]
pub struct ThemeForm {
    theme: String,
    back: Option<String>,
}

pub async fn theme(State(edge): State<crate::Edge>, Form(form): Form<ThemeForm>) -> Response {
    let Some(theme) = Theme::parse(&form.theme) else {
        let known: Vec<&str> = Theme::ALL.iter().map(|t| t.as_str()).collect();
        return unknown("theme", &form.theme, &known);
    };
    remember(&edge, Theme::COOKIE, theme.as_str(), form.back.as_deref())
}

fn unknown(what: &str, asked: &str, known: &[&str]) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!(
            "unknown {what} {asked:?}; the console has {}",
            known.join(", ")
        ),
    )
        .into_response()
}

/// Back to `back` (a local path only), with `name=value` kept for a year.
fn remember(edge: &crate::Edge, name: &str, value: &str, back: Option<&str>) -> Response {
    let mut response = Redirect::to(&local_path(back)).into_response();
    let secure = if edge.https { "; Secure" } else { "" };
    let cookie = format!(
        "{name}={value}; Path=/; Max-Age={MAX_AGE_SECONDS}; SameSite=Lax; HttpOnly{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `back` if it is a path on this console, else `/`: never a way to send someone elsewhere
/// (`//host`, `/\\host`, `https://…`, control characters).
fn local_path(back: Option<&str>) -> String {
    match back {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 2048
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_gone_back_to() {
        assert_eq!(
            local_path(Some("/?namespace=a&page=2")),
            "/?namespace=a&page=2"
        );
        assert_eq!(local_path(Some("/login?reason=idle")), "/login?reason=idle");
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "",
            "/a\r\nSet-Cookie: x=1",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(local_path(None), "/");
    }
}
