//! The simulated population and its day: members, characters, operators on shifts,
//! the arrival-rate profile, and every random draw, all from one seeded RNG.

use chrono::{DateTime, TimeZone, Utc};
use fantooo::domain::assignment::Skills;
use fantooo::domain::ids::{MemberId, OperatorId};
use fantooo::domain::{Credits, Operator};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, Geometric, LogNormal};

/// Virtual milliseconds since the start of the simulated day.
pub type Ms = i64;

pub const SECOND: Ms = 1_000;
pub const MINUTE: Ms = 60 * SECOND;
pub const HOUR: Ms = 60 * MINUTE;
pub const DAY: Ms = 24 * HOUR;

/// The day starts at 04:00 in Nairobi (EAT, UTC+3 all year), in the quietest
/// hours, so starting with an empty queue and idle operators is close to the truth.
pub const START_EAT_HOUR: i64 = 4;

/// 2026-11-25 04:00 EAT.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 1, 0, 0).single().expect("a valid constant date")
}

/// Hour of the day in Nairobi at virtual time `t`.
pub fn eat_hour(t: Ms) -> usize {
    ((START_EAT_HOUR + t.div_euclid(HOUR)) % 24) as usize
}

/// Relative session-arrival rate by hour in Nairobi: peak 20:00-02:00 (the seed's
/// peak hours), evening build-up 17:00-20:00, the working day, and the trough
/// 02:00-08:00. Constant within an hour.
pub const HOURLY_WEIGHT: [f64; 24] = [
    2.2, 2.2, // 00-02 peak
    0.3, 0.3, 0.3, 0.3, 0.3, 0.3, // 02-08 trough
    0.8, 0.8, 0.8, 0.8, // 08-12 morning
    1.0, 1.0, 1.0, 1.0, 1.0, // 12-17 afternoon
    1.4, 1.4, 1.4, // 17-20 evening
    2.2, 2.2, 2.2, 2.2, // 20-24 peak
];

/// A shift in Nairobi hours `[start, end)` and its share of the operators.
pub struct Shift {
    pub name: &'static str,
    pub hours: (u8, u8),
    pub share: f64,
}

/// Three overlapping shifts; the night shift (the peak) is the largest.
pub const SHIFTS: [Shift; 3] = [
    Shift { name: "morning", hours: (5, 13), share: 9.0 / 40.0 },
    Shift { name: "day", hours: (12, 21), share: 13.0 / 40.0 },
    Shift { name: "night", hours: (20, 5), share: 18.0 / 40.0 },
];

pub const STYLES: [&str; 5] = ["flirty", "romantic", "friendly", "intellectual", "playful"];

/// Everything the run depends on besides the code under test.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    pub members: usize,
    pub operators: usize,
    /// Mean sessions a member starts in the day.
    pub sessions_per_member: f64,
    /// Mean member messages in a session (geometric, at least one).
    pub messages_per_session: f64,
    /// Mean seconds a member takes to write again after a reply (exponential).
    pub think_mean_secs: f64,
    /// An operator's reply time: lognormal with this median and log-space sigma.
    pub reply_median_secs: f64,
    pub reply_sigma: f64,
    /// Chance that an operator never answers a given message (the idle watch must
    /// take the chat back).
    pub forget_chance: f64,
    /// Away episodes per on-shift operator hour: the console stays open (heartbeats
    /// go on, new chats keep coming) but nothing is answered.
    pub away_per_hour: f64,
    pub away_mean_mins: f64,
    pub max_chats: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            members: 2_000,
            operators: 40,
            sessions_per_member: 1.2,
            messages_per_session: 5.0,
            think_mean_secs: 60.0,
            reply_median_secs: 45.0,
            reply_sigma: 0.6,
            forget_chance: 0.002,
            away_per_hour: 0.02,
            away_mean_mins: 12.0,
            max_chats: 5,
        }
    }
}

pub struct Member {
    pub id: MemberId,
    pub spent: Credits,
    pub language: &'static str,
    pub character: usize,
}

impl Member {
    /// Members who ever bought credits pay for their messages; the rest use the free allowance.
    pub fn pays(&self) -> bool {
        !self.spent.is_zero()
    }
}

pub struct Character {
    pub style: &'static str,
    pub language: &'static str,
}

/// Twelve characters, styles in turn, every third one Swahili-speaking.
pub fn characters() -> Vec<Character> {
    (0..12).map(|i| Character { style: STYLES[i % 5], language: if i % 3 == 2 { "sw" } else { "en" } }).collect()
}

impl Character {
    pub fn id(i: usize) -> String {
        format!("c_{:02}", i + 1)
    }
}

