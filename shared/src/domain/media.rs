//! Characters' photos: the files an upload may be, the checks an uploaded photo
//! passes before it joins its character (by its bytes, never its name), where its
//! object lives, and how many photos a character keeps.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::CharacterId;

/// The photo counts are the character rule's (`characters`): one home.
pub use super::characters::{MAX_PHOTOS, MIN_ACTIVE_PHOTOS};
/// The largest photo taken.
pub const MAX_PHOTO_BYTES: u64 = 5 * 1024 * 1024;
/// The shortest side a photo may have, in pixels.
pub const MIN_PHOTO_SIDE: usize = 400;
/// Bytes read from the start of an object to judge it: a PNG's or a WebP's
/// header, and the frame header of a JPEG whose metadata before it is not larger.
pub const HEADER_BYTES: usize = 64 * 1024;
/// How long an upload URL stays valid.
pub const UPLOAD_URL_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Where photos live in the bucket; the bucket reports new objects under it only.
pub const KEY_PREFIX: &str = "characters/";

/// A format a photo may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
}

impl ImageFormat {
    pub const ALL: [ImageFormat; 3] = [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Webp];

    /// The content type an upload declares (and its presigned PUT must send).
    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
        }
    }

    /// The object key's extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
        }
    }

    /// The format of an allowed upload content type; anything else is `None`.
    pub fn from_content_type(content_type: &str) -> Option<ImageFormat> {
        ImageFormat::ALL.into_iter().find(|f| f.content_type() == content_type)
    }

    /// The 422 message for a content type that is not one of these.
    pub fn expected() -> String {
        let all: Vec<&str> = ImageFormat::ALL.iter().map(|f| f.content_type()).collect();
        format!("must be one of {}", all.join(", "))
    }
}

/// Where an uploaded photo stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaStatus {
    /// Upload URL handed out; the object is not checked yet (or not uploaded).
    Pending,
    /// Checked (or approved by an admin): the photo is in its character's photos.
    Accepted,
    /// The check refused it (`FlagReason`); an admin may approve or discard it.
    Flagged,
}

impl MediaStatus {
    pub const ALL: [MediaStatus; 3] = [MediaStatus::Pending, MediaStatus::Accepted, MediaStatus::Flagged];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::Pending => "pending",
            MediaStatus::Accepted => "accepted",
            MediaStatus::Flagged => "flagged",
        }
    }

    pub fn parse(s: &str) -> Option<MediaStatus> {
        MediaStatus::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn expected() -> String {
        let all: Vec<&str> = MediaStatus::ALL.iter().map(|m| m.as_str()).collect();
        format!("must be one of {}", all.join(", "))
    }
}

/// Why a photo was flagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagReason {
    /// Its first bytes are not a JPEG, PNG or WebP (whatever its name or type said).
    NotAnImage,
    /// Larger than `MAX_PHOTO_BYTES`.
    TooLarge,
    /// A side shorter than `MIN_PHOTO_SIDE`.
    TooSmall,
    /// A JPEG, PNG or WebP whose dimensions could not be read from its header.
    Unreadable,
    /// Good, but its character had `MAX_PHOTOS` photos by the time it was checked.
    CharacterFull,
    /// Good, but its character was deleted meanwhile.
    CharacterGone,
}

impl FlagReason {
    pub const ALL: [FlagReason; 6] = [
        FlagReason::NotAnImage,
        FlagReason::TooLarge,
        FlagReason::TooSmall,
        FlagReason::Unreadable,
        FlagReason::CharacterFull,
        FlagReason::CharacterGone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FlagReason::NotAnImage => "not_an_image",
            FlagReason::TooLarge => "too_large",
            FlagReason::TooSmall => "too_small",
            FlagReason::Unreadable => "unreadable",
            FlagReason::CharacterFull => "character_full",
            FlagReason::CharacterGone => "character_gone",
        }
    }

    pub fn parse(s: &str) -> Option<FlagReason> {
        FlagReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What the check of an object's first bytes decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted { format: ImageFormat, width: usize, height: usize },
    Flagged { reason: FlagReason },
}

