//! Packing lines into code blocks: the message's content first, then embed descriptions
//! while the 6000-character embed budget lasts, then the next message.
//!
//! A line is split only when it alone exceeds what a fresh block holds; its pieces are then
//! marked [`CONTINUES`] / [`CONTINUED`]. A line of a table may carry a header that is
//! repeated at the top of every block the table continues in.

use super::{
    char_len, Embed, Message, Part, CONTENT_MAX, DESCRIPTION_MAX, EMBEDS_MAX, EMBED_TOTAL_MAX,
};

/// Opens every block: an `ansi` code block, so levels can be coloured.
pub(crate) const FENCE_OPEN: &str = "```ansi\n";
/// Closes every block.
pub(crate) const FENCE_CLOSE: &str = "\n```";
const FENCE_LEN: usize = 12;
/// Marks the end of a piece of a split line.
pub const CONTINUES: &str = " ↩";
/// Marks the start of the next piece of a split line.
pub const CONTINUED: &str = "↪ ";
const MARK_LEN: usize = 2;
/// The longest piece of a split line: with both marks it fills a fresh content block.
const PIECE_MAX: usize = CONTENT_MAX - FENCE_LEN - 2 * MARK_LEN - LABEL_ROOM;
/// Bytes reserved for a block's lines when a packer starts (a full content block of
/// ASCII text; embed blocks grow it once more).
const BODY_RESERVE: usize = CONTENT_MAX + 64;
/// The longest label (a shard or host name shown above each message's content).
pub const LABEL_MAX: usize = 64;
/// Room a label takes in the content: `-# ` + label + newline.
const LABEL_ROOM: usize = LABEL_MAX + 4;

/// Which block of the message is being filled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Content,
    Embed,
}

/// Fills messages with lines.
pub(crate) struct Packer {
    /// Shown above each message's content (already escaped, at most [`LABEL_MAX`]).
    label: Option<String>,
    use_embeds: bool,
    flags: u64,
    done: Vec<Message>,
    current: Message,
    slot: Slot,
    body: String,
    body_len: usize,
    /// Embed text already committed in the current message.
    embed_total: usize,
    /// Repeated at the top of a new block while set (a table's title and column names).
    header: Option<String>,
    /// Characters of `header` plus its newline (0 without one); asked for every line.
    header_len: usize,
    /// The header was just set and has not been written yet.
    header_pending: bool,
}

impl Packer {
    /// A packer; without `use_embeds` every message is content only (for destinations
    /// where the bot lacks the Embed Links permission and Discord strips embeds).
    pub(crate) fn new(flags: u64, use_embeds: bool) -> Self {
        Packer {
            label: None,
            use_embeds,
            flags,
            done: Vec::new(),
            current: Message {
                flags,
                ..Message::default()
            },
            slot: Slot::Content,
            // A block's worth, so that filling it does not grow it step by step.
            body: String::with_capacity(BODY_RESERVE),
            body_len: 0,
            embed_total: 0,
            header: None,
            header_len: 0,
            header_pending: false,
        }
    }

    /// Shows `label` above each message's content.
    pub(crate) fn set_label(&mut self, label: Option<&str>) {
        self.label = label.map(|l| super::escape::markdown(&super::truncate(l, LABEL_MAX / 2)));
    }

    /// Sets (or clears) the header repeated at the top of each new block.
    pub(crate) fn set_header(&mut self, header: Option<String>) {
        // The table layout keeps headers short (see layout::HEADER_MAX).
        self.header = header.filter(|h| char_len(h) <= PIECE_MAX / 2);
        self.header_len = self.header.as_deref().map_or(0, |h| char_len(h) + 1);
        self.header_pending = self.header.is_some();
    }

    fn slot_capacity(&self) -> usize {
        match self.slot {
            Slot::Content => {
                CONTENT_MAX - FENCE_LEN - self.label.as_ref().map_or(0, |_| LABEL_ROOM)
            }
            Slot::Embed => DESCRIPTION_MAX
                .min(EMBED_TOTAL_MAX.saturating_sub(self.embed_total))
                .saturating_sub(FENCE_LEN),
        }
    }

