//! Where Redis is: `REDIS_URL` names one node (`redis://`, `rediss://` for TLS) or a Redis
//! Cluster (`redis+cluster://h1:7000,h2:7001,...`, `rediss+cluster://` for TLS), the multi-host
//! form libpq uses for Postgres. `AUTHD_REDIS_CA_FILE` names the CA that signs the servers'
//! certificates when it is not one the system trusts.

use std::{path::Path, time::Duration};

use redis::{
    IntoConnectionInfo, ProtocolVersion, TlsCertificates,
    cluster::{ClusterClient, ClusterClientBuilder},
};

use super::unavailable;
use crate::store::StoreError;

/// How long connecting may take. A cluster connect can otherwise hang (redis-rs#1953), and a
/// replica that cannot reach Redis at start should say so rather than wait.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed `REDIS_URL`, with the CA to trust for `rediss`.
#[derive(Clone)]
pub struct RedisTarget {
    topology: Topology,
    /// PEM; `None` trusts the system's roots (which honour `SSL_CERT_FILE`).
    root_cert: Option<Vec<u8>>,
}

#[derive(Clone)]
enum Topology {
    Node(Box<redis::ConnectionInfo>),
    /// The seed nodes; the client learns the rest of the cluster from them.
    Cluster(Vec<redis::ConnectionInfo>),
}

impl RedisTarget {
    pub fn parse(url: &str, ca_file: Option<&Path>) -> Result<Self, StoreError> {
        let topology = match cluster_nodes(url) {
            Some(nodes) => Topology::Cluster(
                nodes?
                    .iter()
                    .map(|node| node.as_str().into_connection_info())
                    .collect::<Result<_, _>>()
                    .map_err(|err| invalid(&err))?,
            ),
            None => Topology::Node(Box::new(
                url.into_connection_info().map_err(|err| invalid(&err))?,
            )),
        };
        let root_cert = match ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|err| {
                invalid(&format_args!(
                    "cannot read the CA file {}: {err}",
                    path.display()
                ))
            })?),
            None => None,
        };
        let target = Self {
            topology,
            root_cert,
        };
        if target.root_cert.is_some() && !target.uses_tls() {
            return Err(invalid(
                &"a CA file is set but the URL is not rediss:// (or rediss+cluster://)",
            ));
        }
        Ok(target)
    }

    /// Where it connects, as `host:port` (the seed nodes of a cluster, comma-separated).
    pub fn address(&self) -> String {
        match &self.topology {
            Topology::Node(info) => info.addr().to_string(),
            Topology::Cluster(nodes) => nodes
                .iter()
                .map(|node| node.addr().to_string())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.topology, Topology::Cluster(_))
    }

    pub(super) fn uses_tls(&self) -> bool {
        let tls = |info: &redis::ConnectionInfo| {
            matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. })
        };
        match &self.topology {
            Topology::Node(info) => tls(info),
            Topology::Cluster(nodes) => nodes.iter().any(tls),
        }
    }

    fn certificates(&self) -> Option<TlsCertificates> {
        self.root_cert.as_ref().map(|root| TlsCertificates {
            client_tls: None,
            root_cert: Some(root.clone()),
        })
    }

    /// A client for the one node (`None` for a cluster).
    pub(super) fn node_client(&self) -> Option<Result<redis::Client, StoreError>> {
        let Topology::Node(info) = &self.topology else {
            return None;
        };
        let client = match self.certificates() {
            Some(certificates) => redis::Client::build_with_tls((**info).clone(), certificates),
            None => redis::Client::open((**info).clone()),
        };
        Some(client.map_err(|err| invalid(&err)))
    }

    /// A client for the cluster (`None` for one node). `push_sender` receives pushes (RESP3,
    /// which sharded pub/sub needs).
    pub(super) fn cluster_client(
        &self,
        push_sender: Option<tokio::sync::mpsc::UnboundedSender<redis::PushInfo>>,
    ) -> Option<Result<ClusterClient, StoreError>> {
        let Topology::Cluster(nodes) = &self.topology else {
            return None;
        };
        let mut builder = ClusterClientBuilder::new(nodes.clone())
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(super::COMMAND_TIMEOUT)
            .overall_response_timeout(Some(super::COMMAND_TIMEOUT));
        if let Some(certificates) = self.certificates() {
            builder = builder.certs(certificates);
        }
        if let Some(sender) = push_sender {
            builder = builder
                .use_protocol(ProtocolVersion::RESP3)
                .push_sender(sender);
        }
        Some(builder.build().map_err(|err| invalid(&err)))
    }
}

/// The node URLs of a `redis+cluster://` or `rediss+cluster://` URL, `None` for any other.
/// `redis+cluster://user:pass@h1:7000,h2:7001/?opts` gives `redis://user:pass@h1:7000/?opts`
/// and `redis://user:pass@h2:7001/?opts`.
fn cluster_nodes(url: &str) -> Option<Result<Vec<String>, StoreError>> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme {
        "redis+cluster" => "redis",
        "rediss+cluster" => "rediss",
        _ => return None,
    };
    let (authority, tail) = rest
        .find(['/', '?'])
        .map_or((rest, ""), |at| rest.split_at(at));
    let (credentials, hosts) = authority
        .rsplit_once('@')
        .map_or(("", authority), |(credentials, hosts)| (credentials, hosts));
    let credentials = if credentials.is_empty() {
        String::new()
    } else {
        format!("{credentials}@")
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .filter(|host| !host.is_empty())
        .map(|host| format!("{scheme}://{credentials}{host}{tail}"))
        .collect();
    Some(if nodes.is_empty() {
        Err(invalid(&"a cluster URL names no node"))
    } else {
        Ok(nodes)
    })
}

fn invalid(err: &dyn std::fmt::Display) -> StoreError {
    unavailable(&format_args!("not a valid Redis URL or TLS setting: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_names_each_node_with_the_shared_credentials_and_options() {
        let nodes = cluster_nodes("rediss+cluster://u:p@a:7000,b:7001,[::1]:7002/?protocol=3")
            .unwrap()
            .unwrap();
        assert_eq!(
            nodes,
            [
                "rediss://u:p@a:7000/?protocol=3",
                "rediss://u:p@b:7001/?protocol=3",
                "rediss://u:p@[::1]:7002/?protocol=3",
            ]
        );
        assert!(cluster_nodes("redis://a:6379").is_none());
        assert!(cluster_nodes("redis+cluster://").unwrap().is_err());
    }

    #[test]
    fn targets_know_their_topology_and_refuse_a_ca_without_tls() {
        assert!(
            RedisTarget::parse("redis+cluster://a:7000,b:7001", None)
                .unwrap()
                .is_cluster()
        );
        assert!(
            !RedisTarget::parse("redis://a:6379", None)
                .unwrap()
                .is_cluster()
        );
        let ca = std::env::temp_dir().join(format!("authd-ca-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&ca, "not checked here").unwrap();
        let err = RedisTarget::parse("redis://a:6379", Some(&ca))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("rediss://"), "{err}");
        assert!(RedisTarget::parse("rediss://a:6379", Some(&ca)).is_ok());
        std::fs::remove_file(ca).unwrap();
    }
}