/// Judges a photo by its first bytes (`header`, up to `HEADER_BYTES`) and its
/// whole size: the format from its magic bytes (JPEG, PNG and WebP only), at most
/// `MAX_PHOTO_BYTES`, and both sides at least `MIN_PHOTO_SIDE`, read from the
/// header without decoding the image.
pub fn inspect(header: &[u8], size: u64) -> Verdict {
    let flagged = |reason| Verdict::Flagged { reason };
    let format = match imagesize::image_type(header) {
        Ok(imagesize::ImageType::Jpeg) => ImageFormat::Jpeg,
        Ok(imagesize::ImageType::Png) => ImageFormat::Png,
        Ok(imagesize::ImageType::Webp) => ImageFormat::Webp,
        _ => return flagged(FlagReason::NotAnImage),
    };
    if size > MAX_PHOTO_BYTES {
        return flagged(FlagReason::TooLarge);
    }
    let Ok(dims) = imagesize::blob_size(header) else { return flagged(FlagReason::Unreadable) };
    if dims.width < MIN_PHOTO_SIDE || dims.height < MIN_PHOTO_SIDE {
        return flagged(FlagReason::TooSmall);
    }
    Verdict::Accepted { format, width: dims.width, height: dims.height }
}

/// The dimensions a header gives, whatever the verdict (a flagged photo's record
/// shows them when they could be read).
pub fn dimensions(header: &[u8]) -> Option<(u32, u32)> {
    let dims = imagesize::blob_size(header).ok()?;
    Some((u32::try_from(dims.width).ok()?, u32::try_from(dims.height).ok()?))
}

/// Whether a character with `photos` photos may take one more.
pub fn has_room(photos: usize) -> bool {
    photos < MAX_PHOTOS
}

/// Whether a photo may leave a character that has `photos` of them: an active
/// character keeps at least `MIN_ACTIVE_PHOTOS`.
pub fn may_remove(active: bool, photos: usize) -> bool {
    !active || photos > MIN_ACTIVE_PHOTOS
}

/// An uploaded photo as the back office sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Photo {
    pub id: String,
    pub character_id: CharacterId,
    /// Its object in the media bucket (`object_key`).
    #[serde(skip)]
    pub key: String,
    pub content_type: String,
    pub status: MediaStatus,
    pub reason: Option<FlagReason>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub size: Option<u64>,
    /// What joins the character's photos once accepted.
    pub url: String,
    /// The admin who asked for the upload URL.
    pub uploaded_by: String,
    pub created_at: DateTime<Utc>,
    pub checked_at: Option<DateTime<Utc>>,
}

/// The object key of a photo: `characters/<character id>/<photo id>.<ext>`.
pub fn object_key(character_id: &CharacterId, photo_id: &str, format: ImageFormat) -> String {
    format!("{KEY_PREFIX}{character_id}/{photo_id}.{}", format.extension())
}

/// The ids an object key names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectKey {
    pub character_id: CharacterId,
    pub photo_id: String,
}

