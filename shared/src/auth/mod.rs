//! Password hashing, access tokens and refresh tokens, admins' second factor.

pub mod password;
pub mod tokens;
pub mod totp;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use tokens::{RefreshToken, TokenKeys};

/// Whether a presented secret (the setup token) equals the expected one, in time
/// that depends on neither: both are hashed to 32 bytes, then compared in
/// constant time.
pub fn same_secret(presented: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(presented.as_bytes()), Sha256::digest(expected.as_bytes()));
    !expected.is_empty() && bool::from(a.as_slice().ct_eq(b.as_slice()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_compare_whole() {
        assert!(super::same_secret("local-setup-token", "local-setup-token"));
        assert!(!super::same_secret("local-setup-toke", "local-setup-token"));
        assert!(!super::same_secret("", ""));
    }
}
