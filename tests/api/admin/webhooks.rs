//! `/admin/webhooks`: deliveries to a local receiver that verifies each signature with the
//! Standard Webhooks reference library (`tests/webhook_receiver.py`), retries while it is
//! down, and the refusal of internal addresses.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Admin, error_code};
use crate::{
    helpers::{AppOptions, eventually, spawn_app, spawn_app_with},
    receiver::Receiver,
};

impl Receiver {
    async fn webhooks() -> Self {
        Self::start("webhook_receiver.py", &[]).await
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    fn deliveries(&self) -> Vec<Value> {
        self.requests()
    }

    /// Waits until a delivery of `kind` the receiver verified and accepted has arrived.
    async fn accepted(&self, kind: &str, timeout: Duration) -> Value {
        let found = eventually(timeout, || async {
            self.deliveries().iter().any(|line| {
                line["verified"] == true && line["status"] == 204 && line["payload"]["type"] == kind
            })
        })
        .await;
        assert!(
            found,
            "no accepted {kind} delivery: {:#?}",
            self.deliveries()
        );
        self.deliveries()
            .into_iter()
            .find(|line| line["status"] == 204 && line["payload"]["type"] == kind)
            .unwrap()
    }
}

#[tokio::test]
async fn events_reach_a_subscriber_signed_as_standard_webhooks_specifies() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let mut receiver = Receiver::webhooks().await;
    let created = admin
        .post(
            "/admin/webhooks",
            json!({ "url": receiver.url(), "event_types": ["user.created", "user.disabled"],
                    "description": "HR sync" }),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let webhook: Value = created.json().await.unwrap();
    let secret = webhook["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.command(&format!("secret {secret}")).await;
    let shown: Value = admin
        .get(&format!(
            "/admin/webhooks/{}",
            webhook["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(shown.get("secret").is_none(), "the secret is shown once");

    let eve = admin.create_user("eve").await;
    let delivery = receiver
        .accepted("user.created", Duration::from_secs(10))
        .await;
    assert_eq!(delivery["payload"]["data"]["user_id"], eve["id"]);
    assert_eq!(delivery["payload"]["data"]["detail"]["username"], "eve");
    assert!(delivery["id"].as_str().unwrap().starts_with("msg_"));

    admin
        .send(
            Method::PATCH,
            &format!("/admin/users/{}", eve["id"].as_str().unwrap()),
            Some(json!({ "disabled": true })),
            None,
        )
        .await;
    receiver
        .accepted("user.disabled", Duration::from_secs(10))
        .await;
    // Events it did not subscribe to never arrive (user.updated was not asked for).
    assert!(
        receiver
            .deliveries()
            .iter()
            .all(|line| line["verified"] == true
                && ["user.created", "user.disabled"]
                    .contains(&line["payload"]["type"].as_str().unwrap()))
    );
}

#[tokio::test]
async fn a_delivery_is_retried_while_the_receiver_is_down_and_arrives_once_it_is_back() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let mut receiver = Receiver::webhooks().await;
    let webhook: Value = admin
        .post(
            "/admin/webhooks",
            json!({ "url": receiver.url(), "event_types": ["*"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    receiver
        .command(&format!("secret {}", webhook["secret"].as_str().unwrap()))
        .await;
    receiver.command("down").await;

    admin
        .post("/admin/groups", json!({ "name": "night-shift" }))
        .await;
    // Refused twice (a 503 each time), then the backoff's next attempts find it back.
    assert!(
        eventually(Duration::from_secs(10), || async {
            receiver
                .deliveries()
                .iter()
                .filter(|line| line["status"] == 503)
                .count()
                >= 2
        })
        .await,
        "{:#?}",
        receiver.deliveries()
    );
    receiver.command("up").await;
    let delivered = receiver
        .accepted("group.created", Duration::from_secs(20))
        .await;
    // Every attempt carried the same message id: a receiver can drop a duplicate.
    let attempts: Vec<Value> = receiver
        .deliveries()
        .into_iter()
        .filter(|line| line["payload"]["type"] == "group.created")
        .collect();
    assert!(attempts.iter().all(|line| line["id"] == delivered["id"]));

    let unsubscribed = admin
        .delete(&format!(
            "/admin/webhooks/{}",
            webhook["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(unsubscribed.status(), 204);
}

#[tokio::test]
async fn a_receiver_that_is_gone_is_given_up_on_at_once_and_the_failure_stays_visible() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let mut receiver = Receiver::webhooks().await;
    let webhook: Value = admin
        .post(
            "/admin/webhooks",
            json!({ "url": receiver.url(), "event_types": ["group.created"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    receiver
        .command(&format!("secret {}", webhook["secret"].as_str().unwrap()))
        .await;
    receiver.command("gone").await;
    admin
        .post("/admin/groups", json!({ "name": "archive" }))
        .await;

    // 410 Gone: no retry; the message stays, marked failed, with why.
    let db = app.db().await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            !db.query(
                "SELECT 1 FROM outbox WHERE topic = 'webhook' AND failed_at IS NOT NULL
                 AND last_error LIKE '%410%'",
                &[],
            )
            .await
            .unwrap()
            .is_empty()
        })
        .await,
        "{:#?}",
        receiver.deliveries()
    );
    let failed = crate::metrics::scrape(&app)
        .await
        .into_iter()
        .find(|(name, labels, _)| {
            name == "authd_outbox_deliveries_total"
                && labels == &json!({"topic": "webhook", "outcome": "failed"})
        })
        .map_or(0.0, |(_, _, value)| value);
    assert_eq!(failed, 1.0, "the given-up delivery is counted");
    assert_eq!(
        receiver
            .deliveries()
            .iter()
            .filter(|line| line["status"] == 410)
            .count(),
        1,
        "one attempt, not retried"
    );
}

#[tokio::test]
async fn a_webhook_may_not_point_into_the_network_authd_runs_in() {
    let app = spawn_app_with(AppOptions {
        webhook_allow_loopback: false,
        ..AppOptions::default()
    })
    .await;
    let admin = Admin::new(&app).await;
    for url in [
        "http://127.0.0.1:9000/hooks",
        "https://127.0.0.1/hooks",
        "https://[::1]/hooks",
        "https://10.0.0.8/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/hooks",
    ] {
        let refused = admin
            .post(
                "/admin/webhooks",
                json!({ "url": url, "event_types": ["*"] }),
            )
            .await;
        assert_eq!(refused.status(), 422, "{url}");
        assert_eq!(error_code(refused).await, "invalid_field");
    }
    let unknown = admin
        .post(
            "/admin/webhooks",
            json!({ "url": "https://hooks.example.com/", "event_types": ["user.exploded"] }),
        )
        .await;
    assert_eq!(unknown.status(), 422);

    // A name that resolves to an internal address passes the URL check (it may resolve
    // elsewhere tomorrow) and is refused at each delivery, at the addresses it resolves to
    // then. The machine's own name resolves to a loopback address on most machines.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let hostname = hostname.trim();
    let internal = tokio::net::lookup_host((hostname, 443))
        .await
        .map(|addrs| addrs.collect::<Vec<_>>())
        .unwrap_or_default();
    if hostname.is_empty()
        || internal.is_empty()
        || !internal.iter().all(|addr| addr.ip().is_loopback())
    {
        eprintln!("skipped the resolved-address check: {hostname:?} is not a loopback name here");
        return;
    }
    let accepted = admin
        .post(
            "/admin/webhooks",
            json!({ "url": format!("https://{hostname}:1/hooks"), "event_types": ["*"] }),
        )
        .await;
    assert_eq!(accepted.status(), 201);
    admin
        .post("/admin/groups", json!({ "name": "probe" }))
        .await;
    let db = app.db().await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            !db.query(
                "SELECT 1 FROM outbox WHERE topic = 'webhook' AND sent_at IS NULL
                 AND last_error LIKE '%no address a webhook may be delivered to%'",
                &[],
            )
            .await
            .unwrap()
            .is_empty()
        })
        .await,
        "the delivery to {hostname} was not refused for its address"
    );
}

#[tokio::test]
async fn an_unchanged_subscription_is_replaced_only_over_its_current_etag() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let created = admin
        .post(
            "/admin/webhooks",
            json!({ "url": "https://hooks.example.com/a", "event_types": ["*"] }),
        )
        .await;
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let webhook: Value = created.json().await.unwrap();
    let path = format!("/admin/webhooks/{}", webhook["id"].as_str().unwrap());
    let fields = json!({ "url": "https://hooks.example.com/b", "event_types": ["session.ended"],
                         "enabled": false });
    let replaced = admin
        .send(Method::PUT, &path, Some(fields.clone()), Some(&etag))
        .await;
    assert_eq!(replaced.status(), 200);
    let body: Value = replaced.json().await.unwrap();
    assert_eq!(body["enabled"], false);
    assert_eq!(body["event_types"], json!(["session.ended"]));
    let stale = admin
        .send(Method::PUT, &path, Some(fields), Some(&etag))
        .await;
    assert_eq!(stale.status(), 412);
}
