//! Message pricing: free allowance, featured premium, Nairobi peak/off-peak,
//! tier discount and the loyalty reward, multiplied exactly and rounded once.

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Africa::Nairobi;

use super::money::Credits;
use super::tier::Tier;

/// Member messages per chat that cost nothing.
pub const FREE_MESSAGES_PER_CHAT: u32 = 3;
/// Every Nth message a member sends (lifetime) is free.
pub const LOYALTY_EVERY: u64 = 100;
/// The price of one message before any factor.
pub const BASE_PRICE: Credits = Credits::whole(1);

/// A multiplier as an exact fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Factor {
    pub num: i64,
    pub den: i64,
}

impl Factor {
    pub const FEATURED: Factor = Factor { num: 3, den: 2 };
    pub const PEAK: Factor = Factor { num: 6, den: 5 };
    pub const OFF_PEAK: Factor = Factor { num: 4, den: 5 };

    pub fn discount_percent(pct: i64) -> Factor {
        Factor { num: 100 - pct, den: 100 }
    }
}

/// Every factor at once, exact; rounds half up to the hundredth a single time.
pub fn message_price(base: Credits, factors: &[Factor]) -> Credits {
    let (num, den) = factors
        .iter()
        .fold((i128::from(base.hundredths()), 1i128), |(n, d), f| (n * i128::from(f.num), d * i128::from(f.den)));
    // Round half up for non-negative values: floor((2n + d) / 2d).
    let rounded = (2 * num + den).div_euclid(2 * den);
    Credits::from_hundredths(i64::try_from(rounded).unwrap_or(i64::MAX))
}

/// Time-of-day band in Africa/Nairobi.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayBand {
    /// [20:00, 02:00) local: x1.2
    Peak,
    /// [02:00, 08:00) local: x0.8
    OffPeak,
    Standard,
}

pub fn day_band(at: DateTime<Utc>) -> DayBand {
    match at.with_timezone(&Nairobi).hour() {
        20..=23 | 0..=1 => DayBand::Peak,
        2..=7 => DayBand::OffPeak,
        _ => DayBand::Standard,
    }
}

/// What the price of one member message depends on, as read before the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceInputs {
    /// Member messages already in this chat.
    pub chat_member_messages: u32,
    /// Messages the member has sent in all chats.
    pub member_messages_sent: u64,
    /// Loyalty rewards the member has already used (a free paid-slot message each).
    pub loyalty_used: u64,
    /// The chat is escalated: nobody is there to answer, so messages cost nothing.
    pub escalated: bool,
    pub featured: bool,
    pub tier: Tier,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeReason {
    /// One of the first messages of a chat.
    Allowance,
    /// The reward for every 100th message the member sent; earned inside a chat's
    /// free allowance, it carries to the next message that would be paid.
    Loyalty,
    /// The chat is escalated and waits for an admin.
    Escalated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    pub cost: Credits,
    pub free: Option<FreeReason>,
}

/// Loyalty rewards earned once the member has sent `messages` messages in all.
pub fn loyalty_earned(messages: u64) -> u64 {
    messages / LOYALTY_EVERY
}

