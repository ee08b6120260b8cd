//! Time as milliseconds since the Unix epoch, always passed in, never read from a clock here.

use std::fmt;

/// A point in time, milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp(0);
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    pub const fn from_ms(unix_ms: u64) -> Timestamp {
        Timestamp(unix_ms)
    }

    pub const fn unix_ms(self) -> u64 {
        self.0
    }

    pub const fn plus_ms(self, duration_ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_ms))
    }

    /// Milliseconds from `self` until `later`, zero if `later` is not later.
    pub const fn ms_until(self, later: Timestamp) -> u64 {
        later.0.saturating_sub(self.0)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds: `2027-02-06T00:00:00.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = (self.0 / 86_400_000) as i64;
        let ms_of_day = self.0 % 86_400_000;
        let (year, month, day) = civil_from_days(days);
        let (hours, minutes) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
        let (seconds, millis) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
        let Some(four_digit_year) = u64::try_from(year).ok().filter(|year| *year <= 9_999) else {
            return write!(
                f,
                "{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}Z"
            );
        };
        // Every order's answer carries two or three of these: digits into a buffer, written once,
        // cost a tenth of the formatting machinery's `{:02}`s.
        let mut text = *b"0000-00-00T00:00:00.000Z";
        put_digits(&mut text[0..4], four_digit_year);
        put_digits(&mut text[5..7], u64::from(month));
        put_digits(&mut text[8..10], u64::from(day));
        put_digits(&mut text[11..13], hours);
        put_digits(&mut text[14..16], minutes);
        put_digits(&mut text[17..19], seconds);
        put_digits(&mut text[20..23], millis);
        f.write_str(std::str::from_utf8(&text).unwrap_or_else(|_| unreachable!("ASCII digits")))
    }
}

/// `value`'s last `into.len()` decimal digits, zero-padded.
fn put_digits(into: &mut [u8], mut value: u64) {
    for digit in into.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// A wait as a shopper is told it: whole seconds under a minute, else whole minutes, rounded
/// up (an ETA is a promise, so it is never rounded down). Displays as `40 s` or `25 min`; the
/// agent words the same two units in Chinese.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    Seconds(u64),
    Minutes(u64),
}

impl Wait {
    const MS_PER_S: u64 = 1_000;
    const MS_PER_MIN: u64 = 60_000;

    /// At least one second: "about 0 s" tells nobody anything.
    pub fn from_ms(wait_ms: u64) -> Wait {
        if wait_ms < Wait::MS_PER_MIN {
            Wait::Seconds(wait_ms.div_ceil(Wait::MS_PER_S).max(1))
        } else {
            Wait::Minutes(wait_ms.div_ceil(Wait::MS_PER_MIN))
        }
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wait::Seconds(seconds) => write!(f, "{seconds} s"),
            Wait::Minutes(minutes) => write!(f, "{minutes} min"),
        }
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::{Timestamp, Wait};

    #[test]
    fn a_wait_is_rounded_up_to_seconds_under_a_minute_and_to_minutes_from_one() {
        let said: Vec<String> = [0, 50, 1_000, 1_001, 59_999, 60_000, 60_001, 1_500_000]
            .map(|ms| Wait::from_ms(ms).to_string())
            .into();
        assert_eq!(said, ["1 s", "1 s", "1 s", "2 s", "60 s", "1 min", "2 min", "25 min"]);
    }

    #[test]
    fn displays_rfc3339_utc() {
        assert_eq!(Timestamp::EPOCH.to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::from_ms(1_801_843_200_000).to_string(), "2027-02-05T16:00:00.000Z");
        assert_eq!(Timestamp::from_ms(951_782_400_123).to_string(), "2000-02-29T00:00:00.123Z");
        assert_eq!(Timestamp::from_ms(253_402_300_799_999).to_string(), "9999-12-31T23:59:59.999Z");
        // Past year 9999 the year takes the digits it needs.
        assert_eq!(Timestamp::from_ms(253_402_300_800_000).to_string(), "10000-01-01T00:00:00.000Z");
        assert!(Timestamp::MAX.to_string().ends_with('Z'));
    }

    /// The digits written by hand say what `{:02}` formatting says, every field at its edges
    /// and in between.
    #[test]
    fn the_fast_display_matches_the_formatting_machinery() {
        for unix_ms in (0..2_000).map(|step: u64| step * 126_230_400_011 + step * step * 7).chain([
            59_999,
            60_000,
            3_599_999,
            86_399_999,
            86_400_000,
            4_102_444_800_000,
        ]) {
            let at = Timestamp::from_ms(unix_ms);
            let days = (unix_ms / 86_400_000) as i64;
            let ms_of_day = unix_ms % 86_400_000;
            let (year, month, day) = super::civil_from_days(days);
            let expected = format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                ms_of_day / 3_600_000,
                ms_of_day / 60_000 % 60,
                ms_of_day / 1000 % 60,
                ms_of_day % 1000
            );
            assert_eq!(at.to_string(), expected, "{unix_ms}");
        }
    }
}
