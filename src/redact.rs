//! Secrets never reach Discord: fields whose names look like credentials are shown as
//! `[redacted]`, and the bot token is scrubbed from any text it appears in. Runs on the
//! flusher thread, before rendering (never on the application's hot path).

use std::sync::Arc;

use crate::record::Record;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Field names (matched case-insensitively, as a part of the name) whose values are
/// redacted unless configured otherwise.
pub const DEFAULT_SECRET_FIELDS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "authorization",
    "api_key",
    "apikey",
];

/// Redacts secrets in records: what the flusher runs on every record before rendering.
///
/// Public so that tools and benchmarks that feed [`render`](crate::render) directly can
/// treat records as the flusher does; a layer makes its own from its configuration
/// ([`secret_fields`](crate::DiscordLayerBuilder::secret_fields) and every token).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Lower-case parts of field names that mark a secret.
    pub(crate) names: Vec<String>,
    /// Exact secrets to scrub from any text (the bot token, webhook tokens).
    pub(crate) secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for values of fields whose names contain one of `secret_fields` (ASCII
    /// case-insensitively; for example [`DEFAULT_SECRET_FIELDS`]) and for every occurrence
    /// of each of `secrets` (exact text, such as a bot token; secrets shorter than 8 bytes
    /// are ignored so that short strings cannot blank out ordinary text). Empty names are
    /// ignored.
    pub fn new<N, S>(
        secret_fields: impl IntoIterator<Item = N>,
        secrets: impl IntoIterator<Item = S>,
    ) -> Self
    where
        N: AsRef<str>,
        S: Into<String>,
    {
        Redactor {
            names: secret_fields
                .into_iter()
                .map(|n| n.as_ref().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
            secrets: secrets.into_iter().map(Into::into).collect(),
        }
    }

    /// The secrets long enough to scrub.
    fn scrubbed(&self) -> impl Iterator<Item = &str> {
        self.secrets
            .iter()
            .map(String::as_str)
            .filter(|s| s.len() >= SECRET_MIN)
    }

    /// Whether any secret occurs in `text`.
    fn holds_secret(&self, text: &str) -> bool {
        self.scrubbed().any(|s| contains(text, s))
    }

    fn scrub(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for s in self.scrubbed() {
            let current = out.as_deref().unwrap_or(text);
            if contains(current, s) {
                out = Some(current.replace(s, REDACTED));
            }
        }
        out
    }

    fn is_secret_name(&self, name: &str) -> bool {
        self.names
            .iter()
            .any(|n| contains_ignore_ascii_case(name, n))
    }

    /// Redacts one record in place: the message, field values and span texts.
    pub fn apply(&self, record: &mut Record) {
        self.apply_all(std::slice::from_mut(record));
    }

    /// Redacts every record of a batch in place, as [`apply`](Self::apply) does one.
    ///
    /// Most records hold no secret: they are looked at without allocating and left as
    /// they are. Field names are `&'static str` of a few call sites, so whether a name is
    /// a secret's is decided once per name and batch, not once per event.
    pub fn apply_all(&self, records: &mut [Record]) {
        let mut known: Vec<(&'static str, bool)> = Vec::new();
        let mut is_secret_name = |name: &'static str| {
            let seen = known
                .iter()
                .find(|(n, _)| std::ptr::eq(*n, name))
                .map(|(_, secret)| *secret);
            seen.unwrap_or_else(|| {
                let secret = self.is_secret_name(name);
                if known.len() < NAMES_REMEMBERED {
                    known.push((name, secret));
                }
                secret
            })
        };
        for record in records {
            let dirty = record
                .fields()
                .any(|(name, value)| is_secret_name(name) || self.holds_secret(value))
                || self.holds_secret(record.message());
            if dirty {
                record.rewrite(|name, value| match name {
                    Some(name) if is_secret_name(name) => Some(REDACTED.to_owned()),
                    _ => self.scrub(value),
                });
            }
            for span in &mut record.spans {
                if self.holds_secret(span) {
                    if let Some(clean) = self.scrub(span) {
                        *span = Arc::from(clean);
                    }
                }
            }
        }
    }
}

/// Field names whose verdict a batch remembers (looked up one by one: a bot's events use
/// a few names each; past this many the rest are looked at every time).
const NAMES_REMEMBERED: usize = 64;

/// Secrets shorter than this are not scrubbed: they would blank out ordinary text.
const SECRET_MIN: usize = 8;

/// Whether `needle` occurs in `text`: the candidates are found by the needle's first
/// character (a `memchr` scan), so there is no searcher to set up for each text, which
/// cost more than the search itself on short log text.
fn contains(text: &str, needle: &str) -> bool {
    let Some(first) = needle.chars().next() else {
        return true;
    };
    let mut from = 0;
    while text.len() - from >= needle.len() {
        let Some(i) = text[from..].find(first) else {
            return false;
        };
        let at = from + i;
        if text[at..].starts_with(needle) {
            return true;
        }
        from = at + first.len_utf8();
    }
    false
}

/// Whether `part` (lower case) occurs in `name`, ASCII letters compared case-insensitively,
/// without allocating a lower-case copy of `name`.
fn contains_ignore_ascii_case(name: &str, part: &str) -> bool {
    let (name, part) = (name.as_bytes(), part.as_bytes());
    let Some(&first) = part.first() else {
        return true;
    };
    part.len() <= name.len()
        && name
            .windows(part.len())
            .any(|w| w[0].to_ascii_lowercase() == first && w.eq_ignore_ascii_case(part))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Class;
    use tracing_core::Level;

    #[test]
    fn secret_fields_and_the_token_are_redacted() {
        let r = Redactor {
            names: DEFAULT_SECRET_FIELDS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            secrets: vec!["MTIz.very-secret-token".into()],
        };
        let mut rec = Record::new(
            Class::Log,
            Level::INFO,
            "t",
            "using MTIz.very-secret-token now",
        );
        rec.push_field("db_password", "hunter2");
        rec.push_field("user", "x MTIz.very-secret-token y");
        rec.push_field("n", 1);
        rec.spans
            .push("login{Authorization=MTIz.very-secret-token}".into());
        r.apply(&mut rec);
        assert_eq!(rec.message(), "using [redacted] now");
        assert_eq!(
            rec.fields().collect::<Vec<_>>(),
            [
                ("db_password", "[redacted]"),
                ("user", "x [redacted] y"),
                ("n", "1")
            ]
        );
        assert_eq!(&*rec.spans[0], "login{Authorization=[redacted]}");
    }

    #[test]
    fn records_without_secrets_are_left_as_they_are() {
        let r = Redactor::new(DEFAULT_SECRET_FIELDS, ["MTIz.very-secret-token"]);
        let mut rec = Record::new(Class::Log, Level::INFO, "t", "MTIz.very-secret-toke")
            .with_field("user", "MTIz MTIz.very")
            .with_field("TokenCount", 3);
        r.apply(&mut rec);
        assert_eq!(rec.message(), "MTIz.very-secret-toke");
        assert_eq!(
            rec.fields().collect::<Vec<_>>(),
            [("user", "MTIz MTIz.very"), ("TokenCount", "[redacted]")]
        );
        let mut plain = Record::new(Class::Log, Level::INFO, "t", "ok").with_field("n", 1);
        r.apply(&mut plain);
        assert_eq!(plain.message(), "ok");
        assert_eq!(plain.fields().collect::<Vec<_>>(), [("n", "1")]);
    }

    #[test]
    fn search_finds_secrets_anywhere_and_names_in_any_case() {
        assert!(contains("xxMTIz.abcdefgh", "MTIz.abcdefgh"));
        assert!(contains("MTIz.abcdefghyy", "MTIz.abcdefgh"));
        assert!(contains("MMTIz.abcdefgh", "MTIz.abcdefgh"));
        assert!(!contains("MTIz.abcdefg", "MTIz.abcdefgh"));
        assert!(contains("日本MTIz.abcdefgh", "MTIz.abcdefgh"));
        assert!(contains_ignore_ascii_case("X-Api_KEY", "api_key"));
        assert!(!contains_ignore_ascii_case("key", "api_key"));
    }
}
