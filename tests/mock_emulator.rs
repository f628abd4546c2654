//! The Discord emulator over real HTTP: status codes, error bodies, rate-limit headers,
//! uploads, nonce de-duplication and fault knobs, each with Discord's exact values.
#![cfg(feature = "mock")]

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use tracing_discord::mock::{
    permissions, AfterCommit, Fault, FaultBody, MockConfig, MockDiscord, Scope,
};

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

// ---------------------------------------------------------------------------------------
// Fault injection, outages, the rejection marker, the invalid-request ban and counters.

/// Cloudflare's "error 1015" page as the emulator answers it.
const CLOUDFLARE_1015_HTML: &str = "<!DOCTYPE html>\n<html>\n<head><title>Access denied | discord.com used Cloudflare to restrict access</title></head>\n<body>\n<h1>You are being rate limited</h1>\n<p>error code: 1015</p>\n</body>\n</html>\n";

/// The JSON body of a Cloudflare block (discord-api.md 1.6).
fn cloudflare_block_json() -> Value {
    json!({"code": 0, "message": "You are being blocked from accessing our API temporarily due to exceeding our rate limits frequently. Please read our docs at https://discord.com/developers/docs/topics/rate-limits to prevent this moving forward."})
}

/// A response whose body is kept as text.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl RawAnswer {
    /// A header's value as text ("" when absent).
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Names of the `x-ratelimit-*` headers present.
    fn ratelimit_headers(&self) -> Vec<String> {
        self.headers
            .keys()
            .map(|k| k.as_str().to_string())
            .filter(|k| k.starts_with("x-ratelimit-"))
            .collect()
    }
}

/// Sends a request and reads the body as text.
async fn send_raw(request: reqwest::RequestBuilder) -> RawAnswer {
    bounded(async {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        RawAnswer {
            status,
            headers,
            text,
        }
    })
    .await
}

/// `POST /channels/{id}/messages` with the default bot token, not yet sent.
fn post_message(discord: &MockDiscord, channel: u64, body: &Value) -> reqwest::RequestBuilder {
    client()
        .post(format!(
            "{}/channels/{channel}/messages",
            discord.api_base()
        ))
        .header("Authorization", format!("Bot {}", discord.bot_token()))
        .json(body)
}

/// `GET /users/@me`, with the bot token or without any.
fn get_me(discord: &MockDiscord, authorized: bool) -> reqwest::RequestBuilder {
    let request = client().get(format!("{}/users/@me", discord.api_base()));
    if authorized {
        request.header("Authorization", format!("Bot {}", discord.bot_token()))
    } else {
        request
    }
}

/// The four scope counters, in key order.
fn scopes(user: u64, global: u64, shared: u64, cloudflare: u64) -> Vec<(String, u64)> {
    vec![
        ("cloudflare".to_string(), cloudflare),
        ("global".to_string(), global),
        ("shared".to_string(), shared),
        ("user".to_string(), user),
    ]
}

/// Waits (bounded) until `condition` holds, polling every 10 ms.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn injected_status_faults_answer_exactly_and_store_nothing() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    let overloaded = json!({"message": "API resource is currently overloaded. Try again a little later", "code": 130000});
    discord.fail_next(
        2,
        Fault::Status {
            status: 400,
            body: FaultBody::Json(overloaded.clone()),
        },
    );
    let page = "<html><body>error code: 524</body></html>".to_string();
    discord.fail_next(
        1,
        Fault::Status {
            status: 524,
            body: FaultBody::Html(page.clone()),
        },
    );
    for _ in 0..2 {
        let answer = create_message(&discord, channel, json!({"content": "x"})).await;
        assert_eq!((answer.status, &answer.body), (400, &overloaded));
        assert_eq!(answer.header("via"), "1.1 google");
        assert_eq!(answer.header("content-type"), "application/json");
        assert_eq!(answer.header("x-ratelimit-bucket"), "");
    }
    let cloudflare = send_raw(post_message(&discord, channel, &json!({"content": "x"}))).await;
    assert_eq!(
        (cloudflare.status, cloudflare.text.as_str()),
        (524, page.as_str())
    );
    assert_eq!(cloudflare.header("via"), "");
    assert_eq!(
        cloudflare.header("content-type"),
        "text/html; charset=UTF-8"
    );
    assert!(cloudflare.ratelimit_headers().is_empty());
    assert!(discord.messages(channel).is_empty());

    // The queue is used up: the next request is handled normally.
    let ok = create_message(&discord, channel, json!({"content": "after"})).await;
    assert_eq!(ok.status, 200);
    assert_eq!(discord.messages(channel).len(), 1);
    let faults: Vec<Option<String>> = discord.requests().into_iter().map(|e| e.fault).collect();
    let status = Some("status".to_string());
    assert_eq!(faults, vec![status.clone(), status.clone(), status, None]);
}

