//! Pure rules and types: no I/O, no AWS types.

pub mod admin;
pub mod assignment;
pub mod characters;
pub mod entities;
pub mod events;
pub mod ids;
pub mod jobs;
pub mod limits;
pub mod media;
pub mod moderation;
pub mod money;
pub mod payment;
pub mod pricing;
pub mod principal;
pub mod realtime;
pub mod settings;
pub mod stats;
pub mod tier;
pub mod validation;

pub use entities::*;
pub use money::Credits;
pub use tier::Tier;
