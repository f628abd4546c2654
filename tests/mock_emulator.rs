//! The Discord emulator over real HTTP: status codes, error bodies, rate-limit headers,
//! uploads, nonce de-duplication and fault knobs, each with Discord's exact values.
#![cfg(feature = "mock")]

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use tracing_discord::mock::{permissions, MockConfig, MockDiscord};

/// Upper bound for any single test step that talks to the emulator.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs a step, failing the test instead of hanging.
async fn bounded<F: Future>(step: F) -> F::Output {
    tokio::time::timeout(STEP_TIMEOUT, step)
        .await
        .expect("step timed out")
}

/// A plain HTTP client that never goes through a proxy.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// A response, read completely.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// A header's value as text ("" when absent).
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends a request and reads the JSON body (`null` when empty).
async fn send(request: reqwest::RequestBuilder) -> Answer {
    bounded(async {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        Answer {
            status,
            headers,
            body,
        }
    })
    .await
}

/// `POST /channels/{id}/messages` with the default bot token.
async fn create_message(discord: &MockDiscord, channel: u64, body: Value) -> Answer {
    let url = format!("{}/channels/{channel}/messages", discord.api_base());
    let request = client()
        .post(url)
        .header("Authorization", format!("Bot {}", discord.bot_token()))
        .json(&body);
    send(request).await
}

/// An emulator without rate limits.
fn unlimited() -> MockDiscord {
    MockDiscord::start_with(MockConfig::with_unlimited_rates()).expect("emulator starts")
}

#[tokio::test]
async fn missing_unknown_and_revoked_tokens_are_401() {
    let discord = unlimited();
    let me = format!("{}/users/@me", discord.api_base());
    let unauthorized = json!({"message": "401: Unauthorized", "code": 0});

    let missing = send(client().get(&me)).await;
    assert_eq!((missing.status, &missing.body), (401, &unauthorized));
    let wrong = send(client().get(&me).header("Authorization", "Bot nope")).await;
    assert_eq!((wrong.status, &wrong.body), (401, &unauthorized));

    let bot = format!("Bot {}", discord.bot_token());
    let ok = send(client().get(&me).header("Authorization", &bot)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["bot"], true);
    assert_eq!(ok.body["discriminator"], "0");
    assert_eq!(ok.body["id"], discord.bot_user_id().to_string());

    discord.revoke_token();
    let revoked = send(client().get(&me).header("Authorization", &bot)).await;
    assert_eq!((revoked.status, &revoked.body), (401, &unauthorized));
}

#[tokio::test]
async fn every_json_answer_carries_via_and_content_type() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    let answer = create_message(&discord, channel, json!({"content": "hello"})).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("via"), "1.1 google");
    assert_eq!(answer.header("content-type"), "application/json");
    let id: u64 = answer.body["id"]
        .as_str()
        .expect("string id")
        .parse()
        .expect("snowflake");
    let created_ms = (id >> 22) + 1_420_070_400_000;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    assert!(
        now_ms.abs_diff(created_ms) < 60_000,
        "snowflake time {created_ms} vs now {now_ms}"
    );
    assert!(answer.body["timestamp"]
        .as_str()
        .expect("timestamp")
        .ends_with("+00:00"));
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_is_405() {
    let discord = unlimited();
    let nowhere = send(client().get(format!("{}/nowhere", discord.api_base()))).await;
    assert_eq!(
        (nowhere.status, nowhere.body),
        (404, json!({"message": "404: Not Found", "code": 0}))
    );
    let channel = discord.add_channel("logs");
    let url = format!("{}/channels/{channel}/messages", discord.api_base());
    let put = send(client().put(url)).await;
    assert_eq!(
        (put.status, put.body),
        (
            405,
            json!({"message": "405: Method Not Allowed", "code": 0})
        )
    );
}

