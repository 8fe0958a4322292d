//! Each replica's memory (revocations, verified tokens, clients, users, profiles) and the
//! channel that keeps it current: changes reach every replica within `AUTHD_REVOCATION_MAX_LAG`,
//! a replica that stops hearing its heartbeat stops trusting memory, and nothing written to
//! Redis can make a replica accept what it would refuse.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    clients::create_client,
    helpers::{TestApp, eventually, spawn_app},
    outages::{Unpluggable, unpluggable_app},
};

async fn introspect(app: &TestApp, client: &(String, String), token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

async fn client_token(app: &TestApp, client: &(String, String)) -> String {
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn profile(app: &TestApp, token: &str) -> Value {
    let response = app
        .client
        .get(app.url("/api/profile"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_client_deleted_on_the_command_line_is_refused_by_every_replica_within_the_bound() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let client = create_client(&app, "");
    let token = client_token(&app, &client).await;
    // The other replica has the client in memory now.
    assert_eq!(introspect(&other, &client, &token).await.status(), 200);

    let (deleted, _, stderr) =
        crate::client_registration::clients(&app, &["delete", client.0.as_str()]);
    assert!(deleted, "{stderr}");
    tokio::time::sleep(app.options.revocation_max_lag).await;
    assert_eq!(introspect(&other, &client, &token).await.status(), 401);
    assert_eq!(introspect(&app, &client, &token).await.status(), 401);
}

/// `authd clients rotate-secret`, printing the client with its new secret.
fn rotate_secret(app: &TestApp, client_id: &str, extra: &[&str]) -> Value {
    let args = [&["rotate-secret", client_id], extra].concat();
    let (rotated, stdout, stderr) = crate::client_registration::clients(app, &args);
    assert!(rotated, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[tokio::test]
async fn a_rotated_client_secret_is_refused_by_every_replica_within_the_bound() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let client = create_client(&app, "");
    let token = client_token(&app, &client).await;
    assert_eq!(introspect(&other, &client, &token).await.status(), 200);

    let rotated = rotate_secret(&app, &client.0, &[]);
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, client.1);
    assert_eq!(rotated["previous_secret_expires_at"], Value::Null);
    tokio::time::sleep(app.options.revocation_max_lag).await;
    for replica in [&app, &other] {
        assert_eq!(introspect(replica, &client, &token).await.status(), 401);
        let renewed = (client.0.clone(), new_secret.clone());
        assert_eq!(introspect(replica, &renewed, &token).await.status(), 200);
        client_token(replica, &renewed).await;
    }
    // The secret is printed at rotation only.
    let (shown, stdout, _) = crate::client_registration::clients(&app, &["show", &client.0]);
    assert!(shown);
    assert!(!stdout.contains(&new_secret));
}

#[tokio::test]
async fn a_secret_rotated_with_a_grace_period_keeps_the_old_one_valid_until_it_ends() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let client = create_client(&app, "");
    let token = client_token(&app, &client).await;

    let rotated = rotate_secret(&app, &client.0, &["--previous-valid-for", "3s"]);
    let renewed = (
        client.0.clone(),
        rotated["client_secret"].as_str().unwrap().to_owned(),
    );
    assert!(rotated["previous_secret_expires_at"].is_i64());
    tokio::time::sleep(app.options.revocation_max_lag).await;
    for replica in [&app, &other] {
        assert_eq!(introspect(replica, &client, &token).await.status(), 200);
        assert_eq!(introspect(replica, &renewed, &token).await.status(), 200);
    }
    // A second rotation forgets the first secret at once, whatever grace it had left.
    let again = rotate_secret(&app, &client.0, &["--previous-valid-for", "1h"]);
    let newest = (
        client.0.clone(),
        again["client_secret"].as_str().unwrap().to_owned(),
    );
    tokio::time::sleep(app.options.revocation_max_lag).await;
    for replica in [&app, &other] {
        assert_eq!(introspect(replica, &client, &token).await.status(), 401);
        assert_eq!(introspect(replica, &renewed, &token).await.status(), 200);
        assert_eq!(introspect(replica, &newest, &token).await.status(), 200);
    }
}

#[tokio::test]
async fn the_grace_period_of_a_replaced_secret_ends() {
    let app = spawn_app().await;
    let client = create_client(&app, "");
    let token = client_token(&app, &client).await;
    rotate_secret(&app, &client.0, &["--previous-valid-for", "1s"]);
    assert!(
        eventually(Duration::from_secs(5), || async {
            introspect(&app, &client, &token).await.status() == 401
        })
        .await,
        "the replaced secret was still accepted after its grace period"
    );
}

#[tokio::test]
async fn a_client_without_a_secret_has_none_to_rotate() {
    let app = spawn_app().await;
    let client_id = crate::code_flow::public_client(&app, "");
    let (rotated, stdout, stderr) =
        crate::client_registration::clients(&app, &["rotate-secret", &client_id]);
    assert!(!rotated);
    assert!(stdout.is_empty());
    assert!(stderr.contains("not a secret"), "{stderr}");
    let (rotated, _, stderr) =
        crate::client_registration::clients(&app, &["rotate-secret", "client_unknown"]);
    assert!(!rotated);
    assert!(stderr.contains("no client"), "{stderr}");
}

#[tokio::test]
async fn profile_edits_and_user_deletion_reach_every_replica_within_the_bound() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let password = app.register("alice").await;
    let token = app.login("alice", &password).await;
    // The login itself is a change (last_login_at), announced when its audit row is written.
    tokio::time::sleep(app.options.revocation_max_lag).await;
    assert_eq!(profile(&other, &token).await["display_name"], Value::Null);
    assert_eq!(other.me_status(&token).await, 200);

    let saved = app
        .client
        .put(app.url("/api/profile"))
        .bearer_auth(&token)
        .json(&json!({"display_name": "Alice Liddell"}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    tokio::time::sleep(app.options.revocation_max_lag).await;
    assert_eq!(
        profile(&other, &token).await["display_name"],
        "Alice Liddell"
    );

    app.delete_user("alice").await; // returns after the max lag
    assert_eq!(other.me_status(&token).await, 401);
}

/// The channel carries no verified tokens, and a replica's memory outranks Redis: a forged
/// token with "verified" claims planted under its hash, and a revocation deleted from Redis,
/// change nothing.
#[tokio::test]
async fn nothing_planted_in_or_deleted_from_redis_makes_a_token_pass() {
    let app = spawn_app().await;
    let password = app.register("mallory").await;
    let token = app.login("mallory", &password).await;
    let revoked = app.login("mallory", &password).await;
    assert_eq!(app.logout(&revoked).await.status(), 204);

    let mut redis = crate::helpers::redis_connection().await;
    let prefix = &app.resources.redis_prefix;

    // A token with a changed payload (another user's name) and the original signature, and
    // the claims it would need, planted where the old shared cache kept verified tokens.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let claims = crate::clients::claims_of(&token);
    let mut forged_claims = claims.clone();
    forged_claims["username"] = json!("admin");
    parts[1] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        serde_json::to_vec(&forged_claims).unwrap(),
    );
    let forged = parts.join(".");
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}vt:{}", authd::tokens::hash_token(&forged)))
        .arg(forged_claims.to_string())
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(app.me_status(&forged).await, 401);

    // Every revocation deleted from Redis: the replica remembers it.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}{{revocations}}:*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(app.me_status(&revoked).await, 401);
    assert_eq!(app.me_status(&token).await, 200);
}

/// The subscription is cut (the replica's Redis connections go through a plug): within the max
/// lag the replica stops trusting memory and asks for each token, so a token revoked on another
/// replica meanwhile is refused; once the subscription is back, memory is trusted again only
/// after it has caught up, and then answers alone.
#[tokio::test]
async fn a_replica_that_loses_the_channel_checks_each_token_until_it_has_caught_up() {
    let Unpluggable {
        app,
        state,
        redis,
        postgres: _postgres,
    } = unpluggable_app().await;
    let other = app.spawn_sibling().await;
    let max_lag = app.options.revocation_max_lag;
    let password = app.register("alice").await;
    let revoked = app.login("alice", &password).await;
    let live = app.login("alice", &password).await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            state.freshness.is_current()
        })
        .await,
        "the replica never caught up"
    );
    assert_eq!(app.me_status(&revoked).await, 200);

    redis.cut();
    let cut_at = Instant::now();
    assert_eq!(other.logout(&revoked).await.status(), 204);
    tokio::time::sleep(max_lag.saturating_sub(cut_at.elapsed())).await;
    assert!(
        !state.freshness.is_current(),
        "memory trusted without a heartbeat"
    );
    // Redis is unreachable from this replica, so Postgres answers.
    assert_eq!(app.me_status(&revoked).await, 401);
    assert_eq!(app.me_status(&live).await, 200);

    redis.restore();
    assert!(
        eventually(Duration::from_secs(10), || async {
            state.freshness.is_current()
        })
        .await,
        "the replica did not catch up after the channel came back"
    );
    // Caught up: the revocation it missed was reloaded, and memory alone refuses it.
    let round_trips = state.metrics.revocation_round_trips.get();
    assert_eq!(app.me_status(&revoked).await, 401);
    assert_eq!(app.me_status(&live).await, 200);
    assert_eq!(state.metrics.revocation_round_trips.get(), round_trips);
}

