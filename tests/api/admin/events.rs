//! `/admin/events`: the audit trail of logins, sessions and administrative writes.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::Admin;
use crate::helpers::{eventually, spawn_app};

#[tokio::test]
async fn administrative_writes_and_logins_are_in_the_audit_trail_newest_first() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let dora = admin.create_user("dora").await;
    let id = dora["id"].as_str().unwrap().to_owned();
    admin
        .send(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            Some(json!({ "username": "dorothy" })),
            None,
        )
        .await;
    app.login("dorothy", "violet-tundra-8-oboe-quartz").await;
    let failed = app
        .post_json(
            "/auth",
            json!({ "username": "dorothy", "password": "wrong" }),
        )
        .await;
    assert_eq!(failed.status(), 401);

    // Logins are written in batches, a moment after they happen.
    let trail = format!("/admin/events?user_id={id}");
    assert!(
        eventually(Duration::from_secs(5), || async {
            let events: Value = admin.get(&trail).await.json().await.unwrap();
            events["items"].as_array().unwrap().len() >= 4
        })
        .await
    );
    let events: Value = admin.get(&trail).await.json().await.unwrap();
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "user.login_failed",
            "user.logged_in",
            "user.updated",
            "user.created"
        ]
    );
    let created = &events["items"][3];
    let client_actor = created["actor"].as_str().unwrap();
    assert!(client_actor.starts_with("client:"), "{client_actor}");
    assert_eq!(events["items"][2]["detail"]["changed"], json!(["username"]));
    assert_eq!(events["items"][1]["ip"], "127.0.0.1");

    let only: Value = admin
        .get(&format!("/admin/events?user_id={id}&type=user.updated"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    let paged: Value = admin
        .get(&format!("{trail}&limit=2"))
        .await
        .json()
        .await
        .unwrap();
    let next = paged["next_cursor"].as_str().unwrap();
    let second: Value = admin
        .get(&format!("{trail}&limit=2&cursor={next}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"][0]["type"], "user.updated");
    let future: Value = admin
        .get(&format!("{trail}&since=2999-01-01T00:00:00Z"))
        .await
        .json()
        .await
        .unwrap();
    assert!(future["items"].as_array().unwrap().is_empty());
}
