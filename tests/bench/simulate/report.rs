//! What a run counts, and the report made of it: a table for people, JSON for tools.

use std::fmt::{self, Write};

use fantooo::domain::assignment::{quality_score, Band};
use fantooo::domain::Operator;
use serde::Serialize;

use crate::model::{eat_hour, Ms, Params, DAY, HOUR, MINUTE, SECOND, SHIFTS};

/// Why an operator had not answered when the idle watch took a chat back; the
/// first that applies.
#[derive(Clone, Copy)]
pub enum Cause {
    /// Had held the chat for less than the 5 minutes: the timer runs from the
    /// member's message, which may have waited in the queue (or with an earlier
    /// holder) first.
    ClaimedLate,
    /// Away from an open console.
    Away,
    /// Was never going to answer that message.
    Forgot,
    /// Answering, but after more than 5 minutes.
    Slow,
}

/// Idle incidents by cause.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IdleCauses {
    pub claimed_late: u64,
    pub away: u64,
    pub forgot: u64,
    pub slow: u64,
}

impl IdleCauses {
    pub fn total(&self) -> u64 {
        self.claimed_late + self.away + self.forgot + self.slow
    }
}

#[derive(Default)]
struct Hour {
    sessions: u64,
    waits: Vec<Ms>,
    operator_minutes: u64,
    load: f64,
    busy_minutes: u64,
}

/// Raw counts and samples, filled by the engine.
#[derive(Default)]
pub struct Stats {
    pub sessions_merged: u64,
    pub sessions_to_escalated: u64,
    pub member_messages: u64,
    pub idle_warnings: u64,
    pub reassignments: u64,
    pub suspension_requeues: u64,
    pub escalations: u64,
    pub completed: u64,
    pub away_episodes: u64,
    pub off_shift_chat_minutes: u64,
    suspensions: Vec<Suspension>,
    idle_causes: IdleCauses,
    waits: [Vec<Ms>; 4],
    requeued_waits: Vec<Ms>,
    reply_waits: Vec<Ms>,
    hours: [Hour; 24],
}

impl Stats {
    pub fn session(&mut self, now: Ms) {
        self.hours[eat_hour(now)].sessions += 1;
    }

    pub fn wait(&mut self, band: Band, enqueued_at: Ms, waited: Ms, requeued: bool) {
        self.waits[band as usize].push(waited);
        self.hours[eat_hour(enqueued_at)].waits.push(waited);
        if requeued {
            self.requeued_waits.push(waited);
        }
    }

    /// Called with the account as the quality review saw it, before the suspension.
    pub fn suspended(&mut self, now: Ms, op: &Operator) {
        let minute = (crate::model::START_EAT_HOUR * 60 + now / MINUTE) % (24 * 60);
        self.suspensions.push(Suspension {
            at_eat: format!("{:02}:{:02}", minute / 60, minute % 60),
            operator: op.id.clone(),
            quality: round1(quality_score(op)),
            idle_incidents: op.idle_incidents,
            avg_response_secs: round1(op.avg_response_secs()),
            rating: op.rating(),
            chats_released: op.active_chats,
        });
    }

    pub fn idle_incident(&mut self, cause: Cause) {
        let c = &mut self.idle_causes;
        *match cause {
            Cause::Away => &mut c.away,
            Cause::Forgot => &mut c.forgot,
            Cause::ClaimedLate => &mut c.claimed_late,
            Cause::Slow => &mut c.slow,
        } += 1;
    }

    pub fn reply(&mut self, waited: Ms) {
        self.reply_waits.push(waited);
    }

    pub fn on_shift_minute(&mut self, hour: usize, active: u32, max: u32) {
        let h = &mut self.hours[hour];
        h.operator_minutes += 1;
        h.load += f64::from(active) / f64::from(max.max(1));
        h.busy_minutes += u64::from(active > 0);
    }

