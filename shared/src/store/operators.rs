//! Operators: the account and its unique email claim.

use chrono::{DateTime, Utc};

use super::attr::{b, key, list, n, s, ts};
use super::{Store, StoreError, TransactFailure};
use crate::domain::Operator;

pub(crate) fn operator_pk(id: &str) -> String {
    format!("OPERATOR#{id}")
}

impl Store {
    /// Creates an operator unless the email is already claimed. `Ok(false)` if it is.
    pub async fn create_operator(&self, op: &Operator, now: DateTime<Utc>) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let mut claim = key(format!("OPEMAIL#{}", op.email), "OPEMAIL");
        claim.insert("operator_id".into(), s(&op.id));
        let mut item = key(operator_pk(&op.id), "PROFILE");
        item.insert("entity".into(), s("operator"));
        item.insert("id".into(), s(&op.id));
        item.insert("email".into(), s(&op.email));
        item.insert("name".into(), s(&op.name));
        item.insert("password_hash".into(), s(&op.password_hash));
        item.insert("languages".into(), list(&op.languages));
        item.insert("specializations".into(), list(&op.specializations));
        item.insert("max_concurrent_chats".into(), n(op.max_concurrent_chats));
        item.insert("active_chats".into(), n(0));
        item.insert("is_available".into(), b(false));
        item.insert("is_suspended".into(), b(false));
        item.insert("created_at".into(), ts(op.created_at.min(now)));
        let mut puts = Vec::new();
        for i in [claim, item] {
            let p = Put::builder()
                .table_name(&self.table)
                .set_item(Some(i))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(StoreError::dynamo)?;
            puts.push(TransactWriteItem::builder().put(p).build());
        }
        match self.transact(puts).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }
}
