//! Limits every request meets and headers every answer carries, whatever the route.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::spawn_app;

const LIMIT: usize = 64 * 1024;

#[tokio::test]
async fn a_body_over_64_kib_is_refused_with_413_whether_declared_or_streamed() {
    let app = spawn_app().await;
    let declared = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&username={}",
            "a".repeat(LIMIT)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), 413);
    let body: Value = declared.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large", "{body}");

    let streamed = chunked_post(&app.address, "/register", LIMIT + 8 * 1024).await;
    assert!(streamed.starts_with("HTTP/1.1 413"), "{streamed}");

    // Just under the limit, the route reads it and answers about its content, not its size.
    let under = app
        .client
        .post(format!("{}/register", app.address))
        .json(&json!({"username": "u".repeat(LIMIT - 100), "email": "u@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(under.status(), 422);
}

#[tokio::test]
async fn every_answer_says_nosniff_and_only_public_documents_may_be_cached() {
    let app = spawn_app().await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    let answers = [
        ("jwks", get("/.well-known/jwks.json").await.unwrap()),
        ("/me without a token", get("/me").await.unwrap()),
        ("an unknown route", get("/no/such/route").await.unwrap()),
        ("/healthz", get("/healthz").await.unwrap()),
        (
            "a refused token request",
            app.client
                .post(format!("{}/oauth/token", app.address))
                .form(&[("grant_type", "password"), ("username", "nobody")])
                .send()
                .await
                .unwrap(),
        ),
    ];
    for (what, answer) in &answers {
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
        let cache = header("cache-control");
        if *what == "jwks" {
            assert!(cache.starts_with("public, max-age="), "{what}: {cache}");
        } else {
            assert_eq!(cache, "no-store", "{what}");
        }
    }
}

/// Sends `size` bytes as a chunked body (no `Content-Length`) and returns the status line.
async fn chunked_post(address: &str, path: &str, size: usize) -> String {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 4096, "x".repeat(4096));
    for _ in 0..size.div_ceil(4096) {
        // authd may answer and close before the whole body is sent: stop writing then.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let mut buffer = [0; 1024];
    while !answer.windows(2).any(|pair| pair == b"\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await {
            Ok(Ok(read)) if read > 0 => answer.extend_from_slice(&buffer[..read]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}
