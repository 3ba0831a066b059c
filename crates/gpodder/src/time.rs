//! Timestamps: gpodder uses Unix seconds for `since` and ISO 8601 UTC without a zone
//! (`2024-01-31T12:34:56`) for action times; the library uses Unix milliseconds.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Now, Unix milliseconds.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// An action timestamp → Unix ms. Accepts what the apps send: no zone (UTC, AntennaPod,
/// gPodder), `Z` or an offset, fractional seconds.
pub fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
}

/// Unix ms → `2024-01-31T12:34:56` (UTC, the format every gpodder client parses).
pub fn format_iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip() {
        let ms = parse_iso("2024-01-31T12:34:56").unwrap();
        assert_eq!(ms, 1_706_704_496_000);
        assert_eq!(format_iso(ms), "2024-01-31T12:34:56");
        assert_eq!(parse_iso("2024-01-31T12:34:56Z"), Some(ms));
        assert_eq!(parse_iso("2024-01-31T13:34:56+01:00"), Some(ms));
        assert_eq!(parse_iso("2024-01-31T12:34:56.5"), Some(ms + 500));
        assert_eq!(parse_iso("yesterday"), None);
    }
}
