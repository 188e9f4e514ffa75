//! The injected clock. Lambdas use the system clock; the local stack may let a
//! request pin "now" (header `x-fantooo-now`) so time rules are testable at any hour.

use chrono::{DateTime, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    System,
    /// System time unless the request pins one. Only the local stack builds this.
    Pinnable,
}

impl Clock {
    pub fn now(self, pinned: Option<DateTime<Utc>>) -> DateTime<Utc> {
        match (self, pinned) {
            (Clock::Pinnable, Some(t)) => t,
            _ => Utc::now(),
        }
    }
}