#[tokio::test]
async fn injected_faults_are_filtered_by_path() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    let webhook = discord.add_webhook(channel, "Logger");
    discord.fail_next_matching(
        "/webhooks/",
        1,
        Fault::Status {
            status: 502,
            body: FaultBody::Json(json!({"message": "502: Bad Gateway", "code": 0})),
        },
    );
    assert_eq!(send(get_me(&discord, true)).await.status, 200);
    assert_eq!(
        create_message(&discord, channel, json!({"content": "bot"}))
            .await
            .status,
        200
    );
    let hook = send(client().post(&webhook).json(&json!({"content": "hook"}))).await;
    assert_eq!(
        (hook.status, hook.body),
        (502, json!({"message": "502: Bad Gateway", "code": 0}))
    );
    let again = send(client().post(&webhook).json(&json!({"content": "hook"}))).await;
    assert_eq!(again.status, 204);
    assert_eq!(discord.messages(channel).len(), 2);

    // clear_faults forgets queued faults.
    discord.fail_next(5, Fault::DropConnection);
    discord.clear_faults();
    assert_eq!(send(get_me(&discord, true)).await.status, 200);
}

#[tokio::test]
async fn drop_connection_fails_the_request_and_stores_nothing() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    discord.fail_next(1, Fault::DropConnection);
    let outcome =
        bounded(post_message(&discord, channel, &json!({"content": "lost"})).send()).await;
    let error = outcome.expect_err("the connection is dropped without an answer");
    assert!(!error.is_timeout(), "{error:?}");
    assert!(discord.messages(channel).is_empty());
    let log = discord.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].status, log[0].fault.as_deref()),
        (0, Some("drop_connection"))
    );
    assert_eq!(discord.status_counts().get(&0), Some(&1));

    let retry = create_message(&discord, channel, json!({"content": "lost"})).await;
    assert_eq!(retry.status, 200);
    assert_eq!(discord.messages(channel).len(), 1);
}

#[tokio::test]
async fn commit_then_500_stores_one_message_and_a_nonce_retry_finds_it() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    discord.fail_next(1, Fault::CommitThenFail(AfterCommit::Status500));
    // A read in between does not consume a commit-then-fail fault.
    assert_eq!(send(get_me(&discord, true)).await.status, 200);
    let body = json!({"content": "once", "nonce": "batch-1", "enforce_nonce": true});
    let failed = create_message(&discord, channel, body.clone()).await;
    assert_eq!(
        (failed.status, &failed.body),
        (
            500,
            &json!({"message": "500: Internal Server Error", "code": 0})
        )
    );
    assert_eq!(failed.header("via"), "1.1 google");
    let stored = discord.messages(channel);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["content"], "once");

    let retry = create_message(&discord, channel, body).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body["id"], stored[0]["id"]);
    assert_eq!(discord.messages(channel).len(), 1);
    assert_eq!(
        discord.requests()[1].fault.as_deref(),
        Some("commit_then_500")
    );
}

