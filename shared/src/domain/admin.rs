//! Admins: roles, permissions and what each route and notification needs. The
//! one home of API.md's permission rules; the router, the services and the tests
//! all ask here.

use std::fmt;

use chrono::{DateTime, Utc};

pub use super::principal::AdminRole;

/// One right in the back office (API.md, "Admin").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    ManageMembers,
    BanMembers,
    ManageCharacters,
    ManageOperators,
    ManageChats,
    ModerateChats,
    ManagePayments,
    ViewAnalytics,
    ManageAdmins,
    SystemSettings,
    DeleteData,
}

impl Permission {
    pub const ALL: [Permission; 11] = [
        Permission::ManageMembers,
        Permission::BanMembers,
        Permission::ManageCharacters,
        Permission::ManageOperators,
        Permission::ManageChats,
        Permission::ModerateChats,
        Permission::ManagePayments,
        Permission::ViewAnalytics,
        Permission::ManageAdmins,
        Permission::SystemSettings,
        Permission::DeleteData,
    ];

    /// Rights that belong to super admins alone and cannot be granted.
    pub const SUPER_ADMIN_ONLY: [Permission; 3] =
        [Permission::ManageAdmins, Permission::SystemSettings, Permission::DeleteData];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ManageMembers => "manage_members",
            Permission::BanMembers => "ban_members",
            Permission::ManageCharacters => "manage_characters",
            Permission::ManageOperators => "manage_operators",
            Permission::ManageChats => "manage_chats",
            Permission::ModerateChats => "moderate_chats",
            Permission::ManagePayments => "manage_payments",
            Permission::ViewAnalytics => "view_analytics",
            Permission::ManageAdmins => "manage_admins",
            Permission::SystemSettings => "system_settings",
            Permission::DeleteData => "delete_data",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn grantable(self) -> bool {
        !Permission::SUPER_ADMIN_ONLY.contains(&self)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Permissions(u16);

impl Permissions {
    pub const NONE: Permissions = Permissions(0);

    pub fn of(list: &[Permission]) -> Permissions {
        Permissions(list.iter().fold(0, |acc, p| acc | p.bit()))
    }

    pub fn all() -> Permissions {
        Permissions::of(&Permission::ALL)
    }

    pub fn has(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.has(*p))
    }

    /// Names, in API.md's order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }

    /// Names as stored or sent; `Err` names the first unknown one.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Permissions, String> {
        let mut set = Permissions::NONE;
        for n in names {
            let p = Permission::parse(n.as_ref()).ok_or_else(|| format!("unknown permission {:?}", n.as_ref()))?;
            set.0 |= p.bit();
        }
        Ok(set)
    }
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::SuperAdmin => "super_admin",
            AdminRole::Admin => "admin",
            AdminRole::Moderator => "moderator",
        }
    }

    pub fn parse(s: &str) -> Option<AdminRole> {
        [AdminRole::SuperAdmin, AdminRole::Admin, AdminRole::Moderator].into_iter().find(|r| r.as_str() == s)
    }

    /// The role's default set: super admin all; admin all but the super-admin-only
    /// ones; moderator `moderate_chats` and `ban_members`.
    pub fn defaults(self) -> Permissions {
        match self {
            AdminRole::SuperAdmin => Permissions::all(),
            AdminRole::Admin => {
                Permissions::of(&Permission::ALL.into_iter().filter(|p| p.grantable()).collect::<Vec<_>>())
            }
            AdminRole::Moderator => Permissions::of(&[Permission::ModerateChats, Permission::BanMembers]),
        }
    }
}

/// Second factor state: `pending` between enrolment and its confirming code.
#[derive(Clone, PartialEq, Eq)]
pub enum Totp {
    Off,
    Pending { secret: Vec<u8> },
    On { secret: Vec<u8>, last_step: u64 },
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Totp::Off => "Totp::Off",
            Totp::Pending { .. } => "Totp::Pending(***)",
            Totp::On { .. } => "Totp::On(***)",
        })
    }
}

