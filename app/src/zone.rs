//! The time zone times are shown in: the browser's, remembered in the `wukong-tz` cookie so the
//! server renders in it too; UTC until it is known (a first visit, a page without JavaScript).
//!
//! The server writes the zone it rendered in on `<html data-tz>`; the browser starts from the
//! same, so hydration agrees, then switches to its own zone and remembers it. Offsets come from
//! jiff's bundled tz database on the server (images have no `/usr/share/zoneinfo`) and from the
//! browser's own `Intl` in the page, so the WASM carries no tz database.

use leptos::prelude::*;

/// A time zone by IANA name; `None` is UTC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Zone(Option<String>);

impl Zone {
    /// The zone named `name` if it is well formed and known here; else UTC.
    pub fn named(name: Option<&str>) -> Zone {
        Zone(
            name.and_then(wukong_view::zone_name)
                .filter(|name| offset_in(name, 0).is_some())
                .map(str::to_owned),
        )
    }

    /// For `<html data-tz>`: omitted for UTC.
    pub fn attribute(&self) -> Option<String> {
        self.0.clone()
    }

    /// The offset from UTC at `at_ms` (Unix milliseconds), in seconds.
    pub fn offset_seconds(&self, at_ms: i64) -> i32 {
        self.0
            .as_deref()
            .and_then(|name| offset_in(name, at_ms))
            .unwrap_or(0)
    }

    /// `2026-11-26 15:30:12 UTC+8`.
    pub fn format(&self, at_ms: i64) -> String {
        wukong_view::format_at(at_ms, self.offset_seconds(at_ms))
    }
}

/// The page's zone, shared by every time on it: it changes once, when the browser says its own.
#[derive(Clone, Copy)]
pub struct PageZone(pub RwSignal<Zone>);

/// The zone of the page being rendered: on the server, the request's cookie; in the browser, the
/// one the server wrote on `<html data-tz>`.
pub fn page_zone() -> Zone {
    if let Some(zone) = use_context::<Zone>() {
        return zone;
    }
    detect()
}

#[cfg(feature = "ssr")]
fn detect() -> Zone {
    let cookies = crate::request::cookies();
    Zone::named(wukong_view::zone_from_cookies(cookies.as_deref()))
}

