//! Field validation of Create Message and Execute Webhook bodies (emulator spec rule 13):
//! every violation lands in one nested `errors` tree, answered as 400 code 50035.
//!
//! Leaf codes and messages that come from captures: `BASE_TYPE_MAX_LENGTH`,
//! `BASE_TYPE_REQUIRED`, `MAX_EMBED_SIZE_EXCEEDED`, `USERNAME_INVALID_CONTAINS`. Type
//! errors (`DICT_TYPE_CONVERT`, `NUMBER_TYPE_COERCE`, ...) follow Discord's naming style but
//! their exact wording is assumed.

use serde_json::{json, Map, Value};

use super::payload::Upload;
use super::reply::{self, Reply};

/// Message content limit in Unicode code points (discord-api.md 2.2; bots get 2000, not the SPEC's 4000).
pub(crate) const MAX_CONTENT_CHARS: usize = 2000;
/// Most embeds per message (D-MSG).
pub(crate) const MAX_EMBEDS: usize = 10;
/// Embed title limit (D-MSG "Embed Limits").
const MAX_TITLE: usize = 256;
/// Embed description limit.
const MAX_DESCRIPTION: usize = 4096;
/// Most fields per embed.
const MAX_FIELDS: usize = 25;
/// Field name limit.
const MAX_FIELD_NAME: usize = 256;
/// Field value limit.
const MAX_FIELD_VALUE: usize = 1024;
/// Footer text limit.
const MAX_FOOTER: usize = 2048;
/// Author name limit.
const MAX_AUTHOR: usize = 256;
/// Sum of all embed text in one message.
pub(crate) const MAX_EMBED_TOTAL: usize = 6000;
/// URL length limit (SPEC).
const MAX_URL: usize = 2048;
/// Largest embed colour.
const MAX_COLOR: i64 = 0xFF_FFFF;
/// String nonce limit (D-MSG).
const MAX_NONCE: usize = 25;
/// Most ids in `allowed_mentions.users` / `roles`.
const MAX_MENTION_IDS: usize = 100;
/// Webhook username length range.
const USERNAME_CHARS: (usize, usize) = (1, 80);
/// Webhook `thread_name` limit.
const MAX_THREAD_NAME: usize = 100;
/// Webhook `applied_tags` limit.
const MAX_APPLIED_TAGS: usize = 5;
/// Attachment filename / description limit.
const MAX_ATTACHMENT_TEXT: usize = 1024;
/// `sticker_ids` limit.
const MAX_STICKERS: usize = 3;
/// `components` limit (SPEC).
const MAX_COMPONENTS: usize = 40;
/// `SUPPRESS_EMBEDS`.
pub(crate) const FLAG_SUPPRESS_EMBEDS: u64 = 1 << 2;
/// `SUPPRESS_NOTIFICATIONS`.
pub(crate) const FLAG_SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;
/// `IS_VOICE_MESSAGE`.
pub(crate) const FLAG_IS_VOICE_MESSAGE: u64 = 1 << 13;
/// `IS_COMPONENTS_V2`.
pub(crate) const FLAG_IS_COMPONENTS_V2: u64 = 1 << 15;

/// Who sends the message: the routes accept slightly different fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    /// `POST /channels/{id}/messages` with a bot token.
    Bot,
    /// `POST /webhooks/{id}/{token}`.
    Webhook,
}

/// `allowed_mentions` as it applies to the message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mentions {
    /// The effective `parse` set (defaults applied when `allowed_mentions` is absent).
    pub parse: Vec<String>,
    /// Explicitly allowed user ids.
    pub users: Vec<String>,
    /// Explicitly allowed role ids.
    pub roles: Vec<String>,
}