/// The price of the member's next message. A loyalty reward is spent only on a
/// message that would otherwise be paid, so none is lost to a free one.
pub fn quote(inputs: &PriceInputs) -> Quote {
    if inputs.chat_member_messages < FREE_MESSAGES_PER_CHAT {
        return Quote { cost: Credits::ZERO, free: Some(FreeReason::Allowance) };
    }
    if inputs.escalated {
        return Quote { cost: Credits::ZERO, free: Some(FreeReason::Escalated) };
    }
    if loyalty_earned(inputs.member_messages_sent + 1) > inputs.loyalty_used {
        return Quote { cost: Credits::ZERO, free: Some(FreeReason::Loyalty) };
    }
    let mut factors = Vec::with_capacity(3);
    if inputs.featured {
        factors.push(Factor::FEATURED);
    }
    match day_band(inputs.at) {
        DayBand::Peak => factors.push(Factor::PEAK),
        DayBand::OffPeak => factors.push(Factor::OFF_PEAK),
        DayBand::Standard => {}
    }
    let discount = inputs.tier.discount_percent();
    if discount > 0 {
        factors.push(Factor::discount_percent(discount));
    }
    Quote { cost: message_price(BASE_PRICE, &factors), free: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A UTC instant for a Nairobi wall-clock time (UTC+3, no DST).
    fn eat(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Nairobi.with_ymd_and_hms(2026, 11, 25, h, m, s).single().expect("Nairobi has no DST gaps").with_timezone(&Utc)
    }

    fn paid(featured: bool, tier: Tier, at: DateTime<Utc>) -> PriceInputs {
        PriceInputs {
            chat_member_messages: 3,
            member_messages_sent: 10,
            loyalty_used: 0,
            escalated: false,
            featured,
            tier,
            at,
        }
    }

    fn cost(inputs: PriceInputs) -> String {
        quote(&inputs).cost.to_string()
    }

    #[test]
    fn first_three_messages_of_a_chat_are_free_and_the_fourth_is_not() {
        for n in 0..3 {
            let q = quote(&PriceInputs { chat_member_messages: n, ..paid(true, Tier::Free, eat(21, 0, 0)) });
            assert_eq!(q, Quote { cost: Credits::ZERO, free: Some(FreeReason::Allowance) });
        }
        assert_eq!(cost(paid(false, Tier::Free, eat(12, 0, 0))), "1.00");
    }

    #[test]
    fn every_hundredth_message_is_free() {
        let at = eat(12, 0, 0);
        let nth = |sent, used| {
            quote(&PriceInputs { member_messages_sent: sent, loyalty_used: used, ..paid(false, Tier::Free, at) })
        };
        assert_eq!(nth(99, 0).free, Some(FreeReason::Loyalty));
        assert_eq!(nth(199, 1).free, Some(FreeReason::Loyalty));
        assert_eq!(nth(98, 0).cost, Credits::whole(1));
        assert_eq!(nth(100, 1).cost, Credits::whole(1), "the 100th's reward was used");
    }

    #[test]
    fn a_reward_earned_inside_the_free_allowance_carries_to_the_next_paid_message() {
        let at = eat(12, 0, 0);
        // The 100th message is a chat's first: free anyway, so the reward is not spent.
        let hundredth = PriceInputs {
            chat_member_messages: 0,
            member_messages_sent: 99,
            loyalty_used: 0,
            ..paid(false, Tier::Free, at)
        };
        assert_eq!(quote(&hundredth).free, Some(FreeReason::Allowance));
        // Messages 101-102 are still free by allowance; 103 would be paid: the reward applies.
        let next_paid = PriceInputs { chat_member_messages: 3, member_messages_sent: 102, ..hundredth };
        assert_eq!(quote(&next_paid).free, Some(FreeReason::Loyalty));
        let after = PriceInputs { member_messages_sent: 103, loyalty_used: 1, ..next_paid };
        assert_eq!(quote(&after).cost, Credits::whole(1));
    }

    #[test]
    fn an_escalated_chat_costs_nothing_and_keeps_the_loyalty_reward() {
        let q =
            quote(&PriceInputs { escalated: true, member_messages_sent: 99, ..paid(true, Tier::Free, eat(21, 0, 0)) });
        assert_eq!(q, Quote { cost: Credits::ZERO, free: Some(FreeReason::Escalated) });
    }

    #[test]
    fn peak_starts_at_20_00_00_and_ends_before_02_00_00_nairobi() {
        assert_eq!(day_band(eat(19, 59, 59)), DayBand::Standard);
        assert_eq!(day_band(eat(20, 0, 0)), DayBand::Peak);
        assert_eq!(day_band(eat(23, 59, 59)), DayBand::Peak);
        assert_eq!(day_band(eat(0, 0, 0)), DayBand::Peak);
        assert_eq!(day_band(eat(1, 59, 59)), DayBand::Peak);
        assert_eq!(day_band(eat(2, 0, 0)), DayBand::OffPeak);
        assert_eq!(day_band(eat(7, 59, 59)), DayBand::OffPeak);
        assert_eq!(day_band(eat(8, 0, 0)), DayBand::Standard);
    }

    #[test]
    fn nairobi_is_utc_plus_three() {
        let utc_17 = Utc.with_ymd_and_hms(2026, 11, 25, 17, 0, 0).single().unwrap();
        assert_eq!(day_band(utc_17), DayBand::Peak);
        let utc_16_59 = Utc.with_ymd_and_hms(2026, 11, 25, 16, 59, 59).single().unwrap();
        assert_eq!(day_band(utc_16_59), DayBand::Standard);
    }

    #[test]
    fn peak_premium_is_exact_not_rounded_up() {
        assert_eq!(cost(paid(false, Tier::Free, eat(21, 0, 0))), "1.20");
        assert_eq!(cost(paid(false, Tier::Free, eat(3, 0, 0))), "0.80");
    }

    /// Every combination of featured x band x tier against the exact hand-computed value.
    #[test]
    fn every_combination_matches_the_exact_product() {
        let bands = [(eat(12, 0, 0), 100i64, 100i64), (eat(21, 0, 0), 120, 100), (eat(4, 0, 0), 80, 100)];
        let tiers = [Tier::Free, Tier::Bronze, Tier::Silver, Tier::Gold, Tier::Platinum];
        for featured in [false, true] {
            for (at, band_num, band_den) in bands {
                for tier in tiers {
                    // hundredths * 10^6 to keep everything integral, then round half up.
                    let feat = if featured { 150 } else { 100 };
                    let micro = 100 * feat * band_num * (100 - tier.discount_percent()) * 100 / (100 * band_den * 100);
                    // micro is hundredths * 100; round half up to hundredths.
                    let expected = (micro + 50) / 100;
                    let got = quote(&paid(featured, tier, at)).cost.hundredths();
                    assert_eq!(got, expected, "featured={featured} band={band_num} tier={tier:?}");
                }
            }
        }
    }

    #[test]
    fn known_values() {
        // featured + peak + platinum: 1 * 1.5 * 1.2 * 0.8 = 1.44
        assert_eq!(cost(paid(true, Tier::Platinum, eat(22, 0, 0))), "1.44");
        // featured + off-peak + bronze: 1.5 * 0.8 * 0.95 = 1.14
        assert_eq!(cost(paid(true, Tier::Bronze, eat(5, 0, 0))), "1.14");
        // peak + bronze: 1.2 * 0.95 = 1.14
        assert_eq!(cost(paid(false, Tier::Bronze, eat(20, 0, 0))), "1.14");
        // gold standard: 0.85
        assert_eq!(cost(paid(false, Tier::Gold, eat(12, 0, 0))), "0.85");
    }

    #[test]
    fn rounds_half_up_once_at_the_end() {
        // 1.00 * 0.95 * 0.95 = 0.9025 -> 0.90; 0.125 -> 0.13; 0.135 -> 0.14
        let five_off = Factor::discount_percent(5);
        assert_eq!(message_price(Credits::whole(1), &[five_off, five_off]).hundredths(), 90);
        assert_eq!(message_price(Credits::whole(1), &[Factor { num: 1, den: 8 }]).hundredths(), 13);
        assert_eq!(message_price(Credits::from_hundredths(27), &[Factor { num: 1, den: 2 }]).hundredths(), 14);
        assert_eq!(message_price(Credits::whole(1), &[]).hundredths(), 100);
    }
}
