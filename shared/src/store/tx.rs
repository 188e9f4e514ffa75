//! The few ways this store talks to DynamoDB, each written once: building
//! transaction actions, getting and decoding one item, getting many by key,
//! reading every page of a query, telling a failed condition from an error, and
//! spreading a key over shards.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::attr::{s, Item};
use super::{Store, StoreError};

/// A put of a new item: fails its transaction if the key exists.
pub(crate) fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    put_if(table, item, "attribute_not_exists(PK)")
}

/// A put under `condition`; a failed condition returns the item that was there.
pub(crate) fn put_if(table: &str, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(StoreError::dynamo)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A put with no condition (it may replace the item).
pub(crate) fn put(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder().table_name(table).set_item(Some(item)).build().map_err(StoreError::dynamo)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// An update of `key`, to finish with expressions; a failed condition returns the
/// item as it was.
pub(crate) fn update(table: &str, key: Item) -> UpdateBuilder {
    Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
}

pub(crate) fn tx_update(u: UpdateBuilder) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder().update(u.build().map_err(StoreError::dynamo)?).build())
}

/// The shard of `id` among `shards`: a stable hash, the same in every process.
pub(crate) fn shard_of(id: &str, shards: u32) -> u32 {
    id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % shards
}

/// A single-item write under a condition: `Ok(true)` if it applied, `Ok(false)` if
/// the condition failed, the error otherwise.
pub(crate) fn applied<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failed(&e) => Ok(false),
        Err(e) => Err(StoreError::sdk(e)),
    }
}

pub(crate) fn is_condition_failed<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

impl Store {
    /// One item by key (strongly consistent), decoded; `None` if absent.
    pub(crate) async fn get_decoded<T>(
        &self,
        key: Item,
        decode: impl FnOnce(&Item) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.item.as_ref().map(decode).transpose()
    }

    /// The items of `keys` that exist (any order), 100 keys a request, unprocessed
    /// keys asked again; strongly consistent when `consistent`.
    pub(crate) async fn batch_get(&self, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut pending = chunk.to_vec();
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(consistent)
                    .build()
                    .map_err(StoreError::dynamo)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(StoreError::sdk)?;
                found.extend(out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
                pending =
                    out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
            }
        }
        Ok(found)
    }

    /// The first `limit` items of a partition, in sort-key order or (`newest_first`)
    /// the reverse; strongly consistent when `consistent`.
    pub(crate) async fn first_page(
        &self,
        pk: &str,
        newest_first: bool,
        limit: Option<i32>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(!newest_first)
            .set_limit(limit)
            .consistent_read(consistent)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.items.unwrap_or_default())
    }

    /// Every item a query matches, all pages.
    pub(crate) async fn all_pages(&self, query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start).send().await.map_err(StoreError::sdk)?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Every entry of one partition of a GSI (`GSI<n>PK = pk`), all pages.
    pub(crate) async fn index_partition(&self, index: &str, pk: &str) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!("{index}PK = :pk"))
            .expression_attribute_values(":pk", s(pk));
        self.all_pages(query).await
    }

    /// Every item of a partition whose sort key starts with `prefix` (all pages).
    /// An empty prefix is the whole partition.
    pub(crate) async fn query_all(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.query_prefix(pk, prefix, true).await
    }

    /// `query_all`, strongly consistent only when `consistent`.
    pub(crate) async fn query_prefix(&self, pk: &str, prefix: &str, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let q = self.client.query().table_name(&self.table).expression_attribute_values(":pk", s(pk));
        let q = if prefix.is_empty() {
            q.key_condition_expression("PK = :pk")
        } else {
            q.key_condition_expression("PK = :pk AND begins_with(SK, :p)").expression_attribute_values(":p", s(prefix))
        };
        self.all_pages(q.consistent_read(consistent)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_in_range() {
        assert_eq!(shard_of("ch_m_1~c_1", 16), shard_of("ch_m_1~c_1", 16));
        assert!((0..500).all(|i| shard_of(&format!("pay_{i}"), 8) < 8));
        let used: std::collections::BTreeSet<u32> = (0..500).map(|i| shard_of(&format!("ev_{i}"), 16)).collect();
        assert_eq!(used.len(), 16, "500 ids reach every shard");
    }
}