/// A valid body, normalised the way Discord stores it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    /// `content` ("" when absent).
    pub content: String,
    /// `tts`.
    pub tts: bool,
    /// Embeds with `type: "rich"`, trimmed text, read-only fields dropped.
    pub embeds: Vec<Value>,
    /// Flags with unknown bits stripped.
    pub flags: u64,
    /// `nonce` (bot route only).
    pub nonce: Option<Value>,
    /// `enforce_nonce` (bot route only).
    pub enforce_nonce: bool,
    /// Effective mention settings.
    pub mentions: Mentions,
    /// `attachments[].description` by file index.
    pub descriptions: Vec<(u64, String)>,
    /// Webhook `username` override.
    pub username: Option<String>,
    /// Webhook `avatar_url` override.
    pub avatar_url: Option<String>,
    /// Whether stickers, components or a poll make the message non-empty.
    pub has_other_content: bool,
}

/// The `errors` tree of a 50035 answer.
#[derive(Debug, Default)]
struct Errors {
    /// The tree; array indexes are string keys.
    tree: Map<String, Value>,
}

impl Errors {
    /// Adds a leaf error at a dot-separated path (`""` for the request itself).
    fn add(&mut self, path: &str, code: &str, message: impl Into<String>) {
        let mut node = &mut self.tree;
        for key in path.split('.').filter(|k| !k.is_empty()) {
            let child = node
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            let Value::Object(child) = child else { return };
            node = child;
        }
        let leaf = node
            .entry("_errors")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = leaf {
            list.push(json!({ "code": code, "message": message.into() }));
        }
    }

    /// `BASE_TYPE_MAX_LENGTH`.
    fn too_long(&mut self, path: &str, max: usize) {
        self.add(
            path,
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {max} or fewer in length."),
        );
    }

    /// `BASE_TYPE_REQUIRED`.
    fn required(&mut self, path: &str) {
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required");
    }

    /// A value of the wrong JSON type.
    fn wrong_type(&mut self, path: &str, expected: Expected, value: &Value) {
        let shown = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match expected {
            Expected::String => self.add(path, "BASE_TYPE_STRING", "Must be a string."),
            Expected::Bool => self.add(path, "BASE_TYPE_BOOLEAN", "Must be either true or false."),
            Expected::Int => self.add(
                path,
                "NUMBER_TYPE_COERCE",
                format!("Value \"{shown}\" is not int."),
            ),
            Expected::Snowflake => self.add(
                path,
                "NUMBER_TYPE_COERCE",
                format!("Value \"{shown}\" is not snowflake."),
            ),
            Expected::Object => self.add(
                path,
                "DICT_TYPE_CONVERT",
                "Only dictionaries may be used in a DictType",
            ),
            Expected::List => self.add(
                path,
                "LIST_TYPE_CONVERT",
                "Only iterables may be used in a ListType",
            ),
        }
    }

    /// Whether nothing was reported.
    fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

/// JSON types a field may require.
#[derive(Debug, Clone, Copy)]
enum Expected {
    /// A string.
    String,
    /// A boolean.
    Bool,
    /// An integer.
    Int,
    /// A snowflake: an unsigned integer or a string of digits.
    Snowflake,
    /// An object.
    Object,
    /// An array.
    List,
}

/// Length in code points, as Discord counts it (discord-api.md 2.2, #1315).
fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Reads an optional field: `None` when absent or null.
fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

/// An optional string field; reports a type error and returns `None` for non-strings.
fn string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Errors,
) -> Option<&'a str> {
    match field(object, key)? {
        Value::String(s) => Some(s),
        other => {
            errors.wrong_type(path, Expected::String, other);
            None
        }
    }
}

/// An optional boolean field.
fn boolean(object: &Map<String, Value>, key: &str, errors: &mut Errors) -> bool {
    match field(object, key) {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            errors.wrong_type(key, Expected::Bool, other);
            false
        }
    }
}

/// An optional array field.
fn list<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Errors,
) -> Option<&'a Vec<Value>> {
    match field(object, key)? {
        Value::Array(items) => Some(items),
        other => {
            errors.wrong_type(path, Expected::List, other);
            None
        }
    }
}

/// A snowflake as a string, or `None` when the value is not one.
fn snowflake(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s)
            if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<u64>().ok().map(|n| n.to_string())
        }
        _ => None,
    }
}

