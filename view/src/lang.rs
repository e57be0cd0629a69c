//! The console's languages and how a request picks one: the person's choice (a cookie), else the
//! browser's `Accept-Language`, else English. Pure, so the server and its tests agree on it.

use serde::{Deserialize, Serialize};

/// A language the console speaks. The tag is what `<html lang>` and the cookie carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// The cookie that keeps the person's choice.
    pub const COOKIE: &'static str = "wukong-lang";

    /// The BCP 47 tag (`<html lang>`, the cookie's value).
    pub const fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language's own name for itself (the switch shows it in that language).
    pub const fn endonym(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "中文",
        }
    }

    /// The language a BCP 47 tag asks for, if the console has it. Any English is English; any
    /// Chinese is the simplified Chinese the console has (closer to a Chinese reader than English).
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?;
        if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else if primary.eq_ignore_ascii_case("zh") {
            Some(Lang::ZhCn)
        } else {
            None
        }
    }

    /// The language for a request: the cookie's (the `Cookie` header), else the first language of
    /// `Accept-Language` the console has, by preference (`q`), else English.
    pub fn negotiate(cookie_header: Option<&str>, accept_language: Option<&str>) -> Lang {
        cookie_header
            .and_then(|h| cookie_value(h, Lang::COOKIE))
            .and_then(Lang::from_tag)
            .or_else(|| accept_language.and_then(from_accept_language))
            .unwrap_or_default()
    }
}

/// A cookie's value in a `Cookie` header (`a=1; b=2`).
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// The most preferred language of an `Accept-Language` value that the console has. `q=0` means
/// "not this one"; a malformed `q` drops its entry; ties keep the header's order; `*` is English.
fn from_accept_language(header: &str) -> Option<Lang> {
    let mut ranked: Vec<(u16, usize, Lang)> = header
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let mut q = 1000;
            for p in parts {
                let (k, v) = p.split_once('=')?;
                if k.trim().eq_ignore_ascii_case("q") {
                    q = quality(v.trim())?;
                }
            }
            let lang = if tag == "*" {
                Lang::En
            } else {
                Lang::from_tag(tag)?
            };
            (q > 0).then_some((q, i, lang))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.first().map(|r| r.2)
}

/// RFC 9110's qvalue (`0`, `0.5`, `1.000`) in thousandths.
fn quality(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let frac = format!("{frac:0<3}").parse::<u16>().ok()?;
    let q = whole + frac;
    (q <= 1000).then_some(q)
}

/// A count with thousands grouped (`10,000`): the same in English and in Chinese.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_wins_then_accept_language_then_english() {
        let n = Lang::negotiate;
        assert_eq!(n(Some("a=1; wukong-lang=zh-CN"), Some("en-US")), Lang::ZhCn);
        assert_eq!(n(Some("wukong-lang=en"), Some("zh-CN,zh;q=0.9")), Lang::En);
        // A cookie naming no language the console has is ignored.
        assert_eq!(n(Some("wukong-lang=fr"), Some("zh")), Lang::ZhCn);
        assert_eq!(n(None, Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::ZhCn);
        assert_eq!(n(None, Some("de-DE,zh-Hans;q=0.5,en;q=0.4")), Lang::ZhCn);
        assert_eq!(n(None, Some("de-DE,fr;q=0.5")), Lang::En);
        assert_eq!(n(None, None), Lang::En);
        assert_eq!(n(Some("other=zh-CN"), None), Lang::En);
    }

    #[test]
    fn accept_language_follows_quality_not_order() {
        let a = |h| from_accept_language(h);
        assert_eq!(a("en;q=0.5, zh-CN;q=0.9"), Some(Lang::ZhCn));
        assert_eq!(a("zh;q=0, en"), Some(Lang::En));
        assert_eq!(a("zh;q=0"), None);
        assert_eq!(a("zh-TW, en;q=0.1"), Some(Lang::ZhCn));
        assert_eq!(
            a("en, zh"),
            Some(Lang::En),
            "a tie keeps the header's order"
        );
        assert_eq!(a("*;q=0.1, fr"), Some(Lang::En));
        assert_eq!(a("zh;q=2, en;q=0.3"), Some(Lang::En), "q=2 is malformed");
        assert_eq!(a("zh;q=abc"), None);
        assert_eq!(a(""), None);
        assert_eq!(a(",,;;=,"), None);
    }

    #[test]
    fn tags_round_trip() {
        for lang in Lang::ALL {
            assert_eq!(Lang::from_tag(lang.tag()), Some(lang));
        }
        assert_eq!(Lang::from_tag("ZH_cn"), Some(Lang::ZhCn));
        assert_eq!(Lang::from_tag("english"), None);
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(10_000), "10,000");
        assert_eq!(group_digits(1_234_567), "1,234,567");
    }
}