/// A back-office account. Its Debug form leaves out the password hash.
#[derive(Clone)]
pub struct Admin {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: AdminRole,
    /// The set a super admin chose (`custom`), or `None` for the role's defaults.
    pub custom_permissions: Option<Permissions>,
    pub active: bool,
    pub password_hash: String,
    pub totp: Totp,
    pub created_at: DateTime<Utc>,
    /// Bumped by every write: a change is conditioned on the version it was
    /// computed from, so two concurrent changes cannot both apply.
    pub version: u64,
    /// Sessions ended by a password change or a new second factor: access tokens
    /// issued before this time are refused, but the one session kept (the caller's).
    pub sessions_cut: Option<SessionCut>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionCut {
    pub at: DateTime<Utc>,
    pub kept: Option<String>,
}

impl SessionCut {
    /// Whether an access token of `session`, issued at `issued_ms` (milliseconds),
    /// was ended by this cut.
    pub fn ends(&self, session: Option<&str>, issued_ms: i64) -> bool {
        issued_ms < self.at.timestamp_millis() && (session.is_none() || session != self.kept.as_deref())
    }
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("custom_permissions", &self.custom_permissions)
            .field("active", &self.active)
            .field("totp", &self.totp)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// What the admin may do now. Super admins always hold every permission.
    pub fn permissions(&self) -> Permissions {
        match (self.role, self.custom_permissions) {
            (AdminRole::SuperAdmin, _) => Permissions::all(),
            (_, Some(set)) => set,
            (role, None) => role.defaults(),
        }
    }

    /// Counts toward "at least one active super admin".
    pub fn is_active_super_admin(&self) -> bool {
        self.active && self.role == AdminRole::SuperAdmin
    }

    pub fn totp_enabled(&self) -> bool {
        matches!(self.totp, Totp::On { .. })
    }
}

/// A change a super admin asks for (`PATCH /admin/admins/{id}`).
#[derive(Clone, Debug, Default)]
pub struct AdminChange {
    pub role: Option<AdminRole>,
    pub permissions: Option<Permissions>,
    pub active: Option<bool>,
}

/// The admin as it will be after `change`, or the field that cannot be so. A
/// `role` alone resets the set to the role's defaults; `permissions` replaces it
/// within the grantable ones; a super admin's set is never custom.
pub fn apply_change(admin: &Admin, change: &AdminChange) -> Result<Admin, (&'static str, String)> {
    let mut next = admin.clone();
    if let Some(role) = change.role {
        next.role = role;
        next.custom_permissions = None;
    }
    if let Some(set) = change.permissions {
        if next.role == AdminRole::SuperAdmin {
            return Err(("permissions", "a super admin holds every permission; change the role first".into()));
        }
        if let Some(p) = set.iter().find(|p| !p.grantable()) {
            return Err(("permissions", format!("{p} belongs to super admins and cannot be granted")));
        }
        next.custom_permissions = Some(set);
    }
    if let Some(active) = change.active {
        next.active = active;
    }
    Ok(next)
}

/// How a change moves the count of active super admins: -1, 0 or +1.
pub fn super_admin_delta(before: &Admin, after: Option<&Admin>) -> i8 {
    let was = i8::from(before.is_active_super_admin());
    let is = i8::from(after.is_some_and(Admin::is_active_super_admin));
    is - was
}

/// Whether a change takes rights away: the admin's refresh tokens are revoked
/// (the next request already sees the new record).
pub fn loses_rights(before: &Admin, after: &Admin) -> bool {
    let lost = before.permissions().iter().any(|p| !after.permissions().has(p));
    lost || (before.active && !after.active)
}

/// What an admin route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No token at all (`POST /admin/login`).
    Open,
    /// Any active admin.
    AnyAdmin,
    /// This permission.
    Needs(Permission),
    /// Any one of these.
    AnyOf(&'static [Permission]),
}

impl Access {
    pub fn allows(self, held: Permissions) -> bool {
        match self {
            Access::Open | Access::AnyAdmin => true,
            Access::Needs(p) => held.has(p),
            Access::AnyOf(ps) => ps.iter().any(|p| held.has(*p)),
        }
    }
}

/// The permission an admin notification's kind needs to be seen; `None` is every
/// admin's. A kind not listed here is shown to super admins only.
pub fn notification_access(kind: &str) -> Access {
    use Permission::*;
    match kind {
        "payment_disputed" | "payment_unknown_reference" | "payment_review" | "payout_owed" | "ledger_mismatch" => {
            Access::Needs(ManagePayments)
        }
        "chat_escalated" | "idle_warning" => Access::AnyOf(&[ManageChats, ModerateChats]),
        "operator_suspended" => Access::Needs(ManageOperators),
        "report_opened" => Access::Needs(ModerateChats),
        "media_flagged" => Access::Needs(ManageCharacters),
        "circumvention" => Access::AnyOf(&[BanMembers, ManageMembers]),
        "job_parked" => Access::Needs(SystemSettings),
        _ => Access::Needs(ManageAdmins),
    }
}

/// At least 12 characters with a letter and a digit: a back-office account opens
/// every member's data. At most 128 (argon2 input bound).
pub fn staff_password(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n < 12 {
        return Err("must be at least 12 characters".into());
    }
    if n > 128 {
        return Err("must be at most 128 characters".into());
    }
    if !s.chars().any(char::is_alphabetic) || !s.chars().any(|c| c.is_ascii_digit()) {
        return Err("must contain a letter and a digit".into());
    }
    Ok(())
}

/// A field of an audit entry's `details`: what changed, never a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    pub field: &'static str,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// One line of the audit log: who did what to what, and the fields that changed.
/// Built only from the constructors' arguments, none of which is a password, a
/// token or a message text.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub actor: String,
    pub action: &'static str,
    pub target: String,
    pub details: serde_json::Value,
}

