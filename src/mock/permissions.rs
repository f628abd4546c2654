//! Discord permission bits the emulator checks (discord-api.md section 4, D-PERM), for
//! [`MockDiscord::set_channel_permissions`](super::MockDiscord::set_channel_permissions).

/// `VIEW_CHANNEL`: without it everything else is denied (403 code 50001).
pub const VIEW_CHANNEL: u64 = 1 << 10;
/// `SEND_MESSAGES`: needed by Create Message (403 code 50013).
pub const SEND_MESSAGES: u64 = 1 << 11;
/// `SEND_TTS_MESSAGES`: without it `tts` is ignored.
pub const SEND_TTS_MESSAGES: u64 = 1 << 12;
/// `EMBED_LINKS`: without it embeds are stripped (or refused, see `MockConfig::embed_links_missing_strip`).
pub const EMBED_LINKS: u64 = 1 << 14;
/// `ATTACH_FILES`: needed to upload files (403 code 50013).
pub const ATTACH_FILES: u64 = 1 << 15;
/// `READ_MESSAGE_HISTORY`: needed to list messages.
pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
/// `MENTION_EVERYONE`: without it `@everyone` / `@here` do not ping.
pub const MENTION_EVERYONE: u64 = 1 << 17;
/// `MANAGE_WEBHOOKS`: needed by `GET /webhooks/{id}` with a bot token.
pub const MANAGE_WEBHOOKS: u64 = 1 << 29;
/// Every permission bit Discord defines today (bits 0 to 50).
pub const ALL: u64 = (1 << 51) - 1;
