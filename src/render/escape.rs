//! Escaping user text so it cannot break out of its block, format itself, or ping anyone;
//! every escape is reversible (`unescape_*`), so the original text can be recovered.
//!
//! Both escapes first make invisible characters visible, one for one:
//! - C0 control characters other than newline and tab, and DEL, become their Unicode
//!   "control pictures" (`\0` → `␀`, `\r` → `␍`, DEL → `␡`);
//! - bidirectional controls (which could reorder what a reader sees, e.g. U+202E) become
//!   `⟦U+202E⟧`, and so do literal control pictures and `⟦` themselves, so that the
//!   escape is one-to-one.
//!
//! Then, in code blocks, a zero-width space is put between two backticks so no run of
//! backticks can close the fence; in markdown (embed text), markdown characters get a
//! backslash and `@everyone`/`@here` get a zero-width space after the `@`.

/// Zero-width space: invisible, breaks backtick runs and mentions.
pub const ZWSP: char = '\u{200B}';

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Appends `c` made visible, or returns false when `c` needs no change.
fn push_visible(out: &mut String, c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        '\u{0}'..='\u{1F}' => {
            out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'));
            true
        }
        '\u{7F}' => {
            out.push('\u{2421}');
            true
        }
        // The escape's own characters are escaped too, so every escape is undone exactly.
        c if is_bidi_control(c) || ('\u{2400}'..='\u{2426}').contains(&c) || c == '⟦' => {
            out.push_str(&format!("⟦U+{:04X}⟧", c as u32));
            true
        }
        _ => false,
    }
}

/// Escapes text for the inside of a code block.
pub fn code_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    push_code_block(&mut out, text, "\n");
    out
}

/// Bytes 0x01 repeated in a word.
const LO: u64 = 0x0101_0101_0101_0101;
/// Bytes 0x80 repeated in a word.
const HI: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `bytes` from `at`, as one little-endian word.
#[inline(always)]
pub(crate) fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Non-zero when some byte of `w` is below `n` (`n <= 0x80`), eight bytes at once (the
/// "haszero"/"hasless" bit tricks, exact as a yes/no answer).
#[inline(always)]
pub(crate) fn has_below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(LO * u64::from(n)) & !w & HI
}

/// Non-zero when some byte of `w` equals `b`.
#[inline(always)]
pub(crate) fn has_byte(w: u64, b: u8) -> u64 {
    has_below(w ^ (LO * u64::from(b)), 1)
}

/// Whether [`code_block`] leaves `text` as it is, looked at eight bytes at a time:
/// printable ASCII without backticks (anything else takes the careful path).
fn is_plain(text: &str) -> bool {
    let bytes = text.as_bytes();
    let odd = |b: u8| !(0x20..0x7F).contains(&b) || b == b'`';
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let w = word(bytes, at);
        if (w & HI) | has_below(w, 0x20) | has_byte(w, 0x7F) | has_byte(w, b'`') != 0 {
            return false;
        }
        at += 8;
    }
    !bytes[at..].iter().any(|&b| odd(b))
}

/// Appends [`code_block`]`(text)` to `out`, each newline replaced by `newline` (the
/// renderer's log lines indent what follows a newline; table cells show `␊`).
pub(crate) fn push_code_block(out: &mut String, text: &str, newline: &str) {
    if is_plain(text) {
        out.push_str(text);
        return;
    }
    let mut prev_backtick = false;
    for c in text.chars() {
        if c == '`' && prev_backtick {
            out.push(ZWSP);
        }
        prev_backtick = c == '`';
        if c == '\n' {
            out.push_str(newline);
        } else if !push_visible(out, c) {
            out.push(c);
        }
    }
}

/// Characters that format text in Discord's markdown wherever they stand.
fn is_markdown_char(c: char) -> bool {
    matches!(
        c,
        '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '(' | ')' | '<' | ':'
    )
}

