//! Fantooo's server side: everything but each Lambda's `main`.

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod payments;
pub mod queue;
pub mod routes;
pub mod services;
pub mod store;
pub mod telemetry;

pub use app::App;
pub use error::ApiError;
