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

/// Decimal places a multiplier setting may have ("1.2345").
pub const FACTOR_DECIMALS: usize = 4;

impl Factor {
    pub const FEATURED: Factor = Factor { num: 15, den: 10 };
    pub const PEAK: Factor = Factor { num: 12, den: 10 };
    pub const OFF_PEAK: Factor = Factor { num: 8, den: 10 };

    pub fn discount_percent(pct: i64) -> Factor {
        Factor { num: 100 - pct, den: 100 }
    }

    /// A multiplier as the settings write it: digits, an optional point and up to
    /// four decimals ("1.5", "0.8", "2"). Exact: the text becomes a fraction over a
    /// power of ten, never a float.
    pub fn parse_decimal(text: &str) -> Result<Factor, String> {
        let shape = || format!("must be a decimal number like \"1.5\" (at most {FACTOR_DECIMALS} decimals)");
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 6 || !digits(whole) || !digits(frac) || frac.len() > FACTOR_DECIMALS {
            return Err(shape());
        }
        if text.ends_with('.') {
            return Err(shape());
        }
        let den = 10i64.pow(u32::try_from(frac.len()).map_err(|_| shape())?);
        let whole: i64 = whole.parse().map_err(|_| shape())?;
        let frac: i64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| shape())? };
        Ok(Factor { num: whole * den + frac, den })
    }

    pub fn is_positive(self) -> bool {
        self.num > 0 && self.den > 0
    }
}

/// The shortest decimal that is exactly this factor (settings keep powers of ten
/// as denominators; another fraction is written to four decimals, rounded).
impl std::fmt::Display for Factor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scaled = (i128::from(self.num) * 10_000 * 2 + i128::from(self.den)) / (2 * i128::from(self.den).max(1));
        let (whole, mut frac, mut places) = (scaled / 10_000, scaled % 10_000, FACTOR_DECIMALS);
        while places > 0 && frac % 10 == 0 {
            frac /= 10;
            places -= 1;
        }
        if places == 0 {
            write!(f, "{whole}")
        } else {
            write!(f, "{whole}.{frac:0places$}")
        }
    }
}

/// The pricing an admin sets (`PUT /admin/settings`): the base price of a paid
/// message and the featured, peak and off-peak multipliers. Defaults: 1.00
/// credit, x1.5, x1.2, x0.8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pricing {
    pub base: Credits,
    pub featured: Factor,
    pub peak: Factor,
    pub off_peak: Factor,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing { base: BASE_PRICE, featured: Factor::FEATURED, peak: Factor::PEAK, off_peak: Factor::OFF_PEAK }
    }
}

/// The largest multiplier and base price a setting may hold: beyond them a typo
/// (an extra zero) would bill members tenfold.
pub const MAX_FACTOR: Factor = Factor { num: 10, den: 1 };
pub const MAX_BASE_PRICE: Credits = Credits::whole(100);

impl Pricing {
    /// The fields that make no sense, with why: a base price or a multiplier not
    /// above zero, or beyond the caps.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.base.hundredths() <= 0 || self.base > MAX_BASE_PRICE {
            out.push(("pricing.base_message_credits", format!("must be above 0.00 and at most {MAX_BASE_PRICE}")));
        }
        let over =
            |f: Factor| i128::from(f.num) * i128::from(MAX_FACTOR.den) > i128::from(MAX_FACTOR.num) * i128::from(f.den);
        for (name, f) in [
            ("pricing.featured_multiplier", self.featured),
            ("pricing.peak_multiplier", self.peak),
            ("pricing.off_peak_multiplier", self.off_peak),
        ] {
            if !f.is_positive() || over(f) {
                out.push((name, format!("must be above 0 and at most {MAX_FACTOR}")));
            }
        }
        out
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
    /// The admin's pricing settings, read with the send's other inputs.
    pub pricing: Pricing,
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
    let p = &inputs.pricing;
    let mut factors = Vec::with_capacity(3);
    if inputs.featured {
        factors.push(p.featured);
    }
    match day_band(inputs.at) {
        DayBand::Peak => factors.push(p.peak),
        DayBand::OffPeak => factors.push(p.off_peak),
        DayBand::Standard => {}
    }
    let discount = inputs.tier.discount_percent();
    if discount > 0 {
        factors.push(Factor::discount_percent(discount));
    }
    Quote { cost: message_price(p.base, &factors), free: None }
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
            pricing: Pricing::default(),
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

    #[test]
    fn multipliers_parse_exactly_and_print_back() {
        for (text, num, den) in
            [("1.5", 15, 10), ("0.8", 8, 10), ("2", 2, 1), ("1.2345", 12345, 10000), ("0.05", 5, 100)]
        {
            let f = Factor::parse_decimal(text).unwrap();
            assert_eq!((f.num, f.den), (num, den), "{text}");
            assert_eq!(f.to_string(), text.trim_end_matches(".0"));
        }
        assert_eq!(Factor::parse_decimal("1.50").unwrap().to_string(), "1.5");
        for bad in ["", ".5", "1.", "1.23456", "-1", "1e3", "one", "1.2.3", " 1"] {
            assert!(Factor::parse_decimal(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Factor::discount_percent(5).to_string(), "0.95");
    }

    #[test]
    fn set_pricing_replaces_the_defaults_exactly() {
        let pricing = Pricing {
            base: Credits::from_hundredths(150),
            featured: Factor::parse_decimal("2").unwrap(),
            peak: Factor::parse_decimal("1.1").unwrap(),
            off_peak: Factor::parse_decimal("0.5").unwrap(),
        };
        let at_peak = PriceInputs { pricing, ..paid(true, Tier::Free, eat(21, 0, 0)) };
        assert_eq!(cost(at_peak), "3.30"); // 1.50 * 2 * 1.1
        let off_peak_bronze = PriceInputs { pricing, ..paid(false, Tier::Bronze, eat(4, 0, 0)) };
        assert_eq!(cost(off_peak_bronze), "0.71"); // 1.50 * 0.5 * 0.95 = 0.7125
    }

    #[test]
    fn pricing_that_makes_no_sense_is_named_field_by_field() {
        assert!(Pricing::default().problems().is_empty());
        let zero = Factor { num: 0, den: 1 };
        let bad =
            Pricing { base: Credits::ZERO, featured: zero, peak: Factor { num: 11, den: 1 }, ..Pricing::default() };
        let fields: Vec<_> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["pricing.base_message_credits", "pricing.featured_multiplier", "pricing.peak_multiplier"]);
    }
}
