//! Times as kubeadm prints them: Go's `Jan 02, 2006 15:04 MST` layout and RFC 3339, both in UTC, and
//! apimachinery's short human durations (`364d`, `9y`).

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Year, month (1-12), day, hour, minute, second of a Unix time in UTC (proleptic Gregorian calendar,
/// H. Hinnant's civil-from-days).
fn civil(unix: i64) -> (i64, usize, i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        usize::try_from(month).unwrap_or(1),
        day,
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    )
}

/// Go's `Jan 02, 2006 15:04 MST` in UTC, the EXPIRES column of check-expiration.
pub fn go_date(unix: i64) -> String {
    let (year, month, day, hour, minute, _) = civil(unix);
    format!(
        "{} {day:02}, {year} {hour:02}:{minute:02} UTC",
        MONTHS[month - 1]
    )
}

/// RFC 3339 in UTC, as Go's `time.Time` marshals to JSON.
pub fn rfc3339(unix: i64) -> String {
    let (year, month, day, hour, minute, second) = civil(unix);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's days-from-civil, the inverse of `civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads RFC 3339 (`2026-08-19T09:03:27Z`, fractions and `+02:00` offsets too) as a Unix time, as a
/// token's `expiration` is written by kubeadm or by hand.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| number_in(text, range);
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (hours, minutes) = (number_in(rest, 1..3)?, number_in(rest, 4..6)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let unix =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    // An offset can carry a time past the years 0000-9999, which RFC 3339 cannot write back.
    const FIRST: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const LAST: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    (FIRST..=LAST).contains(&unix).then_some(unix)
}

/// The digits of `text` in `range` as a number; `None` unless all are ASCII digits.
fn number_in(text: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let part = text.get(range)?;
    part.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| part.parse().ok())?
}

/// apimachinery's ShortHumanDuration: a second or two in the past still counts as now (clocks differ a
/// little); further in the past is `<invalid>`, as kubeadm shows an expired certificate.
pub fn short_human_duration(seconds: i64) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    match seconds {
        s if s < -1 => "<invalid>".into(),
        s if s < 0 => "0s".into(),
        s if s < MINUTE => format!("{s}s"),
        s if s < HOUR => format!("{}m", s / MINUTE),
        s if s < DAY => format!("{}h", s / HOUR),
        s if s < 365 * DAY => format!("{}d", s / DAY),
        s => format!("{}y", s / (365 * DAY)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_go_layout_and_rfc3339() {
        assert_eq!(go_date(0), "Jan 01, 1970 00:00 UTC");
        // 2026-08-19T09:03:27Z, as in a real kubeadm table.
        assert_eq!(go_date(1_787_130_207), "Aug 19, 2026 09:03 UTC");
        assert_eq!(rfc3339(1_787_130_207), "2026-08-19T09:03:27Z");
        // A leap day, and the turn of a century that is a leap year.
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        for unix in [
            0,
            951_782_400,
            1_787_130_207,
            4_107_542_399,
            -1,
            -62_167_219_200,
            253_402_300_799,
        ] {
            assert_eq!(parse_rfc3339(&rfc3339(unix)), Some(unix));
        }
        assert_eq!(
            parse_rfc3339("2026-08-19T11:03:27.5+02:00"),
            Some(1_787_130_207)
        );
        for bad in [
            "2026-08-19",
            "2026-13-19T09:03:27Z",
            "2026-08-19T09:03:27",
            "2026-08-19 09:03:27Z",
            "2026-08-19T09:03:27+2",
            "2026-08-19T09:03:27+-1:00",
            "2026-08-19T09:03:27+24:00",
            "0000-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-00:01",
            "2026-08-19T11:03:27.5020-81\u{19d}3",
            "2026-08-19T11:03:27+0\u{e9}00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_as_apimachinery_shortens_them() {
        let day = 86_400;
        assert_eq!(short_human_duration(-5), "<invalid>");
        assert_eq!(short_human_duration(-1), "0s");
        assert_eq!(short_human_duration(59), "59s");
        assert_eq!(short_human_duration(3599), "59m");
        assert_eq!(short_human_duration(23 * 3600), "23h");
        assert_eq!(short_human_duration(365 * day - 10), "364d");
        assert_eq!(short_human_duration(3650 * day - 10), "9y");
        assert_eq!(short_human_duration(365 * day), "1y");
    }
}
