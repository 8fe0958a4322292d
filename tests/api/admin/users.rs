//! `/admin/users`: create, read, list and search, page under inserts, conditional changes,
//! disable (on every replica), delete, sessions and second factors.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Admin, all_pages, error_code};
use crate::helpers::{TestApp, eventually, spawn_app};

async fn password_session(app: &TestApp, username: &str, password: &str) -> Value {
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_administrator_creates_finds_and_deletes_users() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let created = admin
        .post(
            "/admin/users",
            json!({ "username": "Grace", "email": "grace@example.com",
                    "password": "a long and unguessable passphrase 7", "email_verified": true }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    let grace: Value = created.json().await.unwrap();
    assert_eq!(grace["username"], "Grace");
    assert_eq!(grace["email_verified"], true);
    assert_eq!(grace["has_password"], true);
    assert_eq!(grace["disabled"], false);
    assert!(grace.get("password").is_none() && grace.get("password_hash").is_none());
    // The password the administrator chose is the user's.
    app.login("grace", "a long and unguessable passphrase 7")
        .await;

    let without = admin
        .post(
            "/admin/users",
            json!({ "username": "heidi", "email": "heidi@example.com" }),
        )
        .await;
    assert_eq!(without.status(), 201);
    let heidi: Value = without.json().await.unwrap();
    assert_eq!(heidi["has_password"], false);
    assert_eq!(heidi["email_verified"], false);

    let weak = admin
        .post(
            "/admin/users",
            json!({ "username": "ivan", "email": "ivan@example.com", "password": "ivan" }),
        )
        .await;
    assert_eq!(weak.status(), 422);
    assert_eq!(error_code(weak).await, "invalid_field");
    let taken = admin
        .post(
            "/admin/users",
            json!({ "username": "GRACE", "email": "other@example.com" }),
        )
        .await;
    assert_eq!(taken.status(), 409);

    let id = grace["id"].as_str().unwrap();
    let fetched = admin.get(&format!("/admin/users/{id}")).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["etag"].to_str().unwrap(), etag);

    let search: Value = admin.get("/admin/users?q=gr").await.json().await.unwrap();
    let names: Vec<&str> = search["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Grace"]);
    let by_address: Value = admin
        .get("/admin/users?q=HEIDI%40")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_address["items"][0]["username"], "heidi");

    assert_eq!(
        admin.delete(&format!("/admin/users/{id}")).await.status(),
        204
    );
    let gone = admin.get(&format!("/admin/users/{id}")).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(error_code(gone).await, "not_found");
    assert_eq!(
        admin.delete(&format!("/admin/users/{id}")).await.status(),
        404
    );
}

#[tokio::test]
async fn pages_are_stable_while_users_are_added() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let mut before = Vec::new();
    for n in 0..23 {
        before.push(admin.create_user(&format!("paged{n:02}")).await["id"].clone());
    }
    // Users added while the pages are read: each user there at the start is seen exactly
    // once, whatever lands between two pages.
    let writer = async {
        for n in 0..15 {
            admin.create_user(&format!("late{n:02}")).await;
        }
    };
    let (seen, ()) = tokio::join!(all_pages(&admin, "/admin/users", 5), writer);
    let ids: Vec<&Value> = seen.iter().map(|user| &user["id"]).collect();
    for id in &before {
        assert_eq!(ids.iter().filter(|seen| **seen == id).count(), 1, "{id}");
    }
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no user appears twice");

    let bad = admin.get("/admin/users?cursor=not-ours").await;
    assert_eq!(bad.status(), 422);
    assert_eq!(admin.get("/admin/users?limit=0").await.status(), 400);
    assert_eq!(admin.get("/admin/users?limit=201").await.status(), 400);
}

#[tokio::test]
async fn a_change_over_a_stale_etag_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let judy = admin.create_user("judy").await;
    let path = format!("/admin/users/{}", judy["id"].as_str().unwrap());
    let read = admin.get(&path).await;
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();

    let first = admin
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "email": "judy@example.org" })),
            Some(&etag),
        )
        .await;
    assert_eq!(first.status(), 200);
    let new_etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let changed: Value = first.json().await.unwrap();
    assert_eq!(changed["email"], "judy@example.org");
    assert_eq!(changed["email_verified"], false);

    // A second writer who read before the first change loses, and writes nothing.
    let lost = admin
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "username": "judith" })),
            Some(&etag),
        )
        .await;
    assert_eq!(lost.status(), 412);
    assert_eq!(error_code(lost).await, "precondition_failed");
    let now: Value = admin.get(&path).await.json().await.unwrap();
    assert_eq!(now["username"], "judy");

    let bad = admin
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "email": "not an address" })),
            None,
        )
        .await;
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn disabling_a_user_ends_their_tokens_on_every_replica_and_refuses_logins() {
    let app = spawn_app().await;
    let sibling = app.spawn_sibling().await;
    let admin = Admin::new(&app).await;
    let password = app.register("kim").await;
    let token = app.login("kim", &password).await;
    let session = password_session(&app, "kim", &password).await;
    assert_eq!(sibling.me_status(&token).await, 200);
    let kim: Value = admin.get("/admin/users?q=kim").await.json().await.unwrap();
    let path = format!("/admin/users/{}", kim["items"][0]["id"].as_str().unwrap());

    let disabled = admin
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "disabled": true })),
            None,
        )
        .await;
    assert_eq!(disabled.status(), 200);
    let body: Value = disabled.json().await.unwrap();
    assert_eq!(body["disabled"], true);

    assert!(
        eventually(Duration::from_secs(2), || async {
            sibling.me_status(&token).await == 401
        })
        .await,
        "the other replica still accepts the disabled user's token"
    );
    let session_token = session["access_token"].as_str().unwrap();
    assert_eq!(sibling.me_status(session_token).await, 401);
    let refreshed = sibling
        .client
        .post(sibling.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", session["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 400);
    let login = app
        .post_json("/auth", json!({ "username": "kim", "password": password }))
        .await;
    assert_eq!(login.status(), 401);

    let enabled = admin
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "disabled": false })),
            None,
        )
        .await;
    assert_eq!(enabled.status(), 200);
    app.login("kim", &password).await;
}

#[tokio::test]
async fn an_administrator_ends_sessions_and_resets_second_factors() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let password = app.register("leo").await;
    let first = password_session(&app, "leo", &password).await;
    let second = password_session(&app, "leo", &password).await;
    let leo: Value = admin.get("/admin/users?q=leo").await.json().await.unwrap();
    let base = format!("/admin/users/{}", leo["items"][0]["id"].as_str().unwrap());

    let sessions: Value = admin
        .get(&format!("{base}/sessions"))
        .await
        .json()
        .await
        .unwrap();
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let one = items[0]["id"].as_str().unwrap();
    assert_eq!(
        admin
            .delete(&format!("{base}/sessions/{one}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        admin
            .delete(&format!("{base}/sessions/{one}"))
            .await
            .status(),
        404
    );
    let remaining: Value = admin
        .get(&format!("{base}/sessions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(remaining["items"].as_array().unwrap().len(), 1);

    let reset = admin
        .send(Method::DELETE, &format!("{base}/factors"), None, None)
        .await;
    assert_eq!(reset.status(), 200);
    let reset: Value = reset.json().await.unwrap();
    assert_eq!(reset["sessions_ended"], 1);
    for tokens in [&first, &second] {
        assert_eq!(
            app.me_status(tokens["access_token"].as_str().unwrap())
                .await,
            401
        );
    }
    let consents = admin.get(&format!("{base}/consents")).await;
    assert_eq!(consents.status(), 200);
}
