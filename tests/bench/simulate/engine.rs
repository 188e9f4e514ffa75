//! The discrete-event loop on a virtual clock. Ranking and matching are the real
//! `domain::assignment` functions; the pass, idle watch, releases and suspensions
//! mirror `services::assignment` and `store::assignments` step by step, on
//! in-memory state instead of the table (one assigner, so no claim is ever lost).

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use chrono::{DateTime, Duration, Utc};
use fantooo::domain::assignment::Timers;
use fantooo::domain::assignment::{
    band, counted_return, match_chats, on_shift, quality_score, rank, Band, Candidate, Return, Skills, Waiting,
    QUALITY_THRESHOLD, SUSPENSION_DAYS,
};
use fantooo::domain::ids::{ChatId, OperatorId};
use fantooo::domain::{Credits, Operator};

use crate::model::{self, eat_hour, Character, Draws, Member, Ms, Params, DAY, HOUR, MINUTE, SECOND};
use crate::report::{Cause, Report, Stats};

/// From an event that may allow an assignment to the pass it triggers (SQS to the
/// `assign-chats` Lambda). Triggers within this window share one pass, like a batch.
pub const TRIGGER_LATENCY: Ms = SECOND;
/// The operator console's heartbeat period (presence needs one within 60 s).
pub const HEARTBEAT: Ms = 30 * SECOND;
/// After the last arrival, how long chats may still run before the run stops.
pub const DRAIN: Ms = 3 * HOUR;

#[derive(Clone, Copy, Debug)]
enum Event {
    SessionStart {
        member: usize,
    },
    MemberMessage {
        chat: usize,
    },
    /// The holder's answer; dropped if the chat changed hands since (`epoch`).
    Reply {
        chat: usize,
        epoch: u32,
    },
    /// An assignment pass from a trigger.
    Trigger,
    /// The one-minute schedules: the sweep pass and the idle watch.
    Minute,
    ShiftStart {
        op: usize,
    },
    ShiftEnd {
        op: usize,
    },
    /// Heartbeats and away episodes belong to one shift (`shift`), so a late event
    /// from an earlier shift does nothing.
    Heartbeat {
        op: usize,
        shift: u32,
    },
    AwayStart {
        op: usize,
        shift: u32,
    },
    AwayEnd {
        op: usize,
        shift: u32,
    },
}

struct Scheduled {
    at: Ms,
    seq: u64,
    event: Event,
}

