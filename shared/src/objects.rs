//! S3 adapter for the media bucket: presigned uploads, an object's first bytes,
//! deletion, public URLs, and the bucket's event notifications as the media
//! queue delivers them. The only code that knows S3's wire formats.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// S3 did not answer in time, or could not be reached: the outcome is unknown.
    #[error("s3 unavailable: {0}")]
    Unavailable(String),
    #[error("s3: {0}")]
    S3(String),
}

impl ObjectError {
    fn sdk<E, R>(e: aws_sdk_s3::error::SdkError<E, R>) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        use aws_sdk_s3::error::SdkError;
        let unavailable =
            matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_));
        let text: String = aws_sdk_s3::error::DisplayErrorContext(e).to_string().chars().take(600).collect();
        if unavailable {
            ObjectError::Unavailable(text)
        } else {
            ObjectError::S3(text)
        }
    }
}

/// An object's first bytes and its whole size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub bytes: Vec<u8>,
    pub size: u64,
}

/// The media bucket, with the base URL its objects are served from.
#[derive(Clone, Debug)]
pub struct MediaBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
    public_url: String,
}

impl MediaBucket {
    /// `public_url` is the base of every object's URL (`<public_url>/<key>`); a
    /// trailing slash is dropped.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, public_url: &str) -> Self {
        MediaBucket { client, bucket: bucket.into(), public_url: public_url.trim_end_matches('/').to_string() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Where the object `key` is served.
    pub fn public_url(&self, key: &str) -> String {
        format!("{}/{key}", self.public_url)
    }

    /// Whether `url` is an uploaded photo's URL: `public_url` of a photo's key
    /// (`domain::media::object_key`).
    pub fn serves_photo(&self, url: &str) -> bool {
        url.strip_prefix(self.public_url.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|key| crate::domain::media::parse_object_key(key).is_some())
    }

    /// A URL that lets whoever holds it PUT `key` for `expires` from now, with
    /// `content_type` signed (the PUT must send that `Content-Type`); and when it
    /// expires. Signed locally: no request is made.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires: Duration,
    ) -> Result<(String, DateTime<Utc>), ObjectError> {
        // S3 checks the expiry against its own clock, so the URL is signed with
        // the real one, not the request's (possibly pinned) "now".
        let start = SystemTime::now();
        let config = PresigningConfig::builder()
            .start_time(start)
            .expires_in(expires)
            .build()
            .map_err(|e| ObjectError::S3(e.to_string()))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            // Signed: the PUT must send `If-None-Match: *`, so S3 refuses a second
            // PUT to the key (412) and checked bytes are never replaced unchecked.
            .if_none_match("*")
            .presigned(config)
            .await
            .map_err(ObjectError::sdk)?;
        Ok((request.uri().to_string(), DateTime::<Utc>::from(start + expires)))
    }

    /// The first `max` bytes of `key` (one ranged GET) and the object's size;
    /// `None` if there is no such object.
    pub async fn read_header(&self, key: &str, max: usize) -> Result<Option<Header>, ObjectError> {
        let range = format!("bytes=0-{}", max.saturating_sub(1));
        let out = match self.client.get_object().bucket(&self.bucket).key(key).range(range).send().await {
            Ok(out) => out,
            Err(e) if e.code() == Some("NoSuchKey") => return Ok(None),
            // An empty object has no first byte to start a range at.
            Err(e) if e.code() == Some("InvalidRange") => return Ok(Some(Header { bytes: Vec::new(), size: 0 })),
            Err(e) => return Err(ObjectError::sdk(e)),
        };
        let size = out
            .content_range()
            .and_then(total_of_range)
            .or_else(|| out.content_length().and_then(|n| u64::try_from(n).ok()))
            .unwrap_or(0);
        let mut bytes = out.body.collect().await.map_err(|e| ObjectError::Unavailable(e.to_string()))?.to_vec();
        bytes.truncate(max);
        Ok(Some(Header { bytes, size }))
    }

    /// Deletes `key` (deleting a missing key succeeds).
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map(|_| ()).map_err(ObjectError::sdk)
    }
}

/// The whole size in a `Content-Range` (`bytes 0-65535/1048576`).
fn total_of_range(range: &str) -> Option<u64> {
    range.rsplit_once('/').and_then(|(_, total)| total.trim().parse().ok())
}

/// An object the bucket reports as created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedObject {
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Option<Vec<NotificationRecord>>,
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Deserialize)]
struct NotificationRecord {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: NotificationEntity,
}

#[derive(Deserialize)]
struct NotificationEntity {
    bucket: NotificationBucket,
    object: NotificationObject,
}

#[derive(Deserialize)]
struct NotificationBucket {
    name: String,
}

#[derive(Deserialize)]
struct NotificationObject {
    key: String,
    #[serde(default)]
    size: u64,
}

/// The objects an S3 event notification (an SQS message body) reports created:
/// none for the `s3:TestEvent` S3 sends when the notification is set up, and
/// `None` for a body that is not a notification (poison).
pub fn created_objects(body: &str) -> Option<Vec<CreatedObject>> {
    let notification: Notification = serde_json::from_str(body).ok()?;
    match (notification.records, notification.event.as_deref()) {
        (Some(records), _) => records
            .into_iter()
            .filter(|r| r.event_name.starts_with("ObjectCreated:"))
            .map(|r| {
                let key = decode_key(&r.s3.object.key)?;
                Some(CreatedObject { bucket: r.s3.bucket.name, key, size: r.s3.object.size })
            })
            .collect(),
        (None, Some("s3:TestEvent")) => Some(Vec::new()),
        (None, _) => None,
    }
}

/// An object key as notifications write it: URL-encoded, `+` for a space.
fn decode_key(raw: &str) -> Option<String> {
    let raw = raw.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            other => bytes.push(other),
        }
        i += 1;
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_reports_its_created_objects_with_their_keys_decoded() {
        let body = r#"{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "fantooo-media", "arn": "arn:aws:s3:::fantooo-media"},
                   "object": {"key": "characters%2Fc_1%2Fph+1%2Bx.png", "size": 10, "eTag": "1f20"}}}]}"#;
        let objects = created_objects(body).expect("a notification");
        assert_eq!(
            objects,
            vec![CreatedObject { bucket: "fantooo-media".into(), key: "characters/c_1/ph 1+x.png".into(), size: 10 }]
        );
    }

    #[test]
    fn the_test_event_reports_nothing_and_other_bodies_are_poison() {
        let test_event = r#"{"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-12-01T00:14:01.352Z",
            "Bucket": "fantooo-media"}"#;
        assert_eq!(created_objects(test_event), Some(Vec::new()));
        let removed = r#"{"Records": [{"eventName": "ObjectRemoved:Delete",
            "s3": {"bucket": {"name": "b"}, "object": {"key": "characters/c_1/ph_1.png"}}}]}"#;
        assert_eq!(created_objects(removed), Some(Vec::new()));
        for poison in ["", "{}", r#"{"chat_id":"ch_1"}"#, "not json", r#"{"Records": [{"eventName": 1}]}"#] {
            assert_eq!(created_objects(poison), None, "{poison}");
        }
        assert_eq!(decode_key("a%2"), None);
        assert_eq!(total_of_range("bytes 0-65535/1048576"), Some(1_048_576));
    }
}
