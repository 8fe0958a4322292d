//! Who an upstream's user is here. A federated identity is the pair (upstream, the upstream's
//! subject) and nothing else: later logins find the user by that pair, never by an address.
//!
//! A first login with no linked identity:
//! - links to the local account with the same address only where the upstream is trusted for
//!   addresses (`trust_email`) **and** says the address is verified; otherwise a rogue or
//!   careless upstream asserting someone's address would sign in as them (account takeover);
//! - is refused when a local account has the address (the person links from their profile,
//!   after logging in the usual way);
//! - creates the user (just in time), unless the upstream serves existing accounts only.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Federation, invalid, refused};
use crate::{
    accounts::{Email, Username},
    error::Error,
    events::{Actor, EventType, NewEvent},
    store::{FederatedIdentity, Provisioning, StoreError, UniqueField, UpstreamRecord, UserRecord},
};

/// What the upstream asserts of the user, read through its claim paths.
#[derive(Debug)]
pub(super) struct Asserted {
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
}

impl Asserted {
    pub(super) fn read(
        upstream: &UpstreamRecord,
        claims: &Map<String, Value>,
    ) -> Result<Self, Error> {
        let paths = &upstream.claims;
        // GitHub's `id` is a number: a subject may be one, read as its decimal text.
        let subject = match lookup(claims, &paths.subject) {
            Some(Value::String(text)) if !text.is_empty() && text.len() <= 255 => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            _ => {
                return Err(invalid(format!(
                    "{} did not say who you are (no `{}`).",
                    upstream.name, paths.subject
                )));
            }
        };
        let text = |path: &str| {
            lookup(claims, path)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        let email_verified = match lookup(claims, &paths.email_verified) {
            Some(Value::Bool(verified)) => *verified,
            // Some providers send it as a string (Core §5.1 says boolean).
            Some(Value::String(text)) => text == "true",
            _ => false,
        };
        Ok(Self {
            subject,
            username: text(&paths.username),
            email: text(&paths.email),
            email_verified,
        })
    }
}

/// A claim by name, or by a dotted path into nested objects.
fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

impl Federation {
    /// The local user the upstream's user is, by the rules above; with `link_user`, the
    /// identity is linked to that (signed-in) user instead.
    pub(super) async fn resolve(
        &self,
        upstream: &UpstreamRecord,
        asserted: &Asserted,
        link_user: Option<Uuid>,
    ) -> Result<UserRecord, Error> {
        let now = self.clock.now();
        let linked = self
            .store
            .find_identity(&upstream.id, &asserted.subject)
            .await?;
        let identity = FederatedIdentity {
            upstream_id: upstream.id.clone(),
            subject: asserted.subject.clone(),
            user_id: link_user
                .or(linked.as_ref().map(|linked| linked.user_id))
                .unwrap_or_default(),
            username: asserted.username.clone(),
            email: asserted.email.clone(),
            linked_at: now,
            last_login_at: Some(now),
        };
        if let Some(user_id) = link_user {
            return self.link(upstream, identity, linked, user_id).await;
        }
        if let Some(linked) = linked {
            self.store.touch_identity(&identity, now).await?;
            // A disabled or deleted account is not found: the identity opens nothing.
            return self
                .users
                .find_by_id(linked.user_id)
                .await?
                .ok_or_else(|| refused("The account linked to this identity is disabled."));
        }
        if let Some(email) = &asserted.email
            && let Some(user) = self.users.find_by_email(email).await?
        {
            if upstream.trust_email && asserted.email_verified {
                let identity = FederatedIdentity {
                    user_id: user.id,
                    ..identity
                };
                self.store
                    .link_identity(&identity)
                    .await
                    .map_err(|err| conflict(err, upstream))?;
                tracing::info!(
                    user_id = %user.id, upstream = %upstream.id,
                    "identity linked by the upstream's verified address"
                );
                self.linked(&identity, Actor::Anonymous, "verified_address")
                    .await;
                return Ok(user);
            }
            return Err(address_taken(upstream, email));
        }
        if upstream.provisioning == Provisioning::Existing {
            return Err(refused(format!(
                "{} logins are for accounts already linked to it, and yours is not. Ask an \
                 administrator, or log in another way and link it from your profile.",
                upstream.name
            )));
        }
        self.provision(upstream, asserted, identity).await
    }

