//! How authd should hold a Redis Cluster: one multiplexed `ClusterConnection` shared by every
//! request (what authd does), or deadpool-redis's pool of them (its `cluster` feature). Each
//! iteration sends 32 concurrent `SET`s with a TTL, the shape of authd's nonce and rate-limit
//! writes, spread over the slots.
//!
//! Run against a cluster (tests/redis-cluster.sh start):
//! `AUTHD_BENCH_REDIS_CLUSTER=$(tests/redis-cluster.sh url) cargo bench --bench redis_cluster`.
//! Without the variable it measures nothing.

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::future::join_all;

const CONCURRENT: usize = 32;

fn nodes() -> Option<Vec<String>> {
    let url = std::env::var("AUTHD_BENCH_REDIS_CLUSTER").ok()?;
    let hosts = url.strip_prefix("redis+cluster://")?;
    Some(
        hosts
            .split(',')
            .map(|host| format!("redis://{host}"))
            .collect(),
    )
}

fn set(key: String) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(1).arg("PX").arg(10_000);
    cmd
}

fn cluster_connections(c: &mut Criterion) {
    let Some(nodes) = nodes() else {
        eprintln!("AUTHD_BENCH_REDIS_CLUSTER is not set: nothing measured");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let shared = runtime.block_on(async {
        redis::cluster::ClusterClient::new(nodes.clone())
            .expect("cluster client")
            .get_async_connection()
            .await
            .expect("cluster connection")
    });
    let pool = deadpool_redis::cluster::Config::from_urls(nodes)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("cluster pool");
    let mut group = c.benchmark_group(format!("{CONCURRENT} concurrent SETs on a cluster"));
    let mut round = 0u64;
    group.bench_function("one shared ClusterConnection", |b| {
        b.to_async(&runtime).iter(|| {
            round += 1;
            let shared = shared.clone();
            async move {
                join_all((0..CONCURRENT).map(|i| {
                    let mut connection = shared.clone();
                    async move {
                        set(format!("authd-bench:{round}:{i}"))
                            .query_async::<()>(&mut connection)
                            .await
                            .expect("SET")
                    }
                }))
                .await
            }
        });
    });
    group.bench_function("deadpool-redis cluster pool", |b| {
        b.to_async(&runtime).iter(|| {
            round += 1;
            let pool = pool.clone();
            async move {
                join_all((0..CONCURRENT).map(|i| {
                    let pool = pool.clone();
                    async move {
                        let mut connection = pool.get().await.expect("pooled connection");
                        set(format!("authd-bench:{round}:{i}"))
                            .query_async::<()>(&mut connection)
                            .await
                            .expect("SET")
                    }
                }))
                .await
            }
        });
    });
    group.finish();
}

criterion_group!(benches, cluster_connections);
criterion_main!(benches);
