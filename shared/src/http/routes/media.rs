//! The back office's photo routes (the admin function): upload URLs, the review
//! list, approval and discarding. Their entries, with what each needs, are in
//! `admin::ADMIN`.

use axum::extract::State;
use axum::http::StatusCode;

use super::Answer;
use crate::domain::ids::CharacterId;
use crate::error::ApiError;
use crate::http::{CurrentAdmin, JsonBody, ListParams, Now, OptionalJson, Path};
use crate::services::media;
use crate::{http, App};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadRequest {
    content_type: String,
}

pub(super) async fn upload_url(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(character_id): Path<CharacterId>,
    JsonBody(r): JsonBody<UploadRequest>,
) -> Answer {
    http::json(StatusCode::CREATED, &media::upload_url(&app, &me, &character_id, &r.content_type, now).await?)
}

/// `?status=` pending (default), accepted or flagged.
pub(super) async fn list(State(app): State<App>, _: CurrentAdmin, p: ListParams) -> Answer {
    http::list(&media::list(&app, p.get("status"), p.cursor.as_deref(), p.limit).await?)
}

pub(super) async fn approve(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(photo_id): Path<String>,
    _body: OptionalJson,
) -> Answer {
    http::json(StatusCode::OK, &media::approve(&app, &me, &photo_id, now).await?)
}

pub(super) async fn discard(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(photo_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    media::discard(&app, &me, &photo_id, now).await?;
    Ok(http::empty())
}
