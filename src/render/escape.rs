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

    #[test]
    fn plain_text_is_unchanged() {
        let t = "user 42 joined guild 7, 3 members — ok 日本語 🎉";
        assert_eq!(code_block(t), t);
        assert_eq!(markdown(t), t);
    }
}
