//! Paystack: webhook signature check and the verify API client (base URL from config).

pub mod client;
pub mod signature;

pub use client::{Paystack, Verification};
