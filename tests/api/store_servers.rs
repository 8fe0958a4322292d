//! authd on stores beyond one plain Postgres and one plain Redis: both over TLS with a CA made
//! for the test (tests/tls-servers.sh), and Postgres failing over from a primary to a promoted
//! standby (tests/postgres-standby.sh).

use std::{
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use authd::{
    config::RedisArgs,
    startup::{StartupError, connect_stores},
    store::postgres::run_migrations,
};
use uuid::Uuid;

use crate::helpers::{TestResources, new_master_key, redis_url, start_on};

/// Runs one of the scripts under tests/, holding a lock so that test processes running at once
/// do not start or stop its servers under one another; returns what it printed.
fn script(name: &str, args: &[&str]) -> String {
    script_with(name, args, &[])
}

fn script_with(name: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let path = format!("{}/tests/{name}", env!("CARGO_MANIFEST_DIR"));
    // `-o`: the servers the script starts must not inherit the lock, or it outlives the script.
    let output = Command::new("flock")
        .envs(env.iter().copied())
        .arg("-o")
        .arg(format!("/tmp/authd-{name}.lock"))
        .arg("bash")
        .arg(&path)
        .args(args)
        .output()
        .expect("flock and bash run");
    assert!(
        output.status.success(),
        "{name} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The TLS servers' settings, from `tests/tls-servers.sh env`.
struct TlsServers {
    ca_file: String,
    wrong_ca_file: String,
    redis_url: String,
    database_url: String,
}

fn tls_servers() -> TlsServers {
    script("tls-servers.sh", &["start"]);
    let env = script("tls-servers.sh", &["env"]);
    let value = |name: &str| {
        env.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {env}"))
            .to_owned()
    };
    TlsServers {
        ca_file: value("TLS_CA_FILE"),
        wrong_ca_file: value("TLS_WRONG_CA_FILE"),
        redis_url: value("TLS_REDIS_URL"),
        database_url: value("TLS_DATABASE_URL"),
    }
}

fn redis_args(url: &str, ca_file: Option<&str>) -> RedisArgs {
    RedisArgs {
        redis_url: url.to_owned(),
        redis_prefix: format!("authd-test:{}:", Uuid::new_v4().simple()),
        redis_ca_file: ca_file.map(Into::into),
    }
}

fn connect_error(result: Result<authd::store::Stores, StartupError>) -> String {
    match result {
        Ok(_) => panic!("connected"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn both_stores_work_over_tls_verified_against_the_configured_ca() {
    let servers = tls_servers();
    let database_url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        servers.database_url, servers.ca_file
    );
    run_migrations(&database_url).await.unwrap();
    let stores = connect_stores(
        &database_url,
        &redis_args(&servers.redis_url, Some(&servers.ca_file)),
    )
    .await
    .unwrap();
    for probe in &stores.probes {
        probe.ping().await.unwrap();
    }
    // A round trip to each: a user read from Postgres, a proof nonce through Redis.
    assert!(
        stores
            .users
            .find_by_username("nobody-at-all")
            .await
            .unwrap()
            .is_none()
    );
    stores
        .proof_state
        .put("tls-check", "1", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        stores.proof_state.get("tls-check", true).await.unwrap(),
        Some("1".to_owned())
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_by_both_stores() {
    let servers = tls_servers();
    let wrong_postgres = connect_error(
        connect_stores(
            &format!(
                "{}?sslmode=verify-full&sslrootcert={}",
                servers.database_url, servers.wrong_ca_file
            ),
            &redis_args(&servers.redis_url, Some(&servers.ca_file)),
        )
        .await,
    );
    assert!(wrong_postgres.contains("DATABASE_URL"), "{wrong_postgres}");
    assert!(
        wrong_postgres.to_lowercase().contains("certificate"),
        "{wrong_postgres}"
    );

    let right_postgres = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        servers.database_url, servers.ca_file
    );
    let wrong_redis = connect_error(
        connect_stores(
            &right_postgres,
            &redis_args(&servers.redis_url, Some(&servers.wrong_ca_file)),
        )
        .await,
    );
    assert!(wrong_redis.contains("REDIS_URL"), "{wrong_redis}");
    // The system's roots do not hold the test CA either.
    let system_roots =
        connect_error(connect_stores(&right_postgres, &redis_args(&servers.redis_url, None)).await);
    assert!(system_roots.contains("REDIS_URL"), "{system_roots}");
}

#[tokio::test]
async fn a_plain_connection_to_a_server_that_demands_tls_fails_at_start_naming_the_setting() {
    let servers = tls_servers();
    let plain_postgres = connect_error(
        connect_stores(
            &format!("{}?sslmode=disable", servers.database_url),
            &redis_args(&redis_url(), None),
        )
        .await,
    );
    assert!(plain_postgres.contains("DATABASE_URL"), "{plain_postgres}");
    assert!(plain_postgres.contains("sslmode"), "{plain_postgres}");

    let plain_redis = connect_error(
        connect_stores(
            &format!(
                "{}?sslmode=verify-full&sslrootcert={}",
                servers.database_url, servers.ca_file
            ),
            &redis_args(&servers.redis_url.replace("rediss://", "redis://"), None),
        )
        .await,
    );
    assert!(plain_redis.contains("REDIS_URL"), "{plain_redis}");
    assert!(plain_redis.contains("rediss://"), "{plain_redis}");
}

#[tokio::test]
async fn a_redis_cluster_works_over_tls_and_refuses_another_ca() {
    let servers = tls_servers();
    let tls_dir = std::path::Path::new(&servers.ca_file)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    // Its own ports and directory, beside the plain cluster the other tests may be using.
    let env = [
        ("REDIS_CLUSTER_PORT", "7100"),
        ("REDIS_CLUSTER_DIR", "/tmp/authd-redis-cluster-tls"),
        ("REDIS_CLUSTER_TLS_DIR", tls_dir.as_str()),
    ];
    script_with("redis-cluster.sh", &["start"], &env);
    let url = script_with("redis-cluster.sh", &["url"], &env)
        .trim()
        .to_owned();
    assert!(url.starts_with("rediss+cluster://"), "{url}");
    let database_url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        servers.database_url, servers.ca_file
    );
    let stores = connect_stores(&database_url, &redis_args(&url, Some(&servers.ca_file)))
        .await
        .unwrap();
    // Keys on every master: each node's certificate is checked.
    for n in 0..16 {
        let key = format!("tls-cluster-{n}");
        stores
            .proof_state
            .put(&key, "1", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            stores.proof_state.get(&key, true).await.unwrap(),
            Some("1".to_owned())
        );
    }
    let wrong = connect_error(
        connect_stores(
            &database_url,
            &redis_args(&url, Some(&servers.wrong_ca_file)),
        )
        .await,
    );
    assert!(wrong.contains("REDIS_URL"), "{wrong}");
}

/// The primary is killed and the standby promoted, as an operator or a failover manager would:
/// logins work again within seconds, through the same multi-host `DATABASE_URL`, and what was
/// acknowledged before the crash (a registration, a revocation) is there after it.
#[tokio::test]
async fn after_the_standby_is_promoted_logins_resume_and_nothing_acknowledged_is_lost() {
    // A fresh pair: an earlier run may have left it failed over.
    script("postgres-standby.sh", &["stop"]);
    script("postgres-standby.sh", &["start"]);
    let url = script("postgres-standby.sh", &["url"]).trim().to_owned();
    let database = format!("authd_failover_{}", Uuid::new_v4().simple());
    crate::helpers::connect_db(&url)
        .await
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .await
        .unwrap();
    let database_url = url.replace("/postgres?", &format!("/{database}?"));
    assert!(database_url.contains(&database));
    run_migrations(&database_url).await.unwrap();

    let resources = Arc::new(TestResources {
        database: None, // lives on the pair, which `stop` removes
        redis_prefix: format!("authd-test:{}:", Uuid::new_v4().simple()),
        master_key_base64: new_master_key().1,
    });
    let (app, _) = start_on(&database_url, redis_url(), resources).await;

    let password = app.register("before-crash").await;
    let revoked = app.login("before-crash", &password).await;
    assert_eq!(app.logout(&revoked).await.status(), 204);

    script("postgres-standby.sh", &["kill-primary"]);
    script("postgres-standby.sh", &["promote"]);
    let promoted = Instant::now();
    let mut logins_back = None;
    while promoted.elapsed() < Duration::from_secs(30) {
        let response = app
            .post_json(
                "/auth",
                serde_json::json!({"username": "before-crash", "password": password}),
            )
            .await;
        if response.status() == 200 {
            logins_back = Some(promoted.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logins_back = logins_back.expect("logins resumed within 30 s of the promotion");
    println!("logins resumed {logins_back:?} after the standby's promotion");
    assert!(
        logins_back < Duration::from_secs(5),
        "logins resumed only after {logins_back:?}"
    );

    // Writes go to the promoted standby, and what the old primary acknowledged is there.
    let after = app.register("after-promotion").await;
    assert!(!after.is_empty());
    let promoted_db = crate::helpers::connect_db(
        &url.replace("127.0.0.1:5441,", "")
            .replace("/postgres?", &format!("/{database}?")),
    )
    .await;
    let users: i64 = promoted_db
        .query_one(
            "SELECT count(*) FROM users WHERE username IN ('before-crash', 'after-promotion')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 2);
    let revocations: i64 = promoted_db
        .query_one("SELECT count(*) FROM revocations", &[])
        .await
        .unwrap()
        .get(0);
    assert!(revocations >= 1, "the logout's revocation survived");
    assert_eq!(app.me_status(&revoked).await, 401);
    script("postgres-standby.sh", &["stop"]);
}