#[tokio::test]
async fn commit_then_drop_stores_one_message_and_the_client_sees_an_error() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    let webhook = discord.add_webhook(channel, "Logger");
    discord.fail_next(1, Fault::CommitThenFail(AfterCommit::DropConnection));
    let outcome = bounded(
        client()
            .post(format!("{webhook}?wait=true"))
            .json(&json!({"content": "ambiguous"}))
            .send(),
    )
    .await;
    assert!(outcome.is_err(), "{outcome:?}");
    let stored = discord.messages(channel);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["content"], "ambiguous");
    let log = discord.requests();
    assert_eq!(
        (log[0].status, log[0].fault.as_deref()),
        (0, Some("commit_then_drop"))
    );
}

#[tokio::test]
async fn commit_then_hang_stores_one_message_and_the_client_times_out() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    discord.fail_next(1, Fault::CommitThenFail(AfterCommit::Hang));
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    let started = Instant::now();
    let outcome = bounded(
        impatient
            .post(format!(
                "{}/channels/{channel}/messages",
                discord.api_base()
            ))
            .header("Authorization", format!("Bot {}", discord.bot_token()))
            .json(&json!({"content": "held"}))
            .send(),
    )
    .await;
    let error = outcome.expect_err("the answer is held");
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(discord.messages(channel).len(), 1);
    assert_eq!(
        discord.requests()[0].fault.as_deref(),
        Some("commit_then_hang")
    );
    // Other requests are not held.
    assert_eq!(
        create_message(&discord, channel, json!({"content": "next"}))
            .await
            .status,
        200
    );
    assert_eq!(discord.messages(channel).len(), 2);
    discord.release_hung();
    eventually("the held request to finish", || discord.in_flight() == 0).await;
}

#[tokio::test]
async fn released_hung_request_gets_its_normal_answer() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    discord.fail_next(1, Fault::CommitThenFail(AfterCommit::Hang));
    let pending = tokio::spawn(post_message(&discord, channel, &json!({"content": "late"})).send());
    eventually("the message to be stored", || {
        discord.messages(channel).len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!pending.is_finished(), "the answer must be held");
    discord.release_hung();
    let response = bounded(pending).await.expect("task").expect("answered");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = bounded(response.json()).await.expect("JSON");
    assert_eq!(body["content"], "late");
}

#[tokio::test]
async fn injected_user_429_has_bucket_headers_and_scope_user() {
    let discord = MockDiscord::start().expect("emulator starts");
    let channel = discord.add_channel("logs");
    discord.fail_next(
        1,
        Fault::RateLimited {
            scope: Scope::User,
            retry_after: 2.5,
            code: None,
            remaining: None,
        },
    );
    discord.fail_next(
        1,
        Fault::RateLimited {
            scope: Scope::User,
            retry_after: 0.3,
            code: Some(20028),
            remaining: Some(3),
        },
    );
    let limited = create_message(&discord, channel, json!({"content": "x"})).await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.body,
        json!({"message": "You are being rate limited.", "retry_after": 2.5, "global": false})
    );
    assert_eq!(limited.header("retry-after"), "3");
    assert_eq!(limited.header("x-ratelimit-limit"), "5");
    assert_eq!(limited.header("x-ratelimit-remaining"), "0");
    assert_eq!(limited.header("x-ratelimit-reset-after"), "2.500");
    assert_eq!(
        limited.header("x-ratelimit-bucket"),
        "41f9cd5d28af77da04563bcb1d67fdfd"
    );
    assert_eq!(limited.header("x-ratelimit-scope"), "user");
    assert_eq!(limited.header("x-ratelimit-global"), "");
    assert_eq!(limited.header("via"), "1.1 google");
    let reset: f64 = limited
        .header("x-ratelimit-reset")
        .parse()
        .expect("epoch seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!((reset - (now + 2.5)).abs() < 1.0, "reset {reset} vs {now}");

    let sublimit = create_message(&discord, channel, json!({"content": "x"})).await;
    assert_eq!(sublimit.status, 429);
    assert_eq!(
        sublimit.body,
        json!({"message": "You are being rate limited.", "retry_after": 0.3, "global": false, "code": 20028})
    );
    assert_eq!(sublimit.header("retry-after"), "1");
    assert_eq!(sublimit.header("x-ratelimit-remaining"), "3");
    assert_eq!(sublimit.header("x-ratelimit-reset-after"), "0.300");
    assert_eq!(sublimit.header("x-ratelimit-scope"), "user");

    // Injected 429s consume nothing: the real bucket is still full.
    let ok = create_message(&discord, channel, json!({"content": "x"})).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-ratelimit-remaining"), "4");
    assert_eq!(discord.invalid_request_count(), 2);
}

