//! The dashboard's numbers (`GET /admin/stats`): Nairobi business days, the
//! range asked for, and the totals that are the sums of its days.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::assignment::business_day;
use super::entities::Sender;

/// Day counters of messages are spread over this many partitions per sender, so
/// no key takes more than 2,000 / 16 = 125 writes a second at peak.
pub const MESSAGE_SHARDS: u32 = 16;
/// The aggregation counts only messages older than this: a send or reply stamped
/// `t` (its request's start) has committed within its Lambda's 10 s timeout
/// (infra/template.yaml, Globals), and its index entry landed, well before
/// `t + SETTLE`. With the job every minute, a message is counted within 90 s.
pub const SETTLE: Duration = Duration::seconds(30);
/// Entries one shard's count reads at most per run (a backlog takes several runs).
pub const MAX_ENTRIES_PER_RUN: u64 = 50_000;
/// Days one shard's count touches at most per run: its transaction holds a counter
/// per day and the cursor (at most 100 items).
pub const MAX_DAYS_PER_RUN: usize = 90;
/// The longest range one request may ask for.
pub const MAX_RANGE_DAYS: i64 = 92;

/// The senders the message counters split (`Sender`'s two sides).
pub const SIDES: [Sender; 2] = [Sender::Member, Sender::Character];

/// The days a request covers: `from` and `to` are Nairobi dates (`YYYY-MM-DD`),
/// today by default, `from <= to`, at most `MAX_RANGE_DAYS`.
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(NaiveDate, NaiveDate), (String, String)> {
    let today = business_day(now);
    let parse = |field: &str, v: Option<&str>| match v {
        None => Ok(today),
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| (field.to_string(), "must be a date like 2026-12-01 (Nairobi)".to_string())),
    };
    let (from, to) = (parse("from", from)?, parse("to", to)?);
    if from > to {
        return Err(("from".into(), "must not be after to".into()));
    }
    if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
        return Err(("to".into(), format!("a range is at most {MAX_RANGE_DAYS} days")));
    }
    Ok((from, to))
}

/// Every day of a range, oldest first.
pub fn days(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days().take_while(|d| *d <= to).collect()
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Messages {
    pub member: u64,
    pub character: u64,
}

/// One day's figures (API.md: `days` items).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Day {
    pub date: NaiveDate,
    pub revenue_cents: i64,
    pub payments: u64,
    pub messages: Messages,
    pub new_members: u64,
}

impl Day {
    pub fn empty(date: NaiveDate) -> Day {
        Day { date, revenue_cents: 0, payments: 0, messages: Messages::default(), new_members: 0 }
    }
}

/// The range's totals: the sums of its days, so they always agree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub revenue_cents: i64,
    pub payments: u64,
    pub messages: Messages,
    pub new_members: u64,
}

pub fn totals(days: &[Day]) -> Totals {
    days.iter().fold(Totals::default(), |t, d| Totals {
        revenue_cents: t.revenue_cents + d.revenue_cents,
        payments: t.payments + d.payments,
        messages: Messages {
            member: t.messages.member + d.messages.member,
            character: t.messages.character + d.messages.character,
        },
        new_members: t.new_members + d.new_members,
    })
}

/// An operator's replies in `from..=to` and their average response time, from
/// the day snapshots (`assignment::daily_figures`, the operator's own figures):
/// the days' replies summed, the averages weighted by them.
pub fn operator_range(
    snapshots: &[super::assignment::DaySnapshot],
    now: (u32, i64),
    today: NaiveDate,
    from: NaiveDate,
    to: NaiveDate,
) -> (u64, Option<f64>) {
    if from > today {
        return (0, None);
    }
    let days = (today - from).num_days() + 1;
    let figures = super::assignment::daily_figures(snapshots, now, today, days);
    let in_range = figures.iter().filter(|f| f.date >= from && f.date <= to);
    let (messages, weighted) = in_range.fold((0u64, 0f64), |(m, w), f| {
        (m + u64::from(f.messages), w + f.avg_response_s.unwrap_or(0.0) * f64::from(f.messages))
    });
    let avg = (messages > 0).then(|| ((weighted / messages as f64) * 10.0).round() / 10.0);
    (messages, avg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_range_is_today_in_nairobi_by_default_and_bounded() {
        // 22:30 UTC on the 30th is 01:30 on the 1st in Nairobi.
        let now = at("2026-11-30T22:30:00Z");
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(range(None, None, now), Ok((today, today)));
        assert!(range(Some("2026-12-02"), Some("2026-12-01"), now).is_err());
        assert!(range(Some("2026-13-01"), None, now).is_err());
        assert!(range(Some("2026-01-01"), Some("2026-12-01"), now).is_err(), "over 92 days");
        let (f, t) = range(Some("2026-11-01"), Some("2026-11-30"), now).unwrap();
        assert_eq!(days(f, t).len(), 30);
    }

    #[test]
    fn the_totals_are_the_sums_of_the_days() {
        let d1 = Day {
            revenue_cents: 10_000,
            payments: 1,
            messages: Messages { member: 5, character: 4 },
            new_members: 2,
            ..Day::empty(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap())
        };
        let d2 = Day { revenue_cents: 70_000, payments: 2, new_members: 1, ..Day::empty(d1.date.succ_opt().unwrap()) };
        let t = totals(&[d1, d2]);
        assert_eq!((t.revenue_cents, t.payments, t.messages.member, t.new_members), (80_000, 3, 5, 3));
    }

    #[test]
    fn an_operators_range_sums_its_days_and_weights_the_average() {
        use super::super::assignment::DaySnapshot;
        let d = |day: u32| NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
        let snaps = [
            DaySnapshot { date: d(28), replies: 0, total_response_secs: 0 },
            DaySnapshot { date: d(29), replies: 10, total_response_secs: 100 },
            DaySnapshot { date: d(30), replies: 20, total_response_secs: 400 },
        ];
        // 28th: 10 replies, 10 s avg; 29th: 10 replies, 30 s; 30th (today): 5 replies, 20 s.
        let now = (25, 500);
        assert_eq!(operator_range(&snaps, now, d(30), d(28), d(30)), (25, Some(20.0)));
        assert_eq!(operator_range(&snaps, now, d(30), d(29), d(29)), (10, Some(30.0)));
        assert_eq!(operator_range(&snaps, now, d(30), d(27), d(27)), (0, None));
    }
}
