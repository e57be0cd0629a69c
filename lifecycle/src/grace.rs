//! Grace periods: KubeVirt's default, the console's bounds, and what force means.

use std::fmt;

/// KubeVirt's `DefaultGracePeriodSeconds`: what an unset `terminationGracePeriodSeconds` means.
pub const DEFAULT_GRACE_PERIOD_SECONDS: u32 = 30;

/// The longest graceful stop the console accepts (one hour). Longer ones look like a broken Stop.
pub const MAX_GRACE_PERIOD_SECONDS: u32 = 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraceError {
    Negative(i64),
    TooLong(i64),
}

impl fmt::Display for GraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraceError::Negative(s) => {
                write!(
                    f,
                    "grace period must not be negative (got {s} s); use 0 to force the stop"
                )
            }
            GraceError::TooLong(s) => write!(
                f,
                "grace period must be at most {MAX_GRACE_PERIOD_SECONDS} s (got {s} s)"
            ),
        }
    }
}

impl std::error::Error for GraceError {}

/// Accepts 0..=3600 seconds.
pub fn validate_grace_period(seconds: i64) -> Result<u32, GraceError> {
    if seconds < 0 {
        Err(GraceError::Negative(seconds))
    } else if seconds > i64::from(MAX_GRACE_PERIOD_SECONDS) {
        Err(GraceError::TooLong(seconds))
    } else {
        // In range 0..=3600, so the conversion cannot fail.
        Ok(seconds as u32)
    }
}

/// The grace period a stop actually gets: 0 when forced, else the request's, else the VM's own
/// `terminationGracePeriodSeconds`, else KubeVirt's 30 s. Out-of-range values are clamped, never trusted.
pub fn effective_grace_period(force: bool, requested: Option<i64>, vm_default: Option<i64>) -> u32 {
    if force {
        return 0;
    }
    let seconds = requested
        .or(vm_default)
        .unwrap_or(i64::from(DEFAULT_GRACE_PERIOD_SECONDS));
    seconds.clamp(0, i64::from(MAX_GRACE_PERIOD_SECONDS)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_bounds() {
        assert_eq!(validate_grace_period(0), Ok(0));
        assert_eq!(validate_grace_period(3600), Ok(3600));
        assert_eq!(validate_grace_period(-1), Err(GraceError::Negative(-1)));
        assert_eq!(validate_grace_period(3601), Err(GraceError::TooLong(3601)));
        assert!(GraceError::Negative(-5).to_string().contains("negative"));
    }

    #[test]
    fn force_wins_then_request_then_vm_then_kubevirt_default() {
        assert_eq!(effective_grace_period(true, Some(120), Some(60)), 0);
        assert_eq!(effective_grace_period(false, Some(120), Some(60)), 120);
        assert_eq!(effective_grace_period(false, None, Some(60)), 60);
        assert_eq!(effective_grace_period(false, None, None), 30);
        assert_eq!(effective_grace_period(false, Some(-3), None), 0);
        assert_eq!(effective_grace_period(false, Some(99_999), None), 3600);
    }
}