#[tokio::test]
async fn injected_global_429_has_only_the_global_headers() {
    let discord = MockDiscord::start().expect("emulator starts");
    discord.fail_next(
        1,
        Fault::RateLimited {
            scope: Scope::Global,
            retry_after: 1.25,
            code: None,
            remaining: Some(7),
        },
    );
    let limited = send(get_me(&discord, true)).await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.body,
        json!({"message": "You are being rate limited.", "retry_after": 1.25, "global": true})
    );
    assert_eq!(limited.header("retry-after"), "2");
    assert_eq!(limited.header("x-ratelimit-global"), "true");
    assert_eq!(limited.header("x-ratelimit-scope"), "global");
    assert_eq!(limited.header("via"), "1.1 google");
    let mut names: Vec<String> = limited
        .headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("x-ratelimit-"))
        .collect();
    names.sort();
    assert_eq!(names, vec!["x-ratelimit-global", "x-ratelimit-scope"]);
    assert_eq!(discord.invalid_request_count(), 1);
}

#[tokio::test]
async fn injected_shared_429_has_own_bucket_headers_and_is_not_invalid() {
    let discord = MockDiscord::start().expect("emulator starts");
    let channel = discord.add_channel("logs");
    let webhook = discord.add_webhook(channel, "Logger");
    discord.fail_next(
        1,
        Fault::RateLimited {
            scope: Scope::Shared,
            retry_after: 40.0,
            code: None,
            remaining: Some(2),
        },
    );
    let limited = send(client().post(&webhook).json(&json!({"content": "x"}))).await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.body,
        json!({"message": "The resource is being rate limited.", "retry_after": 40.0, "global": false})
    );
    assert_eq!(limited.header("retry-after"), "40");
    assert_eq!(limited.header("x-ratelimit-limit"), "5");
    assert_eq!(limited.header("x-ratelimit-remaining"), "2");
    assert_eq!(limited.header("x-ratelimit-reset-after"), "2.000");
    assert_eq!(
        limited.header("x-ratelimit-bucket"),
        "d0b8a3c9e4f1a2b7c6d5e8f9a0b1c2d3"
    );
    assert_eq!(limited.header("x-ratelimit-scope"), "shared");
    assert_eq!(limited.header("x-ratelimit-global"), "");
    assert_eq!(limited.header("via"), "1.1 google");
    assert_eq!(discord.invalid_request_count(), 0);
    assert!(discord.messages(channel).is_empty());
}

#[tokio::test]
async fn injected_cloudflare_blocks_have_no_via_and_no_rate_limit_headers() {
    let discord = unlimited();
    discord.fail_next(1, Fault::CloudflareBlock { json: false });
    discord.fail_next(1, Fault::CloudflareBlock { json: true });
    let html = send_raw(get_me(&discord, true)).await;
    assert_eq!(
        (html.status, html.text.as_str()),
        (429, CLOUDFLARE_1015_HTML)
    );
    assert_eq!(html.header("content-type"), "text/html; charset=UTF-8");
    assert_eq!(html.header("via"), "");
    assert_eq!(html.header("retry-after"), "");
    assert!(html.ratelimit_headers().is_empty());

    let json = send_raw(get_me(&discord, true)).await;
    assert_eq!(json.status, 429);
    let body: Value = serde_json::from_str(&json.text).expect("JSON body");
    assert_eq!(body, cloudflare_block_json());
    assert_eq!(json.header("content-type"), "application/json");
    assert_eq!(json.header("via"), "");
    assert_eq!(json.header("retry-after"), "");
    assert!(json.ratelimit_headers().is_empty());
    assert!(!discord.is_banned(), "an injected block is not a ban");
    assert_eq!(send(get_me(&discord, true)).await.status, 200);
}

