//! Loyalty tiers from lifetime KES paid, and their message discounts.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Free,
    Bronze,
    Silver,
    Gold,
    Platinum,
}

impl Tier {
    /// The tier for a lifetime KES total given in cents (Paystack subunits).
    pub fn for_lifetime_kes_cents(cents: i64) -> Tier {
        const KES: i64 = 100;
        match cents {
            c if c >= 100_000 * KES => Tier::Platinum,
            c if c >= 20_000 * KES => Tier::Gold,
            c if c >= 5_000 * KES => Tier::Silver,
            c if c >= 1_000 * KES => Tier::Bronze,
            _ => Tier::Free,
        }
    }

    /// Discount on a paid message, in whole percent.
    pub fn discount_percent(self) -> i64 {
        match self {
            Tier::Free => 0,
            Tier::Bronze => 5,
            Tier::Silver => 10,
            Tier::Gold => 15,
            Tier::Platinum => 20,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Bronze => "bronze",
            Tier::Silver => "silver",
            Tier::Gold => "gold",
            Tier::Platinum => "platinum",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        Some(match s {
            "free" => Tier::Free,
            "bronze" => Tier::Bronze,
            "silver" => Tier::Silver,
            "gold" => Tier::Gold,
            "platinum" => Tier::Platinum,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_start_exactly_at_their_thresholds() {
        let kes = |k: i64| k * 100;
        assert_eq!(Tier::for_lifetime_kes_cents(0), Tier::Free);
        assert_eq!(Tier::for_lifetime_kes_cents(kes(1_000) - 1), Tier::Free);
        assert_eq!(Tier::for_lifetime_kes_cents(kes(1_000)), Tier::Bronze);
        assert_eq!(Tier::for_lifetime_kes_cents(kes(5_000) - 1), Tier::Bronze);
        assert_eq!(Tier::for_lifetime_kes_cents(kes(5_000)), Tier::Silver);
        assert_eq!(Tier::for_lifetime_kes_cents(kes(20_000)), Tier::Gold);
        assert_eq!(Tier::for_lifetime_kes_cents(kes(100_000) - 1), Tier::Gold);
        assert_eq!(Tier::for_lifetime_kes_cents(kes(100_000)), Tier::Platinum);
    }

    #[test]
    fn names_round_trip() {
        for t in [Tier::Free, Tier::Bronze, Tier::Silver, Tier::Gold, Tier::Platinum] {
            assert_eq!(Tier::parse(t.as_str()), Some(t));
        }
        assert_eq!(Tier::parse("diamond"), None);
    }
}
