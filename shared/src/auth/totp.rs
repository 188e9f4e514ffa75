//! Time-based one-time passwords for admins (RFC 6238: SHA-1, 6 digits, 30 s
//! steps, the parameters every authenticator app takes), through `totp-rs`.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::error::ApiError;

const ISSUER: &str = "Fantooo";
const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
/// 160 bits, RFC 4226's recommended length.
const SECRET_BYTES: usize = 20;

/// What an admin scans into an authenticator app.
#[derive(Debug, Serialize)]
pub struct Enrolment {
    pub otpauth_uri: String,
    /// The same secret in base32, for typing in by hand.
    pub secret: String,
}

pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8], account: &str) -> Result<TOTP, ApiError> {
    // Skew 0: `matching_step` tries the neighbouring steps itself, to learn which matched.
    // The account is only the app's label; otpauth forbids ':' in it.
    let label = account.replace(':', ".");
    TOTP::new(Algorithm::SHA1, DIGITS, 0, STEP_SECS, secret.to_vec(), Some(ISSUER.to_string()), label)
        .map_err(|e| ApiError::Internal(format!("totp: {e}").into()))
}

pub fn enrolment(secret: &[u8], account: &str) -> Result<Enrolment, ApiError> {
    let t = totp(secret, account)?;
    Ok(Enrolment { otpauth_uri: t.get_url(), secret: t.get_secret_base32() })
}

/// The time step whose code `code` is, among the current one and its two
/// neighbours (a clock a step off, a code typed as it changed); `None` if none.
pub fn matching_step(secret: &[u8], account: &str, code: &str, now: DateTime<Utc>) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, account).ok()?;
    let current = u64::try_from(now.timestamp()).ok()? / STEP_SECS;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| bool::from(t.generate(step * STEP_SECS).as_bytes().ct_eq(code.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_test_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits); 6 digits: 287082.
        let secret = b"12345678901234567890";
        let at = DateTime::from_timestamp(59, 0).unwrap();
        assert_eq!(matching_step(secret, "a@b.co", "287082", at), Some(1));
        assert_eq!(matching_step(secret, "a@b.co", "287083", at), None);
        assert_eq!(matching_step(secret, "a@b.co", "28708", at), None);
    }

    #[test]
    fn a_neighbouring_step_matches_and_names_itself() {
        let secret = new_secret();
        let now = Utc::now();
        let t = totp(&secret, "a@b.co").unwrap();
        let step = now.timestamp() as u64 / STEP_SECS;
        let previous = t.generate((step - 1) * STEP_SECS);
        assert_eq!(matching_step(&secret, "a@b.co", &previous, now), Some(step - 1));
        let old = t.generate((step - 3) * STEP_SECS);
        assert_ne!(matching_step(&secret, "a@b.co", &old, now), Some(step - 3));
    }

    #[test]
    fn the_enrolment_is_an_otpauth_uri() {
        let e = enrolment(&new_secret(), "root@fantooo.test").unwrap();
        assert!(e.otpauth_uri.starts_with("otpauth://totp/Fantooo:root%40fantooo.test?"), "{}", e.otpauth_uri);
        assert!(e.otpauth_uri.contains(&format!("secret={}", e.secret)));
        // An email may hold a ':' (the label may not): still a valid enrolment.
        assert!(enrolment(&new_secret(), "a:b@x.co").is_ok());
    }
}
