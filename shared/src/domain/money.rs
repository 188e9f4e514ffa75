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
}
