//! Identifiers: opaque, time-sortable where order matters, derived where uniqueness must hold.

/// An id of one kind of record. Ids of different kinds cannot be swapped: a
/// function that takes a `&MemberId` and a `&ChatId` does not compile with the
/// two exchanged. Read as `&str` (keys, logs) through `Deref`; made from a string
/// only by naming the kind (`MemberId::new`), never by an implicit conversion.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Into a plain string (a key, an attribute); never into another kind of id.
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<&$name> for $name {
            fn eq(&self, other: &&$name) -> bool {
                self.0 == other.0
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// A member (`m_...`).
    MemberId
);
id_type!(
    /// A chat (`ch_<member>~<character>`, see `chat_id`).
    ChatId
);
id_type!(
    /// A character profile (`c_...`).
    CharacterId
);
id_type!(
    /// An operator (`op_...`).
    OperatorId
);
id_type!(
    /// A payment, by the reference Paystack knows it by (`pay_...`).
    PaymentRef
);

/// A new random, time-sortable id with a kind prefix (`m_`, `c_`, ...).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new().to_string().to_ascii_lowercase())
}

/// A new id whose ULID carries `at` (milliseconds) rather than the system clock,
/// so the record's time can be read back from its id (`time_of`).
pub fn new_id_at(prefix: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let ulid = ulid::Ulid::from_parts(ms, rand::random::<u128>());
    format!("{prefix}{}", ulid.to_string().to_ascii_lowercase())
}

/// The time a ULID (as `new_id` and `new_id_at` write it, prefix removed) carries.
pub fn time_of(ulid: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let u = ulid::Ulid::from_string(&ulid.to_ascii_uppercase()).ok()?;
    chrono::DateTime::from_timestamp_millis(i64::try_from(u.timestamp_ms()).ok()?)
}

const CHAT_SEPARATOR: char = '~';

/// The one chat of a (member, character) pair: the key is derived from the pair,
/// so two concurrent creates collide on the same item. The pair can be read back
/// from the id, which lets send-message fetch member, chat and character at once.
pub fn chat_id(member_id: &MemberId, character_id: &CharacterId) -> ChatId {
    ChatId(format!("ch_{member_id}{CHAT_SEPARATOR}{character_id}"))
}

/// (member id, character id) of a well-formed chat id.
pub fn chat_parts(chat_id: &str) -> Option<(MemberId, CharacterId)> {
    let (member, character) = chat_id.strip_prefix("ch_")?.split_once(CHAT_SEPARATOR)?;
    let valid =
        |s: &str| (3..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (valid(member) && valid(character)).then(|| (MemberId::new(member), CharacterId::new(character)))
}

/// A message id carries its position in the chat, so `after=<id>` is a key condition.
pub fn message_id(seq: u32) -> String {
    let random = ulid::Ulid::new().to_string().to_ascii_lowercase();
    format!("msg_{seq:010}_{}", &random[random.len() - 8..])
}

/// The position in its chat of a well-formed message id.
pub fn message_seq(id: &str) -> Option<u32> {
    let rest = id.strip_prefix("msg_")?;
    let (seq, random) = rest.split_once('_')?;
    (seq.len() == 10 && random.len() == 8).then_some(())?;
    seq.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_made_at_a_time_gives_that_time_back() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-30T18:00:01.234Z").unwrap().to_utc();
        let id = new_id_at("an_", at);
        assert_eq!(time_of(id.strip_prefix("an_").unwrap()), Some(at));
        assert!(time_of("not-a-ulid").is_none());
    }

    #[test]
    fn chat_ids_are_stable_per_pair_and_read_back() {
        let (m, c1, c2) = (MemberId::new("m_1ab"), CharacterId::new("c_1ab"), CharacterId::new("c_2cd"));
        assert_eq!(chat_id(&m, &c1), chat_id(&m, &c1));
        assert_ne!(chat_id(&m, &c1), chat_id(&m, &c2));
        assert_eq!(chat_parts(&chat_id(&m, &c2)), Some((m.clone(), c2.clone())));
        assert_eq!(chat_parts("ch_m_1ab"), None);
        assert_eq!(chat_parts("xx_m_1ab~c_2cd"), None);
        assert_eq!(chat_parts("ch_m/1ab~c_2cd"), None);
    }

    #[test]
    fn message_ids_carry_their_sequence() {
        let id = message_id(42);
        assert_eq!(message_seq(&id), Some(42));
        assert!(message_id(9) < message_id(10));
        assert_eq!(message_seq("msg_12_abc"), None);
        assert_eq!(message_seq("nonsense"), None);
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let a = new_id("x_");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("x_");
        assert!(a < b);
        assert!(a.starts_with("x_"));
    }
}
