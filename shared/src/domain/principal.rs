//! Who is calling: member, operator or admin (with a role).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    Member,
    Operator,
    Admin,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Member => "member",
            PrincipalKind::Operator => "operator",
            PrincipalKind::Admin => "admin",
        }
    }

    /// One letter used inside refresh tokens.
    pub fn letter(self) -> char {
        match self {
            PrincipalKind::Member => 'm',
            PrincipalKind::Operator => 'o',
            PrincipalKind::Admin => 'a',
        }
    }

    pub fn from_letter(c: char) -> Option<Self> {
        match c {
            'm' => Some(PrincipalKind::Member),
            'o' => Some(PrincipalKind::Operator),
            'a' => Some(PrincipalKind::Admin),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    SuperAdmin,
    Admin,
    Moderator,
}

/// An authenticated caller, as carried by an access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub id: String,
    pub role: Option<AdminRole>,
}

impl Principal {
    pub fn member(id: impl Into<String>) -> Self {
        Principal { kind: PrincipalKind::Member, id: id.into(), role: None }
    }

    pub fn operator(id: impl Into<String>) -> Self {
        Principal { kind: PrincipalKind::Operator, id: id.into(), role: None }
    }

    /// An admin by id (no role: for keys, not for permission checks).
    pub fn admin(id: impl Into<String>) -> Self {
        Principal { kind: PrincipalKind::Admin, id: id.into(), role: None }
    }

    /// Scope string for per-principal records (idempotency keys, rate limits).
    pub fn scope(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.id)
    }
}