impl Ord for Scheduled {
    /// Reversed: `BinaryHeap` pops the greatest, the run wants the earliest (then the first scheduled).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

/// A queue entry with the fields the store writes (`send.rs` queue_entry on a member
/// message, `requeue_item` on a release), plus when it was written.
struct Entry {
    enqueued_at: Ms,
    waiting_since: Ms,
    spent: Credits,
    paid: bool,
    reassign_count: u32,
    excluded: Vec<usize>,
    boosted: bool,
    preferred: Option<usize>,
    style: u32,
    languages: u32,
    /// Written by a release rather than a member message.
    requeued: bool,
}

/// A member's chat with their favourite character (one per member), and their session.
pub struct Chat {
    id: ChatId,
    member: usize,
    pub operator: Option<usize>,
    last_operator: Option<usize>,
    pub escalated: bool,
    pub reassign_count: u32,
    excluded: Vec<usize>,
    awaiting_reply_since: Option<Ms>,
    last_member_message_at: Option<Ms>,
    idle_warned: bool,
    paid: bool,
    /// Bumped on every claim and release.
    epoch: u32,
    claimed_at: Ms,
    /// Mirrors the chat's `prio_*` attributes: the claimed entry's spend, style and
    /// languages, written back by a requeue.
    prio: (Credits, u32, u32),
    /// The holder will answer the waiting message (they did not forget it).
    reply_coming: bool,
    entry: Option<Entry>,
    /// Member messages still to come in the current session.
    to_send: u32,
}

struct Op {
    account: Operator,
    chats: BTreeSet<usize>,
    on_shift: bool,
    shift: u32,
    away_until: Ms,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Release {
    Completed,
    Idle,
    Suspension,
}

enum Outcome {
    Requeued,
    Escalated,
    Ended,
}

pub struct Sim {
    params: Params,
    draws: Draws,
    members: Vec<Member>,
    characters: Vec<Character>,
    pub chats: Vec<Chat>,
    ops: Vec<Op>,
    op_index: HashMap<OperatorId, usize>,
    chat_index: HashMap<ChatId, usize>,
    timers: [Ms; 3],
    heap: BinaryHeap<Scheduled>,
    seq: u64,
    now: Ms,
    trigger_pending: bool,
    settled: bool,
    stats: Stats,
}

impl Sim {
    pub fn new(params: Params) -> anyhow::Result<Self> {
        let mut draws = Draws::new(&params)?;
        let characters = model::characters();
        let members = model::members(params.members, characters.len(), &mut draws);
        let ops: Vec<Op> = model::operators(&params, &mut draws)
            .into_iter()
            .map(|account| Op { account, chats: BTreeSet::new(), on_shift: false, shift: 0, away_until: 0 })
            .collect();
        let chats: Vec<Chat> = members
            .iter()
            .enumerate()
            .map(|(i, m)| Chat {
                id: ChatId::new(format!("ch_{}~{}", m.id, Character::id(m.character))),
                member: i,
                operator: None,
                last_operator: None,
                escalated: false,
                reassign_count: 0,
                excluded: Vec::new(),
                awaiting_reply_since: None,
                last_member_message_at: None,
                idle_warned: false,
                paid: false,
                epoch: 0,
                claimed_at: 0,
                prio: (Credits::ZERO, 0, 0),
                reply_coming: false,
                entry: None,
                to_send: 0,
            })
            .collect();
        let t = Timers::default();
        let mut sim = Sim {
            op_index: ops.iter().enumerate().map(|(i, o)| (o.account.id.clone(), i)).collect(),
            chat_index: chats.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect(),
            timers: [t.idle_warning, t.idle_reassign, t.assignment_hold].map(|d| d.num_milliseconds()),
            params,
            draws,
            members,
            characters,
            chats,
            ops,
            heap: BinaryHeap::new(),
            seq: 0,
            now: 0,
            trigger_pending: false,
            settled: false,
            stats: Stats::default(),
        };
        sim.schedule_shifts();
        sim.schedule_arrivals();
        sim.push(0, Event::Minute);
        Ok(sim)
    }

    fn at(&self, t: Ms) -> DateTime<Utc> {
        model::start() + Duration::milliseconds(t)
    }

    fn push(&mut self, at: Ms, event: Event) {
        self.seq += 1;
        self.heap.push(Scheduled { at, seq: self.seq, event });
    }

    /// A start and an end event at every hour boundary where `on_shift` flips.
    fn schedule_shifts(&mut self) {
        for o in 0..self.ops.len() {
            let hours = self.ops[o].account.working_hours;
            let mut was = false;
            for h in 0..=(DAY + DRAIN) / HOUR {
                let on = on_shift(hours, self.at(h * HOUR));
                if on != was {
                    self.push(h * HOUR, if on { Event::ShiftStart { op: o } } else { Event::ShiftEnd { op: o } });
                }
                was = on;
            }
        }
    }

    /// A Poisson process with a constant rate within each hour (`HOURLY_WEIGHT`);
    /// restarting the draw at each boundary is exact because gaps are memoryless.
    fn schedule_arrivals(&mut self) {
        let sessions = self.params.members as f64 * self.params.sessions_per_member;
        let weights: f64 = model::HOURLY_WEIGHT.iter().sum();
        for h in 0..DAY / HOUR {
            let from = h * HOUR;
            let per_ms = sessions * model::HOURLY_WEIGHT[eat_hour(from)] / weights / HOUR as f64;
            if per_ms <= 0.0 || self.members.is_empty() {
                continue;
            }
            let mut t = from;
            loop {
                t += self.draws.gap(per_ms);
                if t >= from + HOUR {
                    break;
                }
                let member = self.draws.index(self.members.len());
                self.push(t, Event::SessionStart { member });
            }
        }
    }

