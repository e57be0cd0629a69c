//! Timestamps as people read them, rendered the same on server and browser so hydration
//! matches: the exact time in the page's time zone (an offset the caller looks up: jiff's
//! bundled tz database on the server, the browser's own `Intl` in the page), and how long ago.

/// The cookie that remembers the browser's time zone (an IANA name), so the server renders times
/// in it too. Without it, times are UTC.
pub const ZONE_COOKIE: &str = "wukong-tz";

/// `name` if it reads like an IANA time-zone name ("Asia/Shanghai", "America/Argentina/Salta",
/// "Etc/GMT+8", "UTC"): letters, digits and `/_+-`, at most 64 bytes. Whether the zone exists is
/// for a tz database to say; this keeps anything else out of it, the page and the cookie.
pub fn zone_name(name: &str) -> Option<&str> {
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '-');
    (!name.is_empty()
        && name.len() <= 64
        && name.chars().all(fits)
        && name.starts_with(|c: char| c.is_ascii_alphabetic()))
    .then_some(name)
}

/// The time zone a request's `Cookie` header remembers, if it is well formed.
pub fn zone_from_cookies(cookie_header: Option<&str>) -> Option<&str> {
    cookie_header
        .and_then(|h| crate::lang::cookie_value(h, ZONE_COOKIE))
        .and_then(zone_name)
}

/// An offset from UTC as a person reads it unambiguously: `UTC`, `UTC+8`, `UTC-5`, `UTC+5:30`.
pub fn zone_label(offset_seconds: i32) -> String {
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let minutes = offset_seconds.unsigned_abs() / 60;
    match (minutes / 60, minutes % 60) {
        (0, 0) => "UTC".to_owned(),
        (h, 0) => format!("UTC{sign}{h}"),
        (h, m) => format!("UTC{sign}{h}:{m:02}"),
    }
}

/// `2026-11-26 15:30:12 UTC+8`: the local time at `offset_seconds` from UTC, with the offset.
pub fn format_at(unix_ms: i64, offset_seconds: i32) -> String {
    let secs = unix_ms.div_euclid(1000) + i64::from(offset_seconds);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} {}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        zone_label(offset_seconds)
    )
}

/// When a scheduled action happens, as its schedule's zone reads it (`offset_seconds`): how
/// many days after `now_ms`'s date there, the `MM-DD` date, `HH:MM`, and the zone (`UTC+8`).
pub fn when(at_ms: i64, offset_seconds: i32, now_ms: i64) -> (i64, String, String, String) {
    let local = |ms: i64| ms.div_euclid(1000) + i64::from(offset_seconds);
    let (secs, now) = (local(at_ms), local(now_ms));
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (_, m, d) = civil_from_days(days);
    (
        days - now.div_euclid(86_400),
        format!("{m:02}-{d:02}"),
        format!("{:02}:{:02}", rem / 3600, (rem % 3600) / 60),
        zone_label(offset_seconds),
    )
}

/// `2026-11-26 07:30:12 UTC` from Unix milliseconds.
pub fn format_utc(unix_ms: i64) -> String {
    format_at(unix_ms, 0)
}

/// `2026-11-26T07:30:12Z`: the machine-readable form (`<time datetime>`).
pub fn iso_utc(unix_ms: i64) -> String {
    let text = format_utc(unix_ms);
    format!("{}T{}Z", &text[..10], &text[11..19])
}

/// How long ago something happened, in the unit a person reads it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ago {
    /// Under a minute (or a little in the future: clocks differ).
    JustNow,
    Minutes(u64),
    Hours(u64),
    Days(u64),
}

