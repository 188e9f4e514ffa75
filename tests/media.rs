//! Characters' photos against the local stack, with real files: an upload URL
//! from the back office, a PUT of the file's bytes to it, the bucket's
//! notification through the media queue to the same check the validate-media
//! function runs, then the review: a good photo joins its character, a small one
//! or a text file named .png is flagged, an admin approves one once, a discarded
//! photo leaves its character and its object goes.

use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use fantooo::domain::admin::AdminRole;
use fantooo::domain::ids::CharacterId;
use fantooo_tests::staff::{self, Staff};
use fantooo_tests::{call, seed, Record, Stack, StatusCode};
use serde_json::{json, Value};

/// The committed fixtures: real PNGs, and a text file named like one.
fn fixture(name: &str) -> Result<Vec<u8>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    std::fs::read(&path).with_context(|| format!("fixture {}", path.display()))
}

async fn api(stack: &Stack, method: &str, path: &str, token: &str, body: Option<Value>) -> Result<(StatusCode, Value)> {
    call(&stack.http, &stack.api, method, path, Some(token), body).await
}

/// An admin who may manage characters (and read the audit log).
async fn photo_admin(stack: &Stack) -> Result<Staff> {
    staff::admin(stack, AdminRole::SuperAdmin, None).await
}

/// Asks for an upload URL for `content_type`: (photo id, presigned URL).
async fn upload_url(
    stack: &Stack,
    by: &Staff,
    character: &CharacterId,
    content_type: &str,
) -> Result<(String, String)> {
    let path = format!("/admin/characters/{character}/photos/upload-url");
    let (status, body) = api(stack, "POST", &path, &by.token, Some(json!({ "content_type": content_type }))).await?;
    anyhow::ensure!(status == StatusCode::CREATED, "upload-url: {status} {body}");
    let expires_at: chrono::DateTime<chrono::Utc> = body["expires_at"].as_str().context("expires_at")?.parse()?;
    let ahead = expires_at - chrono::Utc::now();
    anyhow::ensure!(
        ahead > chrono::Duration::minutes(14) && ahead <= chrono::Duration::minutes(15),
        "the URL lasts 15 minutes: {body}"
    );
    let photo_id = body["photo_id"].as_str().context("photo_id")?.to_string();
    Ok((photo_id, body["upload_url"].as_str().context("upload_url")?.to_string()))
}

/// PUTs `file` to a presigned URL as `content_type` (the type it was signed for).
async fn put_file(stack: &Stack, url: &str, file: &str, content_type: &str) -> Result<()> {
    let res = stack
        .http
        .put(url)
        .header("content-type", content_type)
        .header("if-none-match", "*")
        .body(fixture(file)?)
        .send()
        .await?;
    anyhow::ensure!(res.status().is_success(), "PUT to the upload URL: {} {}", res.status(), res.text().await?);
    Ok(())
}

/// Asks for an upload URL and PUTs `file` to it as `content_type`: the photo's id.
async fn upload(stack: &Stack, by: &Staff, character: &CharacterId, file: &str, content_type: &str) -> Result<String> {
    let (photo_id, url) = upload_url(stack, by, character, content_type).await?;
    put_file(stack, &url, file, content_type).await?;
    Ok(photo_id)
}

