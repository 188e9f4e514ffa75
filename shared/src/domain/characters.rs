//! What the back office may write into a character (`POST` and `PATCH
//! /admin/characters`): field rules, the photo rule (3 to 10 https image URLs
//! or uploaded photos for an active character), drafts and the featured date.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::assignment::STYLES;
use super::entities::{Character, CharacterStatus, Gender};
use super::ids::CharacterId;
use super::validation::{self, FieldErrors};

/// Photos an active character needs, and the most any character holds.
pub const MIN_ACTIVE_PHOTOS: usize = 3;
pub const MAX_PHOTOS: usize = 10;

pub mod max {
    pub const NAME: usize = 50;
    pub const LOCATION: usize = 100;
    pub const BIO: usize = 2000;
    pub const OCCUPATION: usize = 100;
    pub const INTERESTS: usize = 20;
    pub const INTEREST: usize = 40;
    pub const LANGUAGES: usize = 10;
    pub const GUIDELINES: usize = 5000;
    pub const TEMPLATES: usize = 50;
    pub const TEMPLATE: usize = 1000;
    pub const PHOTO_URL: usize = 1000;
}

/// Image file endings a photo URL may have.
const PHOTO_ENDINGS: [&str; 4] = [".jpg", ".jpeg", ".png", ".webp"];

/// A photo URL: https (any host) whose path ends in a jpg, jpeg, png or webp
/// file, or the URL of a photo uploaded to the media bucket (`uploads`: its
/// public base URL, plain http on the local emulator).
pub fn photo_url(url: &str, uploads: &str) -> Result<(), String> {
    if url.len() > max::PHOTO_URL || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("must be a URL of at most {} characters, without spaces", max::PHOTO_URL));
    }
    if !uploads.is_empty() && url.starts_with(&format!("{}/", uploads.trim_end_matches('/'))) {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err("must be an https URL of a .jpg, .jpeg, .png or .webp image, or an uploaded photo".into());
    };
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let (host, path) = path.split_once('/').unwrap_or((path, ""));
    let lower = path.to_ascii_lowercase();
    if host.is_empty() || !PHOTO_ENDINGS.iter().any(|e| lower.ends_with(e)) {
        return Err("must be an https URL of a .jpg, .jpeg, .png or .webp image, or an uploaded photo".into());
    }
    Ok(())
}

/// How many photos a character of `status` may have.
pub fn photo_count(status: CharacterStatus, n: usize) -> Result<(), String> {
    match status {
        CharacterStatus::Active if !(MIN_ACTIVE_PHOTOS..=MAX_PHOTOS).contains(&n) => Err(format!(
            "an active character needs {MIN_ACTIVE_PHOTOS} to {MAX_PHOTOS} photos (it has {n}); save it as a draft meanwhile"
        )),
        _ if n > MAX_PHOTOS => Err(format!("at most {MAX_PHOTOS} photos")),
        _ => Ok(()),
    }
}

/// A `POST /admin/characters` or `PATCH /admin/characters/{id}` body: every field
/// optional here; a creation needs the required ones (`CharacterWrite::create`).
/// `featured_until: null` ends featuring.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharacterWrite {
    pub name: Option<String>,
    pub age: Option<i64>,
    pub gender: Option<String>,
    pub location: Option<String>,
    pub bio: Option<String>,
    pub photos: Option<Vec<String>>,
    pub interests: Option<Vec<String>>,
    pub occupation: Option<String>,
    pub language: Option<String>,
    pub languages: Option<Vec<String>>,
    pub personality_guidelines: Option<String>,
    pub response_style: Option<String>,
    pub response_templates: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub featured_until: Option<Option<DateTime<Utc>>>,
    pub status: Option<String>,
}

/// A field that may be `null` (distinct from absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<DateTime<Utc>>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

impl CharacterWrite {
    /// A new character from a creation body: draft or active (the default).
    pub fn create(&self, id: CharacterId, uploads: &str, now: DateTime<Utc>) -> Result<Character, FieldErrors> {
        let mut errors = FieldErrors::new();
        for (field, missing) in [
            ("name", self.name.is_none()),
            ("age", self.age.is_none()),
            ("gender", self.gender.is_none()),
            ("location", self.location.is_none()),
            ("bio", self.bio.is_none()),
        ] {
            if missing {
                errors.add(field, "is required");
            }
        }
        errors.into_result()?;
        let blank = Character {
            id,
            name: String::new(),
            age: 18,
            gender: Gender::Other,
            location: String::new(),
            bio: String::new(),
            photos: Vec::new(),
            interests: Vec::new(),
            occupation: None,
            language: None,
            languages: Vec::new(),
            is_featured: false,
            featured_until: None,
            status: CharacterStatus::Active,
            popularity: 0,
            response_style: None,
            personality_guidelines: None,
            response_templates: Vec::new(),
            created_at: Some(now),
            deleted_at: None,
        };
        self.apply(&blank, uploads, now)
    }