impl AuditEntry {
    pub fn new(actor: &str, action: &'static str, target: String, details: serde_json::Value) -> Self {
        AuditEntry { actor: actor.to_string(), action, target, details }
    }

    /// `{"<field>": {"from", "to"}}` for each changed field.
    pub fn with_changes(actor: &str, action: &'static str, target: String, changes: &[Changed]) -> Self {
        let details = changes
            .iter()
            .map(|c| (c.field.to_string(), serde_json::json!({ "from": c.from, "to": c.to })))
            .collect::<serde_json::Map<_, _>>();
        AuditEntry::new(actor, action, target, serde_json::Value::Object(details))
    }
}

/// An admin as the audit log names it.
pub fn admin_target(id: &str) -> String {
    format!("admin:{id}")
}

/// The fields a change altered, for the audit entry.
pub fn changed_fields(before: &Admin, after: &Admin) -> Vec<Changed> {
    let mut out = Vec::new();
    if before.role != after.role {
        out.push(Changed {
            field: "role",
            from: Some(before.role.as_str().into()),
            to: Some(after.role.as_str().into()),
        });
    }
    if before.permissions() != after.permissions()
        || before.custom_permissions.is_some() != after.custom_permissions.is_some()
    {
        out.push(Changed {
            field: "permissions",
            from: Some(before.permissions().names().join(",")),
            to: Some(after.permissions().names().join(",")),
        });
    }
    if before.active != after.active {
        out.push(Changed {
            field: "active",
            from: Some(before.active.to_string()),
            to: Some(after.active.to_string()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(role: AdminRole) -> Admin {
        Admin {
            id: "ad_1".into(),
            name: "A".into(),
            email: "a@x.co".into(),
            role,
            custom_permissions: None,
            active: true,
            password_hash: String::new(),
            totp: Totp::Off,
            created_at: Utc::now(),
            version: 1,
            sessions_cut: None,
        }
    }

    #[test]
    fn role_defaults_follow_api_md() {
        assert_eq!(AdminRole::SuperAdmin.defaults(), Permissions::all());
        let a = AdminRole::Admin.defaults();
        assert_eq!(a.iter().count(), 8);
        assert!(Permission::SUPER_ADMIN_ONLY.iter().all(|p| !a.has(*p)));
        assert_eq!(AdminRole::Moderator.defaults().names(), vec!["ban_members", "moderate_chats"],);
    }

    #[test]
    fn permissions_parse_back_and_refuse_unknown_names() {
        let set = Permissions::parse(&["manage_chats", "view_analytics"]).unwrap();
        assert_eq!(set.names(), vec!["manage_chats", "view_analytics"]);
        assert!(Permissions::parse(&["root"]).is_err());
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn a_role_alone_resets_custom_permissions_and_super_admin_only_ones_cannot_be_granted() {
        let mut m = admin(AdminRole::Moderator);
        m.custom_permissions = Some(Permissions::of(&[Permission::ManagePayments]));
        let reset = apply_change(&m, &AdminChange { role: Some(AdminRole::Admin), ..Default::default() }).unwrap();
        assert_eq!((reset.custom_permissions, reset.permissions()), (None, AdminRole::Admin.defaults()));
        let grant = AdminChange { permissions: Some(Permissions::of(&[Permission::DeleteData])), ..Default::default() };
        assert_eq!(apply_change(&m, &grant).unwrap_err().0, "permissions");
        let on_super = AdminChange { permissions: Some(Permissions::NONE), ..Default::default() };
        assert!(apply_change(&admin(AdminRole::SuperAdmin), &on_super).is_err());
        // Super admins hold everything whatever is stored.
        let mut s = admin(AdminRole::SuperAdmin);
        s.custom_permissions = Some(Permissions::NONE);
        assert_eq!(s.permissions(), Permissions::all());
    }

    #[test]
    fn the_super_admin_count_moves_only_with_active_super_admins() {
        let s = admin(AdminRole::SuperAdmin);
        let demoted = apply_change(&s, &AdminChange { role: Some(AdminRole::Admin), ..Default::default() }).unwrap();
        let off = apply_change(&s, &AdminChange { active: Some(false), ..Default::default() }).unwrap();
        assert_eq!((super_admin_delta(&s, Some(&demoted)), super_admin_delta(&s, Some(&off))), (-1, -1));
        assert_eq!(super_admin_delta(&s, None), -1);
        assert_eq!(super_admin_delta(&demoted, Some(&s)), 1);
        assert_eq!(super_admin_delta(&off, Some(&demoted)), 0);
        assert!(loses_rights(&s, &demoted) && loses_rights(&s, &off) && !loses_rights(&demoted, &s));
    }

    #[test]
    fn access_and_notification_kinds() {
        let m = AdminRole::Moderator.defaults();
        assert!(Access::AnyOf(&[Permission::ManageChats, Permission::ModerateChats]).allows(m));
        assert!(!Access::Needs(Permission::ManagePayments).allows(m));
        assert!(!notification_access("payment_review").allows(m));
        assert!(notification_access("chat_escalated").allows(m));
        assert!(!notification_access("media_flagged").allows(m));
        assert!(notification_access("media_flagged").allows(AdminRole::Admin.defaults()));
        assert!(!notification_access("something_new").allows(AdminRole::Admin.defaults()));
        assert!(notification_access("something_new").allows(Permissions::all()));
    }

    #[test]
    fn a_session_cut_ends_older_tokens_but_the_kept_session() {
        let at = Utc::now();
        let cut = SessionCut { at, kept: Some("f_mine".into()) };
        let before = at.timestamp_millis() - 1;
        assert!(cut.ends(Some("f_other"), before));
        assert!(cut.ends(None, before));
        assert!(!cut.ends(Some("f_mine"), before));
        assert!(!cut.ends(Some("f_other"), at.timestamp_millis()));
    }

    #[test]
    fn staff_passwords_are_long() {
        assert!(staff_password("short1").is_err());
        assert!(staff_password("longenoughpass").is_err());
        assert!(staff_password("longenough-pass-1").is_ok());
    }
}
