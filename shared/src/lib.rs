//! Fantooo's server side: everything but each Lambda's `main`.
//!
//! Layers, and who may call whom (docs/architecture.md):
//! - `domain` holds every rule that needs no I/O (prices, limits, thresholds,
//!   status changes, texts a member sees) and depends on nothing here.
//! - `store`, `queue`, `events`, `objects`, `realtime` and `payments` are adapters: they depend
//!   on `domain` only, speak domain types, and keep their wire formats (keys, SQS
//!   bodies, S3 notifications, WebSocket frames, Paystack JSON) to themselves.
//! - `services` are the use cases: they call the domain and the adapters and answer
//!   with typed results or an `ApiError`, never a status code or a JSON literal.
//! - `http` is the edge for requests: extractors, the route table (`http::routes`,
//!   one file per function slice), rendering, and the HTTP status of each error.
//! - `inbound` is the edge for events: schedules, the SQS batch, invocations,
//!   API Gateway's WebSocket events.
//! - `functions/*` only wire `App` and a slice of routes (or an `inbound` handler)
//!   into a Lambda.

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod inbound;
pub mod objects;
pub mod payments;
pub mod queue;
pub mod realtime;
pub mod services;
pub mod store;
pub mod telemetry;

pub use app::App;
pub use error::ApiError;
