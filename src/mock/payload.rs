//! Turns a request body into a JSON payload plus uploaded files, by `Content-Type`
//! (emulator spec rules 11 and 12).

use serde_json::{Map, Value};

use super::multipart;
use super::reply::{self, Reply};

/// Most files one message may carry (discord-api.md 2.2, code 30015).
pub(crate) const MAX_FILES: usize = 10;

/// A request body as the server read it.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// The whole body.
    Complete(Vec<u8>),
    /// The body exceeded `max_request_bytes`; it was not kept.
    TooLarge,
}

/// One uploaded file (`files[n]`).
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    /// The `n` of `files[n]` (attachments refer to it by `id`).
    pub index: u64,
    /// The part's filename.
    pub filename: String,
    /// The part's `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// The file's bytes.
    pub data: Vec<u8>,
}

/// A parsed body: the JSON fields and the files.
#[derive(Debug, Clone, Default)]
pub(crate) struct Payload {
    /// The JSON body, `payload_json`, or the plain form fields.
    pub json: Value,
    /// Uploaded files in the order they were sent.
    pub uploads: Vec<Upload>,
}

/// Parses a message body. `content_type` is the raw header value.
pub(crate) fn parse(
    content_type: Option<&str>,
    body: &Body,
    upload_limit: usize,
) -> Result<Payload, Reply> {
    let bytes = match body {
        Body::Complete(bytes) => bytes,
        Body::TooLarge => return Err(reply::entity_too_large()),
    };
    let content_type = content_type.unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => json(bytes).map(|json| Payload {
            json,
            uploads: Vec::new(),
        }),
        "application/x-www-form-urlencoded" => urlencoded(bytes),
        "multipart/form-data" => form_data(content_type, bytes, upload_limit),
        _ => Err(reply::content_type_invalid()),
    }
}

/// Parses JSON bytes; 50109 when malformed.
pub(crate) fn json(bytes: &[u8]) -> Result<Value, Reply> {
    serde_json::from_slice(bytes).map_err(|_| reply::invalid_json())
}

/// Adds a plain form field to the payload (`payload_json` wins over a plain field).
fn add_field(fields: &mut Map<String, Value>, name: &str, value: String) {
    let value = match name {
        "tts" | "enforce_nonce" => Value::Bool(matches!(value.as_str(), "true" | "True" | "1")),
        "flags" => value
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or(Value::String(value)),
        _ => Value::String(value),
    };
    fields.entry(name.to_string()).or_insert(value);
}

/// Merges plain fields under a `payload_json` object.
fn merge(payload_json: Option<Value>, fields: Map<String, Value>) -> Value {
    match payload_json {
        Some(Value::Object(mut object)) => {
            for (key, value) in fields {
                object.entry(key).or_insert(value);
            }
            Value::Object(object)
        }
        Some(other) => other,
        None => Value::Object(fields),
    }
}

/// `application/x-www-form-urlencoded`: `content=...&tts=true` or `payload_json=...`.
fn urlencoded(bytes: &[u8]) -> Result<Payload, Reply> {
    let text = String::from_utf8_lossy(bytes);
    let mut fields = Map::new();
    let mut payload_json = None;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| multipart::percent_decode(&s.replace('+', " "));
        let (key, value) = (decode(key), decode(value));
        if key == "payload_json" {
            payload_json = Some(json(value.as_bytes())?);
        } else {
            add_field(&mut fields, &key, value);
        }
    }
    Ok(Payload {
        json: merge(payload_json, fields),
        uploads: Vec::new(),
    })
}

/// The index of a file part: `n` for `files[n]`, else the next free one.
fn file_index(name: &str, taken: &[Upload]) -> u64 {
    name.strip_prefix("files[")
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            (0..u64::MAX)
                .find(|i| taken.iter().all(|u| u.index != *i))
                .unwrap_or(0)
        })
}

/// `multipart/form-data` with `files[n]`, `payload_json` and plain fields.
fn form_data(content_type: &str, bytes: &[u8], upload_limit: usize) -> Result<Payload, Reply> {
    let malformed = || {
        reply::invalid_form_body(serde_json::json!({ "_errors": [{
            "code": "MULTIPART_INVALID",
            "message": "The multipart body could not be parsed."
        }]}))
    };
    let boundary = multipart::boundary(content_type).ok_or_else(malformed)?;
    let parts = multipart::parse(bytes, &boundary).ok_or_else(malformed)?;
    let mut uploads: Vec<Upload> = Vec::new();
    let mut fields = Map::new();
    let mut payload_json = None;
    for part in parts {
        if let Some(filename) = part.filename {
            let index = file_index(&part.name, &uploads);
            uploads.push(Upload {
                index,
                filename,
                content_type: part.content_type,
                data: part.data,
            });
        } else if part.name == "payload_json" {
            payload_json = Some(json(&part.data)?);
        } else {
            add_field(
                &mut fields,
                &part.name,
                String::from_utf8_lossy(&part.data).into_owned(),
            );
        }
    }
    if uploads.iter().any(|u| u.data.len() > upload_limit) {
        return Err(reply::entity_too_large());
    }
    if uploads.len() > MAX_FILES {
        return Err(reply::too_many_attachments());
    }
    Ok(Payload {
        json: merge(payload_json, fields),
        uploads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_fields_become_json() {
        let body = Body::Complete(b"content=hello+world%21&tts=true".to_vec());
        let payload = parse(Some("application/x-www-form-urlencoded"), &body, 10).expect("parses");
        assert_eq!(
            payload.json,
            serde_json::json!({"content": "hello world!", "tts": true})
        );
    }

    #[test]
    fn unknown_content_type_is_50035() {
        let err = parse(Some("text/plain"), &Body::Complete(Vec::new()), 10).unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.body.expect("body")["code"], 50035);
    }
}
