//! The back office's characters: the staff view (with what each earns), create,
//! edit, publish a draft, feature until a date, and remove (soft: the chats close
//! through the close job, the members are told).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::admin::{Admin, AuditEntry};
use crate::domain::characters::CharacterWrite;
use crate::domain::ids::{self, CharacterId};
use crate::domain::validation::max;
use crate::domain::{Character, CharacterStatus, ChatStatus, Credits};
use crate::error::ApiError;
use crate::store::{CharacterFilter, Page};
use crate::App;

/// A character's chats read for its figures in a list, at most (two pages):
/// beyond, the figures say `figures_complete: false`. A list page of 50
/// characters reads at most 10,000 chats (eventually consistent: 5,000 RRU).
const FIGURE_CHATS: usize = 200;
/// A removal counts the chats it closes up to this many (50 pages) before it
/// answers; beyond, `closing_chats` says at least this many (the job closes all).
const COUNTED_CHATS: usize = 5_000;
const FIGURE_PAGE: usize = 100;
/// Reads before giving up when a character keeps changing under an edit.
const ATTEMPTS: usize = 5;

/// The staff view: every field (guidelines, style, templates, languages,
/// `featured_until`), whether it is featured now, and its figures.
#[derive(Serialize)]
pub struct StaffCharacter {
    #[serde(flatten)]
    pub character: Character,
    pub kind: &'static str,
    pub featured: bool,
    pub active_chats: usize,
    pub chats: usize,
    pub messages: u64,
    /// Credits the members' messages to it cost.
    pub revenue: Credits,
    pub figures_complete: bool,
}

async fn staff_view(app: &App, c: Character, now: DateTime<Utc>) -> Result<StaffCharacter, ApiError> {
    let (mut chats, mut active, mut messages, mut revenue) = (0usize, 0usize, 0u64, 0i64);
    let mut cursor: Option<String> = None;
    let mut complete = true;
    loop {
        let page = app.store.character_chats(&c.id, cursor.as_deref(), FIGURE_PAGE, false).await?;
        for chat in &page.items {
            chats += 1;
            active += usize::from(chat.status != ChatStatus::Closed);
            messages += u64::from(chat.message_count);
            revenue += chat.credits_spent.hundredths();
        }
        match page.next_cursor {
            Some(next) if chats < FIGURE_CHATS => cursor = Some(next),
            Some(_) => {
                complete = false;
                break;
            }
            None => break,
        }
    }
    Ok(StaffCharacter {
        featured: c.featured_at(now),
        character: c,
        kind: "character",
        active_chats: active,
        chats,
        messages,
        revenue: Credits::from_hundredths(revenue),
        figures_complete: complete,
    })
}

/// `GET /admin/characters?q=&status=`: active (default, most popular first),
/// draft or deleted (newest first).
pub async fn list(
    app: &App,
    q: Option<&str>,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Page<StaffCharacter>, ApiError> {
    let status = match status {
        None => CharacterStatus::Active,
        Some(s) => {
            CharacterStatus::parse(s).ok_or_else(|| ApiError::invalid("status", "must be active, draft or deleted"))?
        }
    };
    let q = match q.map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) if q.chars().count() > max::SEARCH => {
            return Err(ApiError::invalid("q", format!("must be at most {} characters", max::SEARCH)))
        }
        other => other.map(str::to_string),
    };
    let page = app.store.list_characters_by_status(status, &CharacterFilter { gender: None, q }, cursor, limit).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for (c, _) in page.items {
        items.push(staff_view(app, c, now).await?);
    }
    Ok(Page { items, next_cursor: page.next_cursor })
}

pub async fn get(app: &App, id: &CharacterId, now: DateTime<Utc>) -> Result<StaffCharacter, ApiError> {
    let c = app.store.get_character(id).await?.ok_or(ApiError::NotFound("character"))?;
    staff_view(app, c, now).await
}