/// Checks a URL field (length and scheme).
fn url(object: &Map<String, Value>, key: &str, path: &str, errors: &mut Errors) {
    let Some(text) = string(object, key, path, errors) else {
        return;
    };
    if chars(text) > MAX_URL {
        errors.too_long(path, MAX_URL);
    } else if !["http://", "https://", "attachment://"]
        .iter()
        .any(|scheme| {
            text.get(..scheme.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
                && text.len() > scheme.len()
        })
    {
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.");
    }
}

/// Validates a string that Discord trims, returning its trimmed length (0 when absent).
fn trimmed_text(
    object: &mut Map<String, Value>,
    key: &str,
    max: usize,
    path: &str,
    errors: &mut Errors,
) -> usize {
    let Some(text) = string(object, key, path, errors) else {
        return 0;
    };
    let trimmed = text.trim().to_string();
    let len = chars(&trimmed);
    if len > max {
        errors.too_long(path, max);
    }
    object.insert(key.to_string(), Value::String(trimmed));
    len
}

/// Validates a nested object (`footer`, `author`, `image`, ...); `None` when absent or invalid.
fn sub_object<'a>(
    object: &'a mut Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Errors,
) -> Option<&'a mut Map<String, Value>> {
    match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Object(_)) => object.get_mut(key).and_then(Value::as_object_mut),
        Some(other) => {
            errors.wrong_type(path, Expected::Object, other);
            None
        }
    }
}

/// Validates and normalises one embed; returns its text size (towards the 6000 total).
fn embed(embed: &mut Value, path: &str, errors: &mut Errors) -> usize {
    let Some(object) = embed.as_object_mut() else {
        errors.wrong_type(path, Expected::Object, embed);
        return 0;
    };
    object.retain(|_, v| !v.is_null());
    let mut size = trimmed_text(object, "title", MAX_TITLE, &format!("{path}.title"), errors);
    size += trimmed_text(
        object,
        "description",
        MAX_DESCRIPTION,
        &format!("{path}.description"),
        errors,
    );
    url(object, "url", &format!("{path}.url"), errors);
    if let Some(ts) = string(object, "timestamp", &format!("{path}.timestamp"), errors) {
        if !super::clock::is_iso8601(ts) {
            let message = format!("Could not parse {ts}. Should be ISO8601.");
            errors.add(
                &format!("{path}.timestamp"),
                "DATE_TIME_TYPE_PARSE",
                message,
            );
        }
    }
    if let Some(color) = field(object, "color") {
        let color_path = format!("{path}.color");
        match color.as_i64() {
            Some(c) if c < 0 => errors.add(
                &color_path,
                "NUMBER_TYPE_MIN",
                "int value should be greater than or equal to 0.",
            ),
            Some(c) if c > MAX_COLOR => errors.add(
                &color_path,
                "NUMBER_TYPE_MAX",
                format!("int value should be less than or equal to {MAX_COLOR}."),
            ),
            Some(_) => {}
            None => errors.wrong_type(&color_path, Expected::Int, color),
        }
    }
    if let Some(footer) = sub_object(object, "footer", &format!("{path}.footer"), errors) {
        size += trimmed_text(
            footer,
            "text",
            MAX_FOOTER,
            &format!("{path}.footer.text"),
            errors,
        );
        url(
            footer,
            "icon_url",
            &format!("{path}.footer.icon_url"),
            errors,
        );
    }
    if let Some(author) = sub_object(object, "author", &format!("{path}.author"), errors) {
        size += trimmed_text(
            author,
            "name",
            MAX_AUTHOR,
            &format!("{path}.author.name"),
            errors,
        );
        url(author, "url", &format!("{path}.author.url"), errors);
        url(
            author,
            "icon_url",
            &format!("{path}.author.icon_url"),
            errors,
        );
    }
    for media in ["image", "thumbnail"] {
        if let Some(media_object) = sub_object(object, media, &format!("{path}.{media}"), errors) {
            url(media_object, "url", &format!("{path}.{media}.url"), errors);
            for read_only in ["width", "height", "proxy_url"] {
                media_object.remove(read_only);
            }
        }
    }
    size += embed_fields(object, path, errors);
    object.remove("provider");
    object.remove("video");
    object.insert("type".to_string(), Value::from("rich"));
    size
}

