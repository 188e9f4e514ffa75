//! Input newtypes that parse once at the edge, and the per-field error collector.

use std::collections::BTreeMap;

use serde::Serialize;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Every length bound on input, by field (characters unless said otherwise): the
/// one place to read or change them.
pub mod max {
    /// A message, a member's or a character's.
    pub const MESSAGE: usize = 2000;
    /// An operator's notes on a member or a character.
    pub const NOTES: usize = 5000;
    /// An operator's note when releasing a chat.
    pub const RELEASE_NOTE: usize = 2000;
    /// A member's reason for deleting the account.
    pub const DELETION_REASON: usize = 500;
    /// An admin's reason for a ban or an operator's suspension.
    pub const STAFF_REASON: usize = 500;
    /// An operator's details on a report.
    pub const REPORT_DETAILS: usize = 2000;
    /// A moderator's note on a report's resolution.
    pub const RESOLUTION_NOTE: usize = 1000;
    /// A username, and so the longest prefix worth searching for.
    pub const USERNAME: usize = 20;
    /// A profile search.
    pub const SEARCH: usize = 100;
    pub const DISPLAY_NAME: usize = 50;
    pub const LOCATION: usize = 100;
    pub const BIO: usize = 500;
    /// Bytes, as RFC 5321 allows.
    pub const EMAIL: usize = 254;
    /// Bytes of a login name read before the login is refused outright.
    pub const LOGIN_NAME: usize = 64;
    /// Bytes of a password read before a login is refused outright (argon2 never
    /// sees more; a new password is bounded by `Password`).
    pub const LOGIN_PASSWORD: usize = 1024;
}

/// Field name -> what is wrong with it. Empty means valid.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &str, msg: impl Into<String>) -> Self {
        let mut f = Self::new();
        f.add(field, msg);
        f
    }

    pub fn add(&mut self, field: &str, msg: impl Into<String>) {
        self.0.entry(field.to_string()).or_insert_with(|| msg.into());
    }

    /// Records the error of a failed parse, returning the value if it parsed.
    pub fn check<T>(&mut self, field: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }
}

/// 3-20 of `[a-z0-9_]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

fn username_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

/// A search prefix for usernames: trimmed and lowercased; at most 20 characters.
/// `Ok(None)`: no username can start with it (nothing matches).
pub fn username_prefix(q: &str) -> Result<Option<String>, String> {
    let p = q.trim().to_ascii_lowercase();
    if p.chars().count() > max::USERNAME {
        return Err(format!("must be at most {} characters", max::USERNAME));
    }
    Ok(p.bytes().all(username_byte).then_some(p))
}