/// Escapes text for embed descriptions, titles and fields (markdown is rendered there).
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut line_start = true;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        if push_visible(&mut out, c) {
            line_start = false;
            continue;
        }
        // Block markdown only acts at the start of a line: quotes, headings, lists.
        let at_start = line_start && matches!(c, '>' | '#' | '-' | '+');
        if is_markdown_char(c) || at_start {
            out.push('\\');
        }
        out.push(c);
        if c == '@' && (rest.starts_with("everyone") || rest.starts_with("here")) {
            out.push(ZWSP);
        }
        line_start = c == '\n' || (line_start && c == ' ');
    }
    out
}

/// Undoes [`push_visible`] on text.
fn unescape_visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(hex) = rest.strip_prefix("⟦U+").and_then(|r| r.get(..4)) {
            if rest["⟦U+".len() + 4..].starts_with('⟧') {
                if let Some(orig) = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                    out.push(orig);
                    rest = &rest["⟦U+".len() + 4 + '⟧'.len_utf8()..];
                    continue;
                }
            }
        }
        match c as u32 {
            0x2400..=0x241F => out.push(char::from_u32(c as u32 - 0x2400).unwrap_or(c)),
            0x2421 => out.push('\u{7F}'),
            _ => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Recovers the original text from [`code_block`]'s output.
pub fn unescape_code_block(text: &str) -> String {
    unescape_visible(&text.replace(ZWSP, ""))
}

/// Recovers the original text from [`markdown`]'s output.
pub fn unescape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            ZWSP => {}
            c => out.push(c),
        }
    }
    unescape_visible(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "␀ ⟦U+0041⟧ a ```rust\n**bold** ||spoiler|| \n> quote\r\n\ttab \0 nul \u{202E}rtl @everyone <@&123> <@456> @here # h - l [x](http://e) :smile: \\ \u{7F}";

    #[test]
    fn code_block_text_cannot_close_the_fence_and_round_trips() {
        let e = code_block(HOSTILE);
        assert!(!e.contains("``"));
        assert!(!e.contains('\0') && !e.contains('\r') && !e.contains('\u{202E}'));
        assert!(e.contains("␀ nul ⟦U+202E⟧rtl"));
        assert_eq!(unescape_code_block(&e), HOSTILE);
    }

    #[test]
    fn markdown_text_formats_nothing_and_round_trips() {
        let e = markdown(HOSTILE);
        assert_eq!(
            e,
            "⟦U+2400⟧ ⟦U+27E6⟧U+0041⟧ a \\`\\`\\`rust\n\\*\\*bold\\*\\* \\|\\|spoiler\\|\\| \n\\> quote␍\n\ttab ␀ nul ⟦U+202E⟧rtl @\u{200B}everyone \\<@&123> \\<@456> @\u{200B}here # h - l \\[x\\]\\(http\\://e\\) \\:smile\\: \\\\ ␡"
        );
        assert_eq!(unescape_markdown(&e), HOSTILE);
    }

    /// The escape as first written, character by character: the reference for the fast
    /// path.
    fn reference(text: &str) -> String {
        let mut out = String::new();
        let mut prev_backtick = false;
        for c in text.chars() {
            if c == '`' && prev_backtick {
                out.push(ZWSP);
            }
            prev_backtick = c == '`';
            if !push_visible(&mut out, c) {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn the_plain_path_agrees_with_the_careful_one() {
        let texts = [
            "",
            "plain ascii 123 ~!",
            "one ` tick",
            "``",
            "tab\there",
            "x\u{7F}",
            "é",
            "a\nb",
            HOSTILE,
        ];
        for text in texts {
            assert_eq!(code_block(text), reference(text), "{text:?}");
        }
        assert!(is_plain("plain ascii 123 ~!"));
        for text in &texts[2..] {
            assert!(!is_plain(text), "{text:?}");
        }
    }

    #[test]
    fn plain_text_is_unchanged() {
        let t = "user 42 joined guild 7, 3 members — ok 日本語 🎉";
        assert_eq!(code_block(t), t);
        assert_eq!(markdown(t), t);
    }
}
