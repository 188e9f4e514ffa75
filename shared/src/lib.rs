//! Fantooo's server side: everything but each Lambda's `main`.
//!
//! Layers, and who may call whom (docs/architecture.md):
//! - `domain` holds the rules that need no I/O and depends on nothing here.
//! - `store`, `queue`, `events` and `payments` are adapters: they depend on `domain`
//!   only and speak domain types, never HTTP.
//! - `services` are the use cases: they call the domain and the adapters and answer
//!   with domain results or an `ApiError`.
//! - `http` is the edge: extractors, the route table (`http::routes`, one file per
//!   function slice), JSON shapes and the HTTP status of each error.
//! - `functions/*` only wire `App` and a slice of routes (or a job) into a Lambda.

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod inbound;
pub mod payments;
pub mod queue;
pub mod services;
pub mod store;
pub mod telemetry;

pub use app::App;
pub use error::ApiError;