#[tokio::test]
async fn rate_limited_by_scope_counts_every_429_by_scope() {
    let discord = MockDiscord::start().expect("emulator starts");
    let channel = discord.add_channel("logs");
    assert_eq!(
        discord
            .rate_limited_by_scope()
            .into_iter()
            .collect::<Vec<_>>(),
        scopes(0, 0, 0, 0)
    );
    for _ in 0..5 {
        assert_eq!(
            create_message(&discord, channel, json!({"content": "x"}))
                .await
                .status,
            200
        );
    }
    // A real user 429 from the exhausted bucket.
    assert_eq!(
        create_message(&discord, channel, json!({"content": "x"}))
            .await
            .status,
        429
    );
    for (scope, n) in [(Scope::User, 2), (Scope::Global, 3), (Scope::Shared, 1)] {
        discord.fail_next(
            n,
            Fault::RateLimited {
                scope,
                retry_after: 1.0,
                code: None,
                remaining: None,
            },
        );
    }
    discord.fail_next(1, Fault::CloudflareBlock { json: true });
    for _ in 0..7 {
        assert_eq!(send_raw(get_me(&discord, true)).await.status, 429);
    }
    assert_eq!(
        discord
            .rate_limited_by_scope()
            .into_iter()
            .collect::<Vec<_>>(),
        scopes(3, 3, 1, 1)
    );
    // Every 429 except the shared one is an invalid request.
    assert_eq!(discord.invalid_request_count(), 7);
    discord.reset();
    assert_eq!(
        discord
            .rate_limited_by_scope()
            .into_iter()
            .collect::<Vec<_>>(),
        scopes(0, 0, 0, 0)
    );
    assert_eq!(discord.invalid_request_count(), 0);
}

#[tokio::test]
async fn set_down_answers_503_to_every_request() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    let webhook = discord.add_webhook(channel, "Logger");
    let outage = json!({"message": "503: Service Unavailable", "code": 0});
    discord.fail_next(1, Fault::DropConnection);
    discord.set_down(true);
    let bot = create_message(&discord, channel, json!({"content": "x"})).await;
    assert_eq!((bot.status, &bot.body), (503, &outage));
    assert_eq!(bot.header("via"), "1.1 google");
    assert_eq!(bot.header("x-ratelimit-bucket"), "");
    let hook = send(client().post(&webhook).json(&json!({"content": "x"}))).await;
    assert_eq!((hook.status, &hook.body), (503, &outage));
    let unauthenticated = send(get_me(&discord, false)).await;
    assert_eq!(
        (unauthenticated.status, &unauthenticated.body),
        (503, &outage)
    );
    assert!(discord.messages(channel).is_empty());

    discord.set_down(false);
    // The queued fault was not consumed by the outage.
    assert!(bounded(get_me(&discord, true).send()).await.is_err());
    let ok = create_message(&discord, channel, json!({"content": "x"})).await;
    assert_eq!(ok.status, 200);
    assert_eq!(discord.status_counts().get(&503), Some(&3));
}

