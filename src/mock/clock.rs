//! Wall-clock helpers: ISO 8601 timestamps and snowflake ids, without a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Discord's epoch, the first millisecond of 2015, in Unix milliseconds (discord-api.md, D-REF "Snowflakes").
pub(crate) const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `X-RateLimit-Reset`: the epoch second at which a window ends, with millisecond precision.
pub(crate) fn epoch_seconds_after(delay: Duration) -> String {
    let at = SystemTime::now() + delay;
    let millis = unix_millis(at);
    format!("{}.{:03}", millis / 1000, millis % 1000)
}

/// Hands out unique, increasing snowflakes whose timestamp part is the current time.
#[derive(Debug, Default)]
pub(crate) struct Snowflakes {
    /// The last id handed out; the next one is always larger.
    last: u64,
}

impl Snowflakes {
    /// A fresh id: `(ms since the Discord epoch) << 22`, bumped past the previous id.
    pub(crate) fn next(&mut self) -> u64 {
        let since_epoch = unix_millis(SystemTime::now()).saturating_sub(DISCORD_EPOCH_MS);
        let candidate = since_epoch << 22;
        self.last = candidate.max(self.last + 1);
        self.last
    }
}

/// Formats a time the way Discord writes message timestamps: `2024-05-01T12:00:00.123000+00:00`
/// (the renderer's UTC formatting, with Discord's microseconds and offset).
pub(crate) fn iso8601(time: SystemTime) -> String {
    let utc = crate::render::iso8601(time);
    format!("{}000+00:00", utc.trim_end_matches('Z'))
}

/// Whether `text` is an ISO 8601 date or date-time, as embed `timestamp` requires:
/// `YYYY-MM-DD`, optionally followed by `T` (or a space) `HH:MM[:SS[.fraction]]` and a zone
/// (`Z` or `±HH:MM` / `±HHMM`).
pub(crate) fn is_iso8601(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range.clone())
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
            && range.end <= bytes.len()
    };
    let number = |range: std::ops::Range<usize>| -> u32 {
        text.get(range)
            .and_then(|s| s.parse().ok())
            .unwrap_or(u32::MAX)
    };
    if !(digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && bytes.get(7) == Some(&b'-')
        && digits(8..10))
    {
        return false;
    }
    if !(1..=12).contains(&number(5..7)) || !(1..=31).contains(&number(8..10)) {
        return false;
    }
    if bytes.len() == 10 {
        return true;
    }
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return false;
    }
    if !(digits(11..13) && bytes.get(13) == Some(&b':') && digits(14..16)) {
        return false;
    }
    if number(11..13) > 23 || number(14..16) > 59 {
        return false;
    }
    let mut i = 16;
    if bytes.get(i) == Some(&b':') {
        if !digits(i + 1..i + 3) || number(i + 1..i + 3) > 60 {
            return false;
        }
        i += 3;
        if bytes.get(i) == Some(&b'.') {
            let start = i + 1;
            i = start;
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return false;
            }
        }
    }
    match &text[i..] {
        "" | "Z" | "z" => true,
        zone => {
            let zone = zone.as_bytes();
            let sign = matches!(zone.first(), Some(b'+' | b'-'));
            let hhmm = |z: &[u8]| z.iter().all(u8::is_ascii_digit);
            sign && match zone.len() {
                6 => zone[3] == b':' && hhmm(&zone[1..3]) && hhmm(&zone[4..6]),
                5 => hhmm(&zone[1..5]),
                3 => hhmm(&zone[1..3]),
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instant() {
        let t = UNIX_EPOCH + Duration::from_millis(1_714_564_800_123);
        assert_eq!(iso8601(t), "2024-05-01T12:00:00.123000+00:00");
    }

    #[test]
    fn recognises_iso8601() {
        for ok in [
            "2024-05-01",
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00.5+02:00",
            "2024-05-01 12:00",
        ] {
            assert!(is_iso8601(ok), "{ok}");
        }
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-05-01T25:00",
            "2024-05-01T12:00:00.",
            "2024-05-01Tx",
        ] {
            assert!(!is_iso8601(bad), "{bad}");
        }
    }

    #[test]
    fn snowflakes_increase_and_carry_time() {
        let mut gen = Snowflakes::default();
        let (a, b) = (gen.next(), gen.next());
        assert!(b > a);
        assert!((a >> 22) + DISCORD_EPOCH_MS > 1_700_000_000_000);
    }
}
