//! Criterion: the pure pricing rule (every factor, exact) per message.

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use fantooo::domain::pricing::{quote, PriceInputs, Pricing};
use fantooo::domain::Tier;
use std::hint::black_box;

fn pricing(c: &mut Criterion) {
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 18, 30, 0).single().expect("valid time");
    let inputs = PriceInputs {
        chat_member_messages: 7,
        member_messages_sent: 1234,
        loyalty_used: 12,
        escalated: false,
        featured: true,
        tier: Tier::Gold,
        at,
        pricing: Pricing::default(),
    };
    c.bench_function("quote_featured_peak_gold", |b| b.iter(|| quote(black_box(&inputs))));
    let free = PriceInputs { chat_member_messages: 1, ..inputs };
    c.bench_function("quote_free_allowance", |b| b.iter(|| quote(black_box(&free))));
}

criterion_group!(benches, pricing);
criterion_main!(benches);
