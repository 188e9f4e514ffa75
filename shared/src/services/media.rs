//! Characters' photos: upload URLs for the back office, the check of each
//! uploaded object (the validate-media function), and the review of what the
//! check flagged (list, approve, discard).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::admin::{Admin, AuditEntry};
use crate::domain::ids::{self, CharacterId};
use crate::domain::media::{self, FlagReason, ImageFormat, MediaStatus, Photo, Verdict};
use crate::error::ApiError;
use crate::store::{AcceptOutcome, DiscardOutcome, Page};
use crate::App;

/// The answer to `POST /admin/characters/{id}/photos/upload-url`.
#[derive(Debug, Serialize)]
pub struct UploadUrl {
    /// A presigned PUT, once: the request must send the headers below.
    pub upload_url: String,
    pub photo_id: String,
    pub expires_at: DateTime<Utc>,
    /// The headers the signature covers: the `Content-Type` asked for, and
    /// `If-None-Match: *` (the object can be written once, never replaced).
    pub headers: std::collections::BTreeMap<&'static str, String>,
}

fn full_character() -> ApiError {
    ApiError::invalid("photos", format!("the character has {} photos, the most it may have", media::MAX_PHOTOS))
}

/// `POST /admin/characters/{id}/photos/upload-url`: a pending photo (with the
/// audit entry) and a presigned PUT of its object, valid 15 minutes. The photo
/// joins the character once the uploaded object passes the check.
pub async fn upload_url(
    app: &App,
    actor: &Admin,
    character_id: &CharacterId,
    content_type: &str,
    now: DateTime<Utc>,
) -> Result<UploadUrl, ApiError> {
    let format = ImageFormat::from_content_type(content_type)
        .ok_or_else(|| ApiError::invalid("content_type", ImageFormat::expected()))?;
    let character = app
        .store
        .character_photos(character_id)
        .await?
        .filter(|c| !c.deleted)
        .ok_or(ApiError::NotFound("character"))?;
    if !media::has_room(character.photos.len()) {
        return Err(full_character());
    }
    let id = ids::new_id("ph_");
    let key = media::object_key(character_id, &id, format);
    let photo = Photo {
        url: app.media.public_url(&key),
        id,
        character_id: character_id.clone(),
        key,
        content_type: format.content_type().to_string(),
        status: MediaStatus::Pending,
        reason: None,
        width: None,
        height: None,
        size: None,
        uploaded_by: actor.id.clone(),
        created_at: now,
        checked_at: None,
    };
    let details = serde_json::json!({ "character_id": character_id, "content_type": photo.content_type });
    let audit = AuditEntry::new(&actor.id, "media.upload", media::target(&photo.id), details);
    app.store.create_photo(&photo, &audit, now).await?;
    let (upload_url, expires_at) =
        app.media.presign_put(&photo.key, &photo.content_type, media::UPLOAD_URL_TTL).await?;
    tracing::info!(photo_id = %photo.id, %character_id, "photo upload URL issued");
    let headers = [("Content-Type", photo.content_type.clone()), ("If-None-Match", "*".to_string())].into();
    Ok(UploadUrl { upload_url, photo_id: photo.id, expires_at, headers })
}

/// What the check of one uploaded object did.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Nothing to do: another bucket or key, no such photo, or checked already
    /// (SQS delivers at least once).
    Ignored(&'static str),
    /// The photo joined its character.
    Accepted,
    /// The photo was flagged for the admins.
    Flagged(FlagReason),
}

/// The check of one object the media bucket reports created (the validate-media
/// function, per record): a pending photo's first bytes are judged
/// (`media::inspect`); a good photo joins its character in the same transaction
/// as its record, anything else is flagged with the admins' notice. Idempotent:
/// only a pending photo is checked.
pub async fn validate_object(
    app: &App,
    bucket: &str,
    key: &str,
    size: u64,
    now: DateTime<Utc>,
) -> Result<Checked, ApiError> {
    if bucket != app.media.bucket() {
        return Ok(Checked::Ignored("another bucket"));
    }
    let Some(named) = media::parse_object_key(key) else { return Ok(Checked::Ignored("not a photo's key")) };
    let Some(photo) = app.store.get_photo(&named.photo_id).await? else {
        return Ok(Checked::Ignored("no such photo"));
    };
    if photo.key != key || photo.character_id != named.character_id {
        return Ok(Checked::Ignored("not this photo's key"));
    }
    if photo.status != MediaStatus::Pending {
        return Ok(Checked::Ignored("checked already"));
    }
    let Some(header) = app.media.read_header(key, media::HEADER_BYTES).await? else {
        return Ok(Checked::Ignored("the object is gone"));
    };
    // The size S3 gives when reading is the object's now; the event's is the fallback.
    let size = if header.size > 0 { header.size } else { size };
    let dimensions = media::dimensions(&header.bytes);
    let checked = Photo {
        width: dimensions.map(|d| d.0),
        height: dimensions.map(|d| d.1),
        size: Some(size),
        checked_at: Some(now),
        ..photo
    };
    match media::inspect(&header.bytes, size) {
        Verdict::Accepted { .. } => {
            let accepted = Photo { status: MediaStatus::Accepted, reason: None, ..checked.clone() };
            match app.store.accept_photo(&accepted, MediaStatus::Pending, None, now).await? {
                AcceptOutcome::Accepted => Ok(Checked::Accepted),
                AcceptOutcome::NotInStatus => Ok(Checked::Ignored("checked meanwhile")),
                AcceptOutcome::CharacterFull => flag(app, checked, FlagReason::CharacterFull, now).await,
                AcceptOutcome::CharacterGone => flag(app, checked, FlagReason::CharacterGone, now).await,
            }
        }
        Verdict::Flagged { reason } => flag(app, checked, reason, now).await,
    }
}

