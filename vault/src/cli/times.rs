//! Times on the command line and in the audit listing: RFC 3339 (with the `time` crate) or
//! unix seconds in, RFC 3339 in UTC with milliseconds out.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::target::{Failure, failure};

/// RFC 3339 in UTC with milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{ms} ms since 1970"))
}

/// RFC 3339 of unix seconds, in UTC.
pub(crate) fn rfc3339_secs(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{secs} s since 1970"))
}

/// Unix seconds, or an RFC 3339 time (`2026-12-03T13:00:00Z`, any offset), as unix
/// milliseconds.
pub(crate) fn parse_time(text: &str) -> Result<i64, Failure> {
    let bad = || {
        failure(
            "invalid_argument",
            format!("{text:?} is not a time: use unix seconds or 2026-12-03T13:00:00Z"),
        )
    };
    if let Ok(secs) = text.parse::<i64>() {
        return secs.checked_mul(1000).ok_or_else(bad);
    }
    let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| bad())?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("0").ok(), Some(0));
        assert_eq!(parse_time("1764768300").ok(), Some(1_764_768_300_000));
        assert_eq!(
            parse_time("2025-12-03T13:25:00Z").ok(),
            Some(1_764_768_300_000)
        );
        assert_eq!(
            parse_time("2025-12-03T13:25:00.5Z").ok(),
            Some(1_764_768_300_500)
        );
        assert_eq!(
            parse_time("2025-12-03T14:25:00+01:00").ok(),
            Some(1_764_768_300_000)
        );
        assert_eq!(rfc3339(1_764_768_300_123), "2025-12-03T13:25:00.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_secs(1_764_768_300), "2025-12-03T13:25:00Z");
        for bad in [
            "",
            "yesterday",
            "2025-12-03",
            "2025-13-03T00:00:00Z",
            "2025-12-03T13:25:00",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
