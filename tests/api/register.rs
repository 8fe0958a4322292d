//! `POST /register`.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_generated_password_is_returned_once_and_logs_in() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/register",
            json!({"username": "alice", "email": "alice@example.com"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let password = body["password"].as_str().unwrap();
    let parsed = uuid::Uuid::parse_str(password).expect("the generated password is a UUID");
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(body["username"], "alice");

    app.login("alice", password).await;
}

#[tokio::test]
async fn a_chosen_password_is_not_echoed_back() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/register",
            json!({"username": "bob", "email": "bob@example.com", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("password").is_none(), "{body}");
    app.login("bob", "correct horse battery").await;
}

#[tokio::test]
async fn the_password_is_stored_only_as_an_argon2id_hash() {
    let app = spawn_app().await;
    let password = app.register("carol").await;
    let row = app
        .db()
        .await
        .query_one(
            "SELECT password_hash FROM users WHERE username = 'carol'",
            &[],
        )
        .await
        .unwrap();
    let hash: String = row.get(0);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(&password));
}

#[tokio::test]
async fn duplicate_usernames_and_emails_are_409_regardless_of_case() {
    let app = spawn_app().await;
    app.register("dave").await;

    let same_name = app
        .post_json(
            "/register",
            json!({"username": "DAVE", "email": "other@example.com"}),
        )
        .await;
    assert_eq!(same_name.status(), 409);
    let body: Value = same_name.json().await.unwrap();
    assert_eq!(body["error"], "username_taken");

    let same_email = app
        .post_json(
            "/register",
            json!({"username": "dave2", "email": "Dave@Example.com"}),
        )
        .await;
    assert_eq!(same_email.status(), 409);
    let body: Value = same_email.json().await.unwrap();
    assert_eq!(body["error"], "email_taken");
}

#[tokio::test]
async fn concurrent_duplicate_registrations_have_exactly_one_winner() {
    let app = spawn_app().await;
    let attempts = (0..16).map(|i| {
        app.post_json(
            "/register",
            json!({"username": "erin", "email": format!("erin{i}@example.com")}),
        )
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn malformed_or_incomplete_bodies_are_400_naming_the_problem() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body(r#"{"username": "frank","#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let response = app
        .post_json("/register", json!({"username": "frank"}))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["message"].as_str().unwrap().contains("email"),
        "{body}"
    );
}

#[tokio::test]
async fn invalid_field_values_are_422_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"username": "no spaces allowed", "email": "g@example.com"}),
            "username",
        ),
        (
            json!({"username": "gg", "email": "g@example.com"}),
            "username",
        ),
        (
            json!({"username": "grace", "email": "not-an-email"}),
            "email",
        ),
        (
            json!({"username": "grace", "email": "g@example.com", "password": "short"}),
            "password",
        ),
    ];
    for (request, field) in cases {
        let response = app.post_json("/register", request.clone()).await;
        assert_eq!(response.status(), 422, "{request}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_field");
        assert_eq!(body["field"], field, "{request}");
        assert!(body["message"].as_str().unwrap().starts_with(field));
    }
    // Nothing was half-written: the name is still free.
    app.register("grace").await;
}