async fn flag(app: &App, checked: Photo, reason: FlagReason, now: DateTime<Utc>) -> Result<Checked, ApiError> {
    let notice = media::flagged_notice(&checked, reason);
    let flagged = Photo { status: MediaStatus::Flagged, reason: Some(reason), ..checked };
    if app.store.flag_photo(&flagged, &notice, now).await? {
        tracing::info!(photo_id = %flagged.id, reason = reason.as_str(), "photo flagged");
        Ok(Checked::Flagged(reason))
    } else {
        Ok(Checked::Ignored("checked meanwhile"))
    }
}

/// `GET /admin/media?status=`: pending (default), accepted or flagged, newest first.
pub async fn list(
    app: &App,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Photo>, ApiError> {
    let status = match status {
        None => MediaStatus::Pending,
        Some(s) => MediaStatus::parse(s).ok_or_else(|| ApiError::invalid("status", MediaStatus::expected()))?,
    };
    Ok(app.store.photos_with_status(status, cursor, limit).await?)
}

/// `POST /admin/media/{photo_id}/approve`: a flagged photo joins its character
/// (whatever the check said), with the audit entry, in one transaction. Anything
/// but a flagged photo is 409 `media_not_flagged`; a full character 422
/// `fields.photos`; a deleted one 404.
pub async fn approve(app: &App, actor: &Admin, photo_id: &str, now: DateTime<Utc>) -> Result<Photo, ApiError> {
    let photo = app.store.get_photo(photo_id).await?.ok_or(ApiError::NotFound("photo"))?;
    if photo.status != MediaStatus::Flagged {
        return Err(ApiError::MediaNotFlagged);
    }
    let details = serde_json::json!({
        "character_id": photo.character_id,
        "reason": photo.reason.map(FlagReason::as_str),
    });
    let audit = AuditEntry::new(&actor.id, "media.approve", media::target(&photo.id), details);
    let accepted = Photo { status: MediaStatus::Accepted, reason: None, ..photo };
    match app.store.accept_photo(&accepted, MediaStatus::Flagged, Some(&audit), now).await? {
        AcceptOutcome::Accepted => {
            tracing::info!(photo_id = %accepted.id, character_id = %accepted.character_id, "flagged photo approved");
            Ok(accepted)
        }
        AcceptOutcome::NotInStatus => match app.store.get_photo(photo_id).await? {
            Some(_) => Err(ApiError::MediaNotFlagged),
            None => Err(ApiError::NotFound("photo")),
        },
        AcceptOutcome::CharacterFull => Err(full_character()),
        AcceptOutcome::CharacterGone => Err(ApiError::NotFound("character")),
    }
}

/// `DELETE /admin/media/{photo_id}`: the record goes (and the photo leaves its
/// character if it had joined) with the audit entry, in one transaction; then the
/// object is deleted. An active character keeps its last 3 photos (422
/// `fields.photos`).
pub async fn discard(app: &App, actor: &Admin, photo_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let photo = app.store.get_photo(photo_id).await?.ok_or(ApiError::NotFound("photo"))?;
    let details = serde_json::json!({ "character_id": photo.character_id, "status": photo.status });
    let audit = AuditEntry::new(&actor.id, "media.discard", media::target(&photo.id), details);
    let discarded = match app.store.discard_photo(photo_id, &audit, now).await? {
        DiscardOutcome::Discarded(p) => p,
        DiscardOutcome::Unknown => return Err(ApiError::NotFound("photo")),
        DiscardOutcome::KeepsMinimum => {
            return Err(ApiError::invalid(
                "photos",
                format!(
                    "an active character keeps at least {} photos: add another before removing this one",
                    media::MIN_ACTIVE_PHOTOS
                ),
            ))
        }
    };
    // The commit is the truth: a failed deletion leaves an object nothing lists.
    if let Err(e) = app.media.delete(&discarded.key).await {
        tracing::error!(photo_id, key = %discarded.key, error = %e, "discarded photo's object not deleted");
    }
    tracing::info!(photo_id, character_id = %discarded.character_id, "photo discarded");
    Ok(())
}
