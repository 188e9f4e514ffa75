//! Paystack: the webhook's signature and body, and the verify API client (base URL
//! from config). Paystack's wire formats stop here: services see `ChargeReport`s.

pub mod client;
pub mod signature;
pub mod webhook;

pub use client::{Paystack, Verification};
