//! Characters (public profile + staff fields) and credit packages.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::attr::{b, key, list, n, put_opt, s, ts, Item, Reader};
use super::cursor::{self, Page};
use super::jobs::job_item;
use super::tx::put_new;
use super::{Store, StoreError, TransactFailure};
use crate::domain::admin::AuditEntry;
use crate::domain::ids::CharacterId;
use crate::domain::jobs::Job;
use crate::domain::{Character, CharacterStatus, CreditPackage, Gender};

const CHAR_LIST: &str = "CHARS";
const PACKAGE_LIST: &str = "PACKAGES";
/// Items read per query while filling a filtered page.
const FILTER_BATCH: i32 = 100;
/// Queries spent at most on one filtered page before answering with what was found.
const FILTER_ROUNDS: usize = 5;

pub(crate) fn char_pk(id: &str) -> String {
    format!("CHAR#{id}")
}

/// A character's chats: one item per chat (`CHARCHATS#<character>` / `<chat id>`),
/// put by the chat's creation; the removal's job and the back office read it.
pub(crate) fn character_chats_pk(id: &str) -> String {
    format!("CHARCHATS#{id}")
}

fn popularity_sort(popularity: i64, id: &str) -> String {
    let inverted = 999_999_999_999i64 - popularity.clamp(0, 999_999_999_999);
    format!("{inverted:012}#{id}")
}

/// The GSI1 partition listing characters of a status: `CHARS` (active, most
/// popular first; the public list), `CHARS#draft` and `CHARS#deleted` (newest
/// first, by creation or deletion).
pub(crate) fn status_list(status: CharacterStatus) -> &'static str {
    match status {
        CharacterStatus::Active => CHAR_LIST,
        CharacterStatus::Draft => "CHARS#draft",
        CharacterStatus::Deleted => "CHARS#deleted",
    }
}

fn list_sort(c: &Character) -> String {
    match c.status {
        CharacterStatus::Active => popularity_sort(c.popularity, &c.id),
        CharacterStatus::Draft => format!("{}#{}", c.created_at.map(|t| t.to_rfc3339()).unwrap_or_default(), c.id),
        CharacterStatus::Deleted => format!("{}#{}", c.deleted_at.map(|t| t.to_rfc3339()).unwrap_or_default(), c.id),
    }
}

