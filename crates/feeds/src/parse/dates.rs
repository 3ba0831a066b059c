//! Dates as feeds write them: RFC 822/2822 (with or without the weekday and its
//! comma, full month and weekday names, two-digit years, named US zones, missing
//! seconds) and ISO 8601 / RFC 3339 (with a space instead of `T`, missing seconds,
//! `+hhmm` zones, date only). Anything else is `None` (the caller reports it).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

/// Parse a feed date into UTC.
pub fn parse_date(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if s.as_bytes()[0].is_ascii_digit() && s.len() >= 10 && s.as_bytes()[4] == b'-' {
        return iso8601(s);
    }
    rfc822(s)
}

fn iso8601(s: &str) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    let rest = s[10..].trim_start();
    let rest = rest.strip_prefix(['T', 't']).unwrap_or(rest).trim_start();
    if rest.is_empty() {
        return Some(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)));
    }
    // The time: digits, colons and a fraction; then the zone.
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.' || c == ','))
        .unwrap_or(rest.len());
    let (time, zone) = rest.split_at(split);
    let time = clock(time)?;
    let offset = zone_offset(zone.trim())?;
    local_to_utc(date, time, offset)
}

/// `HH:MM`, `HH:MM:SS`, `HH:MM:SS.fff` (fraction dropped).
fn clock(t: &str) -> Option<NaiveTime> {
    let t = t.split(['.', ',']).next()?;
    let mut parts = t.split(':');
    let h: u32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let sec: u32 = match parts.next() {
        Some(x) => x.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    // A leap second (`:60`) is read as `:59`.
    NaiveTime::from_hms_opt(h, m, sec.min(59))
}

/// A zone: empty (UTC), `Z`, `UT`, `UTC`, `GMT`, US names, military `A`–`Z`
/// (read as UTC, as RFC 2822 advises), `+hhmm`, `+hh:mm`, `+hh`.
fn zone_offset(z: &str) -> Option<i32> {
    // "+0000 (UTC)": a comment after the zone.
    let z = z.split(" (").next().unwrap_or(z).trim();
    let upper = z.to_ascii_uppercase();
    let named = match upper.as_str() {
        "" | "Z" | "UT" | "UTC" | "GMT" | "Z0000" => Some(0),
        "EST" => Some(-5),
        "EDT" => Some(-4),
        "CST" => Some(-6),
        "CDT" => Some(-5),
        "MST" => Some(-7),
        "MDT" => Some(-6),
        "PST" => Some(-8),
        "PDT" => Some(-7),
        "AKST" => Some(-9),
        "AKDT" => Some(-8),
        "HST" => Some(-10),
        "BST" => Some(1),
        "CET" => Some(1),
        "CEST" => Some(2),
        "IST" => None,
        _ if upper.len() == 1 && upper.as_bytes()[0].is_ascii_alphabetic() => Some(0),
        _ => None,
    };
    if let Some(h) = named {
        return Some(h * 3600);
    }
    let upper = upper
        .strip_prefix("GMT")
        .or_else(|| upper.strip_prefix("UTC"))
        .unwrap_or(&upper);
    let (sign, digits) = match upper.as_bytes().first()? {
        b'+' => (1, &upper[1..]),
        b'-' => (-1, &upper[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = match digits.len() {
        1 | 2 => (digits.parse().ok()?, 0),
        3 => (digits[..1].parse().ok()?, digits[1..].parse().ok()?),
        4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
        _ => return None,
    };
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

fn local_to_utc(date: NaiveDate, time: NaiveTime, offset: i32) -> Option<DateTime<Utc>> {
    let tz = FixedOffset::east_opt(offset)?;
    tz.from_local_datetime(&date.and_time(time))
        .single()
        .map(|d| d.with_timezone(&Utc))
}

fn month(tok: &str) -> Option<u32> {
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let t = tok.to_ascii_lowercase();
    let t = t.trim_end_matches('.');
    if t.len() < 3 {
        return None;
    }
    // "Sept" is common too.
    let t = if t == "sept" { "sep" } else { t };
    NAMES
        .iter()
        .position(|n| t.starts_with(n) && (t.len() == 3 || full_month(n).starts_with(t)))
        .map(|i| i as u32 + 1)
}

fn full_month(abbr: &str) -> &'static str {
    match abbr {
        "jan" => "january",
        "feb" => "february",
        "mar" => "march",
        "apr" => "april",
        "may" => "may",
        "jun" => "june",
        "jul" => "july",
        "aug" => "august",
        "sep" => "september",
        "oct" => "october",
        "nov" => "november",
        _ => "december",
    }
}

fn is_weekday(tok: &str) -> bool {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let t = tok.to_ascii_lowercase();
    let t = t.trim_end_matches('.');
    t.len() >= 3
        && DAYS
            .iter()
            .any(|d| d.starts_with(t) || (t == "tues" || t == "thur" || t == "thurs"))
}

/// RFC 822 and the variants feeds write: `Tue, 10 Jun 2003 04:00:00 GMT`,
/// `Tue 10 Jun 2003 04:00 -0500`, `10 Jun 03 04:00:00 EST`, `Tuesday, June 10, 2003
/// 04:00:00 PDT`, `Jun 10 2003 04:00:00 +0000`.
fn rfc822(s: &str) -> Option<DateTime<Utc>> {
    let mut toks: Vec<&str> = s
        .split([' ', ',', '\t', '\n', '\r'])
        .filter(|t| !t.is_empty())
        .collect();
    if toks.first().is_some_and(|t| is_weekday(t)) {
        toks.remove(0);
    }
    if toks.len() < 3 {
        return None;
    }
    let (day, mon) = if let Some(m) = month(toks[1]) {
        (toks[0], m)
    } else if let Some(m) = month(toks[0]) {
        (toks[1], m)
    } else {
        return None;
    };
    let day: u32 = day
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .ok()?;
    let year_tok = toks[2];
    let mut rest = &toks[3..];
    // `10 Jun 2003` or `10-Jun-2003`-less forms only; a year is digits.
    let year: i32 = year_tok.parse().ok()?;
    let year = match year_tok.len() {
        // RFC 2822 §4.3: 00–49 → 20xx, 50–99 → 19xx.
        1 | 2 => {
            if year < 50 {
                2000 + year
            } else {
                1900 + year
            }
        }
        3 => 1900 + year,
        _ => year,
    };
    let date = NaiveDate::from_ymd_opt(year, mon, day)?;
    let time = match rest.first() {
        Some(t) if t.contains(':') => {
            rest = &rest[1..];
            clock(t)?
        }
        _ => NaiveTime::MIN,
    };
    let zone = rest.join(" ");
    let offset = zone_offset(&zone)?;
    local_to_utc(date, time, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> String {
        parse_date(s)
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|| format!("none: {s}"))
    }

    #[test]
    fn rfc822_variants() {
        let want = "2003-06-10T04:00:00+00:00";
        for s in [
            "Tue, 10 Jun 2003 04:00:00 GMT",
            "Tue 10 Jun 2003 04:00:00 GMT",
            "tue, 10 jun 2003 04:00:00 gmt",
            "Tuesday, 10 June 2003 04:00:00 +0000",
            "10 Jun 2003 04:00:00 Z",
            "Tue, 10 Jun 2003 04:00 UT",
            "Tue, 10 Jun 03 04:00:00 GMT",
            "Tue, 10 Jun 2003 00:00:00 EDT",
            "Mon, 09 Jun 2003 23:00:00 EST",
            "Mon, 09 Jun 2003 21:00:00 PDT",
            "Mon, 09 Jun 2003 21:00:00 PDT",
            "Tue, 10 Jun 2003 06:00:00 +02:00",
            "Tue, 10 Jun 2003 04:00:00",
            "Tue, 10 Jun 2003 04:00:00 +0000 (UTC)",
            "June 10, 2003 04:00:00 GMT",
            "Tue, 10 Jun 2003 04:00:00 GMT-00:00",
            "Tues, 10 Jun 2003 04:00:00 GMT",
        ] {
            assert_eq!(at(s), want, "{s}");
        }
        assert_eq!(
            at("Fri, 01 Jan 99 00:00:00 GMT"),
            "1999-01-01T00:00:00+00:00"
        );
        assert_eq!(
            at("Sat, 01 Jan 49 12:00 -0800"),
            "2049-01-01T20:00:00+00:00"
        );
        assert_eq!(
            at("Mon, 01 Sept 2025 10:00:00 CST"),
            "2025-09-01T16:00:00+00:00"
        );
    }

    #[test]
    fn iso8601_variants() {
        let want = "2003-06-10T04:00:00+00:00";
        for s in [
            "2003-06-10T04:00:00Z",
            "2003-06-10T04:00:00.123Z",
            "2003-06-10 04:00:00Z",
            "2003-06-10 04:00:00",
            "2003-06-10T04:00Z",
            "2003-06-10 04:00",
            "2003-06-10T06:00:00+02:00",
            "2003-06-10T06:00:00+0200",
            "2003-06-09T23:00:00-05:00",
            "2003-06-10 04:00:00 UTC",
            "2003-06-10 04:00:00 +0000",
        ] {
            assert_eq!(at(s), want, "{s}");
        }
        assert_eq!(at("2003-06-10"), "2003-06-10T00:00:00+00:00");
    }

    #[test]
    fn unreadable_dates_are_none() {
        for s in [
            "",
            "yesterday",
            "32 Jun 2003 04:00:00 GMT",
            "Tue, 10 Foo 2003 04:00:00 GMT",
            "2003-13-10T04:00:00Z",
            "Tue, 10 Jun 2003 25:00:00 GMT",
            "Tue, 10 Jun 2003 04:00:00 XYZT",
            "10/06/2003",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }
}