    pub fn run(&mut self) -> Report {
        while let Some(s) = self.heap.pop() {
            if s.at > DAY + DRAIN || self.settled {
                break;
            }
            self.now = s.at;
            match s.event {
                Event::SessionStart { member } => self.session_start(member),
                Event::MemberMessage { chat } => self.member_message(chat),
                Event::Reply { chat, epoch } => self.reply(chat, epoch),
                Event::Trigger => {
                    self.trigger_pending = false;
                    self.assign_pass();
                }
                Event::Minute => self.minute(),
                Event::ShiftStart { op } => self.shift_start(op),
                Event::ShiftEnd { op } => self.shift_end(op),
                Event::Heartbeat { op, shift } => self.heartbeat(op, shift),
                Event::AwayStart { op, shift } => self.away_start(op, shift),
                Event::AwayEnd { op, shift } => self.away_end(op, shift),
            }
        }
        let left_in_queue = self.chats.iter().filter(|c| c.entry.is_some()).count() as u64;
        let shifts = model::shift_sizes(self.params.operators);
        self.stats.report(&self.params, shifts, self.now, left_in_queue)
    }

    /// Asks for a pass unless one is already on its way.
    fn trigger(&mut self) {
        if !self.trigger_pending {
            self.trigger_pending = true;
            self.push(self.now + TRIGGER_LATENCY, Event::Trigger);
        }
    }

    fn minute(&mut self) {
        if self.now < DAY {
            self.sample_load();
        }
        self.idle_watch();
        self.assign_pass();
        if self.now >= DAY && self.quiet() {
            self.settled = true;
        } else {
            self.push(self.now + MINUTE, Event::Minute);
        }
    }

    /// No chat waiting, held, or with a member still writing.
    fn quiet(&self) -> bool {
        self.chats.iter().all(|c| {
            c.escalated
                || c.entry.is_none() && c.operator.is_none() && c.to_send == 0 && c.awaiting_reply_since.is_none()
        })
    }

    // Members.

    fn session_start(&mut self, member: usize) {
        self.stats.session(self.now);
        let messages = self.draws.messages();
        let chat = &mut self.chats[member];
        if chat.escalated {
            // Members can still write to an escalated chat, but no operator is assigned: an admin's case now.
            self.stats.sessions_to_escalated += 1;
        } else if chat.to_send > 0 || chat.awaiting_reply_since.is_some() {
            self.stats.sessions_merged += 1;
            chat.to_send += messages;
        } else {
            chat.to_send = messages;
            self.member_message(member);
        }
    }

    /// Mirrors send-message: every message sets `awaiting_reply_since` (first one
    /// wins); to an unheld chat it also upserts the queue entry and triggers a pass.
    fn member_message(&mut self, c: usize) {
        self.stats.member_messages += 1;
        let now = self.now;
        let pays = self.members[self.chats[c].member].pays();
        let chat = &mut self.chats[c];
        chat.to_send = chat.to_send.saturating_sub(1);
        if chat.escalated {
            chat.to_send = 0;
            return;
        }
        chat.last_member_message_at = Some(now);
        chat.paid |= pays;
        let first_unanswered = chat.awaiting_reply_since.is_none();
        chat.awaiting_reply_since.get_or_insert(now);
        match chat.operator {
            Some(_) if first_unanswered => self.schedule_reply(c, now),
            Some(_) => {}
            None => {
                self.upsert_entry(c);
                self.trigger();
            }
        }
    }

