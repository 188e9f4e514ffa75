//! Credits: integer hundredths of a credit, shown as "12.50". Never a float.

use std::fmt;

/// An amount of credits in hundredths. Never a float.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Credits(i64);

impl Credits {
    pub const ZERO: Credits = Credits(0);

    pub const fn from_hundredths(h: i64) -> Self {
        Credits(h)
    }

    pub const fn whole(c: i64) -> Self {
        Credits(c * 100)
    }

    pub const fn hundredths(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_sub(self, other: Credits) -> Option<Credits> {
        self.0.checked_sub(other.0).map(Credits)
    }

    pub fn checked_add(self, other: Credits) -> Option<Credits> {
        self.0.checked_add(other.0).map(Credits)
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl serde::Serialize for Credits {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Parses what `Display` writes: an optional `-`, whole credits, and exactly two
/// decimal places ("12.50"). Anything else is refused, never rounded.
impl std::str::FromStr for Credits {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const SHAPE: &str = "credits are written like 12.50";
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, cents) = digits.split_once('.').ok_or(SHAPE)?;
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || cents.len() != 2 || !all_digits(cents) {
            return Err(SHAPE);
        }
        let whole: i64 = whole.parse().map_err(|_| SHAPE)?;
        let cents: i64 = cents.parse().map_err(|_| SHAPE)?;
        let h = whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or(SHAPE)?;
        Ok(Credits(if negative { -h } else { h }))
    }
}

impl<'de> serde::Deserialize<'de> for Credits {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_two_places() {
        assert_eq!(Credits::from_hundredths(380).to_string(), "3.80");
        assert_eq!(Credits::from_hundredths(5).to_string(), "0.05");
        assert_eq!(Credits::ZERO.to_string(), "0.00");
        assert_eq!(Credits::from_hundredths(-120).to_string(), "-1.20");
        assert_eq!(Credits::whole(12).to_string(), "12.00");
    }

    #[test]
    fn parses_what_it_displays_and_nothing_else() {
        for h in [0, 5, 380, -120, 1_200, i64::MAX / 200] {
            let c = Credits::from_hundredths(h);
            assert_eq!(c.to_string().parse::<Credits>(), Ok(c));
        }
        for bad in ["", "12", "12.5", "12.500", "1,50", "+1.00", "-", ".50", "1.-5", "a.bc", "99999999999999999999.00"]
        {
            assert!(bad.parse::<Credits>().is_err(), "{bad:?} parsed");
        }
        let json: Credits = serde_json::from_str("\"3.80\"").expect("a JSON string");
        assert_eq!(json, Credits::from_hundredths(380));
    }
}
