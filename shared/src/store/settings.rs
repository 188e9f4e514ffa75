//! Platform settings: one item per area under `SETTINGS`. The assignment timers
//! live at `SETTINGS` / `ASSIGNMENT`; a missing item or field means the default.

use super::attr::{key, n, Reader};
use super::{Store, StoreError};

pub use crate::domain::assignment::AssignmentSettings;

const FIELDS: [&str; 3] = ["idle_warning_minutes", "idle_reassign_minutes", "assignment_hold_minutes"];

impl Store {
    pub async fn assignment_settings(&self) -> Result<AssignmentSettings, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key("SETTINGS", "ASSIGNMENT")))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let Some(item) = out.item else { return Ok(AssignmentSettings::default()) };
        let r = Reader(&item);
        Ok(AssignmentSettings {
            idle_warning_minutes: r.opt_i64(FIELDS[0]),
            idle_reassign_minutes: r.opt_i64(FIELDS[1]),
            assignment_hold_minutes: r.opt_i64(FIELDS[2]),
        })
    }

    /// Replaces the assignment settings (the admin settings API and tests); fields
    /// left `None` fall back to their defaults.
    pub async fn put_assignment_settings(&self, settings: &AssignmentSettings) -> Result<(), StoreError> {
        let mut item = key("SETTINGS", "ASSIGNMENT");
        let values = [settings.idle_warning_minutes, settings.idle_reassign_minutes, settings.assignment_hold_minutes];
        for (name, value) in FIELDS.iter().zip(values) {
            if let Some(v) = value {
                item.insert((*name).into(), n(v));
            }
        }
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }
}
