//! Access tokens (HS256 JWT, 15 minutes, algorithm pinned) and refresh tokens
//! (random, 30 days, stored hashed, rotated on use).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::principal::{AdminRole, Principal, PrincipalKind};
use crate::error::ApiError;

pub const ACCESS_TTL: Duration = Duration::minutes(15);
pub const REFRESH_TTL: Duration = Duration::days(30);
const ISSUER: &str = "fantooo";
/// The one scope a restricted token has: the rights a ban does not take away.
const ERASURE_SCOPE: &str = "erasure";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    kind: PrincipalKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<AdminRole>,
    /// `erasure` on a banned member's restricted token; absent on access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// The session (refresh-token family) the access token was issued in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    iss: String,
    iat: i64,
    /// `iat` in milliseconds: a session cut (an admin's password change) is exact
    /// to the millisecond. Absent on tokens issued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat_ms: Option<i64>,
    exp: i64,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        TokenKeys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    /// Issued against the real clock: a pinned request clock never extends a token.
    /// `session` is the refresh-token family it belongs to.
    pub fn issue_access(&self, p: &Principal, session: &str) -> Result<String, ApiError> {
        self.issue(p, None, Some(session))
    }

    /// A banned member's restricted token (15 minutes): accepted only by the
    /// routes of the rights a ban does not take away (erasure and export).
    pub fn issue_restricted(&self, member_id: &str) -> Result<String, ApiError> {
        self.issue(&Principal::member(member_id), Some(ERASURE_SCOPE), None)
    }

    fn issue(&self, p: &Principal, scope: Option<&str>, session: Option<&str>) -> Result<String, ApiError> {
        let now = Utc::now();
        let claims = Claims {
            sub: p.id.clone(),
            kind: p.kind,
            role: p.role,
            scope: scope.map(str::to_string),
            sid: session.map(str::to_string),
            iss: ISSUER.into(),
            iat: now.timestamp(),
            iat_ms: Some(now.timestamp_millis()),
            exp: (now + ACCESS_TTL).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// An access token. A restricted token is refused here (403 `banned`): its
    /// holder is banned and may only erase or export.
    pub fn verify_access(&self, token: &str) -> Result<Principal, ApiError> {
        let (principal, scope) = self.decode(token)?;
        match scope {
            None => Ok(principal),
            Some(_) => Err(ApiError::Banned),
        }
    }

    /// An access token with the session it was issued in and when (milliseconds):
    /// for the admin gate, which ends sessions older than a password change.
    pub fn verify_access_session(&self, token: &str) -> Result<(Principal, Option<String>, i64), ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ApiError::Unauthorized)?;
        let c = data.claims;
        if c.scope.is_some() {
            return Err(ApiError::Banned);
        }
        let issued_ms = c.iat_ms.unwrap_or(c.iat.saturating_mul(1000));
        Ok((Principal { kind: c.kind, id: c.sub, role: c.role }, c.sid, issued_ms))
    }

    /// A member's access token or restricted token: for erasure and export.
    pub fn verify_member_rights(&self, token: &str) -> Result<Principal, ApiError> {
        let (principal, scope) = self.decode(token)?;
        match scope.as_deref() {
            None | Some(ERASURE_SCOPE) if principal.kind == PrincipalKind::Member => Ok(principal),
            None => Err(ApiError::Forbidden),
            Some(_) => Err(ApiError::Unauthorized),
        }
    }

    /// The session of a valid access token (`None` for tokens issued before sessions).
    pub fn session_of(&self, token: &str) -> Result<Option<String>, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ApiError::Unauthorized)?;
        Ok(data.claims.sid)
    }

    fn decode(&self, token: &str) -> Result<(Principal, Option<String>), ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ApiError::Unauthorized)?;
        let c = data.claims;
        Ok((Principal { kind: c.kind, id: c.sub, role: c.role }, c.scope))
    }
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(***)")
    }
}

/// `<kind letter>.<principal id>.<family>.<secret>`: says whose it is, so the
/// stored hash is found under its principal (revoking all of a principal's tokens
/// is one query), and which session (family) it belongs to: a login starts a
/// family, every rotation continues it.
pub struct RefreshToken {
    pub kind: PrincipalKind,
    pub principal_id: String,
    pub family: String,
    pub hash: String,
}

