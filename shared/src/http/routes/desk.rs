//! Back-office routes of issue 14 served by the admin function: characters, the
//! chat desk (lists, detail, reassignment) and the platform settings. Their
//! entries (with what each needs) are in `admin::ADMIN`.

use axum::extract::State;
use axum::http::StatusCode;

use super::Answer;
use crate::domain::characters::CharacterWrite;
use crate::domain::ids::{CharacterId, ChatId, MemberId, OperatorId};
use crate::domain::settings::SettingsChange;
use crate::domain::ChatStatus;
use crate::error::ApiError;
use crate::http::{CurrentAdmin, JsonBody, ListParams, Now, OptionalJson, Path};
use crate::services::{characters, chat_desk, settings};
use crate::{http, App};

pub(super) async fn list_characters(State(app): State<App>, _: CurrentAdmin, Now(now): Now, p: ListParams) -> Answer {
    http::list(&characters::list(&app, p.get("q"), p.get("status"), p.cursor.as_deref(), p.limit, now).await?)
}

pub(super) async fn create_character(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    JsonBody(body): JsonBody<CharacterWrite>,
) -> Answer {
    http::json(StatusCode::CREATED, &characters::create(&app, &me, body, now).await?)
}

pub(super) async fn update_character(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<CharacterId>,
    JsonBody(body): JsonBody<CharacterWrite>,
) -> Answer {
    http::json(StatusCode::OK, &characters::update(&app, &me, &id, body, now).await?)
}

pub(super) async fn delete_character(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<CharacterId>,
) -> Answer {
    http::json(StatusCode::OK, &characters::remove(&app, &me, &id, now).await?)
}

fn id_param(p: &ListParams, name: &str) -> Result<Option<String>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some(v) => {
            crate::domain::validation::id(v).map(|v| Some(v.to_string())).map_err(|e| ApiError::invalid(name, e))
        }
    }
}

pub(super) async fn list_chats(State(app): State<App>, _: CurrentAdmin, Now(now): Now, p: ListParams) -> Answer {
    let status = match p.get("status") {
        None => None,
        Some(s) => Some(
            ChatStatus::parse(s).ok_or_else(|| ApiError::invalid("status", "must be active, escalated or closed"))?,
        ),
    };
    let filter = chat_desk::ChatFilter {
        status,
        operator_id: id_param(&p, "operator_id")?.map(OperatorId::new),
        character_id: id_param(&p, "character_id")?.map(CharacterId::new),
        member_id: id_param(&p, "member_id")?.map(MemberId::new),
    };
    http::list(&chat_desk::list(&app, &filter, p.cursor.as_deref(), p.limit, now).await?)
}

pub(super) async fn chat_detail(
    State(app): State<App>,
    _: CurrentAdmin,
    Now(now): Now,
    Path(id): Path<ChatId>,
) -> Answer {
    http::json(StatusCode::OK, &chat_desk::detail(&app, &id, now).await?)
}

pub(super) async fn reassign_chat(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<ChatId>,
    OptionalJson(body): OptionalJson,
) -> Answer {
    let to = match body.as_ref().and_then(|b| b.get("operator_id")) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(op)) => {
            Some(OperatorId::new(crate::domain::validation::id(op).map_err(|e| ApiError::invalid("operator_id", e))?))
        }
        Some(_) => return Err(ApiError::invalid("operator_id", "must be an operator id")),
    };
    http::json(StatusCode::OK, &chat_desk::reassign(&app, &me, &id, to.as_ref(), now).await?)
}

pub(super) async fn get_settings(State(app): State<App>, _: CurrentAdmin) -> Answer {
    http::json(StatusCode::OK, &settings::get(&app).await?)
}

pub(super) async fn put_settings(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    JsonBody(change): JsonBody<SettingsChange>,
) -> Answer {
    http::json(StatusCode::OK, &settings::put(&app, &me, change, now).await?)
}