/// The seeded source of every random quantity in a run.
pub struct Draws {
    rng: StdRng,
    reply: LogNormal<f64>,
    think: Exp<f64>,
    messages: Geometric,
    spend: LogNormal<f64>,
    away: Exp<f64>,
    away_length: Exp<f64>,
    forget_chance: f64,
}

impl Draws {
    pub fn new(p: &Params) -> anyhow::Result<Self> {
        Ok(Draws {
            rng: StdRng::seed_from_u64(p.seed),
            reply: LogNormal::new(p.reply_median_secs.ln(), p.reply_sigma)?,
            think: Exp::new(1.0 / p.think_mean_secs)?,
            messages: Geometric::new(1.0 / p.messages_per_session.max(1.0))?,
            // Median 150 credits among payers; sigma 2 gives ~17% above 1,000 and ~2% above 10,000.
            spend: LogNormal::new(150f64.ln(), 2.0)?,
            away: Exp::new(p.away_per_hour.max(1e-12) / HOUR as f64)?,
            away_length: Exp::new(1.0 / (p.away_mean_mins * MINUTE as f64))?,
            forget_chance: p.forget_chance,
        })
    }

    pub fn index(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    /// Milliseconds to the next event of a Poisson process with `per_ms` events per millisecond.
    pub fn gap(&mut self, per_ms: f64) -> Ms {
        let u: f64 = self.rng.random();
        (-(1.0 - u).ln() / per_ms) as Ms
    }

    /// How long an operator takes to answer a message; `None`: never.
    pub fn reply_delay(&mut self) -> Option<Ms> {
        if self.chance(self.forget_chance) {
            return None;
        }
        Some((self.reply.sample(&mut self.rng) * SECOND as f64) as Ms)
    }

    pub fn think(&mut self) -> Ms {
        (self.think.sample(&mut self.rng) * SECOND as f64) as Ms
    }

    /// Member messages in a new session: at least one.
    pub fn messages(&mut self) -> u32 {
        1 + self.messages.sample(&mut self.rng).min(100) as u32
    }

    pub fn next_away(&mut self) -> Ms {
        self.away.sample(&mut self.rng) as Ms
    }

    pub fn away_length(&mut self) -> Ms {
        self.away_length.sample(&mut self.rng) as Ms
    }

    /// Lifetime spend: a third never paid, the rest lognormal.
    fn spend(&mut self) -> Credits {
        if self.chance(0.35) {
            return Credits::ZERO;
        }
        Credits::whole(self.spend.sample(&mut self.rng).round() as i64)
    }

    fn language(&mut self) -> &'static str {
        match self.rng.random_range(0..100) {
            0..60 => "en",
            60..95 => "sw",
            _ => "fr",
        }
    }
}

pub fn members(n: usize, characters: usize, draws: &mut Draws) -> Vec<Member> {
    (0..n)
        .map(|i| Member {
            id: MemberId::new(format!("m_{i:05}")),
            spent: draws.spend(),
            language: draws.language(),
            character: draws.index(characters),
        })
        .collect()
}

/// How many of `n` operators work each shift (rounded; the night shift takes the rest).
pub fn shift_sizes(n: usize) -> [usize; 3] {
    let morning = (n as f64 * SHIFTS[0].share).round() as usize;
    let day = ((n as f64 * SHIFTS[1].share).round() as usize).min(n - morning);
    [morning, day, n - morning - day]
}

/// Operator accounts as the store would hold them: offline, two specializations,
/// English plus often Swahili, a rating between 3.5 and 5, working hours of their shift.
pub fn operators(p: &Params, draws: &mut Draws) -> Vec<Operator> {
    let sizes = shift_sizes(p.operators);
    let mut out = Vec::with_capacity(p.operators);
    for (shift, size) in SHIFTS.iter().zip(sizes) {
        for _ in 0..size {
            let i = out.len();
            let id = format!("op_{:03}", i + 1);
            let mut op = Operator::new_account(
                OperatorId::new(id.as_str()),
                format!("{id}@fantooo.test"),
                id,
                String::new(),
                start(),
            );
            let first = draws.index(STYLES.len());
            let second = (first + 1 + draws.index(STYLES.len() - 1)) % STYLES.len();
            op.specializations = vec![STYLES[first].into(), STYLES[second].into()];
            op.languages = vec!["en".into()];
            if draws.chance(0.6) {
                op.languages.push("sw".into());
            }
            if draws.chance(0.1) {
                op.languages.push("fr".into());
            }
            op.rating_count = 20;
            op.rating_sum = 70 + draws.index(31) as u32;
            op.max_concurrent_chats = p.max_chats;
            op.working_hours = Some(shift.hours);
            out.push(op);
        }
    }
    out
}

/// The languages a queue entry carries: the member's and the character's.
pub fn chat_languages(m: &Member, c: &Character) -> u32 {
    Skills::languages([m.language, c.language])
}
