//! Uploaded photos: their records (`MEDIA#<photo id>`, listed by status in GSI1),
//! and a photo joining or leaving its character's `photos` in the same
//! transaction as its record's change.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::admins::audit_put;
use super::attr::{key, n, s, ts, Item, Reader};
use super::characters::{char_pk, status_of, IS_PUBLIC, NOT_DELETED};
use super::cursor::{Page, Partition};
use super::notifications::admin_notification_item;
use super::tx::{put_new, tx_update, update};
use super::{Store, StoreError, TransactFailure};
use crate::domain::admin::AuditEntry;
use crate::domain::ids::CharacterId;
use crate::domain::media::{self, FlagReason, MediaStatus, Photo, MAX_PHOTOS, MIN_ACTIVE_PHOTOS};
use crate::domain::CharacterStatus;

/// Reads after a concurrent change before a discard gives up (409 `conflict`).
const DISCARD_ATTEMPTS: u32 = 5;

fn photo_key(id: &str) -> Item {
    key(format!("MEDIA#{id}"), "MEDIA")
}

/// GSI1 partition of the photos with a status, newest last (`<created_at>#<id>`).
fn photos_pk(status: MediaStatus) -> String {
    format!("MEDIA#{}", status.as_str())
}

fn photos_sk(p: &Photo) -> String {
    format!("{}#{}", p.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), p.id)
}

fn photo_item(p: &Photo) -> Item {
    let mut item = photo_key(&p.id);
    item.insert("entity".into(), s("media"));
    item.insert("id".into(), s(&p.id));
    item.insert("character_id".into(), s(&p.character_id));
    item.insert("object_key".into(), s(&p.key));
    item.insert("content_type".into(), s(&p.content_type));
    item.insert("status".into(), s(p.status.as_str()));
    if let Some(r) = p.reason {
        item.insert("reason".into(), s(r.as_str()));
    }
    if let Some(w) = p.width {
        item.insert("width".into(), n(w));
    }
    if let Some(h) = p.height {
        item.insert("height".into(), n(h));
    }
    if let Some(size) = p.size {
        item.insert("size".into(), n(size));
    }
    item.insert("url".into(), s(&p.url));
    item.insert("uploaded_by".into(), s(&p.uploaded_by));
    item.insert("created_at".into(), ts(p.created_at));
    if let Some(at) = p.checked_at {
        item.insert("checked_at".into(), ts(at));
    }
    item.insert("GSI1PK".into(), s(photos_pk(p.status)));
    item.insert("GSI1SK".into(), s(photos_sk(p)));
    item
}

fn photo_from(item: &Item) -> Result<Photo, StoreError> {
    let r = Reader(item);
    Ok(Photo {
        id: r.str("id")?,
        character_id: CharacterId::new(r.str("character_id")?),
        key: r.str("object_key")?,
        content_type: r.str("content_type")?,
        status: r.parse("status", MediaStatus::parse)?,
        reason: r.opt_str("reason").and_then(|v| FlagReason::parse(&v)),
        width: r.opt_i64("width").and_then(|v| u32::try_from(v).ok()),
        height: r.opt_i64("height").and_then(|v| u32::try_from(v).ok()),
        size: r.opt_i64("size").and_then(|v| u64::try_from(v).ok()),
        url: r.str("url")?,
        uploaded_by: r.str("uploaded_by")?,
        created_at: r.time("created_at")?,
        checked_at: r.opt_time("checked_at"),
    })
}

/// What the photo rules need of a character: its photos, and whether it is
/// deleted or active (public).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharacterPhotos {
    pub photos: Vec<String>,
    /// Soft-deleted: `deleted_at` set (or status `deleted`).
    pub deleted: bool,
    /// Not deleted, and its status `active` or not set.
    pub active: bool,
}

fn character_photos_from(item: &Item) -> Result<CharacterPhotos, StoreError> {
    let status = status_of(item)?;
    Ok(CharacterPhotos {
        photos: Reader(item).strings("photos"),
        deleted: status == CharacterStatus::Deleted,
        active: status == CharacterStatus::Active,
    })
}

/// The outcome of a photo joining its character.
#[derive(Debug, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// The record is accepted and the URL is in the character's photos.
    Accepted,
    /// The record was not in the status the caller read (checked, approved or
    /// discarded meanwhile): nothing changed.
    NotInStatus,
    /// The character has `MAX_PHOTOS` photos: nothing changed.
    CharacterFull,
    /// The character is deleted or gone: nothing changed.
    CharacterGone,
}

/// One try of an acceptance: done, or the URL was already among the photos.
enum Tried {
    Done(AcceptOutcome),
    AlreadyJoined,
}

/// The outcome of discarding a photo.
#[derive(Debug)]
pub enum DiscardOutcome {
    /// The record is deleted (and the URL gone from its character's photos if it
    /// had joined): the photo as it was, for its object's deletion.
    Discarded(Box<Photo>),
    /// No such photo.
    Unknown,
    /// The photo is one of the `MIN_ACTIVE_PHOTOS` an active character keeps:
    /// nothing changed.
    KeepsMinimum,
}