/// `then_ms` seen from `now_ms` (both Unix milliseconds), rounded down to whole units.
pub fn ago(then_ms: i64, now_ms: i64) -> Ago {
    let seconds = u64::try_from(now_ms.saturating_sub(then_ms) / 1000).unwrap_or(0);
    match seconds {
        0..=59 => Ago::JustNow,
        60..=3_599 => Ago::Minutes(seconds / 60),
        3_600..=86_399 => Ago::Hours(seconds / 3_600),
        _ => Ago::Days(seconds / 86_400),
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_795_678_212_999), "2026-11-26 07:30:12 UTC");
        assert_eq!(iso_utc(1_795_678_212_999), "2026-11-26T07:30:12Z");
    }

    #[test]
    fn local_times_carry_their_offset_and_cross_midnight_and_leap_days() {
        let at = 1_795_678_212_999; // 2026-11-26 07:30:12 UTC
        assert_eq!(format_at(at, 8 * 3600), "2026-11-26 15:30:12 UTC+8");
        assert_eq!(format_at(at, -5 * 3600), "2026-11-26 02:30:12 UTC-5");
        assert_eq!(format_at(at, -8 * 3600), "2026-11-25 23:30:12 UTC-8");
        assert_eq!(
            format_at(at, 5 * 3600 + 1800),
            "2026-11-26 13:00:12 UTC+5:30"
        );
        assert_eq!(
            format_at(at, 5 * 3600 + 2700),
            "2026-11-26 13:15:12 UTC+5:45"
        );
        assert_eq!(
            format_at(at, -(3 * 3600 + 1800)),
            "2026-11-26 04:00:12 UTC-3:30"
        );
        // 2028-02-28 20:00 UTC is the leap day in Shanghai.
        assert_eq!(
            format_at(1_835_380_800_000, 8 * 3600),
            "2028-02-29 04:00:00 UTC+8"
        );
    }

    #[test]
    fn only_names_shaped_like_iana_zones_are_taken() {
        for ok in [
            "UTC",
            "Asia/Shanghai",
            "America/Argentina/Salta",
            "Etc/GMT+8",
            "America/Port-au-Prince",
        ] {
            assert_eq!(zone_name(ok), Some(ok));
        }
        for bad in [
            "",
            "../etc/passwd",
            "Asia/Shanghai; x=1",
            "<script>",
            "/UTC",
            &"A".repeat(65),
        ] {
            assert_eq!(zone_name(bad), None, "{bad}");
        }
        assert_eq!(
            zone_from_cookies(Some("a=1; wukong-tz=Europe/Berlin")),
            Some("Europe/Berlin")
        );
        assert_eq!(zone_from_cookies(Some("wukong-tz=Europe/Berlin<")), None);
        assert_eq!(zone_from_cookies(None), None);
    }

    #[test]
    fn ago_picks_the_unit_a_person_reads() {
        let now = 1_795_678_212_000;
        assert_eq!(ago(now, now), Ago::JustNow);
        assert_eq!(
            ago(now + 5_000, now),
            Ago::JustNow,
            "a clock a little ahead"
        );
        assert_eq!(ago(now - 59_999, now), Ago::JustNow);
        assert_eq!(ago(now - 60_000, now), Ago::Minutes(1));
        assert_eq!(ago(now - 3_599_000, now), Ago::Minutes(59));
        assert_eq!(ago(now - 3_600_000, now), Ago::Hours(1));
        assert_eq!(ago(now - 86_400_000 * 3, now), Ago::Days(3));
    }
}

#[cfg(test)]
mod when_tests {
    use super::when;

    #[test]
    fn a_scheduled_time_is_read_in_the_schedules_zone_relative_to_today_there() {
        // 2026-12-03T12:00:00Z is 20:00 in UTC+8, on the 3rd; now is 10:00 there.
        let at = 1_796_299_200_000;
        let now = at - 10 * 3_600_000;
        assert_eq!(
            when(at, 8 * 3600, now),
            (0, "12-03".into(), "20:00".into(), "UTC+8".into())
        );
        // Seen from 23:00 the day before (in UTC+8), it is tomorrow.
        assert_eq!(when(at, 8 * 3600, at - 21 * 3_600_000).0, 1);
        // New York in winter: 07:00 on the 3rd.
        assert_eq!(when(at, -5 * 3600, now).2, "07:00");
    }
}