    /// `current` with this change applied, checked whole: every field's rule, then
    /// the photo rule for the resulting status. A deleted character is not edited.
    pub fn apply(&self, current: &Character, uploads: &str, now: DateTime<Utc>) -> Result<Character, FieldErrors> {
        let mut e = FieldErrors::new();
        let mut c = current.clone();
        if let Some(v) = &self.name {
            c.name = e.check("name", validation::line(v, 1, max::NAME)).unwrap_or_default();
        }
        if let Some(v) = self.age {
            c.age = e.check("age", validation::age(v)).unwrap_or(c.age);
        }
        if let Some(v) = &self.gender {
            match Gender::parse(v) {
                Some(g) => c.gender = g,
                None => e.add("gender", "must be male, female or other"),
            }
        }
        if let Some(v) = &self.location {
            c.location = e.check("location", validation::line(v, 1, max::LOCATION)).unwrap_or_default();
        }
        if let Some(v) = &self.bio {
            c.bio = e.check("bio", validation::text(v, 1, max::BIO)).unwrap_or_default();
        }
        if let Some(v) = &self.occupation {
            c.occupation = e.check("occupation", validation::line(v, 0, max::OCCUPATION)).filter(|o| !o.is_empty());
        }
        if let Some(v) = &self.language {
            c.language = e.check("language", validation::language(v));
        }
        if let Some(list) = &self.languages {
            if list.len() > max::LANGUAGES {
                e.add("languages", format!("at most {}", max::LANGUAGES));
            }
            c.languages = list.iter().filter_map(|l| e.check("languages", validation::language(l))).collect();
        }
        if let Some(list) = &self.interests {
            if list.len() > max::INTERESTS {
                e.add("interests", format!("at most {}", max::INTERESTS));
            }
            c.interests =
                list.iter().filter_map(|i| e.check("interests", validation::line(i, 1, max::INTEREST))).collect();
        }
        if let Some(v) = &self.personality_guidelines {
            c.personality_guidelines =
                e.check("personality_guidelines", validation::text(v, 0, max::GUIDELINES)).filter(|g| !g.is_empty());
        }
        if let Some(v) = &self.response_style {
            if STYLES.contains(&v.as_str()) {
                c.response_style = Some(v.clone());
            } else {
                e.add("response_style", format!("must be one of {}", STYLES.join(", ")));
            }
        }
        if let Some(list) = &self.response_templates {
            if list.len() > max::TEMPLATES {
                e.add("response_templates", format!("at most {}", max::TEMPLATES));
            }
            c.response_templates = list
                .iter()
                .filter_map(|t| e.check("response_templates", validation::text(t, 1, max::TEMPLATE)))
                .collect();
        }
        if let Some(until) = self.featured_until {
            match until {
                Some(at) if at <= now => e.add("featured_until", "must be in the future (null ends featuring)"),
                Some(at) => {
                    c.is_featured = true;
                    c.featured_until = Some(at);
                }
                None => {
                    c.is_featured = false;
                    c.featured_until = None;
                }
            }
        }
        if let Some(v) = &self.status {
            match CharacterStatus::parse(v) {
                Some(s @ (CharacterStatus::Active | CharacterStatus::Draft)) => c.status = s,
                _ => e.add("status", "must be active or draft (DELETE removes a character)"),
            }
        }
        if let Some(photos) = &self.photos {
            for url in photos {
                if let Err(why) = photo_url(url, uploads) {
                    e.add("photos", format!("{url:.80}: {why}"));
                }
            }
            let mut unique: Vec<String> = Vec::new();
            for url in photos {
                if !unique.contains(url) {
                    unique.push(url.clone());
                }
            }
            c.photos = unique;
        }
        if let Err(why) = photo_count(c.status, c.photos.len()) {
            e.add("photos", why);
        }
        e.into_result().map(|()| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPLOADS: &str = "http://127.0.0.1:4599/fantooo-local-media";

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn body(json: serde_json::Value) -> CharacterWrite {
        serde_json::from_value(json).unwrap()
    }

    fn photos(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("https://img.example/p/{i}.jpg")).collect()
    }

    fn valid() -> serde_json::Value {
        serde_json::json!({"name": "Zuri", "age": 25, "gender": "female", "location": "Kisumu",
                           "bio": "Loves the lake.", "photos": photos(3)})
    }

    #[test]
    fn photo_urls_are_https_images_or_uploads() {
        for ok in [
            "https://cdn.example/a/b.jpg",
            "https://cdn.example/a/b.JPEG",
            "https://x.example/p.webp?w=400",
            "https://x.example/p.png#top",
            "http://127.0.0.1:4599/fantooo-local-media/characters/c_1/ph_1.png",
        ] {
            assert!(photo_url(ok, UPLOADS).is_ok(), "{ok}");
        }
        for bad in [
            "http://cdn.example/a.jpg",
            "https://cdn.example/a.gif",
            "https://cdn.example/jpg",
            "https:///a.jpg",
            "https://cdn.example/a b.jpg",
            "javascript:alert(1)//.png",
            "http://127.0.0.1:4599/other-bucket/a.png",
        ] {
            assert!(photo_url(bad, UPLOADS).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_active_character_needs_three_to_ten_photos_and_a_draft_fewer() {
        for (n, active_ok) in [(0, false), (2, false), (3, true), (10, true), (11, false)] {
            assert_eq!(photo_count(CharacterStatus::Active, n).is_ok(), active_ok, "{n}");
        }
        assert!(photo_count(CharacterStatus::Draft, 0).is_ok());
        assert!(photo_count(CharacterStatus::Draft, 11).is_err());
    }

    #[test]
    fn a_creation_needs_the_required_fields_and_defaults_to_active() {
        let c = body(valid()).create(CharacterId::new("c_1"), UPLOADS, now()).unwrap();
        assert_eq!((c.status, c.photos.len(), c.created_at), (CharacterStatus::Active, 3, Some(now())));
        let missing = body(serde_json::json!({"name": "Zuri"})).create(CharacterId::new("c_1"), UPLOADS, now());
        let fields: Vec<String> = missing.unwrap_err().iter().map(|(f, _)| f.clone()).collect();
        assert_eq!(fields, ["age", "bio", "gender", "location"]);
        let mut draft = valid();
        draft["photos"] = serde_json::json!([]);
        draft["status"] = "draft".into();
        assert_eq!(body(draft).create(CharacterId::new("c_2"), UPLOADS, now()).unwrap().status, CharacterStatus::Draft);
    }

    #[test]
    fn publishing_a_draft_needs_its_photos() {
        let mut draft = valid();
        draft["photos"] = serde_json::json!(photos(1));
        draft["status"] = "draft".into();
        let d = body(draft).create(CharacterId::new("c_3"), UPLOADS, now()).unwrap();
        let publish = body(serde_json::json!({"status": "active"}));
        assert!(publish.apply(&d, UPLOADS, now()).unwrap_err().iter().any(|(f, _)| f == "photos"));
        let with_photos = body(serde_json::json!({"status": "active", "photos": photos(4)}));
        assert_eq!(with_photos.apply(&d, UPLOADS, now()).unwrap().status, CharacterStatus::Active);
        let delete = body(serde_json::json!({"status": "deleted"}));
        assert!(delete.apply(&d, UPLOADS, now()).is_err(), "removal is DELETE's");
    }

    #[test]
    fn featuring_needs_a_future_date_and_null_ends_it() {
        let c = body(valid()).create(CharacterId::new("c_4"), UPLOADS, now()).unwrap();
        let until = now() + chrono::Duration::days(2);
        let featured = body(serde_json::json!({"featured_until": until})).apply(&c, UPLOADS, now()).unwrap();
        assert!(featured.featured_at(now()));
        assert!(!featured.featured_at(until), "ends at the date");
        let ended = body(serde_json::json!({"featured_until": null})).apply(&featured, UPLOADS, now()).unwrap();
        assert!(!ended.featured_at(now()) && ended.featured_until.is_none());
        let past = body(serde_json::json!({"featured_until": now()})).apply(&c, UPLOADS, now());
        assert!(past.is_err());
        let untouched = body(serde_json::json!({"bio": "New bio."})).apply(&featured, UPLOADS, now()).unwrap();
        assert_eq!(untouched.featured_until, Some(until), "absent keeps it");
    }

    #[test]
    fn bad_fields_are_named() {
        let bad = serde_json::json!({"name": "", "age": 17, "gender": "robot", "location": "K",
                                     "bio": "b", "photos": ["ftp://x/a.jpg", "https://a.example/1.jpg", "https://a.example/2.jpg"],
                                     "response_style": "grumpy"});
        let errors = body(bad).create(CharacterId::new("c_5"), UPLOADS, now()).unwrap_err();
        let fields: Vec<&String> = errors.iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["age", "gender", "name", "photos", "response_style"]);
    }
}
