//! Limits every request and connection meets and headers every answer carries, whatever the
//! route: body and header sizes, slow clients, the connection cap, CORS.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{AppOptions, spawn_app, spawn_app_with};

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

#[tokio::test]
async fn oversized_headers_get_431_and_an_oversized_token_401_never_a_crash() {
    let app = spawn_app().await;
    let huge_header = app
        .client
        .get(app.url("/healthz"))
        .header("X-Filler", "f".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(huge_header.status(), 431);

    // Within the header limit but longer than any token authd issues: refused unparsed.
    let long_token = format!("eyJhbGciOiJSUzI1NiJ9.{}.sig", "A".repeat(12 * 1024));
    let answer = app.me(&long_token).await;
    assert_eq!(answer.status(), 401);
    let challenge = answer.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");

    // The replica still serves.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_client_too_slow_to_send_its_headers_is_disconnected() {
    let app = spawn_app_with(AppOptions {
        header_timeout: Duration::from_secs(1),
        ..AppOptions::default()
    })
    .await;
    let host = app.address.trim_start_matches("http://");
    let mut slow = TcpStream::connect(host).await.unwrap();
    // A request head that never ends (slowloris): a byte now and then, never the blank line.
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: authd\r\n")
        .await
        .unwrap();
    let mut buffer = [0; 256];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if slow.write_all(b"X").await.is_err() {
                return true;
            }
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(10), slow.read(&mut buffer)).await
            {
                return true;
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true), "a dawdling client was not cut off");

    // An idle keep-alive connection is closed after the same time.
    let mut idle = TcpStream::connect(host).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: authd\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read_to_end = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut answer));
    assert!(read_to_end.await.is_ok(), "the idle connection stayed open");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(AppOptions {
        max_connections: 2,
        ..AppOptions::default()
    })
    .await;
    let host = app.address.trim_start_matches("http://");
    let holders = [
        TcpStream::connect(host).await.unwrap(),
        TcpStream::connect(host).await.unwrap(),
    ];
    let mut third = TcpStream::connect(host).await.unwrap(); // the kernel queues it
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: authd\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let early =
        tokio::time::timeout(Duration::from_millis(700), third.read_to_end(&mut answer)).await;
    assert!(
        early.is_err(),
        "a third connection was served past the cap of two"
    );

    drop(holders);
    tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer))
        .await
        .expect("served once a slot freed")
        .unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    const APP_ORIGIN: &str = "https://app.example.com";
    let preflight = |app: &crate::helpers::TestApp, origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/me"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let allowed_origin = |answer: &reqwest::Response| {
        answer
            .headers()
            .get("access-control-allow-origin")
            .map(|value| value.to_str().unwrap().to_owned())
    };

    let off = spawn_app().await;
    let answer = preflight(&off, APP_ORIGIN).await.unwrap();
    assert!(!answer.status().is_success(), "{}", answer.status());
    assert_eq!(allowed_origin(&answer), None);
    let simple = off
        .client
        .get(off.url("/.well-known/jwks.json"))
        .header("Origin", APP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed_origin(&simple), None);

    let on = spawn_app_with(AppOptions {
        cors_origins: vec![APP_ORIGIN.to_owned()],
        ..AppOptions::default()
    })
    .await;
    let answer = preflight(&on, APP_ORIGIN).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(allowed_origin(&answer).as_deref(), Some(APP_ORIGIN));
    let simple = on
        .client
        .get(on.url("/.well-known/jwks.json"))
        .header("Origin", APP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed_origin(&simple).as_deref(), Some(APP_ORIGIN));
    let exposed = simple.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("dpop-nonce"), "{exposed}");

    let other = preflight(&on, "https://evil.example").await.unwrap();
    assert_eq!(other.status(), 403);
    assert_eq!(allowed_origin(&other), None);
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

#[tokio::test]
async fn a_method_a_path_does_not_take_is_405_naming_the_ones_it_does() {
    let app = spawn_app().await;
    for (method, path, allowed) in [
        (reqwest::Method::DELETE, "/me", "GET"),
        (reqwest::Method::GET, "/oauth/token", "POST"),
        (reqwest::Method::DELETE, "/api/profile", "GET, PUT"),
    ] {
        let answer = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 405, "{method} {path}");
        let allow = answer.headers()["allow"].to_str().unwrap();
        let mut methods: Vec<&str> = allow.split(", ").collect();
        methods.sort_unstable();
        assert_eq!(methods.join(", "), allowed, "{method} {path}");
    }
}

#[tokio::test]
async fn browsers_are_told_to_use_https_only_when_authd_is_served_over_it() {
    // RFC 6797 (ASVS 14.4.5): behind an https public URL every answer, errors included,
    // carries Strict-Transport-Security.
    let app = spawn_app_with(AppOptions {
        public_url: Some("https://authd.example".to_owned()),
        ..AppOptions::default()
    })
    .await;
    for path in ["/healthz", "/ui/login", "/no-such-page"] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
    // On a plain-http URL (development, tests) it would be ignored, and on localhost harmful.
    let plain = spawn_app().await;
    let response = plain.get("/healthz").await;
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}