/// With Postgres gone, what a replica holds in memory keeps answering: tokens verify, `/me`
/// and introspection answer for the users and clients it knows. Logging in needs Postgres.
#[tokio::test]
async fn with_postgres_down_known_users_and_clients_are_still_answered() {
    let Unpluggable {
        app,
        state,
        postgres,
        redis: _redis,
    } = unpluggable_app().await;
    let password = app.register("alice").await;
    let token = app.login("alice", &password).await;
    let client = create_client(&app, "");
    // The login's audit entry is written in the background, and records the login on the user,
    // which evicts the user from every replica's memory (this one's too, when its own event
    // comes back on the channel). Wait for both, so the lookups below are what stays in memory.
    state.accounts.flush_audit().await;
    let flushed = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || async {
            state.freshness.is_current()
                && state
                    .freshness
                    .lag()
                    .is_some_and(|lag| lag < flushed.elapsed())
        })
        .await,
        "the replica never caught up"
    );
    assert_eq!(app.me_status(&token).await, 200);
    assert_eq!(introspect(&app, &client, &token).await.status(), 200);

    postgres.cut();
    // From memory, while the replica is current (its heartbeats still come back through
    // Redis), which a loaded machine can miss for a moment.
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.me_status(&token).await == 200
        })
        .await,
        "a known user was not answered with Postgres down"
    );
    let me = app.me(&token).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    let introspected = introspect(&app, &client, &token).await;
    assert_eq!(introspected.status(), 200);
    let introspected: Value = introspected.json().await.unwrap();
    assert_eq!(introspected["active"], true);
    let login = app
        .post_json("/auth", json!({"username": "alice", "password": password}))
        .await;
    assert_eq!(login.status(), 503);
}
