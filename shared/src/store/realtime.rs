//! Realtime: single-use tickets, each principal's live WebSocket connections (one
//! item, so a delivery reads both sides of a chat in one batch), each connection's
//! owner (for `$default` and `$disconnect`, which name only the connection), and
//! the typing limit. Every item carries a TTL (`expires_at`): `$disconnect` is best
//! effort, and reads skip what has expired (docs/data-model.md, "Realtime").

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::attr::{key, n, s, Item, Reader};
use super::tx::{applied, is_condition_failed};
use super::{Store, StoreError};
use crate::domain::principal::{Principal, PrincipalKind};
use crate::domain::realtime::{self, Connection, Ending};

/// Who a ticket or a connection belongs to (an admin's role is not kept: no
/// push depends on it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub principal: Principal,
    /// The session (refresh-token family) of the access token that asked for it.
    pub session: Option<String>,
}

/// Rewrites of a principal's connection list lost to a concurrent one before giving up.
const ATTEMPTS: usize = 10;

fn ticket_key(hash: &str) -> Item {
    key(format!("RTTICKET#{hash}"), "RTTICKET")
}

fn list_key(scope: &str) -> Item {
    key(format!("RTCONNS#{scope}"), "RTCONNS")
}

fn owner_key(connection_id: &str) -> Item {
    key(format!("RTCONN#{connection_id}"), "RTCONN")
}

fn put_holder(item: &mut Item, h: &Holder) {
    item.insert("kind".into(), s(h.principal.kind.letter().to_string()));
    item.insert("pid".into(), s(h.principal.id.clone()));
    if let Some(sid) = &h.session {
        item.insert("sid".into(), s(sid.clone()));
    }
}

fn read_holder(item: &Item) -> Result<Holder, StoreError> {
    let r = Reader(item);
    let kind = r.parse("kind", |k| k.chars().next().and_then(PrincipalKind::from_letter))?;
    Ok(Holder { principal: Principal { kind, id: r.str("pid")?, role: None }, session: r.opt_str("sid") })
}

fn epoch(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp())
}

fn millis(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp_millis())
}

/// A principal's connection list as stored: `c` maps each connection id to
/// `{at: connected (ms), sid?}`.
fn read_list(item: &Item) -> BTreeMap<String, Connection> {
    let Some(AttributeValue::M(map)) = item.get("c") else { return BTreeMap::new() };
    map.iter()
        .filter_map(|(id, v)| {
            let entry = v.as_m().ok()?;
            let r = Reader(entry);
            let connected_at = DateTime::from_timestamp_millis(r.opt_i64("at")?)?;
            Some((id.clone(), Connection { id: id.clone(), session: r.opt_str("sid"), connected_at }))
        })
        .collect()
}

fn list_value(list: &BTreeMap<String, Connection>) -> AttributeValue {
    AttributeValue::M(
        list.iter()
            .map(|(id, c)| {
                let mut entry = HashMap::from([("at".to_string(), millis(c.connected_at))]);
                if let Some(sid) = &c.session {
                    entry.insert("sid".into(), s(sid.clone()));
                }
                (id.clone(), AttributeValue::M(entry))
            })
            .collect(),
    )
}

impl Store {
    /// Stores a ticket (by its hash: the table never holds a usable ticket).
    pub async fn put_ticket(&self, hash: &str, holder: &Holder, expires: DateTime<Utc>) -> Result<(), StoreError> {
        let mut item = ticket_key(hash);
        put_holder(&mut item, holder);
        item.insert("expires_ms".into(), millis(expires));
        item.insert("expires_at".into(), epoch(expires));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        if applied(put)? {
            Ok(())
        } else {
            Err(StoreError::Corrupt("ticket hash collision".into()))
        }
    }