    pub fn report(&self, params: &Params, shifts: [usize; 3], ended: Ms, left_in_queue: u64) -> Report {
        let mut wait: Vec<Spread> =
            Band::ALL.iter().map(|b| Spread::of(b.as_str(), &self.waits[*b as usize])).collect();
        wait.push(Spread::of("all", &self.waits.concat()));
        wait.push(Spread::of("requeued", &self.requeued_waits));
        let minutes: u64 = self.hours.iter().map(|h| h.operator_minutes).sum();
        let load: f64 = self.hours.iter().map(|h| h.load).sum();
        let busy: u64 = self.hours.iter().map(|h| h.busy_minutes).sum();
        let hourly = (0..24)
            .map(|i| {
                // Hours of the day in order from midnight, whatever hour the run starts at.
                let h = &self.hours[i];
                HourRow {
                    hour_eat: i,
                    sessions: h.sessions,
                    operators_on_shift: h.operator_minutes as f64 / 60.0,
                    utilisation: ratio(h.load, h.operator_minutes as f64),
                    wait_p95_secs: Spread::of("", &h.waits).p95_secs,
                }
            })
            .collect();
        Report {
            seed: params.seed,
            members: params.members,
            operators: params.operators,
            shifts: SHIFTS
                .iter()
                .zip(shifts)
                .map(|(s, n)| ShiftRow { name: s.name, hours: s.hours, operators: n })
                .collect(),
            simulated_hours: round1(ended as f64 / HOUR as f64),
            sessions: self.hours.iter().map(|h| h.sessions).sum(),
            sessions_merged: self.sessions_merged,
            sessions_to_escalated: self.sessions_to_escalated,
            member_messages: self.member_messages,
            operator_replies: self.reply_waits.len() as u64,
            assignments: self.waits.iter().map(|w| w.len() as u64).sum(),
            wait,
            reply_wait: Spread::of("reply", &self.reply_waits),
            utilisation: ratio(load, minutes as f64),
            busy_share: ratio(busy as f64, minutes as f64),
            on_shift_operator_hours: round1(minutes as f64 / 60.0),
            chat_hours_after_shift: round1(self.off_shift_chat_minutes as f64 / 60.0),
            idle_warnings: self.idle_warnings,
            reassignments: self.reassignments,
            suspension_requeues: self.suspension_requeues,
            escalations: self.escalations,
            suspensions: self.suspensions.clone(),
            idle_incidents: self.idle_causes.clone(),
            away_episodes: self.away_episodes,
            completed: self.completed,
            left_in_queue,
            hourly,
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        (a / b * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// Count, p50, p95 and max of a set of waits, in seconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub group: &'static str,
    pub count: usize,
    pub p50_secs: f64,
    pub p95_secs: f64,
    pub max_secs: f64,
}

impl Spread {
    fn of(group: &'static str, samples: &[Ms]) -> Self {
        let mut v = samples.to_vec();
        v.sort_unstable();
        // Nearest rank: the smallest sample with at least p of them at or below it.
        let pct = |p: f64| -> f64 {
            let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1));
            v.get(rank - 1).map_or(0.0, |&ms| round1(ms as f64 / SECOND as f64))
        };
        Spread {
            group,
            count: v.len(),
            p50_secs: pct(0.5),
            p95_secs: pct(0.95),
            max_secs: v.last().map_or(0.0, |&ms| round1(ms as f64 / SECOND as f64)),
        }
    }
}

/// An operator suspended by the quality review, with the inputs of the score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Suspension {
    pub at_eat: String,
    pub operator: fantooo::domain::ids::OperatorId,
    pub quality: f64,
    pub idle_incidents: u32,
    pub avg_response_secs: f64,
    pub rating: f64,
    pub chats_released: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShiftRow {
    pub name: &'static str,
    pub hours: (u8, u8),
    pub operators: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HourRow {
    pub hour_eat: usize,
    pub sessions: u64,
    /// Mean operators on shift (and not suspended) during the hour.
    pub operators_on_shift: f64,
    pub utilisation: f64,
    pub wait_p95_secs: f64,
}

/// One run's outcome. Waits are from the moment a queue entry is written (a member
/// message to an unheld chat, or a release) to its claim, grouped by the band the
/// entry had when written; "requeued" are the entries written by a release.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub seed: u64,
    pub members: usize,
    pub operators: usize,
    pub shifts: Vec<ShiftRow>,
    pub simulated_hours: f64,
    pub sessions: u64,
    pub sessions_merged: u64,
    pub sessions_to_escalated: u64,
    pub member_messages: u64,
    pub operator_replies: u64,
    pub assignments: u64,
    pub wait: Vec<Spread>,
    /// A member message to its operator reply.
    pub reply_wait: Spread,
    /// Mean active chats / capacity over on-shift operator minutes.
    pub utilisation: f64,
    /// Share of on-shift operator minutes with at least one chat.
    pub busy_share: f64,
    pub on_shift_operator_hours: f64,
    /// Chats held by operators whose shift had ended (finishing their chats).
    pub chat_hours_after_shift: f64,
    pub idle_warnings: u64,
    pub reassignments: u64,
    pub suspension_requeues: u64,
    pub escalations: u64,
    pub suspensions: Vec<Suspension>,
    /// Chats taken back at 5 min (reassigned or escalated), by cause.
    pub idle_incidents: IdleCauses,
    pub away_episodes: u64,
    pub completed: u64,
    pub left_in_queue: u64,
    pub hourly: Vec<HourRow>,
}

impl Report {
    #[cfg(test)]
    pub fn wait_of(&self, group: &str) -> Option<&Spread> {
        self.wait.iter().find(|s| s.group == group)
    }

