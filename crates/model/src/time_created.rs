//! The rule for `time_created`: an ISO 8601 calendar date-time in extended format.
//!
//! Accepted: `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1 to 9 digits after a `.`, and an
//! optional zone `Z` or `+HH:MM`/`-HH:MM`. That is what Python's `datetime.isoformat()` writes
//! (no fraction when the microseconds are zero; a zone for aware datetimes), plus the rest of
//! the extended date-time form. The date must exist (no 2021-02-30) and the time must be a real
//! one (hour 0..=23, minute and second 0..=59; a leap second is refused, Python never writes one).
//! Not accepted: a space instead of `T`, lower-case `t`/`z`, reduced forms without seconds,
//! week or ordinal dates, the basic format without separators. The value is passed on unchanged.

/// True when `s` is an ISO 8601 date-time by the rule above.
pub fn is_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 19 {
        return false;
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(&b[0..4]),
        digits(&b[5..7]),
        digits(&b[8..10]),
        digits(&b[11..13]),
        digits(&b[14..16]),
        digits(&b[17..19]),
    ) else {
        return false;
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return false;
    }
    if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return false;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let mut rest = &b[19..];
    if let Some((b'.', after)) = rest.split_first() {
        let n = after.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&n) {
            return false;
        }
        rest = &after[n..];
    }
    match rest {
        [] | [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            matches!((digits(&[*h1, *h2]), digits(&[*m1, *m2])), (Some(h), Some(m)) if h <= 23 && m <= 59)
        }
        _ => false,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

const fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn accepts_what_python_isoformat_writes_and_the_extended_form() {
        for ok in [
            "2021-03-28T15:44:18.592840",
            "2021-03-28T15:44:18",
            "2021-03-28T15:44:18.5",
            "2021-03-28T15:44:18.123456789",
            "2021-03-28T15:44:18Z",
            "2021-03-28T15:44:18.592840+02:00",
            "2021-03-28T15:44:18-05:30",
            "2020-02-29T00:00:00",
            "2000-02-29T23:59:59",
            "0001-01-01T00:00:00",
            "9999-12-31T23:59:59.999999",
        ] {
            assert!(is_valid(ok), "{ok} should be valid");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "not-a-date",
            "2021-03-28",
            "2021-03-28 15:44:18",
            "2021-03-28t15:44:18",
            "2021-03-28T15:44",
            "2021-03-28T15:44:18.",
            "2021-03-28T15:44:18.1234567890",
            "2021-03-28T15:44:18z",
            "2021-03-28T15:44:18+0200",
            "2021-03-28T15:44:18+24:00",
            "2021-03-28T15:44:18 ",
            " 2021-03-28T15:44:18",
            "20210328T154418",
            "2021-13-01T00:00:00",
            "2021-00-01T00:00:00",
            "2021-02-29T00:00:00",
            "1900-02-29T00:00:00",
            "2021-04-31T00:00:00",
            "2021-03-00T00:00:00",
            "0000-01-01T00:00:00",
            "2021-03-28T24:00:00",
            "2021-03-28T23:60:00",
            "2021-03-28T23:59:60",
            "2021-03-28T15:44:18.59284é",
            "２０２１-03-28T15:44:18",
            "+2021-03-28T15:44:18",
        ] {
            assert!(!is_valid(bad), "{bad:?} should be invalid");
        }
    }
}
