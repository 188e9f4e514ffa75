//! Opening chats and reading them.

use chrono::{DateTime, Utc};

use crate::domain::ids::{CharacterId, ChatId, MemberId};
use crate::domain::{ids, Chat, ChatView, MessageView};
use crate::error::ApiError;
use crate::store::{MessageWindow, Page};
use crate::App;

/// Creates the member's chat with a character, or returns the one that exists.
/// The bool says whether it was created (201) or found (200).
pub async fn open_chat(
    app: &App,
    member_id: &MemberId,
    profile_id: &CharacterId,
    now: DateTime<Utc>,
) -> Result<(ChatView, bool), ApiError> {
    crate::domain::validation::id(profile_id).map_err(|e| ApiError::invalid("profile_id", e))?;
    crate::services::active_member(app, member_id).await?;
    let id = ids::chat_id(member_id, profile_id);
    if let Some(existing) = app.store.get_chat(&id).await? {
        return Ok((ChatView::from(&existing), false));
    }
    match app.store.get_character(profile_id).await? {
        Some(c) if c.is_public() => {}
        _ => return Err(ApiError::NotFound("profile")),
    }
    let chat = Chat::new(member_id.clone(), profile_id.clone(), now);
    match app.store.create_or_get_chat(&chat).await? {
        Some((chat, created)) => Ok((ChatView::from(&chat), created)),
        // Deleted or banned, or the character removed, since the checks above:
        // answer as that state does.
        None => {
            crate::services::active_member(app, member_id).await?;
            Err(ApiError::NotFound("profile"))
        }
    }
}

pub async fn list_chats(
    app: &App,
    member_id: &MemberId,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<ChatView>, ApiError> {
    crate::services::active_member(app, member_id).await?;
    Ok(app.store.list_member_chats(member_id, cursor, limit).await?.map(|c| ChatView::from(&c)))
}

/// The member's own chat, or 404 (someone else's chat is indistinguishable from none).
pub async fn own_chat(app: &App, member_id: &MemberId, chat_id: &ChatId) -> Result<Chat, ApiError> {
    match ids::chat_parts(chat_id) {
        Some((owner, _)) if owner == member_id => {}
        _ => return Err(ApiError::NotFound("chat")),
    }
    match app.store.get_chat(chat_id).await? {
        Some(c) if c.member_id == member_id => Ok(c),
        _ => Err(ApiError::NotFound("chat")),
    }
}

pub async fn list_messages(
    app: &App,
    member_id: &MemberId,
    chat_id: &ChatId,
    after: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<MessageView>, ApiError> {
    crate::services::active_member(app, member_id).await?;
    own_chat(app, member_id, chat_id).await?;
    let window = match after {
        Some(a) => {
            let seq =
                ids::message_seq(a).ok_or_else(|| ApiError::invalid("after", "must be a message id of this chat"))?;
            MessageWindow::After { seq, cursor }
        }
        None => MessageWindow::Newest { cursor },
    };
    Ok(app.store.list_messages(chat_id, window, limit).await?.map(|m| MessageView::from(&m)))
}
