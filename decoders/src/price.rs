//! Fixed-point prices with a compile-time number of implied decimals.
//!
//! `Fixed::<4>(1234500)` is 123.4500. Wire formats fix the scale: ITCH `Price(4)` and all IEX
//! prices have 4 decimals, ITCH `Price(8)` (MWCB levels) has 8. Display prints every implied
//! decimal exactly (`"80.5200"`), never through floating point. `Price(8)` is unsigned on the
//! wire (an 8-byte unsigned integer), so it has its own unsigned type, [`UFixed`]: every value
//! up to `u64::MAX` reads as the positive number it is.

use core::fmt;

/// A price: `raw / 10^D`, exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed<const D: u32>(pub i64);

/// Price with 4 implied decimals (ITCH `Price(4)`, IEX prices).
pub type Price4 = Fixed<4>;
/// Price with 8 implied decimals (ITCH `Price(8)`, unsigned on the wire).
pub type Price8 = UFixed<8>;

/// An unsigned price: `raw / 10^D`, exact, for wire fields that are unsigned 8-byte integers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UFixed<const D: u32>(pub u64);

impl<const D: u32> UFixed<D> {
    /// Ten to the power of the implied decimals.
    pub const SCALE: u64 = 10u64.pow(D);

    /// The raw integer as it is on the wire.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Parses an exact non-negative decimal such as `"7680.5"` or `"12"`; at most `D` decimals.
    /// Returns `None` for anything else (a sign, overflow past `u64::MAX`).
    pub fn parse(s: &str) -> Option<Self> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if (int.is_empty() && frac.is_empty())
            || frac.len() > D as usize
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut v: u64 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        }
        for _ in frac.len()..D as usize {
            v = v.checked_mul(10)?;
        }
        Some(UFixed(v))
    }
}

impl<const D: u32> fmt::Display for UFixed<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (int, frac) = (self.0 / Self::SCALE, self.0 % Self::SCALE);
        if D == 0 {
            write!(f, "{int}")
        } else {
            write!(f, "{int}.{frac:0width$}", width = D as usize)
        }
    }
}

impl<const D: u32> Fixed<D> {
    /// Ten to the power of the implied decimals.
    pub const SCALE: i64 = 10i64.pow(D);

    /// The raw integer as it is on the wire.
    #[inline]
    pub const fn raw(self) -> i64 {
        self.0
    }

    /// Parses an exact decimal such as `"80.52"`, `"-1.5"` or `"12"`; at most `D` decimals.
    /// Returns `None` for anything else (including overflow).
    pub fn parse(s: &str) -> Option<Self> {
        let (neg, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if frac.len() > D as usize
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut v: i64 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            v = v.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
        }
        for _ in frac.len()..D as usize {
            v = v.checked_mul(10)?;
        }
        Some(Fixed(if neg { -v } else { v }))
    }
}

impl<const D: u32> fmt::Display for Fixed<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.0 < 0;
        let abs = self.0.unsigned_abs();
        let scale = Self::SCALE as u64;
        let (int, frac) = (abs / scale, abs % scale);
        if neg {
            f.write_str("-")?;
        }
        if D == 0 {
            write!(f, "{int}")
        } else {
            write!(f, "{int}.{frac:0width$}", width = D as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn display_is_exact() {
        assert_eq!(Fixed::<4>(805200).to_string(), "80.5200");
        assert_eq!(Fixed::<4>(0).to_string(), "0.0000");
        assert_eq!(Fixed::<4>(-15000).to_string(), "-1.5000");
        assert_eq!(UFixed::<8>(12_345_678_901).to_string(), "123.45678901");
        assert_eq!(UFixed::<8>(u64::MAX).to_string(), "184467440737.09551615");
        assert_eq!(UFixed::<8>(0).to_string(), "0.00000000");
        assert_eq!(Fixed::<4>(i64::MIN).to_string(), "-922337203685477.5808");
    }

    #[test]
    fn parse_round_trips() {
        assert_eq!(Price4::parse("80.52"), Some(Fixed::<4>(805200)));
        assert_eq!(Price4::parse("357.33"), Some(Fixed::<4>(3573300)));
        assert_eq!(Price4::parse("12"), Some(Fixed::<4>(120000)));
        assert_eq!(Price4::parse("-0.0001"), Some(Fixed::<4>(-1)));
        assert_eq!(Price4::parse("1.23456"), None);
        assert_eq!(Price4::parse("1e5"), None);
        assert_eq!(Price4::parse(""), None);
        assert_eq!(Price4::parse("-"), None);
        assert_eq!(Price4::parse("99999999999999999999"), None);
        assert_eq!(
            Price8::parse("184467440737.09551615"),
            Some(UFixed(u64::MAX))
        );
        assert_eq!(Price8::parse("184467440737.09551616"), None);
        assert_eq!(Price8::parse("7680"), Some(UFixed(768_000_000_000)));
        assert_eq!(Price8::parse("-1"), None);
        assert_eq!(Price8::parse("."), None);
    }
}