/// `POST /admin/characters`: active (3-10 photos) or a draft.
pub async fn create(
    app: &App,
    actor: &Admin,
    body: CharacterWrite,
    now: DateTime<Utc>,
) -> Result<StaffCharacter, ApiError> {
    let id = CharacterId::new(ids::new_id("c"));
    let c = body.create(id.clone(), &app.config.media_public_url, now).map_err(ApiError::Validation)?;
    let details = serde_json::json!({ "name": c.name, "status": c.status, "featured_until": c.featured_until });
    let audit = AuditEntry::new(&actor.id, "character.create", format!("character:{id}"), details);
    if !app.store.save_character(&c, None, &audit, Vec::new(), now).await? {
        return Err(ApiError::Contention);
    }
    staff_view(app, c, now).await
}

/// `PATCH /admin/characters/{id}`: any field; publishing a draft needs its photos.
/// Written only over the version read (a photo accepted meanwhile is kept: the
/// edit is merged again).
pub async fn update(
    app: &App,
    actor: &Admin,
    id: &CharacterId,
    body: CharacterWrite,
    now: DateTime<Utc>,
) -> Result<StaffCharacter, ApiError> {
    for _ in 0..ATTEMPTS {
        let (current, version) = app.store.get_character_versioned(id).await?.ok_or(ApiError::NotFound("character"))?;
        if current.status == CharacterStatus::Deleted {
            return Err(ApiError::NotFound("character"));
        }
        let next = body.apply(&current, &app.config.media_public_url, now).map_err(ApiError::Validation)?;
        let details = serde_json::json!({
            "fields": changed_fields(&current, &next),
            "status": { "from": current.status, "to": next.status },
        });
        let audit = AuditEntry::new(&actor.id, "character.update", format!("character:{id}"), details);
        if app.store.save_character(&next, Some(version), &audit, Vec::new(), now).await? {
            return staff_view(app, next, now).await;
        }
    }
    Err(ApiError::Contention)
}

fn changed_fields(a: &Character, b: &Character) -> Vec<&'static str> {
    let (ja, jb) = (serde_json::to_value(a).unwrap_or_default(), serde_json::to_value(b).unwrap_or_default());
    const FIELDS: [&str; 16] = [
        "name",
        "age",
        "gender",
        "location",
        "bio",
        "photos",
        "interests",
        "occupation",
        "language",
        "languages",
        "is_featured",
        "featured_until",
        "status",
        "response_style",
        "personality_guidelines",
        "response_templates",
    ];
    FIELDS.into_iter().filter(|f| ja.get(*f) != jb.get(*f)).collect()
}

#[derive(Serialize)]
pub struct Removal {
    /// Open chats the close job is closing (`profile_deleted`).
    pub closing_chats: usize,
}

/// `DELETE /admin/characters/{id}`: at once gone from `/profiles` and 404 on its
/// page (new chats refused by their creation's condition); the close job written
/// in the same transaction closes its open chats within a minute and tells each
/// member. Removing it again is 404.
pub async fn remove(app: &App, actor: &Admin, id: &CharacterId, now: DateTime<Utc>) -> Result<Removal, ApiError> {
    for _ in 0..ATTEMPTS {
        let (current, version) = app.store.get_character_versioned(id).await?.ok_or(ApiError::NotFound("character"))?;
        if current.status == CharacterStatus::Deleted {
            return Err(ApiError::NotFound("character"));
        }
        let removed = Character { status: CharacterStatus::Deleted, deleted_at: Some(now), ..current.clone() };
        let details = serde_json::json!({ "name": current.name, "status": current.status });
        let audit = AuditEntry::new(&actor.id, "character.delete", format!("character:{id}"), details);
        if app.store.remove_character(&removed, version, &audit, now).await? {
            let closing_chats = open_chats(app, id).await?;
            tracing::info!(character_id = %id, closing_chats, "character removed");
            return Ok(Removal { closing_chats });
        }
    }
    Err(ApiError::Contention)
}

/// The character's chats not closed yet, among its first `COUNTED_CHATS`.
async fn open_chats(app: &App, id: &CharacterId) -> Result<usize, ApiError> {
    let (mut open, mut read) = (0, 0);
    let mut cursor: Option<String> = None;
    loop {
        let page = app.store.character_chats(id, cursor.as_deref(), FIGURE_PAGE, true).await?;
        read += page.items.len();
        open += page.items.iter().filter(|c| c.status != ChatStatus::Closed).count();
        match page.next_cursor {
            Some(next) if read < COUNTED_CHATS => cursor = Some(next),
            _ => return Ok(open),
        }
    }
}
