//! Wall-clock formatting in UTC, without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (the civil-from-days
/// algorithm of Howard Hinnant's date library).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The parts of a UTC time: year, month, day, hour, minute, second, millisecond.
struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    ms: u32,
}

fn parts(time: SystemTime) -> Parts {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400) as u32;
    Parts {
        y,
        mo,
        d,
        h: rem / 3600,
        mi: rem / 60 % 60,
        s: rem % 60,
        ms: since.subsec_millis(),
    }
}

/// `HH:MM:SS` in UTC.
pub fn clock_time(time: SystemTime) -> String {
    let mut out = String::with_capacity(8);
    push_clock_time(&mut out, time);
    out
}

/// Appends [`clock_time`]`(time)` to `out`, without `format!` (it runs for every line).
pub(crate) fn push_clock_time(out: &mut String, time: SystemTime) {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let rem = (secs % 86_400) as u32;
    for (i, n) in [rem / 3600, rem / 60 % 60, rem % 60]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from(b'0' + (n / 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC, for attachments (which outlive the day).
pub fn full_time(time: SystemTime) -> String {
    let p = parts(time);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        p.y, p.mo, p.d, p.h, p.mi, p.s, p.ms
    )
}

/// `YYYYMMDD-HHMMSS` in UTC, for file names.
pub fn file_stamp(time: SystemTime) -> String {
    let p = parts(time);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        p.y, p.mo, p.d, p.h, p.mi, p.s
    )
}

/// ISO 8601 in UTC with milliseconds, as Discord's embed `timestamp` expects.
pub fn iso8601(time: SystemTime) -> String {
    let p = parts(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.y, p.mo, p.d, p.h, p.mi, p.s, p.ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_and_times_are_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_763_200_000 + 3_723_045);
        assert_eq!(iso8601(t), "2025-12-03T13:02:03.045Z");
        assert_eq!(clock_time(t), "13:02:03");
        assert_eq!(full_time(t), "2025-12-03 13:02:03.045");
        assert_eq!(file_stamp(t), "20251203-130203");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