    /// One line per run for `--runs`: a markdown table row.
    pub const SUMMARY_HEADER: &'static str =
        "| seed | sessions | wait p50 s | wait p95 s | wait max s | utilisation | \
        reassignments | escalations | suspended | left in queue |\n|---|---|---|---|---|---|---|---|---|---|";

    pub fn summary_row(&self) -> String {
        let all = self.wait.iter().find(|s| s.group == "all");
        let (p50, p95, max) = all.map_or((0.0, 0.0, 0.0), |s| (s.p50_secs, s.p95_secs, s.max_secs));
        format!(
            "| {} | {} | {p50} | {p95} | {max} | {:.1}% | {} | {} | {} | {} |",
            self.seed,
            self.sessions,
            self.utilisation * 100.0,
            self.reassignments,
            self.escalations,
            self.suspensions.len(),
            self.left_in_queue
        )
    }

    /// The human-readable report: markdown tables, so a run pastes into the docs.
    pub fn render(&self, wall_secs: f64) -> Result<String, fmt::Error> {
        let mut out = String::new();
        let o = &mut out;
        let shifts: Vec<String> = self
            .shifts
            .iter()
            .map(|s| format!("{} {:02}-{:02} h: {}", s.name, s.hours.0, s.hours.1, s.operators))
            .collect();
        writeln!(
            o,
            "Simulated day, seed {}: {} members, {} operators ({})",
            self.seed,
            self.members,
            self.operators,
            shifts.join(", ")
        )?;
        writeln!(
            o,
            "{} h of arrivals from {:02}:00 EAT, stopped at +{} h; wall clock {wall_secs:.2} s\n",
            DAY / HOUR,
            crate::model::START_EAT_HOUR,
            self.simulated_hours
        )?;
        writeln!(o, "| | count |\n|---|---|")?;
        for (name, n) in [
            ("sessions", self.sessions),
            ("… merged into one already running", self.sessions_merged),
            ("… to an escalated chat (no operator)", self.sessions_to_escalated),
            ("member messages", self.member_messages),
            ("operator replies", self.operator_replies),
            ("assignments (claims)", self.assignments),
            ("assignments ended by the hold", self.completed),
            ("idle warnings (4 min)", self.idle_warnings),
            ("idle incidents (chat taken back at 5 min)", self.idle_incidents.total()),
            ("… the holder had it under 5 min (claimed late)", self.idle_incidents.claimed_late),
            ("… operator away", self.idle_incidents.away),
            ("… message forgotten", self.idle_incidents.forgot),
            ("… reply slower than 5 min", self.idle_incidents.slow),
            ("reassignments (idle, requeued)", self.reassignments),
            ("requeued by a suspension", self.suspension_requeues),
            ("escalations (4th return)", self.escalations),
            ("operators suspended", self.suspensions.len() as u64),
            ("operator away episodes", self.away_episodes),
            ("left in the queue at the end", self.left_in_queue),
        ] {
            writeln!(o, "| {name} | {n} |")?;
        }
        writeln!(o, "\nWait to assignment (entry written -> claimed), by band when written:\n")?;
        writeln!(o, "| band | entries | p50 s | p95 s | max s |\n|---|---|---|---|---|")?;
        for s in self.wait.iter().chain([&self.reply_wait]) {
            let name = if s.group == "reply" { "member message -> reply" } else { s.group };
            writeln!(o, "| {name} | {} | {} | {} | {} |", s.count, s.p50_secs, s.p95_secs, s.max_secs)?;
        }
        writeln!(
            o,
            "\nOperators: utilisation {:.1}% (mean active chats / capacity, on shift), busy {:.1}% of on-shift \
             minutes (>= 1 chat), {} on-shift operator-hours, {} chat-hours held after a shift ended.\n",
            self.utilisation * 100.0,
            self.busy_share * 100.0,
            self.on_shift_operator_hours,
            self.chat_hours_after_shift
        )?;
        if !self.suspensions.is_empty() {
            writeln!(o, "Suspensions (quality below 60 after an idle incident):\n")?;
            writeln!(
                o,
                "| at (EAT) | operator | quality | idle incidents | avg response s | rating | chats released |"
            )?;
            writeln!(o, "|---|---|---|---|---|---|---|")?;
            for s in &self.suspensions {
                writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {:.2} | {} |",
                    s.at_eat, s.operator, s.quality, s.idle_incidents, s.avg_response_secs, s.rating, s.chats_released
                )?;
            }
            writeln!(o)?;
        }
        writeln!(
            o,
            "| hour (EAT) | sessions | operators on shift (not suspended) | utilisation | wait p95 s |\n|---|---|---|---|---|"
        )?;
        for h in &self.hourly {
            writeln!(
                o,
                "| {:02} | {} | {:.1} | {:.0}% | {} |",
                h.hour_eat,
                h.sessions,
                h.operators_on_shift,
                h.utilisation * 100.0,
                h.wait_p95_secs
            )?;
        }
        Ok(out)
    }
}