    /// Redeems a ticket: one conditional delete, so of any number of attempts with
    /// one ticket exactly one gets its holder, and none after it expired.
    pub async fn redeem_ticket(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<Holder>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(ticket_key(hash)))
            .condition_expression("attribute_exists(PK) AND expires_ms > :now")
            .expression_attribute_values(":now", millis(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match out {
            Ok(o) => o.attributes.as_ref().map(read_holder).transpose(),
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Records a new connection: its owner item, then its place in the owner's
    /// list (a rewrite conditioned on the list's version). Returns the live
    /// connections it pushed out of the list (`realtime::admit_connection`),
    /// whose owner items are removed here; the caller ends them.
    pub async fn add_connection(&self, holder: &Holder, conn: &Connection) -> Result<Vec<Connection>, StoreError> {
        let mut owner = owner_key(&conn.id);
        put_holder(&mut owner, holder);
        owner.insert("at".into(), millis(conn.connected_at));
        owner.insert("expires_at".into(), epoch(conn.expires_at()));
        self.client.put_item().table_name(&self.table).set_item(Some(owner)).send().await.map_err(StoreError::sdk)?;
        let scope = holder.principal.scope();
        for _ in 0..ATTEMPTS {
            let current = self.get_decoded(list_key(&scope), |i| Ok(i.clone())).await?;
            let version = current.as_ref().and_then(|i| Reader(i).opt_i64("version"));
            let list = current.as_ref().map(read_list).unwrap_or_default();
            let (kept, evicted) = realtime::admit_connection(list, conn.clone(), conn.connected_at);
            let expires = kept.values().map(Connection::expires_at).max().unwrap_or(conn.expires_at());
            let mut item = list_key(&scope);
            item.insert("c".into(), list_value(&kept));
            item.insert("version".into(), n(version.unwrap_or(0) + 1));
            item.insert("expires_at".into(), epoch(expires));
            let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
            let put = match version {
                Some(v) => put.condition_expression("version = :v").expression_attribute_values(":v", n(v)),
                None => put.condition_expression("attribute_not_exists(PK)"),
            };
            if applied(put.send().await)? {
                // Best effort: the list no longer holds them, so they must be
                // ended whatever happens to their owner items (which expire).
                for e in &evicted {
                    if let Err(err) = self.delete_owner(&e.id).await {
                        tracing::warn!(error = %err, "an evicted connection's owner item was not deleted; its TTL will");
                    }
                }
                return Ok(evicted);
            }
        }
        Err(StoreError::Contention(ATTEMPTS as u32))
    }

    /// Who holds a connection (`None`: unknown, or its item expired).
    pub async fn connection_holder(
        &self,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Holder>, StoreError> {
        let found = self.get_decoded(owner_key(connection_id), |i| Ok(i.clone())).await?;
        match found {
            Some(item) if Reader(&item).opt_i64("expires_at").is_some_and(|e| e > now.timestamp()) => {
                Ok(Some(read_holder(&item)?))
            }
            _ => Ok(None),
        }
    }

    /// Forgets one connection (its `$disconnect`, or a delivery answered Gone):
    /// out of its holder's list, and its owner item deleted. Idempotent.
    pub async fn remove_connection(&self, scope: &str, connection_id: &str) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(list_key(scope)))
            .update_expression("REMOVE c.#id SET version = version + :one")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#id", connection_id)
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        applied(update)?;
        self.delete_owner(connection_id).await
    }

    async fn delete_owner(&self, connection_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(owner_key(connection_id)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// The live connections of each principal in `scopes`: one batch read
    /// (eventually consistent: a connection made in the last instant may miss a
    /// push, which `after=` recovers).
    pub async fn connections_of(
        &self,
        scopes: &[String],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, Vec<Connection>>, StoreError> {
        let keys = scopes.iter().map(|sc| list_key(sc)).collect();
        let mut found = HashMap::new();
        for item in self.batch_get(keys, false).await? {
            let Some(scope) =
                Reader(&item).opt_str("PK").and_then(|pk| pk.strip_prefix("RTCONNS#").map(str::to_string))
            else {
                continue;
            };
            let live: Vec<Connection> = read_list(&item).into_values().filter(|c| c.live_at(now)).collect();
            found.insert(scope, live);
        }
        Ok(found)
    }

    /// Takes the principal's connections that `ending` ends out of the table: the list rewritten without them under its
    /// version, and their owner items deleted. Returns the live ones, for the
    /// caller to end. Read consistently, after the change that ends them committed:
    /// a `$connect` racing it writes first and checks the principal after.
    pub async fn take_connections(
        &self,
        scope: &str,
        ending: Ending<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Connection>, StoreError> {
        for _ in 0..ATTEMPTS {
            let Some(current) = self.get_decoded(list_key(scope), |i| Ok(i.clone())).await? else {
                return Ok(Vec::new());
            };
            let version = Reader(&current).opt_i64("version").unwrap_or(0);
            let (taken, kept): (Vec<Connection>, Vec<Connection>) =
                read_list(&current).into_values().partition(|c| ending.ends(c));
            if taken.is_empty() {
                return Ok(Vec::new());
            }
            let kept: BTreeMap<String, Connection> = kept.into_iter().map(|c| (c.id.clone(), c)).collect();
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(list_key(scope)))
                .update_expression("SET c = :c, version = :next")
                .condition_expression("version = :v")
                .expression_attribute_values(":c", list_value(&kept))
                .expression_attribute_values(":next", n(version + 1))
                .expression_attribute_values(":v", n(version))
                .send()
                .await;
            if applied(update)? {
                for c in &taken {
                    self.delete_owner(&c.id).await?;
                }
                return Ok(taken.into_iter().filter(|c| c.live_at(now)).collect());
            }
        }
        Err(StoreError::Contention(ATTEMPTS as u32))
    }

    /// Whether a typing event from `scope` in `chat_id` may go out now: at most one
    /// per `TYPING_INTERVAL` (a conditional write; a refused one is dropped).
    pub async fn typing_allowed(&self, chat_id: &str, scope: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut item = key(format!("RTTYPING#{chat_id}#{scope}"), "RTTYPING");
        item.insert("at".into(), millis(now));
        item.insert("expires_at".into(), epoch(now + realtime::TYPING_INTERVAL + chrono::Duration::minutes(1)));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #at <= :cutoff")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":cutoff", millis(now - realtime::TYPING_INTERVAL))
            .send()
            .await;
        applied(put)
    }
}
