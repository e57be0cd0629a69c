//! The colour theme a person picked: the system's (`prefers-color-scheme`), light or dark. Kept
//! in a cookie like the language, written on `<html data-theme>` by the server and read back from
//! there by the browser, so both render the same switch.

use crate::cookie_value;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Theme {
    /// Follow the system's setting (`prefers-color-scheme`).
    #[default]
    System,
    Light,
    Dark,
}

impl Theme {
    pub const ALL: [Theme; 3] = [Theme::System, Theme::Light, Theme::Dark];

    /// The cookie that keeps the person's choice.
    pub const COOKIE: &'static str = "wukong-theme";

    /// The cookie's value and the form's.
    pub const fn as_str(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn parse(value: &str) -> Option<Theme> {
        Theme::ALL.into_iter().find(|t| t.as_str() == value.trim())
    }

    /// `<html data-theme>`: none for the system's.
    pub const fn attribute(self) -> Option<&'static str> {
        match self {
            Theme::System => None,
            theme => Some(theme.as_str()),
        }
    }

    /// The theme a request's `Cookie` header keeps; the system's without one.
    pub fn from_cookies(cookie_header: Option<&str>) -> Theme {
        cookie_header
            .and_then(|h| cookie_value(h, Theme::COOKIE))
            .and_then(Theme::parse)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_picks_the_theme_and_anything_else_is_the_systems() {
        assert_eq!(
            Theme::from_cookies(Some("a=1; wukong-theme=dark")),
            Theme::Dark
        );
        assert_eq!(
            Theme::from_cookies(Some("wukong-theme=light")),
            Theme::Light
        );
        assert_eq!(
            Theme::from_cookies(Some("wukong-theme=blue")),
            Theme::System
        );
        assert_eq!(Theme::from_cookies(None), Theme::System);
        for theme in Theme::ALL {
            assert_eq!(Theme::parse(theme.as_str()), Some(theme));
        }
        assert_eq!(Theme::System.attribute(), None);
        assert_eq!(Theme::Dark.attribute(), Some("dark"));
    }
}
