//! `GET/PUT /admin/settings`: read with every default filled in; a change merges
//! into what is set, is refused whole (422) if the result makes no sense, and is
//! written with its audit entry in one transaction.

use chrono::{DateTime, Utc};

use crate::domain::admin::{Admin, AuditEntry};
use crate::domain::settings::{SettingsChange, SettingsView};
use crate::domain::validation::FieldErrors;
use crate::error::ApiError;
use crate::store::SettingsWrite;
use crate::App;

/// Merges retried when another change lands between the read and the write.
const ATTEMPTS: usize = 5;

pub async fn get(app: &App) -> Result<SettingsView, ApiError> {
    Ok(SettingsView::from(&app.store.settings().await?))
}

pub async fn put(
    app: &App,
    actor: &Admin,
    change: SettingsChange,
    now: DateTime<Utc>,
) -> Result<SettingsView, ApiError> {
    for _ in 0..ATTEMPTS {
        let stored = app.store.stored_settings().await?;
        let merged = stored.settings.merged(&change).map_err(|problems| {
            let mut fields = FieldErrors::new();
            for (field, why) in problems {
                fields.add(&field, why);
            }
            ApiError::Validation(fields)
        })?;
        let before = SettingsView::from(&stored.settings);
        let after = SettingsView::from(&merged);
        let details = serde_json::json!({ "before": before, "after": after });
        let audit = AuditEntry::new(&actor.id, "settings.update", "settings".to_string(), details);
        match app.store.put_settings(&merged, stored.version, &audit, now).await? {
            SettingsWrite::Done => return Ok(after),
            SettingsWrite::Changed => continue,
        }
    }
    Err(ApiError::Contention)
}
