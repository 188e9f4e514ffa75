//! What members browse: the disclosure, characters, packages and favorites.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::ids::{CharacterId, MemberId};
use crate::domain::payment::PackageSnapshot;
use crate::domain::pricing::FREE_MESSAGES_PER_CHAT;
use crate::domain::validation::max;
use crate::domain::{CharacterView, Gender};
use crate::error::ApiError;
use crate::store::{CharacterFilter, Page};
use crate::App;

#[derive(Serialize)]
pub struct PublicConfig {
    pub disclosure: String,
    pub free_messages_per_chat: u32,
    pub currency: &'static str,
    pub timezone: &'static str,
}

pub fn public_config(app: &App) -> PublicConfig {
    PublicConfig {
        disclosure: app.config.disclosure.clone(),
        free_messages_per_chat: FREE_MESSAGES_PER_CHAT,
        currency: "KES",
        timezone: "Africa/Nairobi",
    }
}

pub async fn list_profiles(
    app: &App,
    gender: Option<&str>,
    q: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Page<CharacterView>, ApiError> {
    let gender = match gender {
        Some(g) => Some(Gender::parse(g).ok_or_else(|| ApiError::invalid("gender", "must be male, female or other"))?),
        None => None,
    };
    let q = match q.map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) if q.chars().count() > max::SEARCH => {
            return Err(ApiError::invalid("q", format!("must be at most {} characters", max::SEARCH)))
        }
        other => other.map(str::to_string),
    };
    let page = app.store.list_characters(&CharacterFilter { gender, q }, cursor, limit).await?;
    Ok(page.map(|c| CharacterView::at(&c, now)))
}

/// An active character's member view; removed and unknown characters are 404.
pub async fn get_profile(app: &App, id: &CharacterId, now: DateTime<Utc>) -> Result<CharacterView, ApiError> {
    match app.store.get_character(id).await? {
        Some(c) if c.is_public() => Ok(CharacterView::at(&c, now)),
        _ => Err(ApiError::NotFound("profile")),
    }
}

pub async fn packages(app: &App) -> Result<Vec<PackageSnapshot>, ApiError> {
    let packages = app.store.list_packages().await?;
    Ok(packages.into_iter().filter(|p| p.is_active).map(|p| PackageSnapshot::from(&p)).collect())
}

pub async fn favorites(
    app: &App,
    member_id: &MemberId,
    cursor: Option<&str>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Page<CharacterView>, ApiError> {
    crate::services::active_member(app, member_id).await?;
    let ids = app.store.list_favorite_ids(member_id, cursor, limit).await?;
    let characters = app.store.characters_by_id(&ids.items).await?;
    let items = characters.iter().filter(|c| c.is_public()).map(|c| CharacterView::at(c, now)).collect();
    Ok(Page { items, next_cursor: ids.next_cursor })
}

pub async fn add_favorite(
    app: &App,
    member_id: &MemberId,
    character_id: &CharacterId,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    crate::services::active_member(app, member_id).await?;
    get_profile(app, character_id, now).await?;
    Ok(app.store.put_favorite(member_id, character_id, now).await?)
}

pub async fn remove_favorite(app: &App, member_id: &MemberId, character_id: &CharacterId) -> Result<(), ApiError> {
    crate::services::active_member(app, member_id).await?;
    Ok(app.store.delete_favorite(member_id, character_id).await?)
}