#[tokio::test]
async fn unknown_channel_is_404_10003() {
    let discord = unlimited();
    let answer = create_message(&discord, 123_456_789, json!({"content": "hi"})).await;
    assert_eq!(
        (answer.status, answer.body),
        (404, json!({"message": "Unknown Channel", "code": 10003}))
    );

    let removed = discord.add_channel("gone");
    discord.remove_channel(removed);
    let url = format!("{}/channels/{removed}", discord.api_base());
    let get = send(
        client()
            .get(url)
            .header("Authorization", format!("Bot {}", discord.bot_token())),
    )
    .await;
    assert_eq!(
        (get.status, get.body),
        (404, json!({"message": "Unknown Channel", "code": 10003}))
    );
}

#[tokio::test]
async fn missing_view_is_50001_and_missing_send_is_50013() {
    let discord = unlimited();
    let hidden = discord.add_channel("hidden");
    discord.set_channel_permissions(hidden, permissions::ALL & !permissions::VIEW_CHANNEL);
    let answer = create_message(&discord, hidden, json!({"content": "hi"})).await;
    assert_eq!(
        (answer.status, answer.body),
        (403, json!({"message": "Missing Access", "code": 50001}))
    );

    let read_only = discord.add_channel("read-only");
    discord.set_channel_permissions(read_only, permissions::VIEW_CHANNEL);
    let answer = create_message(&discord, read_only, json!({"content": "hi"})).await;
    assert_eq!(
        (answer.status, answer.body),
        (
            403,
            json!({"message": "Missing Permissions", "code": 50013})
        )
    );
    assert!(discord.all_messages().is_empty());
    let log = discord.requests();
    assert_eq!(
        log[0].body,
        json!({"content": "hi"}),
        "refused bodies are logged too"
    );
}

#[tokio::test]
async fn files_without_attach_files_are_50013() {
    let discord = unlimited();
    let channel = discord.add_channel("no-files");
    discord.set_channel_permissions(channel, permissions::ALL & !permissions::ATTACH_FILES);
    let form = reqwest::multipart::Form::new()
        .text("payload_json", json!({"content": "see file"}).to_string())
        .part(
            "files[0]",
            reqwest::multipart::Part::text("x").file_name("a.txt"),
        );
    let url = format!("{}/channels/{channel}/messages", discord.api_base());
    let request = client()
        .post(url)
        .header("Authorization", format!("Bot {}", discord.bot_token()))
        .multipart(form);
    let answer = send(request).await;
    assert_eq!(
        (answer.status, answer.body),
        (
            403,
            json!({"message": "Missing Permissions", "code": 50013})
        )
    );
}

#[tokio::test]
async fn content_limit_counts_code_points() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");

    let too_long = create_message(&discord, channel, json!({"content": "a".repeat(2001)})).await;
    assert_eq!(too_long.status, 400);
    assert_eq!(
        too_long.body,
        json!({
            "code": 50035,
            "message": "Invalid Form Body",
            "errors": {"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
            ]}}
        })
    );

    // 2000 two-byte characters: 4000 bytes, but within the limit.
    let multibyte = "é".repeat(2000);
    let ok = create_message(&discord, channel, json!({"content": multibyte})).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["content"], multibyte);
    let stored = discord.messages(channel);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["content"], multibyte);
}

#[tokio::test]
async fn embed_total_over_6000_is_max_embed_size_exceeded() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    let body = json!({"embeds": [
        {"title": "t".repeat(256), "description": "d".repeat(4096)},
        {"description": "d".repeat(1649)},
    ]});
    let answer = create_message(&discord, channel, body).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["code"], 50035);
    assert_eq!(
        answer.body["errors"],
        json!({"embeds": {"_errors": [
            {"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size of 6000"}
        ]}})
    );

    let exactly_6000 = json!({"embeds": [
        {"title": "t".repeat(256), "description": "d".repeat(4096)},
        {"description": "d".repeat(1648)},
    ]});
    let ok = create_message(&discord, channel, exactly_6000).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["embeds"][0]["type"], "rich");
}

