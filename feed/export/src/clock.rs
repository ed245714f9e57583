//! Exchange time as ns since the Unix epoch, and UTC text.
//!
//! ITCH timestamps are ns since midnight, Nasdaq's (US Eastern) midnight of the trading day;
//! IEX's are already ns since the epoch. [`SessionClock`] turns the former into the latter
//! from the session date: given, or the US Eastern date of the first real capture time. US
//! Eastern is UTC−5, or UTC−4 from the second Sunday of March to the first Sunday of November
//! (the rule since 2007; a session never spans the 02:00 switch, which falls on a Sunday).

/// ns in a day.
pub const DAY_NS: u64 = 86_400 * 1_000_000_000;

/// A receive time below this (the first day of 1970) is not an epoch time but a replayed
/// message time: a bare ITCH file has no capture times, and fh hands the message time over.
pub const MIN_EPOCH_NS: u64 = DAY_NS;

/// A civil date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u8,
    /// Day, 1–31.
    pub day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD` (a real calendar date).
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        Date::checked(y as i32, m as u8, d as u8)
    }

    /// The date of a Nasdaq file name `MMDDYYYY.NASDAQ_ITCH50[.gz]` (their naming), if it is one.
    pub fn from_itch_file_name(name: &str) -> Option<Date> {
        let digits = name.get(..8)?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) || !name[8..].starts_with('.') {
            return None;
        }
        let n = |r: std::ops::Range<usize>| digits[r].parse::<u32>().ok();
        Date::checked(n(4..8)? as i32, n(0..2)? as u8, n(2..4)? as u8)
    }

    fn checked(year: i32, month: u8, day: u8) -> Option<Date> {
        let d = Date { year, month, day };
        let ok = (1..=12).contains(&month)
            && day >= 1
            && Date::from_days(d.days()) == d
            && (1970..=9999).contains(&year);
        ok.then_some(d)
    }

    /// Days since 1970-01-01 (H. Hinnant's `days_from_civil`).
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// Day of the week, 0 = Sunday.
    fn weekday(self) -> i64 {
        (self.days() + 4).rem_euclid(7)
    }

    /// The `n`th Sunday (1-based) of a month.
    fn nth_sunday(year: i32, month: u8, n: u8) -> Date {
        let first = Date {
            year,
            month,
            day: 1,
        };
        let to_sunday = (7 - first.weekday()) % 7;
        Date {
            year,
            month,
            day: 1 + to_sunday as u8 + 7 * (n - 1),
        }
    }

    /// US Eastern daylight time is in force on this date (at noon).
    pub fn us_eastern_dst(self) -> bool {
        let start = Date::nth_sunday(self.year, 3, 2);
        let end = Date::nth_sunday(self.year, 11, 1);
        self >= start && self < end
    }

    /// ns since the epoch of midnight US Eastern on this date.
    pub fn us_eastern_midnight_ns(self) -> u64 {
        let offset_h: i64 = if self.us_eastern_dst() { 4 } else { 5 };
        let s = self.days() * 86_400 + offset_h * 3600;
        (s.max(0) as u64) * 1_000_000_000
    }

    /// The US Eastern date at `epoch_ns`.
    pub fn us_eastern_of(epoch_ns: u64) -> Date {
        let utc = Date::from_days((epoch_ns / DAY_NS) as i64);
        // Eastern is 4 or 5 hours behind UTC: the date is the UTC date or the day before.
        let same = utc.us_eastern_midnight_ns();
        if epoch_ns >= same {
            utc
        } else {
            Date::from_days(utc.days() - 1)
        }
    }

    /// `YYYY-MM-DD`.
    pub fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Exchange times to epoch ns (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionClock {
    /// Midnight US Eastern of the ITCH session, epoch ns, once known.
    itch_midnight: Option<u64>,
}

impl SessionClock {
    /// A clock for the session on `date` (`None`: learnt from the first capture time).
    pub fn new(date: Option<Date>) -> SessionClock {
        SessionClock {
            itch_midnight: date.map(Date::us_eastern_midnight_ns),
        }
    }

    /// Learns the session date from a receive time, if not known yet and `recv_ts` is one.
    #[inline]
    pub fn see_recv(&mut self, recv_ts: u64) {
        if self.itch_midnight.is_none() && recv_ts >= MIN_EPOCH_NS {
            let d = Date::us_eastern_of(recv_ts);
            self.itch_midnight = Some(d.us_eastern_midnight_ns());
        }
    }

    /// The session's date, if known.
    pub fn date(&self) -> Option<Date> {
        self.itch_midnight
            .map(|m| Date::us_eastern_of(m + DAY_NS / 2))
    }

    /// `exch_ts` as epoch ns: ITCH (`itch`) adds the session's midnight (0 when unknown);
    /// IEX's is one already.
    #[inline]
    pub fn epoch(&self, itch: bool, exch_ts: u64) -> u64 {
        if itch {
            self.itch_midnight.unwrap_or(0) + exch_ts
        } else {
            exch_ts
        }
    }
}

/// Appends `2023-10-02T11:34:35.036614045Z` for `ns` since the epoch.
pub fn utc(out: &mut String, ns: u64) {
    use std::fmt::Write;
    let secs = ns / 1_000_000_000;
    let d = Date::from_days((secs / 86_400) as i64);
    let sod = secs % 86_400;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        d.year,
        d.month,
        d.day,
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        ns % 1_000_000_000
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_eastern_midnights() {
        let d = Date::parse("2019-01-30").unwrap();
        assert_eq!(d.days(), 17_926);
        assert!(!d.us_eastern_dst());
        // 2019-01-30 00:00 EST = 05:00 UTC.
        assert_eq!(
            d.us_eastern_midnight_ns(),
            (17_926 * 86_400 + 5 * 3600) * 1_000_000_000
        );
        let summer = Date::parse("2016-12-13").unwrap();
        assert!(!summer.us_eastern_dst());
        let july = Date::parse("2023-07-03").unwrap();
        assert!(july.us_eastern_dst());
        // DST 2023: March 12 to November 5.
        assert!(!Date::parse("2023-03-11").unwrap().us_eastern_dst());
        assert!(Date::parse("2023-03-12").unwrap().us_eastern_dst());
        assert!(Date::parse("2023-11-04").unwrap().us_eastern_dst());
        assert!(!Date::parse("2023-11-05").unwrap().us_eastern_dst());
        assert_eq!(Date::parse("2023-02-29"), None);
        assert_eq!(
            Date::parse("2024-02-29").map(Date::iso).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(
            Date::from_itch_file_name("01302019.NASDAQ_ITCH50.gz"),
            Date::parse("2019-01-30")
        );
        assert_eq!(Date::from_itch_file_name("sample.pcap"), None);
        // 2023-10-02 01:00 UTC is still October 1st in New York.
        let t = (Date::parse("2023-10-02").unwrap().days() as u64 * 86_400 + 3600) * 1_000_000_000;
        assert_eq!(Date::us_eastern_of(t).iso(), "2023-10-01");
        assert_eq!(
            Date::us_eastern_of(t + 4 * 3_600_000_000_000).iso(),
            "2023-10-02"
        );
    }

    #[test]
    fn session_clock_learns_the_date_from_the_capture() {
        let mut c = SessionClock::new(None);
        c.see_recv(5); // a replayed message time: not a date
        assert_eq!(c.date(), None);
        let recv = 1_548_858_000_000_000_000; // 2019-01-30T14:20:00Z
        c.see_recv(recv);
        assert_eq!(c.date().map(Date::iso).as_deref(), Some("2019-01-30"));
        // 09:30 New York = 14:30 UTC.
        let open = 34_200_000_000_000;
        let mut s = String::new();
        utc(&mut s, c.epoch(true, open));
        assert_eq!(s, "2019-01-30T14:30:00.000000000Z");
        assert_eq!(c.epoch(false, 7), 7);
    }
}