    /// Send-message's queue entry: the first wait start and the reassign count stay,
    /// the priority inputs are rewritten; no exclusions (only a release writes those).
    fn upsert_entry(&mut self, c: usize) {
        let chat = &self.chats[c];
        let member = &self.members[chat.member];
        let character = &self.characters[member.character];
        let (spent, paid, preferred) = (member.spent, chat.paid, chat.last_operator);
        let style = Skills::style(character.style);
        let languages = model::chat_languages(member, character);
        let now = self.now;
        let entry = self.chats[c].entry.get_or_insert_with(|| Entry {
            enqueued_at: now,
            waiting_since: now,
            spent,
            paid,
            reassign_count: 0,
            excluded: Vec::new(),
            boosted: false,
            preferred: None,
            style,
            languages,
            requeued: false,
        });
        entry.spent = spent;
        entry.paid = paid;
        entry.preferred = preferred.or(entry.preferred);
        entry.style = style;
        entry.languages = languages;
    }

    // Operators.

    fn schedule_reply(&mut self, c: usize, from: Ms) {
        let epoch = self.chats[c].epoch;
        let delay = self.draws.reply_delay();
        self.chats[c].reply_coming = delay.is_some();
        if let Some(delay) = delay {
            self.push(from + delay, Event::Reply { chat: c, epoch });
        }
    }

    /// Mirrors `reply_as_character`: clears the wait and adds it to the operator's
    /// response time. An away operator answers only after coming back.
    fn reply(&mut self, c: usize, epoch: u32) {
        let now = self.now;
        let chat = &self.chats[c];
        let (Some(o), Some(since)) = (chat.operator, chat.awaiting_reply_since) else { return };
        if chat.epoch != epoch {
            return;
        }
        let back = self.ops[o].away_until;
        if back > now {
            self.schedule_reply(c, back);
            return;
        }
        // Mirrors `Chat::unanswered_since`: the operator owes the answer from the
        // later of the member's message and the claim.
        let owed = since.max(chat.claimed_at);
        let account = &mut self.ops[o].account;
        account.replies += 1;
        account.total_response_secs += (now - owed) / SECOND;
        self.stats.reply(now - since);
        let chat = &mut self.chats[c];
        chat.awaiting_reply_since = None;
        chat.idle_warned = false;
        chat.reply_coming = false;
        if chat.to_send > 0 {
            let at = now + self.draws.think();
            self.push(at, Event::MemberMessage { chat: c });
        }
    }

    fn shift_start(&mut self, o: usize) {
        let now = self.now;
        let op = &mut self.ops[o];
        op.on_shift = true;
        op.shift += 1;
        if op.account.is_suspended {
            return;
        }
        let shift = op.shift;
        op.account.is_available = true;
        self.heartbeat(o, shift);
        if self.params.away_per_hour > 0.0 {
            let at = now + self.draws.next_away();
            self.push(at, Event::AwayStart { op: o, shift });
        }
        // An operator coming online is a trigger.
        self.trigger();
    }

    /// Heartbeats stop, so presence lapses within 60 s; chats held are finished,
    /// and the operator goes offline with the last one (offline needs zero chats).
    fn shift_end(&mut self, o: usize) {
        let op = &mut self.ops[o];
        op.on_shift = false;
        op.account.is_available &= op.account.active_chats > 0;
    }

    fn heartbeat(&mut self, o: usize, shift: u32) {
        let at = self.at(self.now);
        let op = &mut self.ops[o];
        if op.on_shift && op.shift == shift && !op.account.is_suspended {
            op.account.last_heartbeat_at = Some(at);
            self.push(self.now + HEARTBEAT, Event::Heartbeat { op: o, shift });
        }
    }

    fn away_start(&mut self, o: usize, shift: u32) {
        let op = &self.ops[o];
        if !op.on_shift || op.shift != shift || op.account.is_suspended {
            return;
        }
        let until = self.now + self.draws.away_length();
        self.ops[o].away_until = until;
        self.stats.away_episodes += 1;
        self.push(until, Event::AwayEnd { op: o, shift });
    }

    fn away_end(&mut self, o: usize, shift: u32) {
        if self.ops[o].on_shift && self.ops[o].shift == shift {
            let at = self.now + self.draws.next_away();
            self.push(at, Event::AwayStart { op: o, shift });
        }
    }

    // The assigner.