#[tokio::test]
async fn whitespace_only_content_is_an_empty_message() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    let answer = create_message(&discord, channel, json!({"content": " \n\t"})).await;
    assert_eq!(
        (answer.status, answer.body),
        (
            400,
            json!({"message": "Cannot send an empty message", "code": 50006})
        )
    );
}

#[tokio::test]
async fn embeds_are_stripped_without_embed_links() {
    let discord = unlimited();
    let channel = discord.add_channel("no-embeds");
    discord.set_channel_permissions(channel, permissions::ALL & !permissions::EMBED_LINKS);
    let with_text = json!({"content": "text", "embeds": [{"title": "hidden"}]});
    let answer = create_message(&discord, channel, with_text).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["embeds"], json!([]));
    let embed_only =
        create_message(&discord, channel, json!({"embeds": [{"title": "hidden"}]})).await;
    assert_eq!(embed_only.status, 400);
    assert_eq!(embed_only.body["code"], 50006);
}

#[tokio::test]
async fn bad_content_type_and_bad_json_are_rejected() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    let url = format!("{}/channels/{channel}/messages", discord.api_base());
    let auth = format!("Bot {}", discord.bot_token());

    let text = client()
        .post(&url)
        .header("Authorization", &auth)
        .header("Content-Type", "text/plain")
        .body("hi");
    let answer = send(text).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["code"], 50035);
    assert_eq!(
        answer.body["errors"]["_errors"][0]["code"],
        "CONTENT_TYPE_INVALID"
    );

    let broken = client()
        .post(&url)
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .body("{\"content\": ");
    let answer = send(broken).await;
    assert_eq!(
        (answer.status, answer.body),
        (
            400,
            json!({"message": "The request body contains invalid JSON.", "code": 50109})
        )
    );
}

#[tokio::test]
async fn sixth_post_within_five_seconds_is_429_with_discords_headers() {
    let discord = MockDiscord::start().expect("emulator starts");
    let channel = discord.add_channel("busy");
    let other = discord.add_channel("quiet");
    let started = Instant::now();
    for expected_remaining in ["4", "3", "2", "1", "0"] {
        let ok = create_message(&discord, channel, json!({"content": "x"})).await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.header("x-ratelimit-limit"), "5");
        assert_eq!(ok.header("x-ratelimit-remaining"), expected_remaining);
        assert_eq!(
            ok.header("x-ratelimit-bucket"),
            "41f9cd5d28af77da04563bcb1d67fdfd"
        );
        assert_eq!(
            ok.header("x-ratelimit-scope"),
            "",
            "no scope on success by default"
        );
    }
    let limited = create_message(&discord, channel, json!({"content": "x"})).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "test ran too slowly to be meaningful"
    );

    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), "5");
    assert_eq!(limited.header("x-ratelimit-limit"), "5");
    assert_eq!(limited.header("x-ratelimit-remaining"), "0");
    assert_eq!(
        limited.header("x-ratelimit-bucket"),
        "41f9cd5d28af77da04563bcb1d67fdfd"
    );
    assert_eq!(limited.header("x-ratelimit-scope"), "user");
    assert_eq!(limited.header("x-ratelimit-global"), "");
    assert_eq!(limited.header("via"), "1.1 google");
    let reset_after: f64 = limited
        .header("x-ratelimit-reset-after")
        .parse()
        .expect("float");
    assert!(
        reset_after > 1.0 && reset_after <= 5.0,
        "reset-after {reset_after}"
    );
    assert_eq!(
        limited
            .header("x-ratelimit-reset-after")
            .split('.')
            .nth(1)
            .map(str::len),
        Some(3)
    );
    let reset: f64 = limited
        .header("x-ratelimit-reset")
        .parse()
        .expect("epoch seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(
        (reset - (now + reset_after)).abs() < 1.0,
        "reset {reset} vs now {now} + {reset_after}"
    );

    assert_eq!(limited.body["message"], "You are being rate limited.");
    assert_eq!(limited.body["global"], false);
    let retry_after = limited.body["retry_after"]
        .as_f64()
        .expect("float retry_after");
    assert!(
        (retry_after - reset_after).abs() < 0.01,
        "{retry_after} vs {reset_after}"
    );
    assert_eq!(limited.body.as_object().map(|o| o.len()), Some(3));

    // The bucket is per channel: the same hash, but a fresh counter.
    let elsewhere = create_message(&discord, other, json!({"content": "x"})).await;
    assert_eq!(elsewhere.status, 200);
    assert_eq!(elsewhere.header("x-ratelimit-remaining"), "4");
    assert_eq!(
        elsewhere.header("x-ratelimit-bucket"),
        "41f9cd5d28af77da04563bcb1d67fdfd"
    );

    assert_eq!(discord.messages(channel).len(), 5);
    let log = discord.requests();
    assert_eq!(
        log.iter()
            .filter(|e| e.limiter.as_deref() == Some("user"))
            .count(),
        1
    );
}

