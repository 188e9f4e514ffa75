//! Reading and writing DynamoDB attribute maps without panics.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn b(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

pub fn ts(t: DateTime<Utc>) -> AttributeValue {
    s(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

pub fn list<S: AsRef<str>>(v: &[S]) -> AttributeValue {
    AttributeValue::L(v.iter().map(|x| s(x.as_ref())).collect())
}

/// Sets `name` to a string, or leaves it out when `None` (a put never stores nulls).
pub fn put_opt(item: &mut Item, name: &str, v: &Option<String>) {
    if let Some(v) = v {
        item.insert(name.into(), s(v.clone()));
    }
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
}

/// Typed access to an item read from the table.
pub struct Reader<'a>(pub &'a Item);

impl<'a> Reader<'a> {
    fn missing(&self, name: &str) -> StoreError {
        StoreError::Corrupt(format!("attribute {name} missing or of the wrong type"))
    }

    pub fn str(&self, name: &str) -> Result<String, StoreError> {
        self.opt_str(name).ok_or_else(|| self.missing(name))
    }

    pub fn opt_str(&self, name: &str) -> Option<String> {
        match self.0.get(name) {
            Some(AttributeValue::S(v)) => Some(v.clone()),
            _ => None,
        }
    }

    pub fn i64(&self, name: &str) -> Result<i64, StoreError> {
        self.opt_i64(name).ok_or_else(|| self.missing(name))
    }

    pub fn opt_i64(&self, name: &str) -> Option<i64> {
        match self.0.get(name) {
            Some(AttributeValue::N(v)) => v.parse().ok(),
            _ => None,
        }
    }

    pub fn opt_f64(&self, name: &str) -> Option<f64> {
        match self.0.get(name) {
            Some(AttributeValue::N(v)) => v.parse().ok(),
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.0.get(name), Some(AttributeValue::Bool(true)))
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(AttributeValue::L(v)) => v
                .iter()
                .filter_map(|x| match x {
                    AttributeValue::S(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn time(&self, name: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_time(name).ok_or_else(|| self.missing(name))
    }

    pub fn opt_time(&self, name: &str) -> Option<DateTime<Utc>> {
        self.opt_str(name).and_then(|v| DateTime::parse_from_rfc3339(&v).ok()).map(|t| t.with_timezone(&Utc))
    }

    pub fn parse<T>(&self, name: &str, f: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
        let v = self.str(name)?;
        f(&v).ok_or_else(|| StoreError::Corrupt(format!("attribute {name} has unknown value {v}")))
    }
}