    /// What a queue entry gives `rank` and `match_chats` (services' `waiting_from`).
    fn waiting(&self, c: usize) -> Option<Waiting> {
        let chat = &self.chats[c];
        let e = chat.entry.as_ref()?;
        let op_id = |o: usize| self.ops[o].account.id.clone();
        Some(Waiting {
            chat_id: chat.id.clone(),
            member_id: self.members[chat.member].id.clone(),
            member_spent: e.spent,
            waiting_since: self.at(e.waiting_since),
            reassign_count: e.reassign_count,
            paid: e.paid,
            boosted: e.boosted,
            preferred_operator: e.preferred.map(op_id),
            excluded: e.excluded.iter().copied().map(op_id).collect(),
            style: e.style,
            languages: e.languages,
        })
    }

    /// `assign_pass`: every entry, the operators present, not suspended and under
    /// capacity, the real rank and match, then a claim per proposal. Entries over
    /// the reassignment limit never exist here (a release escalates first), and
    /// claims never lose a race, so one pass is all the real loop would run.
    fn assign_pass(&mut self) {
        let now = self.at(self.now);
        let operators: Vec<Candidate> = self
            .ops
            .iter()
            .map(|o| &o.account)
            .filter(|o| o.is_available)
            .map(|o| o.online())
            .filter(|o| o.can_take_chat(now))
            .map(|o| Candidate::of(&o, now))
            .collect();
        if operators.is_empty() {
            return;
        }
        let mut waiting: Vec<Waiting> = (0..self.chats.len()).filter_map(|c| self.waiting(c)).collect();
        if waiting.is_empty() {
            return;
        }
        rank(&mut waiting, now);
        for p in match_chats(&waiting, &operators) {
            if let (Some(&c), Some(&o)) = (self.chat_index.get(&p.chat_id), self.op_index.get(&p.operator_id)) {
                self.claim(c, o);
            }
        }
    }

    /// The claim transaction's effects: the chat held, the operator one chat fuller,
    /// the entry gone. The wait is recorded in the band the entry had when written.
    fn claim(&mut self, c: usize, o: usize) {
        let Some(w) = self.waiting(c) else { return };
        let Some(entry) = self.chats[c].entry.take() else { return };
        let written_band: Band = band(&w, self.at(entry.enqueued_at));
        self.stats.wait(written_band, entry.enqueued_at, self.now - entry.enqueued_at, entry.requeued);
        let op = &mut self.ops[o];
        op.account.active_chats += 1;
        op.chats.insert(c);
        let chat = &mut self.chats[c];
        chat.operator = Some(o);
        chat.last_operator = Some(o);
        chat.idle_warned = false;
        chat.epoch += 1;
        chat.claimed_at = self.now;
        chat.prio = (entry.spent, entry.style, entry.languages);
        if chat.awaiting_reply_since.is_some() {
            self.schedule_reply(c, self.now);
        }
    }

    /// `idle_watch`: per available operator with chats, in id order, each held chat:
    /// reassign at 5 min unanswered, warn once at 4, end the assignment after the
    /// hold with the member quiet; then a quality review if there were incidents.
    fn idle_watch(&mut self) {
        let [warning, reassign, hold] = self.timers;
        let now = self.now;
        let mut released = false;
        for o in 0..self.ops.len() {
            let account = &self.ops[o].account;
            if !account.is_available || account.active_chats == 0 {
                continue;
            }
            let mut incidents = false;
            let held: Vec<usize> = self.ops[o].chats.iter().copied().collect();
            for c in held {
                let chat = &self.chats[c];
                // Mirrors `Chat::unanswered_since` (the later of message and claim).
                match chat.awaiting_reply_since.map(|since| since.max(chat.claimed_at)) {
                    Some(since) if now - since >= reassign => {
                        let cause = if now - chat.claimed_at < reassign {
                            Cause::ClaimedLate
                        } else if self.ops[o].away_until > now {
                            Cause::Away
                        } else if !chat.reply_coming {
                            Cause::Forgot
                        } else {
                            Cause::Slow
                        };
                        self.stats.idle_incident(cause);
                        match self.release(c, o, Release::Idle) {
                            Outcome::Requeued => {
                                self.stats.reassignments += 1;
                                released = true;
                            }
                            Outcome::Escalated => self.stats.escalations += 1,
                            Outcome::Ended => {}
                        }
                        incidents = true;
                    }
                    Some(since) if now - since >= warning && !chat.idle_warned => {
                        self.chats[c].idle_warned = true;
                        self.stats.idle_warnings += 1;
                    }
                    None if chat.last_member_message_at.is_none_or(|t| now - t >= hold) => {
                        self.release(c, o, Release::Completed);
                        self.stats.completed += 1;
                        released = true;
                    }
                    _ => {}
                }
            }
            if incidents {
                self.review_quality(o);
            }
        }
        if released {
            self.trigger();
        }
    }

