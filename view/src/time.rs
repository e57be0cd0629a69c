//! Timestamps rendered the same on server and browser (no locale, no clock), so hydration matches.

/// `2026-11-26 07:30:12 UTC` from Unix milliseconds.
pub fn format_utc(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
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
