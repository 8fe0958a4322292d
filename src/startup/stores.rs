//! Connecting to Postgres and Redis and wiring their stores: for a replica, and for the
//! administrative commands, whose writes are announced to the replicas.

use std::{sync::Arc, time::Duration};

use super::StartupError;
use crate::{
    accounts::Users,
    clients::Clients,
    clock::{Clock, SystemClock},
    config::RedisArgs,
    invalidation::{Freshness, LocalCaches},
    store::{self, Stores},
};

/// Connects to Postgres and Redis (failing fast, naming the setting) and wires their stores.
pub async fn connect_stores(
    database_url: &str,
    redis_args: &RedisArgs,
) -> Result<Stores, StartupError> {
    let pg_pool = store::postgres::connect(database_url)
        .await
        .map_err(|source| StartupError::Connect {
            setting: "DATABASE_URL",
            source,
        })?;
    let redis_connect = async {
        let target = store::redis::RedisTarget::parse(
            &redis_args.redis_url,
            redis_args.redis_ca_file.as_deref(),
        )?;
        let backend = store::redis::connect(&target).await?;
        Ok::<_, store::StoreError>((target, backend))
    };
    let (redis_target, redis_backend) =
        redis_connect
            .await
            .map_err(|source| StartupError::Connect {
                setting: "REDIS_URL",
                source,
            })?;
    let postgres = store::postgres::Postgres::new(pg_pool);
    let redis = store::redis::Redis::new(redis_backend, redis_args.redis_prefix.clone());
    let events = store::redis::RedisEvents::new(redis.clone(), redis_target);
    Ok(Stores {
        events: Arc::new(events),
        users: postgres.users(),
        signing_keys: postgres.signing_keys(),
        auth_logs: postgres.auth_logs(),
        rate_limits: Arc::new(store::redis::RedisRateLimits(redis.clone())),
        revocations: postgres.revocations(),
        sessions: postgres.sessions(),
        clients: postgres.clients(),
        consents: postgres.consents(),
        profiles: postgres.profiles(),
        second_factors: postgres.second_factors(),
        passkeys: postgres.passkeys(),
        outbox: postgres.outbox(),
        groups: postgres.groups(),
        audit: postgres.audit(),
        webhooks: postgres.webhooks(),
        streams: postgres.streams(),
        upstreams: postgres.upstreams(),
        ldap_accounts: postgres.ldap_accounts(),
        proof_state: Arc::new(store::redis::RedisProofState(redis.clone())),
        housekeeping: postgres.housekeeping(),
        token_cache: Arc::new(store::redis::RedisTokenState(redis.clone())),
        probes: vec![Arc::new(postgres), Arc::new(redis)],
    })
}

/// The services an administrative command (`authd clients …`, `authd users …`) acts through:
/// their writes are announced on the invalidation channel like a replica's, so every running
/// replica forgets what it cached. The command follows no channel, so it reads from Postgres
/// only.
pub struct AdminServices {
    pub clients: Clients,
    pub users: Users,
}

pub async fn connect_admin(
    database_url: &str,
    redis_args: &RedisArgs,
) -> Result<AdminServices, StartupError> {
    let stores = connect_stores(database_url, redis_args).await?;
    super::require_schema(database_url).await?;
    // Never caught up, so never current: every read goes to the store.
    let freshness = Arc::new(Freshness::new(Duration::ZERO));
    let (users, clients, profiles) = Arc::new(LocalCaches::default()).wrap(
        freshness,
        stores.events,
        stores.users,
        stores.clients,
        stores.profiles,
    );
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Ok(AdminServices {
        clients: Clients::new(Arc::new(clients), clock.clone()),
        users: Users::new(Arc::new(users), Arc::new(profiles), clock),
    })
}

/// Clients over Postgres alone, for the commands that change nothing a replica caches
/// (`create`, `list`, `show`): no Redis needed.
pub async fn connect_clients(database_url: &str) -> Result<Clients, StartupError> {
    let pool = store::postgres::connect(database_url)
        .await
        .map_err(|source| StartupError::Connect {
            setting: "DATABASE_URL",
            source,
        })?;
    super::require_schema(database_url).await?;
    Ok(Clients::new(
        store::postgres::Postgres::new(pool).clients(),
        Arc::new(SystemClock),
    ))
}