/// The ids of a well-formed photo key (`object_key`); `None` for any other key.
pub fn parse_object_key(key: &str) -> Option<ObjectKey> {
    let (character, file) = key.strip_prefix(KEY_PREFIX)?.split_once('/')?;
    let (photo, extension) = file.rsplit_once('.')?;
    let valid =
        |s: &str| (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let known = ImageFormat::ALL.iter().any(|f| f.extension() == extension);
    (valid(character) && valid(photo) && known)
        .then(|| ObjectKey { character_id: CharacterId::new(character), photo_id: photo.to_string() })
}

/// A photo as the audit log names it.
pub fn target(photo_id: &str) -> String {
    format!("photo:{photo_id}")
}

/// The admins' notice of a flagged photo (`media_flagged`).
pub fn flagged_notice(photo: &Photo, reason: FlagReason) -> String {
    format!(
        "A photo uploaded for character {} was flagged ({}): approve or discard it in the photo review.",
        photo.character_id,
        reason.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG's signature and IHDR chunk: all a reader needs for its dimensions.
    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend(13u32.to_be_bytes());
        bytes.extend(b"IHDR");
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend([8, 2, 0, 0, 0]);
        bytes.extend([0, 0, 0, 0]);
        bytes
    }

    /// A JPEG's start and a baseline frame header (SOF0) with its dimensions.
    fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08];
        bytes.extend(height.to_be_bytes());
        bytes.extend(width.to_be_bytes());
        bytes.extend([0x03, 0x01, 0x22, 0x00]);
        bytes
    }

    #[test]
    fn a_large_enough_png_or_jpeg_is_accepted_with_its_dimensions() {
        let header = png(640, 480);
        assert_eq!(inspect(&header, 20_000), Verdict::Accepted { format: ImageFormat::Png, width: 640, height: 480 });
        assert_eq!(
            inspect(&jpeg(1024, 768), 300_000),
            Verdict::Accepted { format: ImageFormat::Jpeg, width: 1024, height: 768 }
        );
        assert_eq!(dimensions(&header), Some((640, 480)));
    }

    #[test]
    fn a_text_file_is_not_an_image_whatever_its_name() {
        let text = b"Hello! This file is called photo.png but holds text.";
        assert_eq!(inspect(text, text.len() as u64), Verdict::Flagged { reason: FlagReason::NotAnImage });
        assert_eq!(inspect(b"", 0), Verdict::Flagged { reason: FlagReason::NotAnImage });
        assert_eq!(inspect(b"\x89PNG", 4), Verdict::Flagged { reason: FlagReason::NotAnImage });
        let gif = b"GIF89a\x90\x01\x90\x01\x00\x00\x00\x00";
        assert_eq!(inspect(gif, 5_000), Verdict::Flagged { reason: FlagReason::NotAnImage }, "GIF is not taken");
    }

    #[test]
    fn a_side_under_400_pixels_is_too_small() {
        assert_eq!(inspect(&png(200, 200), 4_000), Verdict::Flagged { reason: FlagReason::TooSmall });
        assert_eq!(inspect(&png(1200, 399), 4_000), Verdict::Flagged { reason: FlagReason::TooSmall });
        assert!(matches!(inspect(&png(400, 400), 4_000), Verdict::Accepted { .. }));
        assert_eq!(dimensions(&png(200, 200)), Some((200, 200)));
    }

    #[test]
    fn more_than_5_mb_is_too_large() {
        assert_eq!(inspect(&png(640, 480), MAX_PHOTO_BYTES + 1), Verdict::Flagged { reason: FlagReason::TooLarge });
        assert!(matches!(inspect(&png(640, 480), MAX_PHOTO_BYTES), Verdict::Accepted { .. }));
    }

    #[test]
    fn a_recognised_header_without_dimensions_is_unreadable() {
        let truncated = &png(640, 480)[..12];
        assert_eq!(inspect(truncated, 12), Verdict::Flagged { reason: FlagReason::Unreadable });
        assert_eq!(dimensions(truncated), None);
    }

    #[test]
    fn only_the_three_image_types_are_taken_each_with_its_extension() {
        assert_eq!(ImageFormat::from_content_type("image/png"), Some(ImageFormat::Png));
        assert_eq!(ImageFormat::from_content_type("image/webp").map(ImageFormat::extension), Some("webp"));
        assert_eq!(ImageFormat::from_content_type("image/jpeg").map(ImageFormat::extension), Some("jpg"));
        for refused in ["text/plain", "image/gif", "image/jpg", "IMAGE/PNG", "image/png; charset=x", ""] {
            assert_eq!(ImageFormat::from_content_type(refused), None, "{refused}");
        }
    }

    #[test]
    fn an_object_key_names_its_character_and_photo() {
        let c = CharacterId::new("c_01jdemo");
        let key = object_key(&c, "ph_01jabc", ImageFormat::Webp);
        assert_eq!(key, "characters/c_01jdemo/ph_01jabc.webp");
        assert_eq!(parse_object_key(&key), Some(ObjectKey { character_id: c, photo_id: "ph_01jabc".into() }));
        for other in ["avatars/c_1/ph_1.png", "characters/c_1/ph_1.gif", "characters/c_1/ph_1", "characters/ph_1.png"] {
            assert_eq!(parse_object_key(other), None, "{other}");
        }
        assert_eq!(parse_object_key("characters/c_1/sub/ph_1.png"), None);
    }

    #[test]
    fn an_active_character_keeps_three_photos_and_none_has_more_than_ten() {
        assert!(may_remove(true, 4) && !may_remove(true, 3) && may_remove(false, 1));
        assert!(has_room(9) && !has_room(MAX_PHOTOS));
        for status in MediaStatus::ALL {
            assert_eq!(MediaStatus::parse(status.as_str()), Some(status));
        }
        for reason in FlagReason::ALL {
            assert_eq!(FlagReason::parse(reason.as_str()), Some(reason));
        }
    }
}