impl RefreshToken {
    /// A new token in `family`, or in a new family (a login) when `None`.
    pub fn generate(
        kind: PrincipalKind,
        principal_id: &str,
        family: Option<&str>,
        now: DateTime<Utc>,
    ) -> (String, RefreshToken, DateTime<Utc>) {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let family = family.map_or_else(|| crate::domain::ids::new_id("f"), str::to_string);
        let token = format!("{}.{}.{family}.{}", kind.letter(), principal_id, URL_SAFE_NO_PAD.encode(secret));
        let parsed = RefreshToken { kind, principal_id: principal_id.into(), family, hash: hash(&token) };
        (token, parsed, now + REFRESH_TTL)
    }

    pub fn parse(token: &str) -> Option<RefreshToken> {
        if token.len() > 200 {
            return None;
        }
        let mut parts = token.splitn(4, '.');
        let kind = PrincipalKind::from_letter(parts.next()?.chars().next()?)?;
        let id = parts.next()?;
        let family = parts.next()?;
        let secret = parts.next()?;
        let family_ok = (1..=40).contains(&family.len()) && family.bytes().all(|b| b.is_ascii_alphanumeric());
        if id.is_empty() || !family_ok || secret.len() != 43 {
            return None;
        }
        Some(RefreshToken { kind, principal_id: id.into(), family: family.into(), hash: hash(token) })
    }

    /// The token as the store keeps it.
    pub fn stored(&self) -> crate::store::TokenRef<'_> {
        crate::store::TokenRef {
            kind: self.kind,
            principal_id: &self.principal_id,
            family: &self.family,
            hash: &self.hash,
        }
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let p = Principal::member("m_1");
        let t = keys.issue_access(&p, "fsession").unwrap();
        assert_eq!(keys.session_of(&t).unwrap().as_deref(), Some("fsession"));
        assert_eq!(keys.verify_access(&t).unwrap(), p);
        let other = TokenKeys::new(b"another-key-another-key-another!");
        assert!(other.verify_access(&t).is_err());
        assert!(keys.verify_access("not.a.token").is_err());
    }

    #[test]
    fn tokens_with_another_algorithm_are_refused() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let claims = Claims {
            sub: "m_1".into(),
            kind: PrincipalKind::Member,
            role: None,
            scope: None,
            sid: None,
            iss: ISSUER.into(),
            iat: Utc::now().timestamp(),
            iat_ms: None,
            exp: (Utc::now() + ACCESS_TTL).timestamp(),
        };
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert!(keys.verify_access(&t).is_err());
    }

    #[test]
    fn a_restricted_token_serves_only_the_rights_of_a_banned_member() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let t = keys.issue_restricted("m_1").unwrap();
        assert!(matches!(keys.verify_access(&t), Err(ApiError::Banned)));
        assert_eq!(keys.verify_member_rights(&t).unwrap(), Principal::member("m_1"));
        let access = keys.issue_access(&Principal::member("m_1"), "f1").unwrap();
        assert_eq!(keys.verify_member_rights(&access).unwrap(), Principal::member("m_1"));
        let operator = Principal { kind: PrincipalKind::Operator, id: "o_1".into(), role: None };
        let op_token = keys.issue_access(&operator, "f2").unwrap();
        assert!(matches!(keys.verify_member_rights(&op_token), Err(ApiError::Forbidden)));
    }

    #[test]
    fn refresh_tokens_parse_back_to_their_hash() {
        let (t, r, _) = RefreshToken::generate(PrincipalKind::Member, "m_1", None, Utc::now());
        let p = RefreshToken::parse(&t).unwrap();
        assert_eq!((p.kind, p.principal_id.as_str(), p.hash.as_str()), (r.kind, "m_1", r.hash.as_str()));
        let (rotated, next, _) = RefreshToken::generate(PrincipalKind::Member, "m_1", Some(&p.family), Utc::now());
        assert_eq!(
            (next.family.as_str(), RefreshToken::parse(&rotated).unwrap().family),
            (r.family.as_str(), r.family.clone())
        );
        assert!(RefreshToken::parse("x.m_1.abc").is_none());
        assert!(RefreshToken::parse("garbage").is_none());
    }
}