#[tokio::test]
async fn global_limit_answers_429_without_bucket_headers() {
    let config = MockConfig {
        global_per_second: 3,
        ..MockConfig::with_unlimited_rates()
    };
    let discord = MockDiscord::start_with(config).expect("emulator starts");
    let me = format!("{}/users/@me", discord.api_base());
    let auth = format!("Bot {}", discord.bot_token());
    for _ in 0..3 {
        assert_eq!(
            send(client().get(&me).header("Authorization", &auth))
                .await
                .status,
            200
        );
    }
    let limited = send(client().get(&me).header("Authorization", &auth)).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("x-ratelimit-global"), "true");
    assert_eq!(limited.header("x-ratelimit-scope"), "global");
    assert_eq!(limited.header("retry-after"), "1");
    assert_eq!(limited.header("x-ratelimit-limit"), "");
    assert_eq!(limited.header("x-ratelimit-bucket"), "");
    assert_eq!(limited.body["global"], true);
    assert_eq!(limited.body["message"], "You are being rate limited.");
}

#[tokio::test]
async fn webhook_wait_true_is_200_and_default_is_204() {
    let discord = unlimited();
    let channel = discord.add_channel("hooks");
    let url = discord.add_webhook(channel, "Logger");

    let waited = send(
        client()
            .post(format!("{url}?wait=true"))
            .json(&json!({"content": "one"})),
    )
    .await;
    assert_eq!(waited.status, 200);
    let webhook_id = url.rsplit('/').nth(1).expect("webhook id");
    assert_eq!(waited.body["webhook_id"], webhook_id);
    assert_eq!(waited.body["author"]["id"], webhook_id);
    assert_eq!(waited.body["author"]["username"], "Logger");
    assert_eq!(waited.body["content"], "one");
    assert_eq!(
        waited.header("x-ratelimit-limit").parse::<u32>().ok(),
        Some(u32::MAX)
    );

    let fire_and_forget = send(client().post(&url).json(&json!({"content": "two"}))).await;
    assert_eq!(
        (fire_and_forget.status, fire_and_forget.body),
        (204, Value::Null)
    );

    let contents: Vec<Value> = discord
        .messages(channel)
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(contents, [json!("one"), json!("two")]);
    let log = discord.requests();
    assert_eq!(
        log[0].allowed_mentions_parse,
        ["users"],
        "webhook default parse set"
    );
}

#[tokio::test]
async fn webhook_errors_are_50027_and_10015() {
    let discord = unlimited();
    let channel = discord.add_channel("hooks");
    let url = discord.add_webhook(channel, "Logger");
    let (base, _token) = url.rsplit_once('/').expect("token");

    let wrong = send(
        client()
            .post(format!("{base}/wrong-token"))
            .json(&json!({"content": "x"})),
    )
    .await;
    assert_eq!(
        (wrong.status, wrong.body),
        (
            401,
            json!({"message": "Invalid Webhook Token", "code": 50027})
        )
    );
    let unknown = format!("{}/webhooks/1/abc", discord.api_base());
    let unknown = send(client().post(unknown).json(&json!({"content": "x"}))).await;
    assert_eq!(
        (unknown.status, unknown.body),
        (404, json!({"message": "Unknown Webhook", "code": 10015}))
    );

    let info = send(client().get(&url)).await;
    assert_eq!(info.status, 200);
    assert_eq!(info.body["type"], 1);
    assert_eq!(info.body["channel_id"], channel.to_string());
    assert!(info.body.get("user").is_none());
}

