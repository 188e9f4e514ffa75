//! Password hashing, access tokens and refresh tokens.

pub mod password;
pub mod tokens;

pub use tokens::{RefreshToken, TokenKeys};
