//! Characters (public profile + staff fields) and credit packages.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::attr::{b, key, list, n, put_opt, s, Item, Reader};
use super::cursor::{self, Page};
use super::{Store, StoreError};
use crate::domain::ids::CharacterId;
use crate::domain::{Character, CreditPackage, Gender};

const CHAR_LIST: &str = "CHARS";
const PACKAGE_LIST: &str = "PACKAGES";
/// Items read per query while filling a filtered page.
const FILTER_BATCH: i32 = 100;
/// Queries spent at most on one filtered page before answering with what was found.
const FILTER_ROUNDS: usize = 5;

pub(crate) fn char_pk(id: &str) -> String {
    format!("CHAR#{id}")
}

fn popularity_sort(popularity: i64, id: &str) -> String {
    let inverted = 999_999_999_999i64 - popularity.clamp(0, 999_999_999_999);
    format!("{inverted:012}#{id}")
}

fn character_item(c: &Character) -> Item {
    let mut item = key(char_pk(&c.id), "PROFILE");
    item.insert("entity".into(), s("character"));
    if c.is_active {
        item.insert("GSI1PK".into(), s(CHAR_LIST));
        item.insert("GSI1SK".into(), s(popularity_sort(c.popularity, &c.id)));
    }
    item.insert("id".into(), s(&c.id));
    item.insert("name".into(), s(&c.name));
    item.insert("age".into(), n(c.age));
    item.insert("gender".into(), s(c.gender.as_str()));
    item.insert("location".into(), s(&c.location));
    item.insert("bio".into(), s(&c.bio));
    item.insert("photos".into(), list(&c.photos));
    item.insert("interests".into(), list(&c.interests));
    put_opt(&mut item, "occupation", &c.occupation);
    put_opt(&mut item, "language", &c.language);
    item.insert("is_featured".into(), b(c.is_featured));
    item.insert("is_active".into(), b(c.is_active));
    item.insert("popularity".into(), n(c.popularity));
    put_opt(&mut item, "response_style", &c.response_style);
    put_opt(&mut item, "personality_guidelines", &c.personality_guidelines);
    item.insert("response_templates".into(), list(&c.response_templates));
    let search = [c.name.as_str(), c.location.as_str(), c.bio.as_str(), c.occupation.as_deref().unwrap_or("")]
        .into_iter()
        .chain(c.interests.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    item.insert("search_text".into(), s(search));
    item
}

pub(crate) fn character_from(item: &Item) -> Result<Character, StoreError> {
    let r = Reader(item);
    Ok(Character {
        id: CharacterId::new(r.str("id")?),
        name: r.str("name")?,
        age: u8::try_from(r.i64("age")?).map_err(|_| StoreError::Corrupt("age".into()))?,
        gender: r.parse("gender", Gender::parse)?,
        location: r.str("location")?,
        bio: r.str("bio")?,
        photos: r.strings("photos"),
        interests: r.strings("interests"),
        occupation: r.opt_str("occupation"),
        language: r.opt_str("language"),
        is_featured: r.bool("is_featured"),
        is_active: r.bool("is_active"),
        popularity: r.opt_i64("popularity").unwrap_or(0),
        response_style: r.opt_str("response_style"),
        personality_guidelines: r.opt_str("personality_guidelines"),
        response_templates: r.strings("response_templates"),
    })
}

fn package_from(item: &Item) -> Result<CreditPackage, StoreError> {
    let r = Reader(item);
    Ok(CreditPackage {
        id: r.str("id")?,
        name: r.str("name")?,
        credits: r.i64("credits")?,
        bonus_credits: r.i64("bonus_credits")?,
        price: r.i64("price")?,
        currency: r.str("currency")?,
        badge: r.opt_str("badge"),
        sort: r.i64("sort")?,
        is_active: r.bool("is_active"),
    })
}

/// Filters for the public character list.
#[derive(Clone, Debug, Default)]
pub struct CharacterFilter {
    pub gender: Option<Gender>,
    /// Lower-case substring of name, location, bio, occupation or interests.
    pub q: Option<String>,
}

impl Store {
    pub async fn put_character(&self, c: &Character) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(character_item(c)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    pub async fn get_character(&self, id: &CharacterId) -> Result<Option<Character>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(char_pk(id), "PROFILE")))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.item.as_ref().map(character_from).transpose()
    }

    /// Active characters, most popular first, filled to `limit` through the filter.
    pub async fn list_characters(
        &self,
        filter: &CharacterFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Character>, StoreError> {
        let names = ["PK", "SK", "GSI1PK", "GSI1SK"];
        let mut start = cursor.map(|c| cursor::decode(c, &names, ("GSI1PK", CHAR_LIST))).transpose()?;
        let mut found: Vec<Item> = Vec::new();
        for _ in 0..FILTER_ROUNDS {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(CHAR_LIST))
                .set_exclusive_start_key(start.take())
                .limit(FILTER_BATCH);
            let mut conditions = Vec::new();
            if let Some(g) = filter.gender {
                conditions.push("gender = :gender");
                q = q.expression_attribute_values(":gender", s(g.as_str()));
            }
            if let Some(text) = &filter.q {
                conditions.push("contains(search_text, :q)");
                q = q.expression_attribute_values(":q", s(text.to_lowercase()));
            }
            if !conditions.is_empty() {
                q = q.filter_expression(conditions.join(" AND "));
            }
            let out = q.send().await.map_err(StoreError::sdk)?;
            for item in out.items.unwrap_or_default() {
                found.push(item);
                if found.len() == limit {
                    let last = &found[limit - 1];
                    let key: Item =
                        names.iter().filter_map(|k| last.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
                    let items = found.iter().map(character_from).collect::<Result<_, _>>()?;
                    return Ok(Page { items, next_cursor: cursor::encode(&key) });
                }
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => {
                    let items = found.iter().map(character_from).collect::<Result<_, _>>()?;
                    return Ok(Page { items, next_cursor: None });
                }
            }
        }
        let items = found.iter().map(character_from).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor: start.as_ref().and_then(cursor::encode) })
    }

    /// Characters by id, in the order asked, skipping unknown ids.
    pub async fn characters_by_id(&self, ids: &[String]) -> Result<Vec<Character>, StoreError> {
        let keys = ids.iter().map(|id| key(char_pk(id), "PROFILE")).collect();
        let mut by_id: HashMap<String, Character> = HashMap::new();
        for item in self.batch_get(keys, false).await? {
            let c = character_from(&item)?;
            by_id.insert(c.id.to_string(), c);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    pub async fn put_package(&self, p: &CreditPackage) -> Result<(), StoreError> {
        let mut item = key(format!("PACKAGE#{}", p.id), "PACKAGE");
        item.insert("entity".into(), s("package"));
        if p.is_active {
            item.insert("GSI1PK".into(), s(PACKAGE_LIST));
            item.insert("GSI1SK".into(), s(format!("{:06}#{}", p.sort, p.id)));
        }
        item.insert("id".into(), s(&p.id));
        item.insert("name".into(), s(&p.name));
        item.insert("credits".into(), n(p.credits));
        item.insert("bonus_credits".into(), n(p.bonus_credits));
        item.insert("price".into(), n(p.price));
        item.insert("currency".into(), s(&p.currency));
        put_opt(&mut item, "badge", &p.badge);
        item.insert("sort".into(), n(p.sort));
        item.insert("is_active".into(), b(p.is_active));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }

    pub async fn get_package(&self, id: &str) -> Result<Option<CreditPackage>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("PACKAGE#{id}"), "PACKAGE")))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.item.as_ref().map(package_from).transpose()
    }

    pub async fn list_packages(&self) -> Result<Vec<CreditPackage>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(PACKAGE_LIST.into()))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.items.unwrap_or_default().iter().map(package_from).collect()
    }
}