/// The photo once it is listed with `status` (the check runs off the queue): up to 20 s.
async fn listed(stack: &Stack, by: &Staff, photo_id: &str, status: &str) -> Result<Value> {
    for _ in 0..100 {
        let path = format!("/admin/media?status={status}&limit=50");
        let (code, page) = api(stack, "GET", &path, &by.token, None).await?;
        anyhow::ensure!(code == StatusCode::OK, "list {status}: {code} {page}");
        if let Some(p) = page["items"].as_array().context("items")?.iter().find(|p| p["id"] == photo_id) {
            return Ok(p.clone());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("photo {photo_id} not listed as {status} after 20 s")
}

/// The photos the member-facing profile shows.
async fn profile_photos(stack: &Stack, character: &CharacterId) -> Result<Vec<String>> {
    let (status, profile) = call(&stack.http, &stack.api, "GET", &format!("/profiles/{character}"), None, None).await?;
    anyhow::ensure!(status == StatusCode::OK, "profile: {status} {profile}");
    Ok(profile["photos"].as_array().context("photos")?.iter().filter_map(|p| p.as_str().map(String::from)).collect())
}

/// Sets a character's photos as stored, past every rule.
async fn stage_photos(stack: &Stack, character: &CharacterId, photos: &[String]) -> Result<()> {
    let list = AttributeValue::L(photos.iter().map(|p| AttributeValue::S(p.clone())).collect());
    stack.set_attr(Record::Character(character), "photos", list).await
}

fn seeded_photos(character: &CharacterId, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("https://img.example/{character}/{i}.jpg")).collect()
}

async fn audit_actions(stack: &Stack, by: &Staff, photo_id: &str) -> Result<Vec<String>> {
    let path = format!("/admin/audit?admin_id={}&limit=50", by.id);
    let (status, page) = api(stack, "GET", &path, &by.token, None).await?;
    anyhow::ensure!(status == StatusCode::OK, "audit: {status} {page}");
    let target = format!("photo:{photo_id}");
    Ok(page["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter(|e| e["target"] == target.as_str())
        .filter_map(|e| e["action"].as_str().map(String::from))
        .collect())
}

#[tokio::test]
async fn a_real_photo_joins_its_character_and_a_discarded_one_leaves_it_with_its_object() -> Result<()> {
    let stack = Stack::connect().await?;
    let admin = photo_admin(&stack).await?;
    let character = seed::character(&stack.store, "Photo Subject").await?;
    let bytes = fixture("photo-640x480.png")?;

    let (photo_id, upload_url) = upload_url(&stack, &admin, &character, "image/png").await?;
    put_file(&stack, &upload_url, "photo-640x480.png", "image/png").await?;
    let photo = listed(&stack, &admin, &photo_id, "accepted").await?;
    // Written once: the same URL cannot replace the checked bytes.
    let again = stack
        .http
        .put(&upload_url)
        .header("content-type", "image/png")
        .header("if-none-match", "*")
        .body(fixture("not-an-image.png")?)
        .send()
        .await?;
    assert_eq!(again.status().as_u16(), 412, "a second PUT to the upload URL");
    assert_eq!((photo["width"].as_u64(), photo["height"].as_u64()), (Some(640), Some(480)), "{photo}");
    assert_eq!(photo["size"].as_u64(), Some(bytes.len() as u64), "{photo}");
    assert!(photo["reason"].is_null() && photo["checked_at"].is_string(), "{photo}");
    assert_eq!(photo["character_id"].as_str(), Some(character.as_str()), "{photo}");
    assert_eq!(photo["uploaded_by"].as_str(), Some(admin.id.as_str()), "{photo}");
    let url = photo["url"].as_str().context("url")?.to_string();
    assert!(url.ends_with(&format!("/characters/{character}/{photo_id}.png")), "{url}");
    assert!(profile_photos(&stack, &character).await?.contains(&url), "the member-facing profile shows it");
    let stored = stack.store.character_photos(&character).await?.context("character")?;
    assert_eq!(stored.photos.len(), 4, "three seeded photos and this one: {:?}", stored.photos);

    // Down to the three an active character keeps, this one among them: it stays.
    let mut three = seeded_photos(&character, 2);
    three.push(url.clone());
    stage_photos(&stack, &character, &three).await?;
    let (status, body) = api(&stack, "DELETE", &format!("/admin/media/{photo_id}"), &admin.token, None).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["photos"].is_string(), "{body}");

    let mut four = seeded_photos(&character, 3);
    four.push(url.clone());
    stage_photos(&stack, &character, &four).await?;
    let (status, body) = api(&stack, "DELETE", &format!("/admin/media/{photo_id}"), &admin.token, None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let stored = stack.store.character_photos(&character).await?.context("character")?;
    assert_eq!(stored.photos, seeded_photos(&character, 3));
    assert!(!profile_photos(&stack, &character).await?.contains(&url));
    let (status, _) = api(&stack, "DELETE", &format!("/admin/media/{photo_id}"), &admin.token, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "the record is gone");
    let (status, _) = api(&stack, "POST", &format!("/admin/media/{photo_id}/approve"), &admin.token, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let object = stack.http.get(url.as_str()).send().await?;
    assert_eq!(object.status(), StatusCode::NOT_FOUND, "the object is deleted");
    assert_eq!(audit_actions(&stack, &admin, &photo_id).await?, ["media.discard", "media.upload"]);
    Ok(())
}

#[tokio::test]
async fn a_small_photo_is_flagged_and_joins_once_an_admin_approves_it_once() -> Result<()> {
    let stack = Stack::connect().await?;
    let admin = photo_admin(&stack).await?;
    let character = seed::character(&stack.store, "Small Photo").await?;

    let photo_id = upload(&stack, &admin, &character, "photo-200x200.png", "image/png").await?;
    let photo = listed(&stack, &admin, &photo_id, "flagged").await?;
    assert_eq!(photo["reason"], "too_small", "{photo}");
    assert_eq!((photo["width"].as_u64(), photo["height"].as_u64()), (Some(200), Some(200)), "{photo}");
    let url = photo["url"].as_str().context("url")?.to_string();
    assert!(!profile_photos(&stack, &character).await?.contains(&url), "a flagged photo is not shown");

    let (status, notes) = api(&stack, "GET", "/admin/notifications?limit=50", &admin.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    let notice = notes["items"].as_array().context("items")?.iter().find(|n| n["reference"] == photo_id.as_str());
    assert_eq!(notice.map(|n| n["kind"].clone()), Some(json!("media_flagged")), "{notes}");
    let moderator = staff::admin(&stack, AdminRole::Moderator, None).await?;
    let (_, notes) = api(&stack, "GET", "/admin/notifications?limit=50", &moderator.token, None).await?;
    assert!(
        notes["items"].as_array().context("items")?.iter().all(|n| n["kind"] != "media_flagged"),
        "only admins who manage characters see flagged photos"
    );

    let approve = format!("/admin/media/{photo_id}/approve");
    let (status, body) = api(&stack, "POST", &approve, &admin.token, None).await?;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("accepted")), "{body}");
    assert!(profile_photos(&stack, &character).await?.contains(&url), "an approved photo joins its character");
    listed(&stack, &admin, &photo_id, "accepted").await?;
    let (status, body) = api(&stack, "POST", &approve, &admin.token, Some(json!({}))).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("media_not_flagged")), "{body}");
    assert_eq!(audit_actions(&stack, &admin, &photo_id).await?, ["media.approve", "media.upload"]);
    Ok(())
}