#[tokio::test]
async fn webhooks_share_a_per_channel_limit() {
    let config = MockConfig {
        webhook_channel_limit: (2, Duration::from_secs(60)),
        ..MockConfig::default()
    };
    let discord = MockDiscord::start_with(config).expect("emulator starts");
    let channel = discord.add_channel("hooks");
    let first = discord.add_webhook(channel, "A");
    let second = discord.add_webhook(channel, "B");
    assert_eq!(
        send(client().post(&first).json(&json!({"content": "1"})))
            .await
            .status,
        204
    );
    assert_eq!(
        send(client().post(&second).json(&json!({"content": "2"})))
            .await
            .status,
        204
    );
    let limited = send(client().post(&first).json(&json!({"content": "3"}))).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("x-ratelimit-scope"), "shared");
    assert_eq!(
        limited.header("x-ratelimit-remaining"),
        "3",
        "the sender's own webhook bucket"
    );
    assert_eq!(
        limited.header("x-ratelimit-bucket"),
        "d0b8a3c9e4f1a2b7c6d5e8f9a0b1c2d3"
    );
    let retry_after: u64 = limited.header("retry-after").parse().expect("integer");
    assert!(
        (59..=60).contains(&retry_after),
        "retry-after {retry_after}"
    );
    assert_eq!(
        limited.body["message"],
        "The resource is being rate limited."
    );
    assert_eq!(limited.body["global"], false);
    assert_eq!(discord.requests()[2].limiter.as_deref(), Some("shared"));
}

#[tokio::test]
async fn multipart_upload_is_stored_and_readable() {
    let discord = unlimited();
    let channel = discord.add_channel("uploads");
    let text = "line one\nline two ✓\n";
    let payload = json!({
        "content": "batch overflow",
        "attachments": [{"id": 0, "filename": "batch.txt", "description": "overflow"}],
        "allowed_mentions": {"parse": []},
    });
    let form = reqwest::multipart::Form::new()
        .text("payload_json", payload.to_string())
        .part(
            "files[0]",
            reqwest::multipart::Part::bytes(text.as_bytes().to_vec())
                .file_name("batch.txt")
                .mime_str("text/plain")
                .expect("mime"),
        );
    let url = format!("{}/channels/{channel}/messages", discord.api_base());
    let request = client()
        .post(url)
        .header("Authorization", format!("Bot {}", discord.bot_token()))
        .multipart(form);
    let answer = send(request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let attachment = &answer.body["attachments"][0];
    assert_eq!(attachment["filename"], "batch.txt");
    assert_eq!(attachment["size"], text.len());
    assert_eq!(attachment["description"], "overflow");
    assert_eq!(attachment["content_type"], "text/plain");
    assert!(
        answer.body.get("_attachment_texts").is_none(),
        "test-only key stays off the wire"
    );

    let stored = discord.messages(channel);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["content"], "batch overflow");
    assert_eq!(stored[0]["_attachment_texts"], json!([text]));
    let log = discord.requests();
    assert_eq!(log[0].body, payload);
    assert_eq!(log[0].files, ["batch.txt"]);
    assert!(log[0].allowed_mentions_parse.is_empty());
}

#[tokio::test]
async fn enforce_nonce_returns_the_original_message() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    let body = json!({"content": "batch 1", "nonce": "batch-1", "enforce_nonce": true});
    let first = create_message(&discord, channel, body.clone()).await;
    let retry = create_message(&discord, channel, body).await;
    assert_eq!((first.status, retry.status), (200, 200));
    assert_eq!(first.body["nonce"], "batch-1");
    assert_eq!(retry.body["id"], first.body["id"]);
    assert_eq!(discord.messages(channel).len(), 1);

    // Without enforce_nonce the same nonce creates a second message.
    let plain = json!({"content": "batch 1", "nonce": "batch-1"});
    let duplicate = create_message(&discord, channel, plain).await;
    assert_ne!(duplicate.body["id"], first.body["id"]);
    assert_eq!(discord.messages(channel).len(), 2);
}