    /// Adds one line that stands for `events` events (counted where its last piece lands).
    pub(crate) fn push_line(&mut self, line: &str, events: usize) {
        let len = char_len(line);
        if len <= PIECE_MAX + 2 * MARK_LEN - self.header_len() {
            self.push_unit(line, len, events, true);
            return;
        }
        let pieces = super::split_chars(line, PIECE_MAX - self.header_len());
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            let mut unit = String::with_capacity(piece.len() + 8);
            if i > 0 {
                unit.push_str(CONTINUED);
            }
            unit.push_str(piece);
            if i < last {
                unit.push_str(CONTINUES);
            }
            let len = char_len(&unit);
            // A header never comes between the pieces of one line.
            self.push_unit(&unit, len, if i == last { events } else { 0 }, i == 0);
        }
    }

    fn header_len(&self) -> usize {
        self.header_len
    }

    fn push_unit(&mut self, unit: &str, len: usize, events: usize, header_allowed: bool) {
        loop {
            // A header opens every block of its table, and the table itself when it starts
            // mid-block; it always travels with at least one row.
            let header = self
                .header
                .as_deref()
                .filter(|_| header_allowed && (self.body_len == 0 || self.header_pending));
            let header_need = header.map_or(0, |h| char_len(h) + usize::from(self.body_len > 0));
            let need = header_need + len + usize::from(self.body_len > 0 || header.is_some());
            if self.body_len + need <= self.slot_capacity() {
                if let Some(h) = header {
                    if self.body_len > 0 {
                        self.body.push('\n');
                    }
                    self.body.push_str(h);
                    self.header_pending = false;
                    self.current.parts.push(Part {
                        lines: h.split('\n').count(),
                        events: 0,
                    });
                }
                if self.body_len > 0 || header.is_some() {
                    self.body.push('\n');
                }
                self.body.push_str(unit);
                self.body_len += need;
                self.current.events += events;
                self.current.parts.push(Part {
                    lines: unit.split('\n').count(),
                    events,
                });
                return;
            }
            self.advance(len + self.header_len());
        }
    }

    /// Closes the current block and opens the next that can hold `len`: an embed while the
    /// message has embed budget left, else a new message.
    fn advance(&mut self, len: usize) {
        let was_empty = self.body_len == 0;
        self.close_block();
        let embeds_full = self.current.embeds.len() == EMBEDS_MAX;
        let room = EMBED_TOTAL_MAX
            .saturating_sub(self.embed_total)
            .min(DESCRIPTION_MAX);
        if !self.use_embeds
            || embeds_full
            || room < len + FENCE_LEN
            || (was_empty && self.slot == Slot::Embed)
        {
            self.finish_message();
        } else {
            self.slot = Slot::Embed;
        }
    }

    fn close_block(&mut self) {
        if self.body_len == 0 {
            self.body.clear();
            return;
        }
        // `-# label` above a content block, then the fenced lines.
        let label = match (&self.label, self.slot) {
            (Some(label), Slot::Content) => label.as_str(),
            _ => "",
        };
        let mut block =
            String::with_capacity(label.len() + 4 + FENCE_OPEN.len() + self.body.len() + 4);
        if !label.is_empty() {
            block.push_str("-# ");
            block.push_str(label);
            block.push('\n');
        }
        block.push_str(FENCE_OPEN);
        block.push_str(&self.body);
        block.push_str(FENCE_CLOSE);
        match self.slot {
            Slot::Content => self.current.content = block,
            Slot::Embed => {
                self.embed_total += self.body_len + FENCE_LEN;
                self.current.embeds.push(Embed {
                    description: Some(block),
                    ..Embed::default()
                });
            }
        }
        self.body.clear();
        self.body_len = 0;
    }

    fn finish_message(&mut self) {
        self.close_block();
        let next = Message {
            flags: self.flags,
            ..Message::default()
        };
        let message = std::mem::replace(&mut self.current, next);
        if !message.content.is_empty() || !message.embeds.is_empty() {
            self.done.push(message);
        }
        self.slot = Slot::Content;
        self.embed_total = 0;
    }

    pub(crate) fn finish(mut self) -> Vec<Message> {
        self.finish_message();
        self.done
    }
}

/// The lines of every code block of `messages`, in order, marks kept; for tests and tools
/// that read back what was posted.
pub fn block_lines(messages: &[Message]) -> Vec<String> {
    let mut out = Vec::new();
    for m in messages {
        let blocks = std::iter::once(m.content.as_str())
            .chain(m.embeds.iter().filter_map(|e| e.description.as_deref()));
        for block in blocks {
            if let Some(body) = block
                .strip_prefix(FENCE_OPEN)
                .and_then(|b| b.strip_suffix(FENCE_CLOSE))
            {
                out.extend(body.split('\n').map(str::to_owned));
            }
        }
    }
    out
}

/// Splits a batch message (code-block lines) into two messages of about half its parts
/// each, every part whole and with its events; `None` when it has a single part.
pub(crate) fn halve(message: &Message) -> Option<(Message, Message)> {
    if message.parts.len() < 2 || message.parts.iter().any(|p| p.lines == 0) {
        return None;
    }
    let lines = block_lines(std::slice::from_ref(message));
    let mut units: Vec<(String, usize)> = Vec::with_capacity(message.parts.len());
    let mut at = 0;
    for part in &message.parts {
        let end = (at + part.lines).min(lines.len());
        units.push((lines[at..end].join("\n"), part.events));
        at = end;
    }
    let half = units.len() / 2;
    let pack = |units: &[(String, usize)]| {
        let mut packer = Packer::new(message.flags, !message.embeds.is_empty());
        for (text, events) in units {
            packer.push_line(text, *events);
        }
        packer.finish()
    };
    let (mut first, mut second) = (pack(&units[..half]), pack(&units[half..]));
    // A half of a message fits in one message; if not, keep the split going next time.
    let first = merge_or_first(&mut first)?;
    let second = merge_or_first(&mut second)?;
    Some((first, second))
}

fn merge_or_first(messages: &mut Vec<Message>) -> Option<Message> {
    if messages.len() == 1 {
        messages.pop()
    } else {
        None
    }
}
