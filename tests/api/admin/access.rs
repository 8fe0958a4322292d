//! Who may call the admin API: no token, a token without the scope, a read-only token, a
//! user outside the admin group.

use reqwest::Method;
use serde_json::json;

use super::{Admin, client_token, error_code};
use crate::{
    browser::Browser,
    code_flow::{code_for, pkce, public_client, redeem},
    helpers::spawn_app,
};

#[tokio::test]
async fn a_request_without_a_token_is_challenged_and_one_without_the_scope_is_refused() {
    let app = spawn_app().await;
    let anonymous = app.get("/admin/users").await;
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    let other = Admin {
        app: &app,
        token: client_token(&app, "reports:read").await,
    };
    let refused = other.get("/admin/users").await;
    assert_eq!(refused.status(), 403);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="authd:admin:read""#),
        "{challenge}"
    );
    assert_eq!(error_code(refused).await, "insufficient_scope");
}

#[tokio::test]
async fn a_read_only_token_reads_but_cannot_write() {
    let app = spawn_app().await;
    let reader = Admin {
        app: &app,
        token: client_token(&app, "authd:admin:read").await,
    };
    assert_eq!(reader.get("/admin/users").await.status(), 200);
    assert_eq!(reader.get("/admin/clients").await.status(), 200);
    assert_eq!(reader.get("/admin/keys").await.status(), 200);
    assert_eq!(reader.get("/admin/events").await.status(), 200);

    let write = reader
        .post(
            "/admin/users",
            json!({ "username": "mallory", "email": "mallory@example.com" }),
        )
        .await;
    assert_eq!(write.status(), 403);
    assert!(
        write.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"scope="authd:admin""#)
    );
    let delete = reader
        .send(Method::POST, "/admin/keys/rotate", Some(json!({})), None)
        .await;
    assert_eq!(delete.status(), 403);
}

#[tokio::test]
async fn a_user_token_opens_the_admin_api_only_while_the_user_is_in_the_admin_group() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let client_id = public_client(&app, "authd:admin");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("olivia").await;
    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, &client_id, &challenge, "authd:admin").await;
    let tokens: serde_json::Value = redeem(&app, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let as_user = Admin {
        app: &app,
        token: tokens["access_token"].as_str().unwrap().to_owned(),
    };

    let outside = as_user.get("/admin/users").await;
    assert_eq!(outside.status(), 403);
    assert_eq!(error_code(outside).await, "forbidden");

    let group: serde_json::Value = admin
        .post("/admin/groups", json!({ "name": "authd-admins" }))
        .await
        .json()
        .await
        .unwrap();
    let users: serde_json::Value = admin
        .get("/admin/users?q=olivia")
        .await
        .json()
        .await
        .unwrap();
    let olivia = users["items"][0]["id"].as_str().unwrap().to_owned();
    let added = admin
        .post(
            &format!("/admin/groups/{}/members", group["id"].as_str().unwrap()),
            json!({ "user_id": olivia }),
        )
        .await;
    assert_eq!(added.status(), 204);
    assert_eq!(as_user.get("/admin/users").await.status(), 200);

    // Her writes are hers in the audit trail.
    let made = as_user
        .post("/admin/groups", json!({ "name": "auditors" }))
        .await;
    assert_eq!(made.status(), 201);
    let events: serde_json::Value = admin
        .get("/admin/events?type=group.created")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"][0]["actor"], format!("user:{olivia}"));

    let removed = admin
        .delete(&format!(
            "/admin/groups/{}/members/{olivia}",
            group["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(removed.status(), 204);
    assert_eq!(as_user.get("/admin/users").await.status(), 403);
}

#[tokio::test]
async fn dynamic_registration_cannot_ask_for_the_admin_scopes() {
    let app = crate::helpers::spawn_app_with(crate::helpers::AppOptions {
        dynamic_registration: true,
        ..crate::helpers::AppOptions::default()
    })
    .await;
    let refused = app
        .post_json(
            "/oauth/register",
            json!({ "client_name": "Sneaky", "token_endpoint_auth_method": "none",
                    "redirect_uris": ["https://rp.example/callback"], "scope": "openid authd:admin" }),
        )
        .await;
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata");
}