fn character_item(c: &Character, version: i64) -> Item {
    let mut item = key(char_pk(&c.id), "PROFILE");
    item.insert("entity".into(), s("character"));
    item.insert("GSI1PK".into(), s(status_list(c.status)));
    item.insert("GSI1SK".into(), s(list_sort(c)));
    item.insert("id".into(), s(&c.id));
    item.insert("name".into(), s(&c.name));
    item.insert("age".into(), n(c.age));
    item.insert("gender".into(), s(c.gender.as_str()));
    item.insert("location".into(), s(&c.location));
    item.insert("bio".into(), s(&c.bio));
    item.insert("photos".into(), list(&c.photos));
    item.insert("interests".into(), list(&c.interests));
    put_opt(&mut item, "occupation", &c.occupation);
    put_opt(&mut item, "language", &c.language);
    item.insert("languages".into(), list(&c.languages));
    item.insert("is_featured".into(), b(c.is_featured));
    if let Some(until) = c.featured_until {
        item.insert("featured_until".into(), ts(until));
    }
    item.insert("status".into(), s(c.status.as_str()));
    item.insert("popularity".into(), n(c.popularity));
    put_opt(&mut item, "response_style", &c.response_style);
    put_opt(&mut item, "personality_guidelines", &c.personality_guidelines);
    item.insert("response_templates".into(), list(&c.response_templates));
    if let Some(at) = c.created_at {
        item.insert("created_at".into(), ts(at));
    }
    if let Some(at) = c.deleted_at {
        item.insert("deleted_at".into(), ts(at));
    }
    item.insert("version".into(), n(version));
    let search = [c.name.as_str(), c.location.as_str(), c.bio.as_str(), c.occupation.as_deref().unwrap_or("")]
        .into_iter()
        .chain(c.interests.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    item.insert("search_text".into(), s(search));
    item
}

/// What a character item says of its status, the one reading of it: a removal
/// sets `status` `deleted` and `deleted_at`; items written before `status` say
/// `is_active` (false was a removal). The conditions below say the same in
/// DynamoDB's words.
pub(crate) fn status_of(item: &Item) -> Result<CharacterStatus, StoreError> {
    let r = Reader(item);
    if item.contains_key("deleted_at") {
        return Ok(CharacterStatus::Deleted);
    }
    match r.opt_str("status") {
        Some(text) => CharacterStatus::parse(&text).ok_or_else(|| StoreError::Corrupt("character status".into())),
        None if r.bool("is_active") => Ok(CharacterStatus::Active),
        None => Ok(CharacterStatus::Deleted),
    }
}

/// A condition on a character item, with the names and values it uses (DynamoDB
/// refuses values an expression does not use, so each fragment carries its own).
pub(crate) struct StatusCondition {
    pub expression: &'static str,
    pub values: &'static [(&'static str, &'static str)],
}

/// The character is public (`status_of` would say active). Uses `#status`.
pub(crate) const IS_PUBLIC: StatusCondition = StatusCondition {
    expression: "(attribute_not_exists(deleted_at) AND (#status = :c_active OR (attribute_not_exists(#status) AND is_active = :c_true)))",
    values: &[(":c_active", "active"), (":c_true", "true")],
};

/// The character exists and is not removed (active or a draft). Uses `#status`.
pub(crate) const NOT_DELETED: StatusCondition = StatusCondition {
    expression: "(attribute_exists(PK) AND attribute_not_exists(deleted_at) AND ((attribute_exists(#status) AND #status <> :c_deleted) OR is_active = :c_true))",
    values: &[(":c_deleted", "deleted"), (":c_true", "true")],
};

impl StatusCondition {
    /// The expression's values as DynamoDB attributes (`:c_true` is a boolean).
    pub(crate) fn values(&self) -> impl Iterator<Item = (String, AttributeValue)> {
        self.values.iter().map(|(name, v)| {
            let value = if *name == ":c_true" { AttributeValue::Bool(true) } else { s(*v) };
            (name.to_string(), value)
        })
    }

    /// A condition check of `character_id`'s item for a transaction.
    pub(crate) fn check(&self, table: &str, character_id: &str) -> Result<TransactWriteItem, StoreError> {
        let mut c = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key(char_pk(character_id), "PROFILE")))
            .condition_expression(self.expression)
            .expression_attribute_names("#status", "status")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in self.values() {
            c = c.expression_attribute_values(name, value);
        }
        Ok(TransactWriteItem::builder().condition_check(c.build().map_err(StoreError::dynamo)?).build())
    }
}

pub(crate) fn character_from(item: &Item) -> Result<Character, StoreError> {
    let r = Reader(item);
    let status = status_of(item)?;
    Ok(Character {
        id: CharacterId::new(r.str("id")?),
        name: r.str("name")?,
        age: u8::try_from(r.i64("age")?).map_err(|_| StoreError::Corrupt("age".into()))?,
        gender: r.parse("gender", Gender::parse)?,
        location: r.str("location")?,
        bio: r.str("bio")?,
        photos: r.strings("photos"),
        interests: r.strings("interests"),
        occupation: r.opt_str("occupation"),
        language: r.opt_str("language"),
        languages: r.strings("languages"),
        is_featured: r.bool("is_featured"),
        featured_until: r.opt_time("featured_until"),
        status,
        popularity: r.opt_i64("popularity").unwrap_or(0),
        response_style: r.opt_str("response_style"),
        personality_guidelines: r.opt_str("personality_guidelines"),
        response_templates: r.strings("response_templates"),
        created_at: r.opt_time("created_at"),
        deleted_at: r.opt_time("deleted_at"),
    })
}

/// The version a character's item carries: every admin write conditions on it
/// and bumps it (an accepted photo too), so an edit never drops a concurrent one.
fn version_of(item: &Item) -> i64 {
    Reader(item).opt_i64("version").unwrap_or(0)
}

fn package_from(item: &Item) -> Result<CreditPackage, StoreError> {
    let r = Reader(item);
    Ok(CreditPackage {
        id: r.str("id")?,
        name: r.str("name")?,
        credits: r.i64("credits")?,
        bonus_credits: r.i64("bonus_credits")?,
        price: r.i64("price")?,
        currency: r.str("currency")?,
        badge: r.opt_str("badge"),
        sort: r.i64("sort")?,
        is_active: r.bool("is_active"),
    })
}

/// Filters for the public character list.
#[derive(Clone, Debug, Default)]
pub struct CharacterFilter {
    pub gender: Option<Gender>,
    /// Lower-case substring of name, location, bio, occupation or interests.
    pub q: Option<String>,
}

