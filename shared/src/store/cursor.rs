//! Opaque list cursors: the last evaluated key, base64url JSON, checked against the
//! partition being listed so a cursor from another list is a 400, not a DynamoDB error.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::attr::Item;
use super::StoreError;

#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

pub fn encode(key: &Item) -> Option<String> {
    let flat: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| match v {
            AttributeValue::S(s) => Some((k.as_str(), s.as_str())),
            _ => None,
        })
        .collect();
    serde_json::to_vec(&flat).ok().map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
}

/// Decodes a cursor that must hold exactly `names`, with `partition.0 == partition.1`.
pub fn decode(cursor: &str, names: &[&str], partition: (&str, &str)) -> Result<Item, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::BadCursor)?;
    let flat: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
    let same_names = flat.len() == names.len() && names.iter().all(|n| flat.contains_key(*n));
    let same_partition = flat.get(partition.0).map(String::as_str) == Some(partition.1);
    if !same_names || !same_partition || flat.values().any(|v| v.is_empty() || v.len() > 400) {
        return Err(StoreError::BadCursor);
    }
    Ok(flat.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

/// A cursor of a GSI4 list (`pk`), or of the same list when it lived in GSI1 (same
/// key values, GSI1 names), as a GSI4 start key.
pub(crate) fn decode_gsi4(cursor: &str, pk: &str) -> Result<Item, StoreError> {
    decode(cursor, &["PK", "SK", "GSI4PK", "GSI4SK"], ("GSI4PK", pk)).or_else(|_| {
        let old = decode(cursor, &["PK", "SK", "GSI1PK", "GSI1SK"], ("GSI1PK", pk))?;
        Ok(old.into_iter().map(|(k, v)| (k.replace("GSI1", "GSI4"), v)).collect())
    })
}

/// A partition that lists can page through.
pub(crate) enum Partition<'a> {
    /// Every item of a GSI1 partition.
    Gsi1(&'a str),
    /// Every entry of a GSI4 partition (keys only). A cursor handed out while the
    /// same list lived in GSI1 (same key values) is still taken.
    Gsi4(&'a str),
    /// The items of a base-table partition whose sort key starts with `prefix`.
    Prefix { pk: &'a str, prefix: &'a str },
    /// Every item of a base-table partition.
    Whole(&'a str),
}

impl super::Store {
    /// One page of a partition in sort-key order (`forward`) or reverse, with an
    /// opaque cursor that only this partition accepts.
    pub(crate) async fn page(
        &self,
        part: Partition<'_>,
        forward: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Item>, StoreError> {
        use super::attr::s;
        let q = self.client.query().table_name(&self.table).scan_index_forward(forward).limit(limit as i32);
        let (q, start) = match part {
            Partition::Gsi1(pk) => (
                q.index_name("GSI1").key_condition_expression("GSI1PK = :pk").expression_attribute_values(":pk", s(pk)),
                cursor.map(|c| decode(c, &["PK", "SK", "GSI1PK", "GSI1SK"], ("GSI1PK", pk))).transpose()?,
            ),
            Partition::Gsi4(pk) => (
                q.index_name("GSI4").key_condition_expression("GSI4PK = :pk").expression_attribute_values(":pk", s(pk)),
                cursor.map(|c| decode_gsi4(c, pk)).transpose()?,
            ),
            Partition::Prefix { pk, prefix } => (
                q.key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                    .expression_attribute_values(":pk", s(pk))
                    .expression_attribute_values(":prefix", s(prefix)),
                cursor.map(|c| decode(c, &["PK", "SK"], ("PK", pk))).transpose()?,
            ),
            Partition::Whole(pk) => (
                q.key_condition_expression("PK = :pk").expression_attribute_values(":pk", s(pk)),
                cursor.map(|c| decode(c, &["PK", "SK"], ("PK", pk))).transpose()?,
            ),
        };
        let out = q.set_exclusive_start_key(start).send().await.map_err(StoreError::sdk)?;
        Ok(Page { items: out.items.unwrap_or_default(), next_cursor: out.last_evaluated_key.as_ref().and_then(encode) })
    }
}

impl<T> Page<T> {
    /// Converts every item, failing on the first that does not convert.
    pub fn try_map<U, E>(self, f: impl FnMut(&T) -> Result<U, E>) -> Result<Page<U>, E> {
        let items = self.items.iter().map(f).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor: self.next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::attr::s;

    #[test]
    fn round_trips_and_rejects_foreign_cursors() {
        let key: Item = [("PK", "CHAT#1"), ("SK", "MSG#9")].into_iter().map(|(k, v)| (k.to_string(), s(v))).collect();
        let c = encode(&key).unwrap();
        assert_eq!(decode(&c, &["PK", "SK"], ("PK", "CHAT#1")).unwrap(), key);
        assert!(decode(&c, &["PK", "SK"], ("PK", "CHAT#2")).is_err());
        assert!(decode(&c, &["PK", "SK", "GSI1PK"], ("PK", "CHAT#1")).is_err());
        assert!(decode("!!!", &["PK"], ("PK", "x")).is_err());
        assert!(decode("e30", &["PK"], ("PK", "x")).is_err());
    }
}