    /// `Store::release`: a counting release requeues (excluding an idle operator,
    /// boosted after a suspension) unless the chat was already reassigned
    /// MAX_REASSIGNMENTS times (`counted_return`), in which case it is escalated.
    fn release(&mut self, c: usize, o: usize, kind: Release) -> Outcome {
        let now = self.now;
        let counts = kind != Release::Completed;
        let op = &mut self.ops[o];
        op.chats.remove(&c);
        op.account.active_chats -= 1;
        if counts {
            op.account.reassignments += 1;
        }
        if kind == Release::Idle {
            op.account.idle_incidents += 1;
        }
        if !op.on_shift && op.account.active_chats == 0 {
            op.account.is_available = false;
        }
        let chat = &mut self.chats[c];
        chat.operator = None;
        chat.last_operator = Some(o);
        chat.idle_warned = false;
        chat.epoch += 1;
        if !counts {
            return Outcome::Ended;
        }
        match counted_return(chat.reassign_count) {
            Return::Escalate { reassign_count } => {
                chat.reassign_count = reassign_count;
                chat.escalated = true;
                chat.to_send = 0;
                return Outcome::Escalated;
            }
            Return::Requeue { reassign_count } => chat.reassign_count = reassign_count,
        }
        if kind == Release::Idle && !chat.excluded.contains(&o) {
            chat.excluded.push(o);
        }
        // `requeue_item` writes back the spend, style and languages the claim kept
        // on the chat (`prio_*`); no preferred operator.
        let (spent, style, languages) = chat.prio;
        chat.entry = Some(Entry {
            enqueued_at: now,
            waiting_since: chat.awaiting_reply_since.unwrap_or(now),
            spent,
            paid: chat.paid,
            reassign_count: chat.reassign_count,
            excluded: chat.excluded.clone(),
            boosted: kind == Release::Suspension,
            preferred: None,
            style,
            languages,
            requeued: true,
        });
        Outcome::Requeued
    }

    /// `review_quality`: below the threshold the operator is suspended (past the
    /// end of the run) and every chat they hold is released and requeued boosted.
    fn review_quality(&mut self, o: usize) {
        let account = &self.ops[o].account;
        if account.is_suspended || quality_score(account) >= QUALITY_THRESHOLD {
            return;
        }
        self.stats.suspended(self.now, account);
        let until = self.at(self.now) + Duration::days(SUSPENSION_DAYS);
        let account = &mut self.ops[o].account;
        account.is_suspended = true;
        account.suspended_until = Some(until);
        account.is_available = false;
        let held: Vec<usize> = self.ops[o].chats.iter().copied().collect();
        for c in held {
            match self.release(c, o, Release::Suspension) {
                Outcome::Requeued => self.stats.suspension_requeues += 1,
                Outcome::Escalated => self.stats.escalations += 1,
                Outcome::Ended => {}
            }
        }
        self.trigger();
    }

    /// Once a minute while arrivals last: each on-shift operator's load.
    fn sample_load(&mut self) {
        let hour = eat_hour(self.now);
        for op in &self.ops {
            let a = &op.account;
            if op.on_shift && !a.is_suspended {
                self.stats.on_shift_minute(hour, a.active_chats, a.max_concurrent_chats);
            } else {
                self.stats.off_shift_chat_minutes += u64::from(a.active_chats);
            }
        }
    }
}