    /// Links the identity to the signed-in user.
    async fn link(
        &self,
        upstream: &UpstreamRecord,
        identity: FederatedIdentity,
        linked: Option<FederatedIdentity>,
        user_id: Uuid,
    ) -> Result<UserRecord, Error> {
        let user = self
            .users
            .find_by_id(user_id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        match linked {
            Some(linked) if linked.user_id == user_id => Ok(user),
            Some(_) => Err(refused(format!(
                "This {} identity is linked to another account.",
                upstream.name
            ))),
            None => {
                self.store
                    .link_identity(&identity)
                    .await
                    .map_err(|err| conflict(err, upstream))?;
                tracing::info!(%user_id, upstream = %upstream.id, "identity linked");
                self.linked(&identity, Actor::User(user_id), "user").await;
                Ok(user)
            }
        }
    }

    /// Creates the user and links the identity, both or neither.
    async fn provision(
        &self,
        upstream: &UpstreamRecord,
        asserted: &Asserted,
        identity: FederatedIdentity,
    ) -> Result<UserRecord, Error> {
        let email = asserted.email.as_deref().ok_or_else(|| {
            refused(format!(
                "{} did not share your email address, which an account here needs.",
                upstream.name
            ))
        })?;
        let email = Email::parse(email).map_err(|_| {
            refused(format!(
                "{} shared an address authd cannot use.",
                upstream.name
            ))
        })?;
        let now = self.clock.now();
        for username in candidates(upstream, asserted) {
            let user = UserRecord {
                // authd vouches for an address only where it trusts the upstream for them.
                email_verified_at: (upstream.trust_email && asserted.email_verified).then_some(now),
                last_login_at: Some(now),
                ..UserRecord::new(username.as_str(), email.as_str(), now)
            };
            let identity = FederatedIdentity {
                user_id: user.id,
                ..identity.clone()
            };
            match self.store.provision(&user, &identity).await {
                Ok(()) => {
                    tracing::info!(
                        user_id = %user.id, upstream = %upstream.id,
                        "user created at their first login through an upstream"
                    );
                    self.audit(
                        NewEvent::new(EventType::UserCreated, Actor::Anonymous)
                            .user(user.id)
                            .detail(json!({ "username": user.username, "upstream": upstream.id })),
                    )
                    .await;
                    self.linked(&identity, Actor::Anonymous, "first_login")
                        .await;
                    return Ok(user);
                }
                Err(StoreError::Conflict(UniqueField::Username)) => continue,
                Err(StoreError::Conflict(UniqueField::Email)) => {
                    return Err(address_taken(upstream, email.as_str()));
                }
                // The same person's first login, finished on another replica a moment ago.
                Err(StoreError::Conflict(UniqueField::FederatedIdentity)) => {
                    let linked = self
                        .store
                        .find_identity(&upstream.id, &asserted.subject)
                        .await?
                        .ok_or_else(|| Error::Internal("an identity vanished".to_owned()))?;
                    return self.users.find_by_id(linked.user_id).await?.ok_or_else(|| {
                        refused("The account linked to this identity is disabled.")
                    });
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(refused(
            "No free username could be found for your account. Ask an administrator.",
        ))
    }
}

impl Federation {
    /// Records that `identity` was linked, and `by` what.
    async fn linked(&self, identity: &FederatedIdentity, actor: Actor, by: &str) {
        self.audit(
            NewEvent::new(EventType::IdentityLinked, actor)
                .user(identity.user_id)
                .detail(json!({
                    "upstream": identity.upstream_id,
                    "subject": identity.subject,
                    "by": by,
                })),
        )
        .await;
    }
}

/// Usernames to try, in order: the upstream's, the address's local part, then the upstream's
/// id with a random number.
fn candidates(upstream: &UpstreamRecord, asserted: &Asserted) -> Vec<Username> {
    let local_part = asserted
        .email
        .as_deref()
        .and_then(|email| email.split('@').next())
        .map(str::to_owned);
    let mut names: Vec<String> = asserted
        .username
        .iter()
        .cloned()
        .chain(local_part)
        .collect();
    for _ in 0..3 {
        names.push(format!(
            "{}-{}",
            upstream.id,
            rand::random_range(1000..100_000)
        ));
    }
    let mut seen = Vec::new();
    names
        .iter()
        .filter_map(|name| Username::parse_provisioned(name).ok())
        .filter(|name| {
            let new = !seen.contains(&name.as_str().to_lowercase());
            seen.push(name.as_str().to_lowercase());
            new
        })
        .collect()
}

fn address_taken(upstream: &UpstreamRecord, email: &str) -> Error {
    refused(format!(
        "An account with the address {email} exists already. Log in to it the usual way, then \
         link your {} identity from your profile.",
        upstream.name
    ))
}

fn conflict(err: StoreError, upstream: &UpstreamRecord) -> Error {
    match err {
        StoreError::Conflict(UniqueField::FederatedIdentity) => refused(format!(
            "Your account has another {} identity linked already: unlink it first.",
            upstream.name
        )),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::OffsetDateTime;

    use super::*;
    use crate::store::{ClaimPaths, SealedBox, UpstreamKind};

    fn upstream(claims: ClaimPaths) -> UpstreamRecord {
        UpstreamRecord {
            id: "github".to_owned(),
            name: "GitHub".to_owned(),
            kind: UpstreamKind::Oauth2,
            issuer: None,
            authorization_endpoint: "https://github.example/authorize".to_owned(),
            token_endpoint: "https://github.example/token".to_owned(),
            userinfo_endpoint: Some("https://api.github.example/user".to_owned()),
            jwks_uri: None,
            algorithms: Vec::new(),
            iss_parameter: false,
            client_id: "client".to_owned(),
            client_secret: SealedBox {
                nonce: Vec::new(),
                ciphertext: Vec::new(),
            },
            master_key_id: String::new(),
            scopes: String::new(),
            claims,
            provisioning: Provisioning::Jit,
            trust_email: false,
            require_second_factor: false,
            enabled: true,
            created_at: OffsetDateTime::UNIX_EPOCH,
            revision: 1,
        }
    }

    fn claims(value: serde_json::Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn claims_are_read_by_name_or_dotted_path_and_a_numeric_subject_is_its_decimal_text() {
        let paths = ClaimPaths {
            subject: "id".to_owned(),
            username: "login".to_owned(),
            email: "contact.email".to_owned(),
            email_verified: "contact.verified".to_owned(),
        };
        let asserted = Asserted::read(
            &upstream(paths),
            &claims(json!({
                "id": 583231, "login": " octocat ",
                "contact": {"email": "octo@example.com", "verified": "true"},
            })),
        )
        .unwrap();
        assert_eq!(asserted.subject, "583231");
        assert_eq!(asserted.username.as_deref(), Some("octocat"));
        assert_eq!(asserted.email.as_deref(), Some("octo@example.com"));
        assert!(asserted.email_verified);
    }

    #[test]
    fn no_subject_or_an_empty_one_is_refused_and_verification_defaults_to_false() {
        let oidc = upstream(ClaimPaths::default());
        for bad in [json!({}), json!({"sub": ""}), json!({"sub": true})] {
            assert!(Asserted::read(&oidc, &claims(bad)).is_err());
        }
        let asserted = Asserted::read(
            &oidc,
            &claims(json!({"sub": "a", "email": "a@example.com", "email_verified": "yes"})),
        )
        .unwrap();
        assert!(
            !asserted.email_verified,
            "only true, or \"true\", is verified"
        );
    }

    #[test]
    fn usernames_are_tried_from_the_upstream_then_the_address_then_a_made_up_one() {
        let asserted = Asserted {
            subject: "1".to_owned(),
            username: Some("Octo Cat!".to_owned()),
            email: Some("octocat@example.com".to_owned()),
            email_verified: false,
        };
        let names: Vec<String> = candidates(&upstream(ClaimPaths::default()), &asserted)
            .iter()
            .map(|name| name.as_str().to_owned())
            .collect();
        // The upstream's is not a valid username here: skipped.
        assert_eq!(names[0], "octocat");
        assert_eq!(names.len(), 4);
        assert!(names[1..].iter().all(|name| name.starts_with("github-")));
    }
}
