//! Members, username claims and the age-verification log.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::attr::{key, n, put_opt, s, ts, Item, Reader};
use super::tx::{applied, is_condition_failed, put_new};
use super::{Store, StoreError, TransactFailure};
use crate::domain::ids::MemberId;
use crate::domain::{Credits, Gender, LookingFor, Member, MemberStatus, Tier};

pub(crate) fn member_pk(id: &str) -> String {
    format!("MEMBER#{id}")
}

pub(crate) fn username_pk(username: &str) -> String {
    format!("USERNAME#{username}")
}

pub struct NewMember {
    pub member: Member,
    /// Logged with the account for age-verification compliance.
    pub stated_age: u8,
}

/// A PATCH /me: `Some(None)` clears an optional field.
#[derive(Default)]
pub struct ProfileChanges {
    pub display_name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub location: Option<String>,
    pub latitude: Option<Option<f64>>,
    pub longitude: Option<Option<f64>>,
    pub bio: Option<Option<String>>,
    pub looking_for: Option<LookingFor>,
    pub language: Option<Option<String>>,
}

pub(crate) fn member_from(item: &Item) -> Result<Member, StoreError> {
    let r = Reader(item);
    Ok(Member {
        id: MemberId::new(r.str("id")?),
        // Erasure removes the username and location from a deleted member's item.
        username: r.opt_str("username").unwrap_or_default(),
        password_hash: r.str("password_hash")?,
        display_name: r.opt_str("display_name"),
        email: r.opt_str("email"),
        age: u8::try_from(r.i64("age")?).map_err(|_| StoreError::Corrupt("age".into()))?,
        gender: r.parse("gender", Gender::parse)?,
        looking_for: r.parse("looking_for", LookingFor::parse)?,
        location: r.opt_str("location").unwrap_or_default(),
        latitude: r.opt_f64("latitude"),
        longitude: r.opt_f64("longitude"),
        bio: r.opt_str("bio"),
        language: r.opt_str("language"),
        balance: Credits::from_hundredths(r.i64("balance")?),
        tier: r.parse("tier", Tier::parse)?,
        messages_sent: u64::try_from(r.i64("messages_sent")?).unwrap_or(0),
        credits_spent: Credits::from_hundredths(r.i64("credits_spent")?),
        kes_paid_cents: r.i64("kes_paid_cents")?,
        // Items from before loyalty carried over count every reward earned as used.
        loyalty_used: r.opt_i64("loyalty_used").and_then(|v| u64::try_from(v).ok()).unwrap_or_else(|| {
            crate::domain::pricing::loyalty_earned(u64::try_from(r.opt_i64("messages_sent").unwrap_or(0)).unwrap_or(0))
        }),
        status: r.parse("status", MemberStatus::parse)?,
        created_at: r.time("created_at")?,
    })
}

fn member_item(m: &Member) -> Item {
    let mut item = key(member_pk(&m.id), "PROFILE");
    item.insert("entity".into(), s("member"));
    item.insert("id".into(), s(&m.id));
    item.insert("username".into(), s(&m.username));
    item.insert("password_hash".into(), s(&m.password_hash));
    put_opt(&mut item, "display_name", &m.display_name);
    put_opt(&mut item, "email", &m.email);
    item.insert("age".into(), n(m.age));
    item.insert("gender".into(), s(m.gender.as_str()));
    item.insert("looking_for".into(), s(m.looking_for.as_str()));
    item.insert("location".into(), s(&m.location));
    if let Some(v) = m.latitude {
        item.insert("latitude".into(), n(v));
    }
    if let Some(v) = m.longitude {
        item.insert("longitude".into(), n(v));
    }
    put_opt(&mut item, "bio", &m.bio);
    put_opt(&mut item, "language", &m.language);
    item.insert("balance".into(), n(m.balance.hundredths()));
    item.insert("tier".into(), s(m.tier.as_str()));
    item.insert("messages_sent".into(), n(m.messages_sent));
    item.insert("credits_spent".into(), n(m.credits_spent.hundredths()));
    item.insert("kes_paid_cents".into(), n(m.kes_paid_cents));
    item.insert("loyalty_used".into(), n(m.loyalty_used));
    item.insert("status".into(), s(m.status.as_str()));
    item.insert("created_at".into(), ts(m.created_at));
    item
}