/// The record moved to `p`'s status (and list), with the fields `p` carries,
/// under the condition that it is still `from`.
fn status_change(table: &str, p: &Photo, from: MediaStatus) -> Result<TransactWriteItem, StoreError> {
    let mut sets = vec!["#status = :to", "GSI1PK = :list"];
    let mut u = update(table, photo_key(&p.id))
        .condition_expression("#status = :from")
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#reason", "reason")
        .expression_attribute_values(":to", s(p.status.as_str()))
        .expression_attribute_values(":from", s(from.as_str()))
        .expression_attribute_values(":list", s(photos_pk(p.status)));
    if let Some(at) = p.checked_at {
        sets.push("checked_at = :checked");
        u = u.expression_attribute_values(":checked", ts(at));
    }
    if let Some(w) = p.width {
        sets.push("width = :width");
        u = u.expression_attribute_values(":width", n(w));
    }
    if let Some(h) = p.height {
        sets.push("height = :height");
        u = u.expression_attribute_values(":height", n(h));
    }
    if let Some(size) = p.size {
        sets.push("#size = :size");
        u = u.expression_attribute_names("#size", "size").expression_attribute_values(":size", n(size));
    }
    let expression = match p.reason {
        Some(r) => {
            sets.push("#reason = :reason");
            u = u.expression_attribute_values(":reason", s(r.as_str()));
            format!("SET {}", sets.join(", "))
        }
        None => format!("SET {} REMOVE #reason", sets.join(", ")),
    };
    tx_update(u.update_expression(expression))
}

/// Bumps the character's `version` with a photo's change: an admin's edit of the
/// character, conditioned on the version it read, then reads the photos again
/// instead of writing back a list without (or with) this one.
const BUMP_VERSION: &str = "version = if_not_exists(version, :zero) + :bump";

/// The photo's URL appended to its character's photos: the character exists, is
/// not deleted, has room and does not list the URL yet.
fn join(table: &str, p: &Photo) -> Result<TransactWriteItem, StoreError> {
    let mut u = update(table, key(char_pk(&p.character_id), "PROFILE"))
        .update_expression(format!("SET photos = list_append(photos, :one), {BUMP_VERSION}"))
        .condition_expression(format!(
            "{} AND size(photos) < :max AND NOT contains(photos, :url)",
            NOT_DELETED.expression
        ))
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":one", AttributeValue::L(vec![s(&p.url)]))
        .expression_attribute_values(":max", n(MAX_PHOTOS))
        .expression_attribute_values(":url", s(&p.url))
        .expression_attribute_values(":zero", n(0))
        .expression_attribute_values(":bump", n(1));
    for (name, value) in NOT_DELETED.values() {
        u = u.expression_attribute_values(name, value);
    }
    tx_update(u)
}

/// The photo's URL removed from its character's photos at `index`, under the
/// condition that it is still there and that an active character keeps
/// `MIN_ACTIVE_PHOTOS` (`media::may_remove`).
fn leave(table: &str, p: &Photo, index: usize) -> Result<TransactWriteItem, StoreError> {
    let mut u = update(table, key(char_pk(&p.character_id), "PROFILE"))
        .update_expression(format!("SET {BUMP_VERSION} REMOVE photos[{index}]"))
        .condition_expression(format!(
            "photos[{index}] = :url AND (size(photos) > :min OR NOT {})",
            IS_PUBLIC.expression
        ))
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":url", s(&p.url))
        .expression_attribute_values(":min", n(MIN_ACTIVE_PHOTOS))
        .expression_attribute_values(":zero", n(0))
        .expression_attribute_values(":bump", n(1));
    for (name, value) in IS_PUBLIC.values() {
        u = u.expression_attribute_values(name, value);
    }
    tx_update(u)
}

/// The record's deletion, under the condition that it is still in the status read.
fn delete_record(table: &str, p: &Photo) -> Result<TransactWriteItem, StoreError> {
    let d = Delete::builder()
        .table_name(table)
        .set_key(Some(photo_key(&p.id)))
        .condition_expression("#status = :status")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":status", s(p.status.as_str()))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(StoreError::dynamo)?;
    Ok(TransactWriteItem::builder().delete(d).build())
}

impl Store {
    /// A character's photos and whether it is deleted or active; `None` if there
    /// is no such character.
    pub async fn character_photos(&self, id: &CharacterId) -> Result<Option<CharacterPhotos>, StoreError> {
        self.get_decoded(key(char_pk(id), "PROFILE"), character_photos_from).await
    }

    /// A new pending photo and the audit entry of its upload URL, one transaction.
    pub async fn create_photo(&self, p: &Photo, audit: &AuditEntry, now: DateTime<Utc>) -> Result<(), StoreError> {
        let items = vec![put_new(&self.table, photo_item(p))?, audit_put(&self.table, audit, now)?];
        self.transact(items).await.map_err(TransactFailure::into_store)
    }

