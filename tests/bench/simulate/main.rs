//! A simulated day of the chat-assignment engine (docs/simulation.md): seeded
//! member sessions over 24 h of Nairobi time, operators on shifts, the real
//! ranking and matching, on a virtual clock in memory. Run by `local/simulate`.

mod engine;
mod model;
mod report;

use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use engine::Sim;
use model::Params;
use report::Report;

const USAGE: &str = "\
usage: fantooo-simulate [options]
  --seed N                 random seed (default 1); the same seed gives the same report
  --members N              members (default 2000)
  --operators N            operators, split over the three shifts (default 40)
  --sessions-per-member X  mean sessions a member starts in the day (default 1.2)
  --forget-chance P        chance an operator never answers a message (default 0.002)
  --away-per-hour X        away episodes per on-shift operator hour (default 0.02)
  --runs N                 N runs with seeds from --seed on, one summary line each (default 1: full report)
  --json                   JSON instead of tables";

#[derive(Serialize)]
struct Output<'a> {
    #[serde(flatten)]
    report: &'a Report,
    wall_clock_secs: f64,
}

fn value<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    v.with_context(|| format!("{flag} needs a value"))?.parse().with_context(|| format!("{flag}: not a valid value"))
}

struct Options {
    params: Params,
    runs: u64,
    json: bool,
}

/// `None` when help was asked for.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>> {
    let mut p = Params::default();
    let (mut runs, mut json) = (1, false);
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--seed" => p.seed = value(&flag, args.next())?,
            "--members" => p.members = value(&flag, args.next())?,
            "--operators" => p.operators = value(&flag, args.next())?,
            "--sessions-per-member" => p.sessions_per_member = value(&flag, args.next())?,
            "--forget-chance" => p.forget_chance = value(&flag, args.next())?,
            "--away-per-hour" => p.away_per_hour = value(&flag, args.next())?,
            "--runs" => runs = value(&flag, args.next())?,
            "--json" => json = true,
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    if !(0.0..=1.0).contains(&p.forget_chance) || p.away_per_hour < 0.0 || p.sessions_per_member < 0.0 {
        bail!("chances must be within 0..=1 and rates not negative\n{USAGE}");
    }
    Ok(Some(Options { params: p, runs, json }))
}

fn main() -> Result<()> {
    let Some(Options { params, runs, json }) = parse(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    if runs > 1 {
        return summaries(params, runs, json);
    }
    let started = Instant::now();
    let report = Sim::new(params)?.run();
    let wall_clock_secs = started.elapsed().as_secs_f64();
    if json {
        println!("{}", serde_json::to_string_pretty(&Output { report: &report, wall_clock_secs })?);
    } else {
        print!("{}", report.render(wall_clock_secs)?);
    }
    Ok(())
}

/// Consecutive seeds, one line each: how much a day depends on its luck.
fn summaries(params: Params, runs: u64, json: bool) -> Result<()> {
    let mut reports = Vec::new();
    if !json {
        println!("{}", Report::SUMMARY_HEADER);
    }
    for seed in params.seed..params.seed + runs {
        let report = Sim::new(Params { seed, ..params.clone() })?.run();
        if json {
            reports.push(report);
        } else {
            println!("{}", report.summary_row());
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fantooo::domain::assignment::MAX_REASSIGNMENTS;

    fn run(p: Params) -> (Report, Sim) {
        let mut sim = Sim::new(p).expect("valid parameters");
        let report = sim.run();
        (report, sim)
    }

    fn small() -> Params {
        Params { members: 400, operators: 12, ..Params::default() }
    }

    #[test]
    fn the_same_seed_gives_the_same_report_and_another_seed_another() {
        let (a, _) = run(Params { seed: 7, ..small() });
        let (b, _) = run(Params { seed: 7, ..small() });
        let (c, _) = run(Params { seed: 8, ..small() });
        assert!(a.sessions > 300, "a day of 400 members at 1.2 sessions each: {}", a.sessions);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn with_ample_operators_who_always_answer_nobody_waits_past_one_sweep_and_nothing_is_reassigned() {
        let p = Params {
            members: 500,
            operators: 120,
            forget_chance: 0.0,
            away_per_hour: 0.0,
            reply_sigma: 0.3,
            ..Params::default()
        };
        let (r, sim) = run(p);
        let all = r.wait_of("all").expect("an overall row");
        assert!(r.sessions > 400 && all.count > 400, "{r:?}");
        assert!(all.max_secs <= 60.0, "longest wait {} s", all.max_secs);
        assert!(all.p95_secs <= 1.0, "the pass a message triggers claims the chat: {all:?}");
        assert_eq!((r.idle_warnings, r.reassignments, r.escalations, r.suspensions.len()), (0, 0, 0, 0));
        assert_eq!(r.left_in_queue, 0);
        assert_eq!(r.operator_replies, r.member_messages, "every message answered");
        assert!(sim.chats.iter().all(|c| c.reassign_count == 0 && c.operator.is_none()));
        assert!(r.completed > 0 && r.completed <= r.assignments);
    }

    #[test]
    fn operators_who_never_answer_lose_each_chat_at_five_minutes_and_the_fourth_loss_escalates_it() {
        let p = Params { members: 60, operators: 200, forget_chance: 1.0, away_per_hour: 0.0, ..Params::default() };
        let (r, sim) = run(p);
        assert_eq!(r.operator_replies, 0);
        assert!(r.escalations > 0 && r.reassignments > 0, "{r:?}");
        assert!(r.idle_warnings > 0, "a warning at 4 min before a first holder loses the chat");
        assert_eq!(
            r.idle_incidents.claimed_late, 0,
            "every holder gets the full 5 min: the timer runs from the later of message and claim"
        );
        assert!(r.idle_warnings >= r.reassignments, "each holder is warned before losing the chat: {r:?}");
        let escalated: Vec<_> = sim.chats.iter().filter(|c| c.escalated).collect();
        assert_eq!(escalated.len() as u64, r.escalations);
        assert!(escalated.iter().all(|c| c.reassign_count == MAX_REASSIGNMENTS && c.operator.is_none()));
        assert!(sim.chats.iter().all(|c| c.reassign_count <= MAX_REASSIGNMENTS));
        assert_eq!(
            r.reassignments + r.suspension_requeues,
            sim.chats.iter().map(|c| u64::from(c.reassign_count)).sum::<u64>(),
            "every requeue counted on its chat"
        );
        assert!(r.wait_of("requeued").is_some_and(|s| s.count > 0), "requeued chats were assigned again");
    }

    #[test]
    fn more_sessions_arrive_in_the_evening_peak_than_before_dawn() {
        let (r, _) = run(small());
        let at = |h: usize| r.hourly[h].sessions;
        assert!(at(21) > 3 * at(4), "21:00 {} vs 04:00 {}", at(21), at(4));
    }

    #[test]
    fn options_parse_and_unknown_ones_fail() {
        let args = ["--seed", "9", "--members", "10", "--json"].map(String::from);
        let o = parse(args).expect("valid").expect("not help");
        assert_eq!((o.params.seed, o.params.members, o.params.operators, o.runs, o.json), (9, 10, 40, 1, true));
        assert!(parse(["--nope".to_string()]).is_err());
        assert!(parse(["--seed".to_string()]).is_err());
        assert!(parse(["--help".to_string()]).expect("help").is_none());
    }
}