impl Store {
    /// Creates the member, claims the username and logs the stated age in one
    /// transaction. Returns `Ok(false)` if the username is already claimed.
    pub async fn create_member(&self, new: &NewMember, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let m = &new.member;
        let mut claim = key(username_pk(&m.username), "USERNAME");
        claim.insert("member_id".into(), s(&m.id));
        // The back office's search: claims are written by registrations and erasures only.
        claim.insert("GSI1PK".into(), s(super::moderation::MEMBER_NAMES));
        claim.insert("GSI1SK".into(), s(&m.username));
        let mut age_log = key(member_pk(&m.id), format!("AGE#{}", now.timestamp_millis()));
        age_log.insert("stated_age".into(), n(new.stated_age));
        age_log.insert("method".into(), s("self_declared"));
        age_log.insert("is_compliant".into(), super::attr::b(new.stated_age >= 18));
        age_log.insert("created_at".into(), ts(now));
        let mut items =
            vec![put_new(&self.table, claim)?, put_new(&self.table, member_item(m))?, put_new(&self.table, age_log)?];
        // The dashboard's new members of the day and members in all.
        items.extend(super::stats::registration_counters(&self.table, &m.id, now)?);
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(old)) if old.first().is_some_and(Option::is_some) => Ok(false),
            Err(TransactFailure::ConditionFailed(_)) => Err(StoreError::Corrupt("new member id collided".into())),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    pub async fn get_member(&self, id: &MemberId) -> Result<Option<Member>, StoreError> {
        self.get_decoded(key(member_pk(id), "PROFILE"), member_from).await
    }

    pub async fn username_taken(&self, username: &str) -> Result<bool, StoreError> {
        Ok(self.member_id_for_username(username).await?.is_some())
    }

    async fn member_id_for_username(&self, username: &str) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(username_pk(username), "USERNAME")))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.item.as_ref().and_then(|i| Reader(i).opt_str("member_id")))
    }

    pub async fn member_by_username(&self, username: &str) -> Result<Option<Member>, StoreError> {
        match self.member_id_for_username(username).await? {
            Some(id) => self.get_member(&MemberId::new(id)).await,
            None => Ok(None),
        }
    }

    /// Applies a profile edit to an active member; `None` if there is no such active member.
    pub async fn update_profile(&self, id: &MemberId, ch: &ProfileChanges) -> Result<Option<Member>, StoreError> {
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(member_pk(id), "PROFILE")))
            .condition_expression("attribute_exists(PK) AND #status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("active"))
            .return_values(ReturnValue::AllNew);
        let mut text = |name: &'static str, v: &Option<Option<String>>| match v {
            Some(Some(x)) => {
                sets.push(format!("#{name} = :{name}"));
                Some((name, Some(s(x.clone()))))
            }
            Some(None) => {
                removes.push(format!("#{name}"));
                Some((name, None))
            }
            None => None,
        };
        let mut fields = vec![
            text("display_name", &ch.display_name),
            text("email", &ch.email),
            text("bio", &ch.bio),
            text("language", &ch.language),
            text("location", &ch.location.clone().map(Some)),
            text("looking_for", &ch.looking_for.map(|l| Some(l.as_str().to_string()))),
        ];
        let mut number = |name: &'static str, v: &Option<Option<f64>>| match v {
            Some(Some(x)) => {
                sets.push(format!("#{name} = :{name}"));
                Some((name, Some(n(x))))
            }
            Some(None) => {
                removes.push(format!("#{name}"));
                Some((name, None))
            }
            None => None,
        };
        fields.push(number("latitude", &ch.latitude));
        fields.push(number("longitude", &ch.longitude));
        for (name, value) in fields.into_iter().flatten() {
            req = req.expression_attribute_names(format!("#{name}"), name);
            if let Some(v) = value {
                req = req.expression_attribute_values(format!(":{name}"), v);
            }
        }
        let mut expr = String::new();
        if !sets.is_empty() {
            expr.push_str(&format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        if expr.is_empty() {
            return self.get_member(id).await;
        }
        match req.update_expression(expr.trim()).send().await {
            Ok(out) => out.attributes.as_ref().map(member_from).transpose(),
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Sets an active member's password hash; `false` if the member is not active.
    pub async fn set_member_password(&self, id: &str, hash: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(member_pk(id), "PROFILE")))
            .update_expression("SET password_hash = :hash")
            .condition_expression("#status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":hash", s(hash))
            .expression_attribute_values(":active", s(MemberStatus::Active.as_str()))
            .send()
            .await;
        applied(result)
    }
}
