//! Platform settings (`GET/PUT /admin/settings`): the assignment timers, the
//! quality threshold and the pricing. A change merges into what is set and is
//! refused whole if the result makes no sense.

use serde::{Deserialize, Serialize};

use super::assignment::{AssignmentSettings, Timers, QUALITY_THRESHOLD};
use super::money::Credits;
use super::pricing::{Factor, Pricing};

/// Every setting, defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub timers: Timers,
    /// 0-100: an operator whose quality score falls below it is suspended.
    pub quality_threshold: i64,
    pub pricing: Pricing,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timers: Timers::default(),
            quality_threshold: DEFAULT_QUALITY_THRESHOLD,
            pricing: Pricing::default(),
        }
    }
}

pub const DEFAULT_QUALITY_THRESHOLD: i64 = QUALITY_THRESHOLD as i64;

impl Settings {
    /// The stored timers and threshold over the defaults (a stored set that makes
    /// no sense falls back as `Timers::from_settings` says).
    pub fn from_stored(timers: &AssignmentSettings, quality_threshold: Option<i64>, pricing: Pricing) -> Settings {
        Settings {
            timers: Timers::from_settings(timers),
            quality_threshold: quality_threshold.filter(|t| (0..=100).contains(t)).unwrap_or(DEFAULT_QUALITY_THRESHOLD),
            pricing,
        }
    }

    pub fn stored_timers(&self) -> AssignmentSettings {
        AssignmentSettings {
            idle_warning_minutes: Some(self.timers.idle_warning.num_minutes()),
            idle_reassign_minutes: Some(self.timers.idle_reassign.num_minutes()),
            assignment_hold_minutes: Some(self.timers.assignment_hold.num_minutes()),
        }
    }

    /// `self` with `change` merged in, or every field that makes no sense: a
    /// warning not before the reassignment (or a timer not positive or over a
    /// day), a threshold outside 0-100, a base price or multiplier not above zero.
    pub fn merged(&self, change: &SettingsChange) -> Result<Settings, Vec<(String, String)>> {
        let mut problems: Vec<(String, String)> = Vec::new();
        let a = change.assignment.unwrap_or_default();
        let current = self.stored_timers();
        let timers = AssignmentSettings {
            idle_warning_minutes: a.idle_warning_minutes.or(current.idle_warning_minutes),
            idle_reassign_minutes: a.idle_reassign_minutes.or(current.idle_reassign_minutes),
            assignment_hold_minutes: a.assignment_hold_minutes.or(current.assignment_hold_minutes),
        };
        let checked = Timers::checked(&timers);
        if checked.is_none() {
            let field = if a.idle_warning_minutes.is_some() || a.idle_reassign_minutes.is_some() {
                "assignment.idle_warning_minutes"
            } else {
                "assignment.assignment_hold_minutes"
            };
            problems.push((
                field.into(),
                "timers are whole minutes from 1 to 1440, and the warning comes before the reassignment".into(),
            ));
        }
        let quality_threshold = change.quality_threshold.unwrap_or(self.quality_threshold);
        if !(0..=100).contains(&quality_threshold) {
            problems.push(("quality_threshold".into(), "must be a whole number from 0 to 100".into()));
        }
        let mut pricing = self.pricing;
        if let Some(p) = &change.pricing {
            let mut parse = |field: &str, text: &Option<String>, into: &mut Factor| {
                if let Some(t) = text {
                    match Factor::parse_decimal(t) {
                        Ok(f) => *into = f,
                        Err(e) => problems.push((format!("pricing.{field}"), e)),
                    }
                }
            };
            parse("featured_multiplier", &p.featured_multiplier, &mut pricing.featured);
            parse("peak_multiplier", &p.peak_multiplier, &mut pricing.peak);
            parse("off_peak_multiplier", &p.off_peak_multiplier, &mut pricing.off_peak);
            if let Some(base) = &p.base_message_credits {
                match base.parse::<Credits>() {
                    Ok(c) => pricing.base = c,
                    Err(e) => problems.push(("pricing.base_message_credits".into(), e.into())),
                }
            }
        }
        for (field, why) in pricing.problems() {
            if !problems.iter().any(|(f, _)| f == field) {
                problems.push((field.into(), why));
            }
        }
        match checked {
            Some(timers) if problems.is_empty() => Ok(Settings { timers, quality_threshold, pricing }),
            _ => Err(problems),
        }
    }
}

