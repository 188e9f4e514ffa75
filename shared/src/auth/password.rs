//! argon2id password hashes (PHC strings), computed off the async runtime.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::ApiError;

/// A PHC string of a valid hash nobody's password matches, so a login for an
/// unknown username costs the same time as one with a wrong password.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3L9x0R4T6hQxWc0nE1l2u8wQ2mH3iJ6kL8oP0qR2sTk";

pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::Internal(e.to_string().into()))
}

/// True if `password` matches `phc`; `None` runs the decoy to keep timing flat.
pub async fn verify(password: String, phc: Option<String>) -> Result<bool, ApiError> {
    let known = phc.is_some();
    let phc = phc.unwrap_or_else(|| DECOY.to_string());
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(known && ok)
}

/// A password change's checks, in one place for every principal: the new password
/// must pass `strong_enough` (the principal's rule) and the current one must match
/// `current_hash` (422 with the failing field otherwise). Returns the new hash.
pub async fn replace(
    current_hash: &str,
    current: String,
    new: &str,
    strong_enough: fn(&str) -> Result<(), String>,
) -> Result<String, ApiError> {
    strong_enough(new).map_err(|e| ApiError::invalid("new_password", e))?;
    if current.len() > 1024 || !verify(current, Some(current_hash.to_string())).await? {
        return Err(ApiError::invalid("current_password", "is not the current password"));
    }
    hash(new.to_string()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("correct-horse-1".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct-horse-1".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("wrong-horse-1".into(), Some(h)).await.unwrap());
        assert!(!verify("anything-1".into(), None).await.unwrap());
    }
}