#[tokio::test]
async fn status_counts_and_request_log_tally_every_answer() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    create_message(&discord, channel, json!({"content": "ok"})).await;
    create_message(
        &discord,
        channel,
        json!({"content": "ok", "allowed_mentions": {"parse": []}}),
    )
    .await;
    create_message(&discord, channel, json!({"content": ""})).await;
    create_message(&discord, 1, json!({"content": "x"})).await;
    send(client().get(format!("http://{}/_emu/messages/{channel}", discord.addr()))).await;

    let expected: std::collections::BTreeMap<u16, u64> =
        [(200, 2), (400, 1), (404, 1)].into_iter().collect();
    assert_eq!(discord.status_counts(), expected);
    assert_eq!(
        discord.request_count(),
        4,
        "control requests are not counted"
    );
    let log = discord.requests();
    assert_eq!(
        log[0].allowed_mentions_parse,
        ["users", "roles", "everyone"]
    );
    assert!(log[1].allowed_mentions_parse.is_empty());
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, format!("/api/v10/channels/{channel}/messages"));
    assert!(log[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bot mock-bot-token"));

    discord.reset();
    assert_eq!(discord.request_count(), 0);
    assert!(discord.all_messages().is_empty());
    assert_eq!(
        create_message(&discord, channel, json!({"content": "after reset"}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn control_api_lists_a_channels_messages() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    create_message(&discord, channel, json!({"content": "visible"})).await;
    let listed =
        send(client().get(format!("http://{}/_emu/messages/{channel}", discord.addr()))).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body[0]["content"], "visible");
}

#[tokio::test]
async fn force_status_answers_the_next_n_requests() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    let error = json!({"message": "500: Internal Server Error", "code": 0});
    discord.force_status(2, 500, error.clone());
    for _ in 0..2 {
        let answer = create_message(&discord, channel, json!({"content": "x"})).await;
        assert_eq!((answer.status, &answer.body), (500, &error));
        assert_eq!(answer.header("via"), "1.1 google");
    }
    assert_eq!(
        create_message(&discord, channel, json!({"content": "x"}))
            .await
            .status,
        200
    );
    assert_eq!(discord.messages(channel).len(), 1);
}

#[tokio::test]
async fn stalled_requests_wait_until_released() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    discord.set_stalled(true);
    let url = format!("{}/channels/{channel}/messages", discord.api_base());
    let request = client()
        .post(url)
        .header("Authorization", format!("Bot {}", discord.bot_token()))
        .json(&json!({"content": "held"}))
        .send();
    let pending = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !pending.is_finished(),
        "a stalled request must not be answered"
    );
    assert!(discord.messages(channel).is_empty());
    discord.set_stalled(false);
    let response = bounded(pending).await.expect("task").expect("answered");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(discord.messages(channel).len(), 1);
}

#[tokio::test]
async fn dropping_the_emulator_ends_stalled_requests_promptly() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    discord.set_stalled(true);
    let url = format!("{}/channels/{channel}/messages", discord.api_base());
    let pending = tokio::spawn(
        client()
            .post(url)
            .header("Authorization", format!("Bot {}", discord.bot_token()))
            .json(&json!({"content": "held"}))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dropped_at = Instant::now();
    drop(discord);
    assert!(
        dropped_at.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        dropped_at.elapsed()
    );
    let outcome = bounded(pending).await.expect("task");
    assert!(
        outcome.is_err(),
        "the held request fails instead of hanging"
    );
}

