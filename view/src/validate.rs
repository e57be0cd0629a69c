//! Checks at the edge: every request is validated before anything is changed.

use crate::VmKey;
use wukong_lifecycle::{validate_grace_period, Action};

/// A request that passed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidRequest {
    pub key: VmKey,
    pub action: Action,
    /// Only for a graceful stop; a force stop always uses 0.
    pub grace_period_seconds: Option<u32>,
}

/// Validates a raw action request: DNS-1123 namespace and name, a known action, and a grace
/// period of 0–3600 s (only meaningful for `stop`).
pub fn validate_request(
    namespace: &str,
    name: &str,
    action: &str,
    grace_period_seconds: Option<i64>,
) -> Result<ValidRequest, String> {
    validate_dns1123_label("namespace", namespace)?;
    validate_dns1123_subdomain("name", name)?;
    let (action, grace_period_seconds) = validate_action(action, grace_period_seconds)?;
    Ok(ValidRequest {
        key: VmKey::new(namespace, name),
        action,
        grace_period_seconds,
    })
}

/// A known action, and a grace period of 0–3600 s that only `stop` may carry.
pub fn validate_action(
    action: &str,
    grace_period_seconds: Option<i64>,
) -> Result<(Action, Option<u32>), String> {
    let action: Action = action.parse().map_err(|e| format!("{e}"))?;
    let grace_period_seconds = match grace_period_seconds {
        None => None,
        Some(_) if action != Action::Stop => {
            return Err(format!(
                "a grace period only applies to stop, not to {action}"
            ));
        }
        Some(seconds) => Some(validate_grace_period(seconds).map_err(|e| e.to_string())?),
    };
    Ok((action, grace_period_seconds))
}

/// A Kubernetes object uid as the browser sends it back: at most 128 letters, digits and '-'.
pub fn validate_uid(uid: &str) -> Result<(), String> {
    let ok = !uid.is_empty()
        && uid.len() <= 128
        && uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "uid {uid:?} is not a Kubernetes uid (1–128 letters, digits and '-')"
        ))
    }
}

/// A namespace: at most 63 lowercase letters, digits and '-', starting and ending alphanumeric.
pub fn validate_dns1123_label(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 63 {
        return Err(format!(
            "{what} must be 1–63 characters long (got {})",
            value.len()
        ));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !value.chars().all(ok_char) || !alnum(value.chars().next()) || !alnum(value.chars().last()) {
        return Err(format!(
            "{what} {value:?} is not a valid DNS-1123 label: use lowercase letters, digits and '-', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A resource name: dot-separated DNS-1123 labels, at most 253 characters.
pub fn validate_dns1123_subdomain(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 253 {
        return Err(format!(
            "{what} must be 1–253 characters long (got {})",
            value.len()
        ));
    }
    value
        .split('.')
        .try_for_each(|label| validate_dns1123_label(what, label))
        .map_err(|_| format!("{what} {value:?} is not a valid DNS-1123 name: use lowercase letters, digits, '-' and '.'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_is_letters_digits_and_dashes() {
        assert!(validate_uid("3f2c1a9e-0b7d-4c55-9e61-2a4f8d9c0e11").is_ok());
        for bad in ["", "a b", "../x", "u\"id", &"a".repeat(129)] {
            assert!(validate_uid(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn accepts_a_good_request() {
        let ok = validate_request("team-a", "web-01", "stop", Some(45)).unwrap();
        assert_eq!(ok.key, VmKey::new("team-a", "web-01"));
        assert_eq!(
            (ok.action, ok.grace_period_seconds),
            (Action::Stop, Some(45))
        );
        assert!(validate_request("team-a", "db.primary-1", "force-stop", None).is_ok());
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        for (ns, name) in [
            ("", "a"),
            ("Team-A", "a"),
            ("team_a", "a"),
            ("-a", "a"),
            ("a", "Web"),
            ("a", "web-"),
            ("a", &"x".repeat(254)),
        ] {
            let err = validate_request(ns, name, "start", None).unwrap_err();
            assert!(
                err.contains("namespace") || err.contains("name"),
                "{ns}/{name}: {err}"
            );
        }
        assert!(validate_request(&"a".repeat(64), "a", "start", None)
            .unwrap_err()
            .contains("1–63"));
    }

    #[test]
    fn rejects_unknown_actions_and_bad_grace_periods() {
        assert!(validate_request("a", "b", "reboot", None)
            .unwrap_err()
            .contains("unknown action"));
        assert!(validate_request("a", "b", "stop", Some(-1))
            .unwrap_err()
            .contains("negative"));
        assert!(validate_request("a", "b", "stop", Some(3601))
            .unwrap_err()
            .contains("3600"));
        assert!(validate_request("a", "b", "start", Some(10))
            .unwrap_err()
            .contains("only applies to stop"));
    }
}