/// Validates `fields` of one embed; returns their text size.
fn embed_fields(object: &mut Map<String, Value>, path: &str, errors: &mut Errors) -> usize {
    let fields_path = format!("{path}.fields");
    let Some(fields) = object.get_mut("fields") else {
        return 0;
    };
    let Some(fields) = fields.as_array_mut() else {
        if !fields.is_null() {
            errors.wrong_type(&fields_path, Expected::List, fields);
        }
        return 0;
    };
    if fields.len() > MAX_FIELDS {
        errors.too_long(&fields_path, MAX_FIELDS);
    }
    let mut size = 0;
    for (j, item) in fields.iter_mut().enumerate() {
        let item_path = format!("{fields_path}.{j}");
        let Some(item) = item.as_object_mut() else {
            errors.wrong_type(&item_path, Expected::Object, item);
            continue;
        };
        for (key, max) in [("name", MAX_FIELD_NAME), ("value", MAX_FIELD_VALUE)] {
            let key_path = format!("{item_path}.{key}");
            match field(item, key) {
                None => errors.required(&key_path),
                Some(Value::String(s)) if s.trim().is_empty() => errors.required(&key_path),
                Some(_) => size += trimmed_text(item, key, max, &key_path, errors),
            }
        }
        if let Some(inline) = field(item, "inline") {
            if !inline.is_boolean() {
                errors.wrong_type(&format!("{item_path}.inline"), Expected::Bool, inline);
            }
        }
    }
    size
}

/// Whether an embed shows anything: text or media (an empty embed does not count, assumed).
pub(crate) fn embed_has_content(embed: &Value) -> bool {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    };
    text(embed.get("title"))
        || text(embed.get("description"))
        || text(embed.pointer("/footer/text"))
        || text(embed.pointer("/author/name"))
        || text(embed.pointer("/image/url"))
        || text(embed.pointer("/thumbnail/url"))
        || embed
            .get("fields")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
}

/// Validates `allowed_mentions` and returns the effective settings.
fn mentions(object: &Map<String, Value>, sender: Sender, errors: &mut Errors) -> Mentions {
    let Some(value) = field(object, "allowed_mentions") else {
        let parse: &[&str] = match sender {
            Sender::Bot => &["users", "roles", "everyone"],
            Sender::Webhook => &["users"],
        };
        return Mentions {
            parse: parse.iter().map(ToString::to_string).collect(),
            ..Mentions::default()
        };
    };
    let Some(allowed) = value.as_object() else {
        errors.wrong_type("allowed_mentions", Expected::Object, value);
        return Mentions::default();
    };
    let mut result = Mentions::default();
    if let Some(parse) = list(allowed, "parse", "allowed_mentions.parse", errors) {
        for (i, item) in parse.iter().enumerate() {
            if let Some(kind @ ("users" | "roles" | "everyone")) = item.as_str() {
                if !result.parse.iter().any(|p| p == kind) {
                    result.parse.push(kind.to_string());
                }
            } else {
                let shown = item
                    .as_str()
                    .map_or_else(|| item.to_string(), str::to_string);
                errors.add(
                    &format!("allowed_mentions.parse.{i}"),
                    "ENUM_TYPE_COERCE",
                    format!("Value \"{shown}\" is not a valid enum value."),
                );
            }
        }
    }
    for (key, out) in [("users", &mut result.users), ("roles", &mut result.roles)] {
        let path = format!("allowed_mentions.{key}");
        let Some(ids) = list(allowed, key, &path, errors) else {
            continue;
        };
        if ids.len() > MAX_MENTION_IDS {
            errors.too_long(&path, MAX_MENTION_IDS);
        }
        for (i, id) in ids.iter().enumerate() {
            match snowflake(id) {
                Some(id) if out.contains(&id) => errors.add(
                    &format!("{path}.{i}"),
                    "SET_TYPE_ALREADY_CONTAINS_VALUE",
                    "The set already contains this value.",
                ),
                Some(id) => out.push(id),
                None => errors.wrong_type(&format!("{path}.{i}"), Expected::Snowflake, id),
            }
        }
    }
    for (kind, ids) in [("users", &result.users), ("roles", &result.roles)] {
        if !ids.is_empty() && result.parse.iter().any(|p| p == kind) {
            errors.add(
                "allowed_mentions",
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                format!("parse:[\"{kind}\"] and {kind}: [ids...] are mutually exclusive."),
            );
        }
    }
    if let Some(replied) = field(allowed, "replied_user") {
        if !replied.is_boolean() {
            errors.wrong_type("allowed_mentions.replied_user", Expected::Bool, replied);
        }
    }
    result
}

