//! Criterion: matching 10,000 waiting chats to 1,000 operators with every score factor.

use chrono::{Duration, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use fantooo::domain::assignment::{match_chats, rank, Candidate, Skills, Waiting};
use fantooo::domain::ids::{ChatId, MemberId, OperatorId};
use fantooo::domain::Credits;
use std::hint::black_box;

const STYLES: [&str; 5] = ["flirty", "romantic", "friendly", "intellectual", "playful"];
const LANGS: [&str; 4] = ["en", "sw", "fr", "ar"];

fn inputs() -> (Vec<Waiting>, Vec<Candidate>) {
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 18, 0, 0).single().expect("valid");
    let operators: Vec<Candidate> = (0..1000)
        .map(|i| Candidate {
            id: OperatorId::new(format!("op_{i:04}")),
            active_chats: (i % 4) as u32,
            max_chats: 5 + (i % 3) as u32,
            specializations: Skills::styles([STYLES[i % 5], STYLES[(i / 5) % 5]]),
            languages: Skills::languages([LANGS[i % 4], "en"]),
            avg_response_secs: 20.0 + (i % 200) as f64,
            rating: 1.0 + (i % 5) as f64,
            on_shift: i % 7 != 0,
        })
        .collect();
    let mut waiting: Vec<Waiting> = (0..10_000)
        .map(|i| Waiting {
            chat_id: ChatId::new(format!("ch_{i:05}")),
            member_id: MemberId::new(format!("m_{}", i % 2000)),
            member_spent: Credits::whole((i * 37 % 15_000) as i64),
            waiting_since: now - Duration::seconds((i * 13 % 900) as i64),
            reassign_count: (i % 11 == 0) as u32,
            paid: i % 3 == 0,
            boosted: false,
            preferred_operator: (i % 4 == 0).then(|| OperatorId::new(format!("op_{:04}", i % 1000))),
            excluded: if i % 17 == 0 { vec![OperatorId::new(format!("op_{:04}", (i + 1) % 1000))] } else { vec![] },
            style: Skills::style(STYLES[i % 5]),
            languages: Skills::languages([LANGS[i % 4]]),
        })
        .collect();
    rank(&mut waiting, now);
    (waiting, operators)
}

fn matching(c: &mut Criterion) {
    let (waiting, operators) = inputs();
    let mut group = c.benchmark_group("matching");
    group.sample_size(20);
    group.bench_function("10000_chats_x_1000_operators", |b| {
        b.iter(|| match_chats(black_box(&waiting), black_box(&operators)))
    });
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