#[cfg(feature = "hydrate")]
fn detect() -> Zone {
    let name = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
        .and_then(|e| e.get_attribute("data-tz"));
    Zone::named(name.as_deref())
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
fn detect() -> Zone {
    Zone::default()
}

#[cfg(feature = "ssr")]
fn offset_in(name: &str, at_ms: i64) -> Option<i32> {
    let zone = jiff::tz::TimeZone::get(name).ok()?;
    let at = jiff::Timestamp::from_millisecond(at_ms).ok()?;
    Some(zone.to_offset(at).seconds())
}

/// What `Intl` says the offset of zone `name` is at `at_ms`: it writes `GMT+08:00`, `GMT-03:30`
/// or `GMT` for the `longOffset` time-zone name.
#[cfg(feature = "hydrate")]
fn offset_in(name: &str, at_ms: i64) -> Option<i32> {
    use wasm_bindgen::JsCast;
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"timeZone".into(), &name.into()).ok()?;
    js_sys::Reflect::set(&options, &"timeZoneName".into(), &"longOffset".into()).ok()?;
    // Constructed through Reflect: an unknown zone throws, which is an answer here, not a panic.
    let intl = js_sys::Reflect::get(&js_sys::global(), &"Intl".into()).ok()?;
    let constructor = js_sys::Reflect::get(&intl, &"DateTimeFormat".into()).ok()?;
    let args = js_sys::Array::of2(&"en-US".into(), &options);
    let format: js_sys::Intl::DateTimeFormat =
        js_sys::Reflect::construct(constructor.dyn_ref::<js_sys::Function>()?, &args)
            .ok()?
            .dyn_into()
            .ok()?;
    let date = js_sys::Date::new(&(at_ms as f64).into());
    let parts = format.format_to_parts(&date);
    let offset = parts.iter().find_map(|part| {
        let kind = js_sys::Reflect::get(&part, &"type".into())
            .ok()?
            .as_string()?;
        (kind == "timeZoneName")
            .then(|| {
                js_sys::Reflect::get(&part, &"value".into())
                    .ok()?
                    .as_string()
            })
            .flatten()
    })?;
    parse_gmt_offset(&offset)
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
fn offset_in(name: &str, _at_ms: i64) -> Option<i32> {
    (name == "UTC").then_some(0)
}

/// `GMT+08:00` → 28800, `GMT-03:30` → -12600, `GMT` → 0.
#[cfg_attr(not(any(feature = "hydrate", test)), allow(dead_code))]
fn parse_gmt_offset(text: &str) -> Option<i32> {
    let rest = text.strip_prefix("GMT")?;
    if rest.is_empty() {
        return Some(0);
    }
    let (sign, rest) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' | 0xe2 => (-1, rest.trim_start_matches(['-', '\u{2212}'])),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "0"));
    let seconds = hours.parse::<i32>().ok()? * 3600 + minutes.parse::<i32>().ok()? * 60;
    Some(sign * seconds)
}

/// Once the page runs: the browser's own zone becomes the page's, and is remembered for the
/// server's next render.
#[cfg(feature = "hydrate")]
pub fn adopt_browser_zone(page: PageZone) {
    let resolved = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new())
        .resolved_options();
    let Some(name) = js_sys::Reflect::get(&resolved, &"timeZone".into())
        .ok()
        .and_then(|v| v.as_string())
    else {
        return;
    };
    let zone = Zone::named(Some(&name));
    if zone.0.is_none() {
        return;
    }
    if page.0.get_untracked() != zone {
        page.0.set(zone);
    }
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        let cookie = format!(
            "{}={name}; Path=/; Max-Age=31536000; SameSite=Lax",
            wukong_view::ZONE_COOKIE
        );
        let _ = js_sys::Reflect::set(&document, &"cookie".into(), &cookie.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intl_offsets_are_read() {
        assert_eq!(parse_gmt_offset("GMT"), Some(0));
        assert_eq!(parse_gmt_offset("GMT+08:00"), Some(28_800));
        assert_eq!(parse_gmt_offset("GMT-03:30"), Some(-12_600));
        assert_eq!(parse_gmt_offset("GMT\u{2212}05:00"), Some(-18_000));
        assert_eq!(parse_gmt_offset("GMT+5"), Some(18_000));
        assert_eq!(parse_gmt_offset("UTC+1"), None);
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_server_renders_in_the_remembered_zone_across_daylight_saving() {
        let new_york = Zone::named(Some("America/New_York"));
        // 2026-07-01 12:00 UTC (summer time) and 2026-12-01 12:00 UTC.
        assert_eq!(
            new_york.format(1_782_907_200_000),
            "2026-07-01 08:00:00 UTC-4"
        );
        assert_eq!(
            new_york.format(1_796_126_400_000),
            "2026-12-01 07:00:00 UTC-5"
        );
        let shanghai = Zone::named(Some("Asia/Shanghai"));
        assert_eq!(
            shanghai.format(1_796_126_400_000),
            "2026-12-01 20:00:00 UTC+8"
        );
        assert_eq!(shanghai.attribute().as_deref(), Some("Asia/Shanghai"));
        // Unknown or malformed: UTC, and nothing written on the page.
        for name in ["Mars/Olympus_Mons", "Asia/Shanghai\"", ""] {
            let zone = Zone::named(Some(name));
            assert_eq!(zone.attribute(), None, "{name}");
            assert_eq!(zone.format(1_796_126_400_000), "2026-12-01 12:00:00 UTC");
        }
    }
}
