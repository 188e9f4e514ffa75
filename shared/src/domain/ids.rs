//! Identifiers: opaque, time-sortable where order matters, derived where uniqueness must hold.

/// A new random, time-sortable id with a kind prefix (`m_`, `c_`, ...).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new().to_string().to_ascii_lowercase())
}

const CHAT_SEPARATOR: char = '~';

/// The one chat of a (member, character) pair: the key is derived from the pair,
/// so two concurrent creates collide on the same item. The pair can be read back
/// from the id, which lets send-message fetch member, chat and character at once.
pub fn chat_id(member_id: &str, character_id: &str) -> String {
    format!("ch_{member_id}{CHAT_SEPARATOR}{character_id}")
}

/// (member id, character id) of a well-formed chat id.
pub fn chat_parts(chat_id: &str) -> Option<(&str, &str)> {
    let (member, character) = chat_id.strip_prefix("ch_")?.split_once(CHAT_SEPARATOR)?;
    let valid =
        |s: &str| (3..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (valid(member) && valid(character)).then_some((member, character))
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
    fn chat_ids_are_stable_per_pair_and_read_back() {
        assert_eq!(chat_id("m_1ab", "c_1ab"), chat_id("m_1ab", "c_1ab"));
        assert_ne!(chat_id("m_1ab", "c_1ab"), chat_id("m_1ab", "c_2ab"));
        assert_eq!(chat_parts(&chat_id("m_1ab", "c_2cd")), Some(("m_1ab", "c_2cd")));
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
