//! Whether a snapshot may still be trusted: the one definition the sshd gate,
//! PAM and `roster status` all use.
//!
//! Freshness counts from the snapshot's own signed `issued_at`, never from
//! when it was fetched. Someone on the network who serves the current, signed
//! snapshot again and again while withholding newer ones gains nothing: the
//! replayed snapshot ages like any other, and past `max_age` the host refuses
//! snapshot logins whatever the network says. The publisher therefore
//! re-signs (with a new serial) more often than `max_age`.

use std::fmt;

use crate::host::compiled::Header;
use crate::time::{UnixTime, format_duration, format_rfc3339};

/// How long ago at `now` a snapshot was issued at `issued_at`: 0 if the
/// publisher's clock is ahead of ours.
pub fn age_secs(issued_at: UnixTime, now: UnixTime) -> u64 {
    u64::try_from(now.saturating_sub(issued_at)).unwrap_or(0)
}

/// How a snapshot stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Issued no longer than `max_age` ago, and before its `valid_until`.
    Fresh { issued_at: UnixTime, age_secs: u64 },
    /// Issued longer than `max_age` ago.
    Stale {
        issued_at: UnixTime,
        max_age_secs: u64,
    },
    /// Its own `valid_until` has passed.
    Expired { valid_until: UnixTime },
}

impl Freshness {
    /// The standing at `now` of a snapshot with `header`, on a host whose
    /// `max_age` is `max_age_secs`. A snapshot issued in the future (the
    /// publisher's clock is ahead) is as fresh as one issued now.
    pub fn of(header: &Header, max_age_secs: u64, now: UnixTime) -> Freshness {
        if now >= header.valid_until {
            return Freshness::Expired {
                valid_until: header.valid_until,
            };
        }
        let age_secs = age_secs(header.issued_at, now);
        if age_secs > max_age_secs {
            return Freshness::Stale {
                issued_at: header.issued_at,
                max_age_secs,
            };
        }
        Freshness::Fresh {
            issued_at: header.issued_at,
            age_secs,
        }
    }

    pub fn is_fresh(&self) -> bool {
        matches!(self, Freshness::Fresh { .. })
    }

    /// One word for `roster status`.
    pub fn word(&self) -> &'static str {
        match self {
            Freshness::Fresh { .. } => "fresh",
            Freshness::Stale { .. } => "stale",
            Freshness::Expired { .. } => "expired",
        }
    }
}

impl fmt::Display for Freshness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Freshness::Fresh {
                issued_at,
                age_secs,
            } => write!(
                f,
                "issued {} ({} ago)",
                format_rfc3339(issued_at),
                format_duration(age_secs)
            ),
            Freshness::Stale {
                issued_at,
                max_age_secs,
            } => write!(
                f,
                "snapshot is stale: issued {}, max_age is {}",
                format_rfc3339(issued_at),
                format_duration(max_age_secs)
            ),
            Freshness::Expired { valid_until } => {
                write!(f, "snapshot expired at {}", format_rfc3339(valid_until))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(issued_at: UnixTime, valid_until: UnixTime) -> Header {
        Header {
            serial: 1,
            issued_at,
            valid_until,
            compiled_at: 0,
            file_len: 0,
            body_crc: 0,
            users: 0,
            groups: 0,
        }
    }

    #[test]
    fn counts_from_the_signed_issue_time() {
        let h = header(1_000, 10_000);
        assert_eq!(
            Freshness::of(&h, 100, 1_100),
            Freshness::Fresh {
                issued_at: 1_000,
                age_secs: 100
            }
        );
        assert_eq!(
            Freshness::of(&h, 100, 1_101),
            Freshness::Stale {
                issued_at: 1_000,
                max_age_secs: 100
            }
        );
        assert_eq!(
            Freshness::of(&h, 100_000, 10_000),
            Freshness::Expired {
                valid_until: 10_000
            }
        );
        // The publisher's clock ahead of ours.
        assert!(Freshness::of(&h, 100, 500).is_fresh());
        assert_eq!(
            Freshness::of(&h, 100, 1_101).to_string(),
            "snapshot is stale: issued 1970-01-01T00:16:40Z, max_age is 1m 40s"
        );
    }
}
