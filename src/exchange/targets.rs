//! Resource indicators (RFC 8707) and exchange audiences (RFC 8693 §2.1): which targets a
//! client may ask a token for. A target is `AUTHD_AUDIENCE` or a resource the trust file lists
//! with that client among those that may request it; the token's `aud` names the targets.

use std::sync::Arc;

use super::TrustFile;
use crate::{error::Error, tokens::Audience};

pub struct Targets {
    trust: Arc<TrustFile>,
    default_audience: String,
}

impl Targets {
    pub fn new(trust: Arc<TrustFile>, default_audience: String) -> Self {
        Self {
            trust,
            default_audience,
        }
    }

    /// The audience of a token `client_id` asks for with these `resource` and `audience`
    /// values; `None` when it named none (then `AUTHD_AUDIENCE`). Every value must be one the
    /// client may ask for, or the whole request is refused (`invalid_target`): a token for
    /// fewer targets than asked would surprise the client, one for more would break RFC 8707.
    pub fn resolve(
        &self,
        client_id: &str,
        resources: &[String],
        audiences: &[String],
    ) -> Result<Option<Audience>, Error> {
        let mut targets: Vec<String> = Vec::new();
        for resource in resources {
            // RFC 8707 §2: an absolute URI, without a fragment.
            let absolute = url::Url::parse(resource).is_ok_and(|uri| uri.fragment().is_none());
            if !absolute {
                return Err(invalid_target(format!(
                    "resource `{resource}` is not an absolute URI without a fragment"
                )));
            }
        }
        for target in resources.iter().chain(audiences) {
            if !self.may_request(client_id, target) {
                return Err(invalid_target(format!(
                    "`{target}` is not a resource this client may ask a token for"
                )));
            }
            if !targets.contains(target) {
                targets.push(target.clone());
            }
        }
        Ok(Audience::many(targets))
    }

    /// A narrower audience for a session granted `granted` (empty: `AUTHD_AUDIENCE`): a
    /// refresh or a code redemption may ask for some of them, never another (RFC 8707 §2.2).
    pub fn narrow(&self, granted: &[String], resources: &[String]) -> Result<(), Error> {
        for resource in resources {
            let within = if granted.is_empty() {
                *resource == self.default_audience
            } else {
                granted.contains(resource)
            };
            if !within {
                return Err(invalid_target(format!(
                    "`{resource}` was not granted in the authorization request"
                )));
            }
        }
        Ok(())
    }

    fn may_request(&self, client_id: &str, target: &str) -> bool {
        target == self.default_audience
            || self
                .trust
                .resource(target)
                .is_some_and(|resource| resource.may_be_requested_by(client_id))
    }

    /// Whether a token with audience `aud` is meant for `client_id`: it serves one of the
    /// resources named (the trust file's `served_by`).
    pub fn served_by(&self, aud: &Audience, client_id: &str) -> bool {
        aud.as_slice().iter().any(|target| {
            self.trust
                .resource(target)
                .and_then(|resource| resource.served_by.as_deref())
                == Some(client_id)
        })
    }
}

fn invalid_target(description: String) -> Error {
    Error::oauth("invalid_target", description)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Targets {
        let trust = TrustFile::parse(
            r#"
            [[resource]]
            id = "https://orders.example"
            clients = ["web"]
            served_by = "orders"
            [[resource]]
            id = "billing"
            clients = ["web", "orders"]
            "#,
        )
        .unwrap();
        Targets::new(Arc::new(trust), "authd".to_owned())
    }

    #[test]
    fn a_client_gets_the_targets_it_may_ask_for_and_nothing_else() {
        let targets = targets();
        let orders = "https://orders.example".to_owned();
        let aud = targets
            .resolve(
                "web",
                std::slice::from_ref(&orders),
                &["billing".to_owned()],
            )
            .unwrap()
            .unwrap();
        assert_eq!(aud.as_slice(), [orders.clone(), "billing".to_owned()]);
        assert!(targets.resolve("web", &[], &[]).unwrap().is_none());
        assert!(
            targets
                .resolve("orders", std::slice::from_ref(&orders), &[])
                .is_err()
        );
        assert!(
            targets
                .resolve("web", &["billing".to_owned()], &[])
                .is_err()
        );
        assert!(
            targets
                .resolve("web", &["https://orders.example#x".to_owned()], &[])
                .is_err()
        );
        assert!(
            targets
                .resolve("nobody", &[], &["authd".to_owned()])
                .is_ok()
        );
        assert!(targets.served_by(&aud, "orders"));
        assert!(!targets.served_by(&aud, "web"));
    }
}