/// Validates `nonce` (bot route): an int64 or a string of at most 25 code points.
fn nonce(object: &Map<String, Value>, errors: &mut Errors) -> Option<Value> {
    let value = field(object, "nonce")?;
    match value {
        Value::Number(n) if n.as_i64().is_some() => Some(value.clone()),
        Value::String(s) if chars(s) <= MAX_NONCE => Some(value.clone()),
        Value::String(_) => {
            errors.too_long("nonce", MAX_NONCE);
            None
        }
        _ => {
            errors.add(
                "nonce",
                "NONCE_TYPE_INVALID",
                "Nonce must be an integer or a string.",
            );
            None
        }
    }
}

/// Validates the webhook-only fields.
fn webhook_fields(object: &Map<String, Value>, draft: &mut Draft, errors: &mut Errors) {
    if let Some(name) = string(object, "username", "username", errors) {
        let len = chars(name.trim());
        let (min, max) = USERNAME_CHARS;
        if !(min..=max).contains(&len) {
            errors.add(
                "username",
                "BASE_TYPE_BAD_LENGTH",
                format!("Must be between {min} and {max} in length."),
            );
        }
        let lower = name.to_lowercase();
        for banned in ["discord", "clyde"] {
            if lower.contains(banned) {
                errors.add(
                    "username",
                    "USERNAME_INVALID_CONTAINS",
                    format!("Username cannot contain \"{banned}\""),
                );
            }
        }
        draft.username = Some(name.trim().to_string());
    }
    if field(object, "avatar_url").is_some() {
        url(object, "avatar_url", "avatar_url", errors);
        draft.avatar_url = object
            .get("avatar_url")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    if let Some(name) = string(object, "thread_name", "thread_name", errors) {
        if chars(name) > MAX_THREAD_NAME {
            errors.too_long("thread_name", MAX_THREAD_NAME);
        }
    }
    if let Some(tags) = list(object, "applied_tags", "applied_tags", errors) {
        if tags.len() > MAX_APPLIED_TAGS {
            errors.too_long("applied_tags", MAX_APPLIED_TAGS);
        }
    }
}

/// Validates `attachments` against the uploaded files.
fn attachments(
    object: &Map<String, Value>,
    uploads: &[Upload],
    draft: &mut Draft,
    errors: &mut Errors,
) {
    let Some(items) = list(object, "attachments", "attachments", errors) else {
        return;
    };
    if items.len() > super::payload::MAX_FILES {
        errors.too_long("attachments", super::payload::MAX_FILES);
    }
    for (i, item) in items.iter().enumerate() {
        let path = format!("attachments.{i}");
        let Some(item) = item.as_object() else {
            errors.wrong_type(&path, Expected::Object, item);
            continue;
        };
        match field(item, "id") {
            None => errors.required(&format!("{path}.id")),
            Some(id) => match snowflake(id).and_then(|s| s.parse::<u64>().ok()) {
                Some(n) if uploads.iter().any(|u| u.index == n) => {
                    if let Some(description) = item.get("description").and_then(Value::as_str) {
                        draft.descriptions.push((n, description.to_string()));
                    }
                }
                Some(_) => errors.add(
                    &format!("{path}.id"),
                    "ATTACHMENT_NOT_FOUND",
                    "Attachment id does not match any uploaded files[n].",
                ),
                None => errors.wrong_type(&format!("{path}.id"), Expected::Snowflake, id),
            },
        }
        if let Some(name) = string(item, "filename", &format!("{path}.filename"), errors) {
            if name.is_empty() || chars(name) > MAX_ATTACHMENT_TEXT {
                let message = format!("Must be between 1 and {MAX_ATTACHMENT_TEXT} in length.");
                errors.add(&format!("{path}.filename"), "BASE_TYPE_BAD_LENGTH", message);
            }
        }
        if let Some(text) = string(item, "description", &format!("{path}.description"), errors) {
            if chars(text) > MAX_ATTACHMENT_TEXT {
                errors.too_long(&format!("{path}.description"), MAX_ATTACHMENT_TEXT);
            }
        }
    }
}

/// Validates a message body, reporting every violation at once.
pub(crate) fn validate(json: &Value, sender: Sender, uploads: &[Upload]) -> Result<Draft, Reply> {
    let mut errors = Errors::default();
    let Some(object) = json.as_object() else {
        errors.wrong_type("", Expected::Object, json);
        return Err(reply::invalid_form_body(Value::Object(errors.tree)));
    };
    let mut draft = Draft::default();
    if let Some(content) = string(object, "content", "content", &mut errors) {
        if chars(content) > MAX_CONTENT_CHARS {
            errors.too_long("content", MAX_CONTENT_CHARS);
        }
        draft.content = content.to_string();
    }
    draft.tts = boolean(object, "tts", &mut errors);
    if let Some(embeds) = list(object, "embeds", "embeds", &mut errors) {
        if embeds.len() > MAX_EMBEDS {
            errors.too_long("embeds", MAX_EMBEDS);
        }
        let mut total = 0;
        for (i, item) in embeds.iter().enumerate() {
            let mut item = item.clone();
            total += embed(&mut item, &format!("embeds.{i}"), &mut errors);
            draft.embeds.push(item);
        }
        if total > MAX_EMBED_TOTAL {
            errors.add(
                "embeds",
                "MAX_EMBED_SIZE_EXCEEDED",
                format!("Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"),
            );
        }
    }
    if let Some(flags) = field(object, "flags") {
        match flags.as_u64() {
            Some(bits) => {
                let allowed = match sender {
                    Sender::Bot => {
                        FLAG_SUPPRESS_EMBEDS
                            | FLAG_SUPPRESS_NOTIFICATIONS
                            | FLAG_IS_VOICE_MESSAGE
                            | FLAG_IS_COMPONENTS_V2
                    }
                    Sender::Webhook => {
                        FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_IS_COMPONENTS_V2
                    }
                };
                draft.flags = bits & allowed;
            }
            None => errors.wrong_type("flags", Expected::Int, flags),
        }
    }
    if draft.flags & FLAG_IS_COMPONENTS_V2 != 0 {
        let legacy = "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2";
        if !draft.content.is_empty() {
            errors.add(
                "content",
                legacy,
                "The 'content' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
            );
        }
        if !draft.embeds.is_empty() {
            errors.add(
                "embeds",
                legacy,
                "The 'embeds' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
            );
        }
    }
    draft.mentions = mentions(object, sender, &mut errors);
    match sender {
        Sender::Bot => {
            draft.nonce = nonce(object, &mut errors);
            draft.enforce_nonce = boolean(object, "enforce_nonce", &mut errors);
            if let Some(stickers) = list(object, "sticker_ids", "sticker_ids", &mut errors) {
                if stickers.len() > MAX_STICKERS {
                    errors.too_long("sticker_ids", MAX_STICKERS);
                }
                draft.has_other_content |= !stickers.is_empty();
            }
        }
        Sender::Webhook => webhook_fields(object, &mut draft, &mut errors),
    }
    if let Some(components) = list(object, "components", "components", &mut errors) {
        if components.len() > MAX_COMPONENTS {
            errors.too_long("components", MAX_COMPONENTS);
        }
        draft.has_other_content |= !components.is_empty();
    }
    draft.has_other_content |= field(object, "poll").is_some();
    attachments(object, uploads, &mut draft, &mut errors);
    if errors.is_empty() {
        Ok(draft)
    } else {
        Err(reply::invalid_form_body(Value::Object(errors.tree)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `errors` tree of a rejected body.
    fn errors_of(body: Value, sender: Sender) -> Value {
        let reply = validate(&body, sender, &[]).expect_err("should be rejected");
        assert_eq!(reply.status, 400);
        let body = reply.body.expect("a body");
        assert_eq!(body["code"], 50035);
        body["errors"].clone()
    }

    #[test]
    fn content_counts_code_points() {
        let ok = json!({ "content": "é".repeat(2000) });
        assert_eq!(
            validate(&ok, Sender::Bot, &[])
                .expect("valid")
                .content
                .chars()
                .count(),
            2000
        );
        let errors = errors_of(json!({ "content": "a".repeat(2001) }), Sender::Bot);
        assert_eq!(
            errors,
            json!({"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}})
        );
    }

    #[test]
    fn reports_every_violation_at_once() {
        let body = json!({
            "content": "x".repeat(2001),
            "embeds": [{ "title": "t".repeat(257), "fields": [{ "name": "n", "value": "  " }], "color": 16777216 }],
            "nonce": "n".repeat(26),
        });
        let errors = errors_of(body, Sender::Bot);
        assert_eq!(
            errors["content"]["_errors"][0]["code"],
            "BASE_TYPE_MAX_LENGTH"
        );
        assert_eq!(
            errors["embeds"]["0"]["title"]["_errors"][0]["message"],
            "Must be 256 or fewer in length."
        );
        assert_eq!(
            errors["embeds"]["0"]["fields"]["0"]["value"]["_errors"][0]["code"],
            "BASE_TYPE_REQUIRED"
        );
        assert_eq!(
            errors["embeds"]["0"]["color"]["_errors"][0]["code"],
            "NUMBER_TYPE_MAX"
        );
        assert_eq!(
            errors["nonce"]["_errors"][0]["message"],
            "Must be 25 or fewer in length."
        );
    }

    #[test]
    fn embed_total_is_trimmed_and_summed() {
        let padded = format!("  {}  ", "d".repeat(3000));
        let ok =
            json!({ "embeds": [{ "description": padded }, { "description": "d".repeat(3000) }] });
        let draft = validate(&ok, Sender::Bot, &[]).expect("6000 exactly is fine");
        assert_eq!(
            draft.embeds[0]["description"].as_str().map(str::len),
            Some(3000)
        );
        assert_eq!(draft.embeds[0]["type"], "rich");
        let errors = errors_of(
            json!({ "embeds": [{ "description": "d".repeat(3000) }, { "description": "d".repeat(3001) }] }),
            Sender::Bot,
        );
        assert_eq!(
            errors,
            json!({"embeds": {"_errors": [{"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size of 6000"}]}})
        );
    }

    #[test]
    fn mention_defaults_and_exclusivity() {
        let bot = validate(&json!({"content": "x"}), Sender::Bot, &[]).expect("valid");
        assert_eq!(bot.mentions.parse, ["users", "roles", "everyone"]);
        let hook = validate(&json!({"content": "x"}), Sender::Webhook, &[]).expect("valid");
        assert_eq!(hook.mentions.parse, ["users"]);
        let errors = errors_of(
            json!({"allowed_mentions": {"parse": ["users"], "users": ["1"]}}),
            Sender::Bot,
        );
        assert_eq!(
            errors["allowed_mentions"]["_errors"][0]["code"],
            "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"
        );
    }

    #[test]
    fn webhook_username_rules_and_flag_stripping() {
        let errors = errors_of(
            json!({"content": "x", "username": "My Discord Bot"}),
            Sender::Webhook,
        );
        assert_eq!(
            errors["username"]["_errors"][0],
            json!({"code": "USERNAME_INVALID_CONTAINS", "message": "Username cannot contain \"discord\""})
        );
        let draft = validate(
            &json!({"content": "x", "flags": 4 | 4096 | 1}),
            Sender::Webhook,
            &[],
        )
        .expect("valid");
        assert_eq!(draft.flags, 4 | 4096);
    }
}
