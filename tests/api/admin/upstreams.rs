//! `/admin/upstreams`: upstream identity providers registered, read, replaced over their ETag
//! and deleted by an administrator, configured from a real discovery document.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Admin, client_token, error_code};
use crate::{federation::rogue::Rogue, helpers::spawn_app};

#[tokio::test]
async fn administrators_register_replace_and_delete_upstreams_configured_by_discovery() {
    let rogue = Rogue::start().await;
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let fields = |issuer: &str| {
        json!({
            "id": "corp", "name": "Corp", "issuer": issuer,
            "client_id": "authd", "client_secret": "an upstream secret",
        })
    };

    // An issuer without a readable discovery document is the request's fault.
    let refused = admin
        .post("/admin/upstreams", fields("https://nowhere.invalid"))
        .await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["field"], "issuer", "{body}");

    let created = admin.post("/admin/upstreams", fields(&rogue.url)).await;
    assert_eq!(created.status(), 201);
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let upstream: Value = created.json().await.unwrap();
    assert_eq!(upstream["token_endpoint"], format!("{}/token", rogue.url));
    assert_eq!(
        upstream["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        upstream["redirect_uri"],
        format!("{}/ui/login/upstream/corp/callback", app.address)
    );
    assert!(upstream.get("client_secret").is_none(), "never read back");
    assert_eq!(
        admin
            .post("/admin/upstreams", fields(&rogue.url))
            .await
            .status(),
        409
    );
    let login = app.get("/ui/login").await.text().await.unwrap();
    assert!(login.contains("Log in with Corp"), "{login}");

    // Read-only administrators read, and write nothing.
    let reader = Admin {
        app: &app,
        token: client_token(&app, "authd:admin:read").await,
    };
    let listed: Value = reader.get("/admin/upstreams").await.json().await.unwrap();
    assert_eq!(listed["items"][0]["id"], "corp");
    let forbidden = reader.post("/admin/upstreams", fields(&rogue.url)).await;
    assert_eq!(error_code(forbidden).await, "insufficient_scope");

    // Replaced over its ETag only; the secret stays when none is given.
    let mut change = fields(&rogue.url);
    change["name"] = json!("Corp SSO");
    change["trust_email"] = json!(true);
    change.as_object_mut().unwrap().remove("id");
    change.as_object_mut().unwrap().remove("client_secret");
    let stale = admin
        .send(
            Method::PUT,
            "/admin/upstreams/corp",
            Some(change.clone()),
            Some("\"0\""),
        )
        .await;
    assert_eq!(stale.status(), 412);
    let replaced = admin
        .send(
            Method::PUT,
            "/admin/upstreams/corp",
            Some(change),
            Some(&etag),
        )
        .await;
    assert_eq!(replaced.status(), 200);
    assert_ne!(replaced.headers()["etag"].to_str().unwrap(), etag);
    let upstream: Value = replaced.json().await.unwrap();
    assert_eq!(upstream["name"], "Corp SSO");
    assert_eq!(upstream["trust_email"], true);
    let sealed: (Vec<u8>, i64) = {
        let row = app
            .db()
            .await
            .query_one(
                "SELECT client_secret, revision FROM upstreams WHERE id = 'corp'",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(!sealed.0.is_empty() && sealed.1 == 2);

    assert_eq!(admin.delete("/admin/upstreams/corp").await.status(), 204);
    assert_eq!(admin.get("/admin/upstreams/corp").await.status(), 404);
    let events: Vec<String> = app
        .db()
        .await
        .query(
            "SELECT event_type FROM audit_events WHERE event_type LIKE 'upstream.%' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        events,
        ["upstream.created", "upstream.updated", "upstream.deleted"]
    );
}