impl Username {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok_len = (3..=max::USERNAME).contains(&s.len());
        let ok_chars = s.bytes().all(username_byte);
        if ok_len && ok_chars {
            Ok(Username(s.to_string()))
        } else {
            Err(format!("must be 3-{} characters of a-z, 0-9 and _", max::USERNAME))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At least 8 characters with a letter and a digit; at most 128 (argon2 input bound).
pub struct Password(String);

impl Password {
    pub fn parse(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if n < 8 {
            return Err("must be at least 8 characters".into());
        }
        if n > 128 {
            return Err("must be at most 128 characters".into());
        }
        if !s.chars().any(|c| c.is_alphabetic()) || !s.chars().any(|c| c.is_ascii_digit()) {
            return Err("must contain a letter and a digit".into());
        }
        Ok(Password(s.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A member's or an operator's new password: `Password`'s rule.
pub fn password(s: &str) -> Result<(), String> {
    Password::parse(s).map(|_| ())
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

pub fn age(n: i64) -> Result<u8, String> {
    if n < 18 {
        Err("must be at least 18".into())
    } else if n > 100 {
        Err("must be at most 100".into())
    } else {
        Ok(n as u8)
    }
}

/// Trimmed text of `min..=max` characters, with no control characters but newline
/// and tab (NUL, escape sequences and the like never reach the table or a screen).
pub fn text(s: &str, min: usize, max: usize) -> Result<String, String> {
    let t = s.trim();
    let n = t.chars().count();
    if n < min {
        Err(if min == 1 { "must not be empty".into() } else { format!("must be at least {min} characters") })
    } else if n > max {
        Err(format!("must be at most {max} characters"))
    } else {
        no_control_chars(t)?;
        Ok(t.to_string())
    }
}

/// A name or a place shown to others: `text` on one line, and no invisible format
/// characters (Unicode Cf: right-to-left overrides and isolates, zero-width spaces,
/// soft hyphens; the zero-width joiner excepted) that could make it read as
/// something else.
pub fn line(s: &str, min: usize, max: usize) -> Result<String, String> {
    let t = text(s, min, max)?;
    if t.contains(['\n', '\t']) {
        return Err("must be one line".into());
    }
    // The zero-width joiner stays: emoji sequences and several scripts need it,
    // and it reorders nothing.
    if t.chars().any(|c| c.general_category() == GeneralCategory::Format && c != '\u{200d}') {
        return Err("must not contain invisible formatting characters such as right-to-left overrides".into());
    }
    Ok(t)
}

/// A message as stored: Windows line endings become `\n` (a `\r` alone is a
/// control character and refused), then 1 to `max::MESSAGE` characters that are
/// not all blank, with no control characters but newline and tab.
pub fn message(content: String) -> Result<String, String> {
    let content = if content.contains('\r') { content.replace("\r\n", "\n") } else { content };
    if content.trim().is_empty() {
        Err("must not be empty".into())
    } else if content.chars().count() > max::MESSAGE {
        Err(format!("must be at most {} characters", max::MESSAGE))
    } else {
        no_control_chars(&content)?;
        Ok(content)
    }
}

/// Free text kept as written (notes, reasons): at most `max` characters, may be
/// empty, no control characters but newline and tab.
pub fn note(s: &str, max: usize) -> Result<(), String> {
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    no_control_chars(s)
}

/// Refuses control characters other than newline and tab, in any text field.
pub fn no_control_chars(s: &str) -> Result<(), String> {
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        Err("must not contain control characters".into())
    } else {
        Ok(())
    }
}

/// An id sent in a body (`profile_id`, `package_id`): ids are short and plain, so
/// anything else is refused before it becomes part of a key.
pub fn id(s: &str) -> Result<&str, String> {
    let ok = (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(s)
    } else {
        Err("is not a valid id".into())
    }
}

/// A plausible address: one @, something on both sides, a dot in the domain.
/// A staff login's email, trimmed and lower-cased, when the email and password are
/// within the bounds any account could have; `None` otherwise (401, no lookup).
pub fn staff_login_email(email: &str, password: &str) -> Option<String> {
    let email = email.trim().to_ascii_lowercase();
    let plausible =
        !email.is_empty() && email.len() <= max::EMAIL && !password.is_empty() && password.len() <= max::LOGIN_PASSWORD;
    plausible.then_some(email)
}

pub fn email(s: &str) -> Result<String, String> {
    let t = s.trim().to_ascii_lowercase();
    let valid = t.len() <= 254
        && !t.chars().any(|c| c.is_whitespace() || c.is_control())
        && match t.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(t)
    } else {
        Err("must be an email address".into())
    }
}

pub fn latitude(v: f64) -> Result<f64, String> {
    if v.is_finite() && (-90.0..=90.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between -90 and 90".into())
    }
}

pub fn longitude(v: f64) -> Result<f64, String> {
    if v.is_finite() && (-180.0..=180.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between -180 and 180".into())
    }
}

/// A language tag such as `en` or `sw-KE`.
pub fn language(s: &str) -> Result<String, String> {
    let ok = (2..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-');
    if ok {
        Ok(s.to_string())
    } else {
        Err("must be a language tag such as en or sw-KE".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_one_to_two_thousand_characters_with_unix_line_endings() {
        assert_eq!(message("hi".into()), Ok("hi".into()));
        assert!(message("   ".into()).is_err());
        assert!(message("é".repeat(2000)).is_ok());
        assert!(message("a".repeat(2001)).is_err());
        assert!(message("two\nlines\tand a tab".into()).is_ok());
        assert!(message("\u{1b}[2J cleared".into()).is_err());
        assert_eq!(message("a\r\nb".into()), Ok("a\nb".into()));
        assert!(message("a\rb".into()).is_err(), "a lone CR is a control character");
    }

    #[test]
    fn a_note_may_be_empty_but_not_long_or_controlling() {
        assert_eq!(note("", max::NOTES), Ok(()));
        assert_eq!(note(&"n".repeat(max::NOTES), max::NOTES), Ok(()));
        assert!(note(&"n".repeat(max::NOTES + 1), max::NOTES).is_err());
        assert!(note("bell\u{7}", max::NOTES).is_err());
    }

    #[test]
    fn usernames() {
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse("a_b_9").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("Abc").is_err());
        assert!(Username::parse("abc-d").is_err());
        assert!(Username::parse(&"a".repeat(21)).is_err());
        assert!(Username::parse(&"a".repeat(20)).is_ok());
    }

    #[test]
    fn passwords_need_length_a_letter_and_a_digit() {
        assert!(Password::parse("abcdefg1").is_ok());
        assert!(Password::parse("abcdef1").is_err());
        assert!(Password::parse("abcdefgh").is_err());
        assert!(Password::parse("12345678").is_err());
    }

    #[test]
    fn ages() {
        assert!(age(17).is_err());
        assert_eq!(age(18), Ok(18));
        assert_eq!(age(100), Ok(100));
        assert!(age(101).is_err());
    }

    #[test]
    fn emails_and_text() {
        assert!(email("a@b.co").is_ok());
        assert!(email("a@b").is_err());
        assert!(email("a b@c.de").is_err());
        assert!(text("  ", 1, 5).is_err());
        assert_eq!(text(" hi ", 1, 5), Ok("hi".into()));
        assert!(text("toolong", 1, 5).is_err());
    }

    #[test]
    fn text_refuses_control_characters_but_newline_and_tab() {
        assert_eq!(text("line one\nline\ttwo", 1, 50), Ok("line one\nline\ttwo".into()));
        for bad in ["nul\0here", "esc \u{1b}[31mred", "bell\u{7}", "del\u{7f}", "c1\u{9b}"] {
            assert!(text(bad, 1, 50).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_and_places_refuse_bidi_overrides_and_invisible_characters() {
        assert_eq!(line("Nairobi", 1, 50), Ok("Nairobi".into()));
        assert_eq!(line("Zawadi Wanjiru", 1, 50), Ok("Zawadi Wanjiru".into()));
        assert_eq!(line("Thika 🌍", 1, 50), Ok("Thika 🌍".into()), "emoji are fine");
        assert!(line("family 👨\u{200d}👩\u{200d}👧", 1, 50).is_ok(), "joined emoji too");
        for bad in ["admin\u{202e}nimda", "zero\u{200b}width", "two\nlines", "\u{2066}isolate", "soft\u{ad}hyphen"] {
            assert!(line(bad, 1, 50).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_short_and_plain() {
        assert!(id("c_demo01").is_ok());
        assert!(id("pkg_best-value").is_ok());
        assert!(id(&"a".repeat(65)).is_err());
        assert!(id("c/../x").is_err());
        assert!(id("").is_err());
    }

    #[test]
    fn field_errors_keep_the_first_message_per_field() {
        let mut f = FieldErrors::new();
        f.add("age", "must be at least 18");
        f.add("age", "other");
        assert_eq!(f.iter().next().map(|(_, m)| m.as_str()), Some("must be at least 18"));
        assert!(f.into_result().is_err());
    }

    #[test]
    fn a_username_prefix_is_lowercased_and_one_no_username_has_matches_nothing() {
        assert_eq!(username_prefix(" AmI "), Ok(Some("ami".into())));
        assert_eq!(username_prefix(""), Ok(Some(String::new())));
        assert_eq!(username_prefix("a b"), Ok(None));
        assert!(username_prefix(&"a".repeat(21)).is_err());
    }
}
