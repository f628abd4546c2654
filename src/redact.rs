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

    fn scrub(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for s in self.secrets.iter().filter(|s| s.len() >= 8) {
            let current = out.as_deref().unwrap_or(text);
            if current.contains(s.as_str()) {
                out = Some(current.replace(s.as_str(), REDACTED));
            }
        }
        out
    }

    fn is_secret_name(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.names.iter().any(|n| name.contains(n.as_str()))
    }

    /// Redacts one record in place: the message, field values and span texts.
    pub fn apply(&self, record: &mut Record) {
        record.rewrite(|name, value| match name {
            Some(name) if self.is_secret_name(name) => Some(REDACTED.to_owned()),
            _ => self.scrub(value),
        });
        for span in &mut record.spans {
            if let Some(clean) = self.scrub(span) {
                *span = Arc::from(clean);
            }
        }
    }
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
}
