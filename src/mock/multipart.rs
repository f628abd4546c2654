//! A small `multipart/form-data` parser (RFC 7578), enough for Discord uploads:
//! `files[n]` parts with a filename, a `payload_json` part, plain fields such as `content`.

/// One part of a multipart body.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// The `name` parameter of `Content-Disposition`.
    pub name: String,
    /// The `filename` parameter, when the part is a file.
    pub filename: Option<String>,
    /// The part's own `Content-Type`, if it has one.
    pub content_type: Option<String>,
    /// The raw bytes.
    pub data: Vec<u8>,
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    params(content_type)
        .into_iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value)
        .filter(|b| !b.is_empty() && b.len() <= 200)
}

/// Splits a body into parts; `None` when it is not well-formed multipart.
pub(crate) fn parse(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut pos = find(body, &delimiter, 0)? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Some(parts);
        }
        pos = skip_line_break(body, pos)?;
        let header_end = find(body, b"\r\n\r\n", pos)
            .map(|i| (i, 4))
            .or_else(|| find(body, b"\n\n", pos).map(|i| (i, 2)))?;
        let headers = std::str::from_utf8(&body[pos..header_end.0]).ok()?;
        let data_start = header_end.0 + header_end.1;
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(&delimiter);
        let data_end = find(body, &closing, data_start)?;
        parts.push(part(headers, body[data_start..data_end].to_vec())?);
        pos = data_end + closing.len();
    }
}

/// Builds a part from its header block and bytes.
fn part(headers: &str, data: Vec<u8>) -> Option<Part> {
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in headers.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("content-disposition") {
            for (param, raw) in params(value) {
                match param.to_ascii_lowercase().as_str() {
                    "name" => name = Some(raw),
                    "name*" => name = Some(ext_value(&raw)),
                    "filename" => filename = Some(raw),
                    "filename*" => filename = Some(ext_value(&raw)),
                    _ => {}
                }
            }
        } else if key.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_string());
        }
    }
    Some(Part {
        name: name?,
        filename,
        content_type,
        data,
    })
}

/// Parses `type; key=value; key="quoted \" value"` into its parameters (after the first `;`).
fn params(header: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = header.chars().peekable();
    // Skip the leading type (`form-data`, `multipart/form-data`).
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let key = key.trim().to_string();
        if key.is_empty() {
            return out;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
            }
        } else {
            value = chars
                .by_ref()
                .take_while(|&c| c != ';')
                .collect::<String>()
                .trim()
                .to_string();
        }
        out.push((key, value));
    }
}

/// Decodes an RFC 8187 extended value such as `utf-8''files%5B0%5D`.
fn ext_value(raw: &str) -> String {
    let encoded = raw.splitn(3, '\'').nth(2).unwrap_or(raw);
    percent_decode(encoded)
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Skips the CRLF (or bare LF) that must follow a delimiter.
fn skip_line_break(body: &[u8], pos: usize) -> Option<usize> {
    if body.get(pos..pos + 2) == Some(b"\r\n") {
        Some(pos + 2)
    } else if body.get(pos) == Some(&b'\n') {
        Some(pos + 1)
    } else {
        None
    }
}

/// The first index at or after `from` where `needle` occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= haystack.len() {
        let offset = haystack[i..].iter().position(|&b| b == first)?;
        i += offset;
        if haystack.get(i..i + needle.len()) == Some(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_files_and_payload() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n{\"content\":\"hi\"}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a \\\"b\\\".txt\"\r\nContent-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n--XyZ--\r\n";
        let parts = parse(body, "XyZ").expect("well-formed");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "payload_json");
        assert_eq!(parts[0].data, b"{\"content\":\"hi\"}");
        assert_eq!(parts[1].name, "files[0]");
        assert_eq!(parts[1].filename.as_deref(), Some("a \"b\".txt"));
        assert_eq!(parts[1].content_type.as_deref(), Some("text/plain"));
        assert_eq!(parts[1].data, b"line 1\r\nline 2");
    }

    #[test]
    fn rejects_truncated_bodies() {
        assert!(parse(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            "XyZ"
        )
        .is_none());
        assert!(parse(b"garbage", "XyZ").is_none());
    }

    #[test]
    fn reads_boundary_and_extended_names() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"abc\"").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("multipart/form-data; charset=utf-8; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(ext_value("utf-8''files%5B0%5D"), "files[0]");
    }
}