#[tokio::test]
async fn reject_marker_refuses_only_marked_messages() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    let webhook = discord.add_webhook(channel, "Logger");
    discord.reject_marker(Some("POISON".to_string()));
    let rejected = json!({"code": 50035, "message": "Invalid Form Body", "errors": {"content": {"_errors": [{"code": "BASE_TYPE_BAD", "message": "Rejected by test marker"}]}}});

    let in_content = create_message(&discord, channel, json!({"content": "a POISON b"})).await;
    assert_eq!((in_content.status, &in_content.body), (400, &rejected));
    assert_eq!(in_content.header("via"), "1.1 google");
    assert_eq!(
        in_content.header("x-ratelimit-bucket"),
        "41f9cd5d28af77da04563bcb1d67fdfd"
    );
    let in_embed = create_message(
        &discord,
        channel,
        json!({"embeds": [{"title": "t", "fields": [{"name": "n", "value": "xPOISONx"}]}]}),
    )
    .await;
    assert_eq!((in_embed.status, &in_embed.body), (400, &rejected));
    let by_webhook = send(
        client()
            .post(&webhook)
            .json(&json!({"embeds": [{"description": "POISON"}]})),
    )
    .await;
    assert_eq!((by_webhook.status, &by_webhook.body), (400, &rejected));

    let clean = create_message(&discord, channel, json!({"content": "fine"})).await;
    assert_eq!(clean.status, 200);
    let clean_hook = send(
        client()
            .post(&webhook)
            .json(&json!({"content": "fine too"})),
    )
    .await;
    assert_eq!(clean_hook.status, 204);
    assert_eq!(discord.messages(channel).len(), 2);

    discord.reject_marker(None);
    let now_ok = create_message(&discord, channel, json!({"content": "a POISON b"})).await;
    assert_eq!(now_ok.status, 200);
    assert_eq!(discord.messages(channel).len(), 3);
}