#[tokio::test]
async fn a_text_file_named_like_a_photo_is_flagged_as_not_an_image_and_can_be_discarded() -> Result<()> {
    let stack = Stack::connect().await?;
    let admin = photo_admin(&stack).await?;
    let character = seed::character(&stack.store, "Text Photo").await?;

    let photo_id = upload(&stack, &admin, &character, "not-an-image.png", "image/png").await?;
    let photo = listed(&stack, &admin, &photo_id, "flagged").await?;
    assert_eq!(photo["reason"], "not_an_image", "{photo}");
    assert!(photo["width"].is_null() && photo["height"].is_null(), "{photo}");
    let url = photo["url"].as_str().context("url")?.to_string();

    let (status, body) = api(&stack, "DELETE", &format!("/admin/media/{photo_id}"), &admin.token, None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, page) = api(&stack, "GET", "/admin/media?status=flagged&limit=50", &admin.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(page["items"].as_array().context("items")?.iter().all(|p| p["id"] != photo_id.as_str()));
    assert_eq!(stack.http.get(url.as_str()).send().await?.status(), StatusCode::NOT_FOUND, "the object is deleted");
    assert_eq!(stack.store.character_photos(&character).await?.context("character")?.photos.len(), 3);
    Ok(())
}

#[tokio::test]
async fn a_photo_that_finds_its_character_full_is_flagged_character_full() -> Result<()> {
    let stack = Stack::connect().await?;
    let admin = photo_admin(&stack).await?;
    let character = seed::character(&stack.store, "Nearly Full").await?;
    stage_photos(&stack, &character, &seeded_photos(&character, 9)).await?;

    // Nine photos leave room for one; another takes the last place before this
    // one is uploaded and checked.
    let (photo_id, url) = upload_url(&stack, &admin, &character, "image/png").await?;
    stage_photos(&stack, &character, &seeded_photos(&character, 10)).await?;
    put_file(&stack, &url, "photo-640x480.png", "image/png").await?;
    let photo = listed(&stack, &admin, &photo_id, "flagged").await?;
    assert_eq!(photo["reason"], "character_full", "{photo}");
    assert_eq!((photo["width"].as_u64(), photo["height"].as_u64()), (Some(640), Some(480)), "{photo}");
    let (status, body) = api(&stack, "POST", &format!("/admin/media/{photo_id}/approve"), &admin.token, None).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an approval finds it full too: {body}");
    assert!(body["error"]["fields"]["photos"].is_string(), "{body}");
    assert_eq!(stack.store.character_photos(&character).await?.context("character")?.photos.len(), 10);

    let path = format!("/admin/characters/{character}/photos/upload-url");
    let (status, body) = api(&stack, "POST", &path, &admin.token, Some(json!({ "content_type": "image/png" }))).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "ten photos are the most: {body}");
    assert!(body["error"]["fields"]["photos"].is_string(), "{body}");
    Ok(())
}

#[tokio::test]
async fn upload_urls_are_for_images_of_characters_that_exist() -> Result<()> {
    let stack = Stack::connect().await?;
    let admin = photo_admin(&stack).await?;
    let character = seed::character(&stack.store, "Picky").await?;
    let path = format!("/admin/characters/{character}/photos/upload-url");

    for bad in ["text/plain", "image/gif", "image/jpg", ""] {
        let (status, body) = api(&stack, "POST", &path, &admin.token, Some(json!({ "content_type": bad }))).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["error"]["fields"]["content_type"].is_string(), "{bad}: {body}");
    }
    let (status, body) = api(&stack, "POST", &path, &admin.token, Some(json!({}))).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let nobody = "/admin/characters/c_nobody_here/photos/upload-url";
    let (status, body) =
        api(&stack, "POST", nobody, &admin.token, Some(json!({ "content_type": "image/png" }))).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api(&stack, "DELETE", &format!("/admin/characters/{character}"), &admin.token, None).await?;
    assert_eq!(status, StatusCode::OK, "removed: {body}");
    let (status, body) = api(&stack, "POST", &path, &admin.token, Some(json!({ "content_type": "image/png" }))).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "a deleted character takes no photos: {body}");

    let (status, body) = api(&stack, "GET", "/admin/media?status=lost", &admin.token, None).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, page) = api(&stack, "GET", "/admin/media", &admin.token, None).await?;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page["items"].is_array() && page.get("next_cursor").is_some(), "{page}");
    for (method, path) in [("POST", "/admin/media/ph_nothing/approve"), ("DELETE", "/admin/media/ph_nothing")] {
        let (status, body) = api(&stack, method, path, &admin.token, None).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
    }
    Ok(())
}
