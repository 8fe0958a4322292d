//! `/admin/clients` and `/admin/keys`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Admin, all_pages, error_code};
use crate::helpers::spawn_app;

async fn client_credentials(app: &crate::helpers::TestApp, id: &str, secret: &str) -> u16 {
    app.client
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_administrator_manages_a_client_from_creation_to_deletion() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let created = admin
        .post(
            "/admin/clients",
            json!({ "client_id": "billing", "client_name": "Billing", "scope": "invoices:read",
                    "rate_limit": 20 }),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let billing: Value = created.json().await.unwrap();
    let secret = billing["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(billing["client_type"], "confidential");
    assert_eq!(billing["grant_types"], json!(["client_credentials"]));
    assert_eq!(billing["rate_limit"], 20);
    assert_eq!(client_credentials(&app, "billing", &secret).await, 200);

    let read = admin.get("/admin/clients/billing").await;
    assert_eq!(read.status(), 200);
    let shown: Value = read.json().await.unwrap();
    assert!(
        shown.get("client_secret").is_none(),
        "the secret is shown once"
    );

    let replaced = admin
        .send(
            Method::PUT,
            "/admin/clients/billing",
            Some(json!({ "client_name": "Billing (EU)", "scope": "invoices:read invoices:write" })),
            Some(&etag),
        )
        .await;
    assert_eq!(replaced.status(), 200);
    let replaced_body: Value = replaced.json().await.unwrap();
    assert_eq!(replaced_body["client_name"], "Billing (EU)");
    assert_eq!(replaced_body["scope"], "invoices:read invoices:write");
    let stale = admin
        .send(
            Method::PUT,
            "/admin/clients/billing",
            Some(json!({ "client_name": "Lost update" })),
            Some(&etag),
        )
        .await;
    assert_eq!(stale.status(), 412);
    // The secret outlived the change of registration.
    assert_eq!(client_credentials(&app, "billing", &secret).await, 200);

    let rotated = admin
        .post(
            "/admin/clients/billing/secret",
            json!({ "previous_valid_for": 0 }),
        )
        .await;
    assert_eq!(rotated.status(), 200);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let rotated: Value = rotated.json().await.unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(client_credentials(&app, "billing", new_secret).await, 200);
    assert_eq!(client_credentials(&app, "billing", &secret).await, 401);

    let bad = admin
        .post(
            "/admin/clients",
            json!({ "client_name": "Broken", "token_endpoint_auth_method": "magic" }),
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(error_code(bad).await, "invalid_field");

    assert_eq!(admin.delete("/admin/clients/billing").await.status(), 204);
    assert_eq!(admin.get("/admin/clients/billing").await.status(), 404);
    assert_eq!(client_credentials(&app, "billing", new_secret).await, 401);
}

#[tokio::test]
async fn clients_are_listed_page_by_page() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    for n in 0..7 {
        let created = admin
            .post(
                "/admin/clients",
                json!({ "client_id": format!("svc-{n}"), "client_name": format!("Service {n}") }),
            )
            .await;
        assert_eq!(created.status(), 201);
    }
    let all = all_pages(&admin, "/admin/clients", 3).await;
    let ids: Vec<&str> = all
        .iter()
        .map(|client| client["client_id"].as_str().unwrap())
        .filter(|id| id.starts_with("svc-"))
        .collect();
    assert_eq!(
        ids,
        [
            "svc-0", "svc-1", "svc-2", "svc-3", "svc-4", "svc-5", "svc-6"
        ]
    );
    // The bootstrap client made with the command line is listed too.
    assert_eq!(all.len(), 8);
}

#[tokio::test]
async fn signing_keys_are_listed_and_rotated() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let keys: Value = admin.get("/admin/keys").await.json().await.unwrap();
    let before = keys["items"].as_array().unwrap().len();
    assert!(before >= 1);
    assert_eq!(keys["items"][0]["state"], "signing");

    let rotated = admin.post("/admin/keys/rotate", json!({})).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let kid = rotated["kid"].as_str().unwrap();
    let after: Value = admin.get("/admin/keys").await.json().await.unwrap();
    assert!(
        after["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|key| key["kid"] == kid && key["state"] == "published"),
        "{after}"
    );
    assert!(app.published_kids().await.contains(&kid.to_owned()));
}