impl Store {
    /// Writes a character whatever is there (demo data and tests).
    pub async fn put_character(&self, c: &Character) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(character_item(c, 0)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    pub async fn get_character(&self, id: &CharacterId) -> Result<Option<Character>, StoreError> {
        Ok(self.get_character_versioned(id).await?.map(|(c, _)| c))
    }

    /// A character with the version an admin write must find unchanged (consistent).
    pub async fn get_character_versioned(&self, id: &CharacterId) -> Result<Option<(Character, i64)>, StoreError> {
        self.get_decoded(key(char_pk(id), "PROFILE"), |item| Ok((character_from(item)?, version_of(item)))).await
    }

    /// An admin's write of a character, with its audit entry and whatever else the
    /// change needs in the same transaction (`extra`: the removal's close job).
    /// `read_version` `None` creates it (the id must be new); otherwise the item
    /// must still carry that version. `Ok(false)`: it changed (or exists) meanwhile.
    pub async fn save_character(
        &self,
        c: &Character,
        read_version: Option<i64>,
        audit: &AuditEntry,
        extra: Vec<TransactWriteItem>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let item = character_item(c, read_version.map_or(0, |v| v + 1));
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        put = match read_version {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(0) => {
                put.condition_expression("attribute_exists(PK) AND (attribute_not_exists(version) OR version = :v)")
            }
            Some(_) => put.condition_expression("version = :v"),
        };
        if let Some(v) = read_version {
            put = put.expression_attribute_values(":v", n(v));
        }
        let mut items = vec![TransactWriteItem::builder().put(put.build().map_err(StoreError::dynamo)?).build()];
        items.push(super::admins::audit_put(&self.table, audit, now)?);
        items.extend(extra);
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Removes a character: status `deleted` (gone from `/profiles`, its page 404,
    /// new chats refused by their creation's check), with the job that closes its
    /// chats and the audit entry, in one transaction.
    pub async fn remove_character(
        &self,
        c: &Character,
        read_version: i64,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let job = Job::CloseCharacterChats { character_id: c.id.clone() };
        let extra = vec![put_new(&self.table, job_item(&job, now))?];
        self.save_character(c, Some(read_version), audit, extra, now).await
    }

    /// Characters of a status (active: most popular first; drafts and deleted:
    /// newest first), filled to `limit` through the filter.
    pub async fn list_characters_by_status(
        &self,
        status: CharacterStatus,
        filter: &CharacterFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<(Character, i64)>, StoreError> {
        let pk = status_list(status);
        let forward = status == CharacterStatus::Active;
        let names = ["PK", "SK", "GSI1PK", "GSI1SK"];
        let mut start = cursor.map(|c| cursor::decode(c, &names, ("GSI1PK", pk))).transpose()?;
        let mut found: Vec<Item> = Vec::new();
        let decode = |found: &[Item]| -> Result<Vec<(Character, i64)>, StoreError> {
            found.iter().map(|i| Ok((character_from(i)?, version_of(i)))).collect()
        };
        for _ in 0..FILTER_ROUNDS {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(pk))
                .scan_index_forward(forward)
                .set_exclusive_start_key(start.take())
                .limit(FILTER_BATCH);
            let mut conditions = Vec::new();
            if let Some(g) = filter.gender {
                conditions.push("gender = :gender");
                q = q.expression_attribute_values(":gender", s(g.as_str()));
            }
            if let Some(text) = &filter.q {
                conditions.push("contains(search_text, :q)");
                q = q.expression_attribute_values(":q", s(text.to_lowercase()));
            }
            if !conditions.is_empty() {
                q = q.filter_expression(conditions.join(" AND "));
            }
            let out = q.send().await.map_err(StoreError::sdk)?;
            for item in out.items.unwrap_or_default() {
                found.push(item);
                if found.len() == limit {
                    let last = &found[limit - 1];
                    let key: Item =
                        names.iter().filter_map(|k| last.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
                    return Ok(Page { items: decode(&found)?, next_cursor: cursor::encode(&key) });
                }
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(Page { items: decode(&found)?, next_cursor: None }),
            }
        }
        Ok(Page { items: decode(&found)?, next_cursor: start.as_ref().and_then(cursor::encode) })
    }

    /// Active characters, most popular first (the public list).
    pub async fn list_characters(
        &self,
        filter: &CharacterFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Character>, StoreError> {
        let page = self.list_characters_by_status(CharacterStatus::Active, filter, cursor, limit).await?;
        Ok(page.map(|(c, _)| c))
    }

    /// A page of a character's chats (its listing `CHARCHATS#<id>`, written with
    /// each chat's creation), read by key: consistently for the close job (a chat
    /// read as closed is skipped), eventually for the back office's figures.
    pub async fn character_chats(
        &self,
        id: &CharacterId,
        cursor: Option<&str>,
        limit: usize,
        consistent: bool,
    ) -> Result<Page<crate::domain::Chat>, StoreError> {
        let names = ["PK", "SK"];
        let pk = character_chats_pk(id);
        let start = cursor.map(|c| cursor::decode(c, &names, ("PK", &pk))).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(&pk))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(100))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let keys = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|i| Ok(key(super::chats::chat_pk(&Reader(i).str("SK")?), "CHAT")))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut chats = Vec::new();
        for item in self.batch_get(keys, consistent).await? {
            chats.push(super::chats::chat_from(&item)?);
        }
        chats.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Page { items: chats, next_cursor: out.last_evaluated_key.as_ref().and_then(cursor::encode) })
    }

    /// Characters by id, in the order asked, skipping unknown ids.
    pub async fn characters_by_id(&self, ids: &[String]) -> Result<Vec<Character>, StoreError> {
        let keys = ids.iter().map(|id| key(char_pk(id), "PROFILE")).collect();
        let mut by_id: HashMap<String, Character> = HashMap::new();
        for item in self.batch_get(keys, false).await? {
            let c = character_from(&item)?;
            by_id.insert(c.id.to_string(), c);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    pub async fn put_package(&self, p: &CreditPackage) -> Result<(), StoreError> {
        let item = package_item(p, 0);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }

    /// An admin's write of a package with its audit entry: `read_version` `None`
    /// creates it; otherwise the item must still carry that version. `Ok(false)`:
    /// it changed (or exists) meanwhile. A checkout keeps the snapshot it locked.
    pub async fn save_package(
        &self,
        p: &CreditPackage,
        read_version: Option<i64>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(package_item(p, read_version.map_or(0, |v| v + 1))))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        put = match read_version {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(0) => put
                .condition_expression("attribute_exists(PK) AND (attribute_not_exists(version) OR version = :v)")
                .expression_attribute_values(":v", n(0)),
            Some(v) => put.condition_expression("version = :v").expression_attribute_values(":v", n(v)),
        };
        let items = vec![
            TransactWriteItem::builder().put(put.build().map_err(StoreError::dynamo)?).build(),
            super::admins::audit_put(&self.table, audit, now)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// A package with its version (consistent).
    pub async fn get_package_versioned(&self, id: &str) -> Result<Option<(CreditPackage, i64)>, StoreError> {
        self.get_decoded(key(format!("PACKAGE#{id}"), "PACKAGE"), |i| Ok((package_from(i)?, version_of(i)))).await
    }

    /// Every package, active or not, in their order (the back office).
    pub async fn all_packages(&self) -> Result<Vec<CreditPackage>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :pk")
            .expression_attribute_values(":pk", s(ALL_PACKAGES));
        self.all_pages(query).await?.iter().map(package_from).collect()
    }
}

/// Every package (GSI2, active or not), for the back office; the public list is
/// GSI1 `PACKAGES` (active only).
const ALL_PACKAGES: &str = "PACKAGES_ALL";

fn package_item(p: &CreditPackage, version: i64) -> Item {
    let mut item = key(format!("PACKAGE#{}", p.id), "PACKAGE");
    item.insert("entity".into(), s("package"));
    item.insert("GSI2PK".into(), s(ALL_PACKAGES));
    item.insert("GSI2SK".into(), s(format!("{:06}#{}", p.sort, p.id)));
    item.insert("version".into(), n(version));
    if p.is_active {
        item.insert("GSI1PK".into(), s(PACKAGE_LIST));
        item.insert("GSI1SK".into(), s(format!("{:06}#{}", p.sort, p.id)));
    }
    item.insert("id".into(), s(&p.id));
    item.insert("name".into(), s(&p.name));
    item.insert("credits".into(), n(p.credits));
    item.insert("bonus_credits".into(), n(p.bonus_credits));
    item.insert("price".into(), n(p.price));
    item.insert("currency".into(), s(&p.currency));
    put_opt(&mut item, "badge", &p.badge);
    item.insert("sort".into(), n(p.sort));
    item.insert("is_active".into(), b(p.is_active));
    item
}

impl Store {
    pub async fn get_package(&self, id: &str) -> Result<Option<CreditPackage>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("PACKAGE#{id}"), "PACKAGE")))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.item.as_ref().map(package_from).transpose()
    }

    pub async fn list_packages(&self) -> Result<Vec<CreditPackage>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(PACKAGE_LIST.into()))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.items.unwrap_or_default().iter().map(package_from).collect()
    }
}
