//! Injectable clock and UID source. Test mode is deterministic (fixed start,
//! +1 s per reading, sequential UIDs) so that golden outputs and managedFields
//! timestamps are stable; embedded mode uses the wall clock and random v4 UIDs.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The fixed start of the deterministic clock: 2026-01-01T00:00:00Z.
pub const TEST_EPOCH_SECONDS: i64 = 1_767_225_600;

/// Time and identity source of one server.
#[derive(Debug)]
pub struct Clock {
    deterministic: bool,
    next_second: AtomicI64,
    next_uid: AtomicU64,
}

impl Clock {
    /// A deterministic clock (test mode) or the wall clock (embedded mode).
    pub fn new(deterministic: bool) -> Self {
        Clock {
            deterministic,
            next_second: AtomicI64::new(TEST_EPOCH_SECONDS),
            next_uid: AtomicU64::new(1),
        }
    }

    /// Seconds since the Unix epoch; in test mode each call advances one second.
    pub fn now_seconds(&self) -> i64 {
        if self.deterministic {
            self.next_second.fetch_add(1, Ordering::Relaxed)
        } else {
            jiff::Timestamp::now().as_second()
        }
    }

    /// Seconds since the epoch without advancing the deterministic clock (for ages in tables).
    pub fn peek_seconds(&self) -> i64 {
        if self.deterministic {
            self.next_second.load(Ordering::Relaxed)
        } else {
            jiff::Timestamp::now().as_second()
        }
    }

    /// The current time as RFC 3339 with whole seconds and `Z`.
    pub fn now_rfc3339(&self) -> String {
        format_seconds(self.now_seconds())
    }

    /// A new object UID.
    pub fn new_uid(&self) -> String {
        if self.deterministic {
            let n = self.next_uid.fetch_add(1, Ordering::Relaxed);
            format!("00000000-0000-0000-0000-{n:012x}")
        } else {
            // Random version-4 UUID.
            let mut v = fastrand::u128(..);
            v = (v & !(0xf000_u128 << 64)) | (0x4000_u128 << 64);
            v = (v & !(0xc000_u128 << 48)) | (0x8000_u128 << 48);
            let h = format!("{v:032x}");
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        }
    }

    /// Five random characters for `generateName`, from the alphabet the apiserver uses.
    pub fn name_suffix(&self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5)
            .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
            .collect()
    }
}

/// Formats epoch seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_seconds(s: i64) -> String {
    match jiff::Timestamp::from_second(s) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => "1970-01-01T00:00:00Z".to_string(),
    }
}

/// Parses an RFC 3339 timestamp into epoch seconds.
pub fn parse_seconds(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_second)
}

/// Go's `duration.HumanDuration`, as kubectl prints ages.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_clock_and_uids() {
        let c = Clock::new(true);
        assert_eq!(c.now_rfc3339(), "2026-01-01T00:00:00Z");
        assert_eq!(c.now_rfc3339(), "2026-01-01T00:00:01Z");
        assert_eq!(c.new_uid(), "00000000-0000-0000-0000-000000000001");
        assert_eq!(
            parse_seconds("2026-01-01T00:00:01Z"),
            Some(TEST_EPOCH_SECONDS + 1)
        );
    }

    #[test]
    fn random_uid_is_v4() {
        let u = Clock::new(false).new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(3600 * 5 + 60), "5h1m");
        assert_eq!(human_duration(86400 * 3), "3d");
    }
}