/// A `PUT /admin/settings` body: any part of the settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    pub assignment: Option<TimersChange>,
    pub quality_threshold: Option<i64>,
    pub pricing: Option<PricingChange>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimersChange {
    pub idle_warning_minutes: Option<i64>,
    pub idle_reassign_minutes: Option<i64>,
    pub assignment_hold_minutes: Option<i64>,
}

/// Credits and multipliers as decimal strings, so pricing stays exact.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingChange {
    pub base_message_credits: Option<String>,
    pub featured_multiplier: Option<String>,
    pub peak_multiplier: Option<String>,
    pub off_peak_multiplier: Option<String>,
}

/// The API shape (API.md "Settings").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SettingsView {
    pub assignment: TimersView,
    pub quality_threshold: i64,
    pub pricing: PricingView,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimersView {
    pub idle_warning_minutes: i64,
    pub idle_reassign_minutes: i64,
    pub assignment_hold_minutes: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PricingView {
    pub base_message_credits: String,
    pub featured_multiplier: String,
    pub peak_multiplier: String,
    pub off_peak_multiplier: String,
}

impl From<&Settings> for SettingsView {
    fn from(s: &Settings) -> Self {
        SettingsView {
            assignment: TimersView {
                idle_warning_minutes: s.timers.idle_warning.num_minutes(),
                idle_reassign_minutes: s.timers.idle_reassign.num_minutes(),
                assignment_hold_minutes: s.timers.assignment_hold.num_minutes(),
            },
            quality_threshold: s.quality_threshold,
            pricing: PricingView {
                base_message_credits: s.pricing.base.to_string(),
                featured_multiplier: s.pricing.featured.to_string(),
                peak_multiplier: s.pricing.peak.to_string(),
                off_peak_multiplier: s.pricing.off_peak.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(json: &str) -> SettingsChange {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_field_is_filled_with_the_defaults() {
        let view = SettingsView::from(&Settings::default());
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "assignment": {"idle_warning_minutes": 4, "idle_reassign_minutes": 5, "assignment_hold_minutes": 10},
                "quality_threshold": 60,
                "pricing": {"base_message_credits": "1.00", "featured_multiplier": "1.5",
                            "peak_multiplier": "1.2", "off_peak_multiplier": "0.8"}
            })
        );
    }

    #[test]
    fn a_change_merges_into_what_is_set() {
        let first = Settings::default().merged(&change(r#"{"assignment": {"idle_reassign_minutes": 8}}"#)).unwrap();
        let second =
            first.merged(&change(r#"{"pricing": {"peak_multiplier": "1.25"}, "quality_threshold": 50}"#)).unwrap();
        let view = SettingsView::from(&second);
        assert_eq!(view.assignment.idle_reassign_minutes, 8, "the first change stays");
        assert_eq!(view.assignment.idle_warning_minutes, 4);
        assert_eq!(view.pricing.peak_multiplier, "1.25");
        assert_eq!(view.pricing.featured_multiplier, "1.5");
        assert_eq!(view.quality_threshold, 50);
    }

    #[test]
    fn nonsense_is_refused_whole_with_the_fields_named() {
        let cases = [
            (r#"{"assignment": {"idle_warning_minutes": 6}}"#, "assignment.idle_warning_minutes"),
            (
                r#"{"assignment": {"idle_warning_minutes": 5, "idle_reassign_minutes": 5}}"#,
                "assignment.idle_warning_minutes",
            ),
            (r#"{"assignment": {"assignment_hold_minutes": 0}}"#, "assignment.assignment_hold_minutes"),
            (r#"{"quality_threshold": 101}"#, "quality_threshold"),
            (r#"{"quality_threshold": -1}"#, "quality_threshold"),
            (r#"{"pricing": {"featured_multiplier": "0"}}"#, "pricing.featured_multiplier"),
            (r#"{"pricing": {"off_peak_multiplier": "-0.5"}}"#, "pricing.off_peak_multiplier"),
            (r#"{"pricing": {"base_message_credits": "0.00"}}"#, "pricing.base_message_credits"),
            (r#"{"pricing": {"base_message_credits": "1.5"}}"#, "pricing.base_message_credits"),
            (
                r#"{"pricing": {"peak_multiplier": "1.2", "base_message_credits": "-1.00"}}"#,
                "pricing.base_message_credits",
            ),
        ];
        for (json, field) in cases {
            let problems = Settings::default().merged(&change(json)).unwrap_err();
            assert!(problems.iter().any(|(f, _)| f == field), "{json}: {problems:?}");
        }
    }

    #[test]
    fn unknown_fields_are_not_silently_ignored() {
        assert!(serde_json::from_str::<SettingsChange>(r#"{"pricing": {"base_price": "2.00"}}"#).is_err());
    }
}