    pub async fn get_photo(&self, id: &str) -> Result<Option<Photo>, StoreError> {
        self.get_decoded(photo_key(id), photo_from).await
    }

    /// Photos with `status`, newest first.
    pub async fn photos_with_status(
        &self,
        status: MediaStatus,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Photo>, StoreError> {
        let pk = photos_pk(status);
        self.page(Partition::Gsi1(&pk), false, cursor, limit).await?.try_map(photo_from)
    }

    /// The photo accepted (`p` as it is to be stored, status `accepted`) and its
    /// URL appended to its character's photos, with the audit entry of an admin's
    /// approval, in one transaction conditioned on the record still being `from`
    /// and on the character (`join`). A URL the character already lists is not
    /// added twice: the record alone is accepted.
    pub async fn accept_photo(
        &self,
        p: &Photo,
        from: MediaStatus,
        audit: Option<&AuditEntry>,
        now: DateTime<Utc>,
    ) -> Result<AcceptOutcome, StoreError> {
        match self.try_accept(p, from, audit, true, now).await? {
            Tried::Done(outcome) => Ok(outcome),
            Tried::AlreadyJoined => match self.try_accept(p, from, audit, false, now).await? {
                Tried::Done(outcome) => Ok(outcome),
                Tried::AlreadyJoined => Err(StoreError::Corrupt("an acceptance without its join failed on it".into())),
            },
        }
    }

    async fn try_accept(
        &self,
        p: &Photo,
        from: MediaStatus,
        audit: Option<&AuditEntry>,
        with_join: bool,
        now: DateTime<Utc>,
    ) -> Result<Tried, StoreError> {
        let mut items = vec![status_change(&self.table, p, from)?];
        if with_join {
            items.push(join(&self.table, p)?);
        }
        if let Some(a) = audit {
            items.push(audit_put(&self.table, a, now)?);
        }
        let old = match self.transact(items).await {
            Ok(()) => return Ok(Tried::Done(AcceptOutcome::Accepted)),
            Err(TransactFailure::ConditionFailed(old)) => old,
            Err(TransactFailure::Store(e)) => return Err(e),
        };
        if old.first().is_some_and(Option::is_some) {
            return Ok(Tried::Done(AcceptOutcome::NotInStatus));
        }
        let Some(Some(character)) = old.get(1).filter(|_| with_join) else {
            return Err(StoreError::Corrupt("an acceptance failed on neither the record nor the character".into()));
        };
        if character.is_empty() {
            return Ok(Tried::Done(AcceptOutcome::CharacterGone));
        }
        let c = character_photos_from(character)?;
        Ok(if c.deleted {
            Tried::Done(AcceptOutcome::CharacterGone)
        } else if c.photos.contains(&p.url) {
            Tried::AlreadyJoined
        } else {
            Tried::Done(AcceptOutcome::CharacterFull)
        })
    }

    /// A pending photo flagged (`p` as it is to be stored, status `flagged` with
    /// its reason) with the admins' notice (`media_flagged`), in one transaction.
    /// `Ok(false)` if it is not pending any more.
    pub async fn flag_photo(&self, p: &Photo, notice: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let items = vec![
            status_change(&self.table, p, MediaStatus::Pending)?,
            put_new(&self.table, admin_notification_item("media_flagged", "normal", notice, Some(&p.id), now))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Deletes a photo's record with the audit entry and, if it had joined its
    /// character, takes its URL out of the character's photos, in one transaction
    /// conditioned on the record's status and the URL's place as read. An active
    /// character keeps `MIN_ACTIVE_PHOTOS`. A concurrent change is read again.
    pub async fn discard_photo(
        &self,
        id: &str,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<DiscardOutcome, StoreError> {
        for _ in 0..DISCARD_ATTEMPTS {
            let Some(p) = self.get_photo(id).await? else { return Ok(DiscardOutcome::Unknown) };
            let mut items = vec![delete_record(&self.table, &p)?, audit_put(&self.table, audit, now)?];
            if p.status == MediaStatus::Accepted {
                let character = self.character_photos(&p.character_id).await?;
                let place = character.as_ref().and_then(|c| c.photos.iter().position(|u| *u == p.url));
                if let (Some(c), Some(index)) = (character, place) {
                    if !media::may_remove(c.active, c.photos.len()) {
                        return Ok(DiscardOutcome::KeepsMinimum);
                    }
                    items.push(leave(&self.table, &p, index)?);
                }
            }
            match self.transact(items).await {
                Ok(()) => return Ok(DiscardOutcome::Discarded(Box::new(p))),
                Err(TransactFailure::ConditionFailed(_)) => continue,
                Err(TransactFailure::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Contention(DISCARD_ATTEMPTS))
    }
}