#[tokio::test]
async fn latency_delays_answers() {
    let discord = unlimited();
    discord.set_latency(Duration::from_millis(300));
    let me = format!("{}/users/@me", discord.api_base());
    let started = Instant::now();
    let answer = send(
        client()
            .get(me)
            .header("Authorization", format!("Bot {}", discord.bot_token())),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn starts_and_stops_from_plain_threads() {
    let discord = MockDiscord::start().expect("emulator starts");
    assert!(discord.api_base().starts_with("http://127.0.0.1:"));
    assert!(discord.api_base().ends_with("/api/v10"));
    let channel = discord.add_channel("logs");
    let webhook = discord.add_webhook(channel, "Logger");
    assert!(webhook.starts_with(&format!("{}/webhooks/", discord.api_base())));
    drop(discord);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_a_multi_thread_runtime() {
    let discord = MockDiscord::start().expect("emulator starts");
    let channel = discord.add_channel("logs");
    let answer = create_message(&discord, channel, json!({"content": "from multi-thread"})).await;
    assert_eq!(answer.status, 200);
}

/// `POST /channels/{id}/messages` as multipart with the given files.
async fn upload(discord: &MockDiscord, channel: u64, files: &[(&str, Vec<u8>)]) -> Answer {
    let mut form = reqwest::multipart::Form::new()
        .text("payload_json", json!({"content": "files"}).to_string());
    for (i, (name, bytes)) in files.iter().enumerate() {
        let part = reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string());
        form = form.part(format!("files[{i}]"), part);
    }
    let url = format!("{}/channels/{channel}/messages", discord.api_base());
    let request = client()
        .post(url)
        .header("Authorization", format!("Bot {}", discord.bot_token()))
        .multipart(form);
    send(request).await
}

#[tokio::test]
async fn oversized_files_are_413_and_eleven_files_are_30015() {
    let config = MockConfig {
        upload_limit_bytes: 10,
        ..MockConfig::with_unlimited_rates()
    };
    let discord = MockDiscord::start_with(config).expect("emulator starts");
    let channel = discord.add_channel("uploads");

    let big = upload(&discord, channel, &[("big.txt", vec![b'x'; 11])]).await;
    assert_eq!(
        (big.status, big.body),
        (
            413,
            json!({"message": "Request entity too large", "code": 40005})
        )
    );
    let fits = upload(&discord, channel, &[("ok.txt", vec![b'x'; 10])]).await;
    assert_eq!(fits.status, 200);

    let eleven: Vec<(&str, Vec<u8>)> = (0..11).map(|_| ("f.txt", b"x".to_vec())).collect();
    let many = upload(&discord, channel, &eleven).await;
    assert_eq!(
        (many.status, many.body),
        (
            400,
            json!({"message": "Maximum number of attachments in a message reached (10)", "code": 30015})
        )
    );
}

#[tokio::test]
async fn oversized_requests_are_413() {
    let config = MockConfig {
        max_request_bytes: 1024,
        ..MockConfig::with_unlimited_rates()
    };
    let discord = MockDiscord::start_with(config).expect("emulator starts");
    let channel = discord.add_channel("logs");
    let answer = create_message(&discord, channel, json!({"content": "x".repeat(1500)})).await;
    assert_eq!(
        (answer.status, answer.body),
        (
            413,
            json!({"message": "Request entity too large", "code": 40005})
        )
    );
}

#[tokio::test]
async fn strict_user_agent_requires_discordbot() {
    let config = MockConfig {
        strict_user_agent: true,
        ..MockConfig::with_unlimited_rates()
    };
    let discord = MockDiscord::start_with(config).expect("emulator starts");
    let me = format!("{}/users/@me", discord.api_base());
    let auth = format!("Bot {}", discord.bot_token());
    let blocked = send(client().get(&me).header("Authorization", &auth)).await;
    assert_eq!(
        (blocked.status, &blocked.body["code"]),
        (400, &json!(40333))
    );
    let agent = "DiscordBot (https://example.org, 0.1.0)";
    let allowed = send(
        client()
            .get(&me)
            .header("Authorization", &auth)
            .header("User-Agent", agent),
    )
    .await;
    assert_eq!(allowed.status, 200);
}
