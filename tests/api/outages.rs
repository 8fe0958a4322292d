//! The failure policy (../shared/DESIGN.md): Postgres or Redis going away and coming back, with
//! authd connected through a proxy the test can unplug, so the shared services stay up for the
//! other tests.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use authd::AppState;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    task::AbortHandle,
};

use crate::helpers::{TestApp, durable_resources, eventually, redis_url, start_on};

const UP: u8 = 0;
const CUT: u8 = 1;
const HUNG: u8 = 2;

/// A TCP proxy to a service. `cut` drops every connection through it and refuses new ones, as a
/// crashed or partitioned service would; `hang` keeps connections open but passes nothing on,
/// as a stalled server would; `restore` lets traffic through again.
pub struct Plug {
    pub port: u16,
    mode: Arc<AtomicU8>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

/// Copies `from` to `to` while the plug is up; once it hangs, holds the data forever.
async fn relay(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mode: Arc<AtomicU8>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        if mode.load(Ordering::SeqCst) == HUNG {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl Plug {
    pub async fn to(target: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(UP));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (accept_mode, accept_connections) = (mode.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if accept_mode.load(Ordering::SeqCst) == CUT {
                    continue; // dropped: connection reset
                }
                let mode = accept_mode.clone();
                let connection = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        () = relay(client_read, server_write, mode.clone()) => {}
                        () = relay(server_read, client_write, mode) => {}
                    }
                });
                accept_connections
                    .lock()
                    .unwrap()
                    .push(connection.abort_handle());
            }
        })
        .abort_handle();
        Self {
            port,
            mode,
            connections,
            accept,
        }
    }

    pub fn cut(&self) {
        self.mode.store(CUT, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    pub fn hang(&self) {
        self.mode.store(HUNG, Ordering::SeqCst);
    }

    pub fn restore(&self) {
        self.mode.store(UP, Ordering::SeqCst);
    }
}

impl Drop for Plug {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// An app whose Postgres and Redis connections both go through plugs.
pub struct Unpluggable {
    pub app: TestApp,
    pub state: AppState,
    pub postgres: Plug,
    pub redis: Plug,
}

pub async fn unpluggable_app() -> Unpluggable {
    let resources = Arc::new(durable_resources().await);
    let postgres = Plug::to("127.0.0.1:5432").await;
    let redis = Plug::to("127.0.0.1:6379").await;
    let database_url = resources
        .database_url()
        .replace(":5432/", &format!(":{}/", postgres.port));
    assert!(
        redis_url().ends_with(":6379"),
        "the plug targets the default Redis"
    );
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    let (app, state) = start_on(&database_url, redis_url, resources).await;
    Unpluggable {
        app,
        state,
        postgres,
        redis,
    }
}

async fn register_status(app: &TestApp, username: &str) -> u16 {
    app.post_json(
        "/register",
        json!({"username": username, "email": format!("{username}@example.com")}),
    )
    .await
    .status()
    .as_u16()
}

#[tokio::test]
async fn with_postgres_down_tokens_still_verify_writes_answer_503_and_recovery_is_automatic() {
    let Unpluggable {
        app,
        state,
        postgres,
        redis: _redis,
    } = unpluggable_app().await;
    let password = app.register("alice").await;
    let token = app.login("alice", &password).await;
    assert_eq!(app.me_status(&token).await, 200); // as in any running system, Redis is warm

    postgres.cut();
    // Verification needs only the in-memory key ring and Redis.
    let verified = state.verifier.verify(&token).await.unwrap();
    assert_eq!(verified.claims.username.as_deref(), Some("alice"));
    let jwks = app.jwks().await;
    assert!(!jwks["keys"].as_array().unwrap().is_empty());

    let register = app
        .post_json(
            "/register",
            json!({"username": "bob", "email": "bob@example.com"}),
        )
        .await;
    assert_eq!(register.status(), 503);
    let body: Value = register.json().await.unwrap();
    assert_eq!(body["error"], "service_unavailable");
    assert!(body["message"].as_str().unwrap().contains("postgres"));
    let login = app
        .post_json("/auth", json!({"username": "alice", "password": password}))
        .await;
    assert_eq!(login.status(), 503);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["postgres"], "unreachable");

    postgres.restore();
    assert!(
        eventually(Duration::from_secs(15), || async {
            register_status(&app, "bob").await == 201
        })
        .await,
        "registration works again once Postgres is back"
    );
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(app.me_status(&token).await, 200);
}

#[tokio::test]
async fn with_redis_down_revoked_tokens_stay_revoked_and_recovery_is_automatic() {
    // Both plugs are kept: a dropped plug is a cut one.
    let Unpluggable {
        app,
        redis,
        postgres: _postgres,
        ..
    } = unpluggable_app().await;
    let password = app.register("alice").await;
    let carol_key = crate::pop::UserKey::generate();
    let carol = crate::pop::register_with_key(&app, "carol", &carol_key).await;
    let revoked = app.login("alice", &password).await;
    let live = app.login("alice", &password).await;
    assert_eq!(app.me_status(&live).await, 200); // cached in Redis
    assert_eq!(app.logout(&revoked).await.status(), 204);

    redis.cut();
    // The durable revocation list answers: the revoked token stays out, the live one stays in.
    assert_eq!(app.me_status(&revoked).await, 401);
    assert_eq!(app.me_status(&live).await, 200);
    // Flows that need a single-use value in Redis refuse rather than guess.
    let pop = app
        .post_json(
            "/pop/login",
            json!({"username": "carol", "password": carol}),
        )
        .await;
    assert_eq!(pop.status(), 503);
    assert_eq!(app.get("/readyz").await.status(), 503);

    redis.restore();
    assert!(
        eventually(Duration::from_secs(15), || async {
            app.get("/readyz").await.status() == 200
        })
        .await,
        "Redis is used again once it is back"
    );
    assert_eq!(app.me_status(&revoked).await, 401);
    assert_eq!(app.me_status(&live).await, 200);
}

#[tokio::test]
async fn a_hung_backend_gives_a_prompt_answer_not_a_hung_request() {
    let Unpluggable {
        app,
        postgres,
        redis,
        ..
    } = unpluggable_app().await;
    let password = app.register("alice").await;
    let token = app.login("alice", &password).await;
    assert_eq!(app.me_status(&token).await, 200);
    let carol_key = crate::pop::UserKey::generate();
    let carol = crate::pop::register_with_key(&app, "carol", &carol_key).await;
    // A hang must end well before this; the client gives up only so a failure is reported.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    redis.hang();
    // Verification falls back to the durable revocation list once Redis times out.
    let started = Instant::now();
    let me = client
        .get(app.url("/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("an answer, not a hang");
    assert_eq!(me.status(), 200);
    let pop = client
        .post(app.url("/pop/login"))
        .json(&json!({"username": "carol", "password": carol}))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_eq!(pop.status(), 503);
    println!("hung Redis: answers after {:?}", started.elapsed());
    redis.restore();

    postgres.hang();
    let register = client
        .post(app.url("/register"))
        .json(&json!({"username": "bob", "email": "bob@example.com"}))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_eq!(register.status(), 503);
    let body: Value = register.json().await.unwrap();
    assert_eq!(body["error"], "service_unavailable");
}

/// A logout that Redis fails answers 503, but it reached Postgres: the replica that made it
/// refuses the token at once and announces the revocation once Redis is back, so a replica that
/// never lost Redis (and so trusts its memory) refuses it too; the caller need not retry.
#[tokio::test]
async fn a_revocation_redis_failed_is_announced_once_redis_is_back() {
    let Unpluggable {
        app,
        redis,
        postgres: _postgres,
        ..
    } = unpluggable_app().await;
    let sibling = app.spawn_sibling().await; // same database and Redis, without the plugs
    let password = app.register("alice").await;
    let token = app.login("alice", &password).await;
    assert_eq!(sibling.me_status(&token).await, 200);

    redis.cut();
    assert_eq!(app.logout(&token).await.status(), 503);
    assert_eq!(app.me_status(&token).await, 401);

    redis.restore();
    assert!(
        eventually(Duration::from_secs(10), || async {
            sibling.me_status(&token).await == 401
        })
        .await,
        "the other replica heard of the revocation once Redis was back"
    );
}