#[tokio::test]
async fn invalid_requests_trip_the_ban_then_every_request_is_blocked() {
    let config = MockConfig {
        invalid_request_limit: 5,
        ban_duration: Duration::from_millis(800),
        ..MockConfig::with_unlimited_rates()
    };
    let discord = MockDiscord::start_with(config).expect("emulator starts");
    let channel = discord.add_channel("logs");
    for expected in 1..=4 {
        assert_eq!(send(get_me(&discord, false)).await.status, 401);
        assert_eq!(discord.invalid_request_count(), expected);
        assert!(!discord.is_banned());
    }
    // Valid requests and other errors (404) do not count.
    assert_eq!(send(get_me(&discord, true)).await.status, 200);
    assert_eq!(
        send(client().get(format!("{}/nowhere", discord.api_base())))
            .await
            .status,
        404
    );
    assert_eq!(discord.invalid_request_count(), 4);
    assert_eq!(send(get_me(&discord, false)).await.status, 401);
    assert!(discord.is_banned());
    assert_eq!(
        discord.invalid_request_count(),
        0,
        "the count restarts with the ban"
    );

    // Banned: even a valid request gets the Cloudflare block, and nothing is stored.
    discord.fail_next(1, Fault::DropConnection);
    let blocked = send_raw(post_message(&discord, channel, &json!({"content": "x"}))).await;
    assert_eq!(
        (blocked.status, blocked.text.as_str()),
        (429, CLOUDFLARE_1015_HTML)
    );
    assert_eq!(blocked.header("content-type"), "text/html; charset=UTF-8");
    assert_eq!(blocked.header("via"), "");
    assert_eq!(blocked.header("retry-after"), "");
    assert!(blocked.ratelimit_headers().is_empty());
    assert_eq!(send_raw(get_me(&discord, true)).await.status, 429);
    assert!(discord.messages(channel).is_empty());
    assert_eq!(
        discord.invalid_request_count(),
        0,
        "block answers do not count"
    );
    assert_eq!(discord.rate_limited_by_scope()["cloudflare"], 2);

    // The ban ends after `ban_duration`; the queued fault was not consumed meanwhile.
    eventually("the ban to end", || !discord.is_banned()).await;
    assert!(bounded(get_me(&discord, true).send()).await.is_err());
    assert_eq!(
        create_message(&discord, channel, json!({"content": "x"}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn shared_429s_do_not_count_and_the_json_ban_body() {
    let config = MockConfig {
        invalid_request_limit: 3,
        ban_body_json: true,
        webhook_channel_limit: (1, Duration::from_secs(60)),
        ..MockConfig::with_unlimited_rates()
    };
    let discord = MockDiscord::start_with(config).expect("emulator starts");
    let channel = discord.add_channel("logs");
    let webhook = discord.add_webhook(channel, "Logger");
    assert_eq!(
        send(client().post(&webhook).json(&json!({"content": "x"})))
            .await
            .status,
        204
    );
    for _ in 0..5 {
        let shared = send(client().post(&webhook).json(&json!({"content": "x"}))).await;
        assert_eq!(shared.status, 429);
        assert_eq!(shared.header("x-ratelimit-scope"), "shared");
    }
    assert_eq!(discord.invalid_request_count(), 0);
    assert!(!discord.is_banned());

    // 403s count as well.
    discord.set_channel_permissions(channel, permissions::VIEW_CHANNEL);
    for expected in 1..=2 {
        assert_eq!(
            create_message(&discord, channel, json!({"content": "x"}))
                .await
                .status,
            403
        );
        assert_eq!(discord.invalid_request_count(), expected);
    }
    assert_eq!(send(get_me(&discord, false)).await.status, 401);
    assert!(discord.is_banned());
    let blocked = send_raw(get_me(&discord, true)).await;
    assert_eq!(blocked.status, 429);
    let body: Value = serde_json::from_str(&blocked.text).expect("JSON body");
    assert_eq!(body, cloudflare_block_json());
    assert_eq!(blocked.header("content-type"), "application/json");
    assert_eq!(blocked.header("via"), "");
    assert_eq!(blocked.header("retry-after"), "");
    assert!(blocked.ratelimit_headers().is_empty());
    assert_eq!(
        discord
            .rate_limited_by_scope()
            .into_iter()
            .collect::<Vec<_>>(),
        scopes(0, 0, 5, 1)
    );
    // reset lifts the ban.
    discord.reset();
    assert!(!discord.is_banned());
    assert_eq!(send(get_me(&discord, true)).await.status, 200);
}

#[tokio::test]
async fn max_in_flight_counts_concurrent_requests() {
    let discord = unlimited();
    let channel = discord.add_channel("logs");
    assert_eq!(send(get_me(&discord, true)).await.status, 200);
    assert_eq!(discord.max_in_flight(), 1);
    discord.set_stalled(true);
    let pending: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn(
                post_message(&discord, channel, &json!({"content": format!("m{i}")})).send(),
            )
        })
        .collect();
    eventually("three stalled requests", || discord.in_flight() == 3).await;
    assert_eq!(discord.max_in_flight(), 3);
    discord.set_stalled(false);
    for task in pending {
        let response = bounded(task).await.expect("task").expect("answered");
        assert_eq!(response.status().as_u16(), 200);
    }
    eventually("no request in flight", || discord.in_flight() == 0).await;
    assert_eq!(discord.max_in_flight(), 3);
    assert_eq!(discord.messages(channel).len(), 3);
    // Sequential requests keep the peak at 1 after a reset.
    discord.reset();
    assert_eq!(discord.max_in_flight(), 0);
    for _ in 0..3 {
        assert_eq!(
            create_message(&discord, channel, json!({"content": "x"}))
                .await
                .status,
            200
        );
    }
    assert_eq!(discord.max_in_flight(), 1);
}

#[tokio::test]
async fn set_upload_limit_lowers_the_file_limit() {
    let discord = unlimited();
    let channel = discord.add_channel("uploads");
    assert_eq!(
        upload(&discord, channel, &[("a.txt", vec![b'x'; 11])])
            .await
            .status,
        200
    );
    discord.set_upload_limit(10);
    let big = upload(&discord, channel, &[("b.txt", vec![b'x'; 11])]).await;
    assert_eq!(
        (big.status, big.body),
        (
            413,
            json!({"message": "Request entity too large", "code": 40005})
        )
    );
    assert_eq!(discord.messages(channel).len(), 1);
}
