//! Assembling a replica's state: the key ring loaded (or created), and each domain service
//! given the stores and settings it needs. The constructor lives here, not in `state`, because
//! building is start-up work (it loads keys, hashes a dummy password, can fail with a
//! [`StartupError`]), and `state` stays below `http`.

use std::sync::Arc;

use super::StartupError;
use crate::{
    accounts::{
        AUDIT_QUEUE_CAPACITY, Accounts, AuditLog, Factors, Groups, LdapLogins, Logins, Passkeys,
        PasswordHasher, PendingLogins, Reauthentications, Recovery, RecoveryServices,
        SecondFactors, Users,
    },
    admin::{Admin, AdminServices},
    authorization::{Authorizations, FlowServices, FlowSettings},
    clients::{ClientAssertions, Clients},
    clock::Clock,
    config::Config,
    error::Error,
    events::{AddressGuard, AuditTrail, FanOut, WebhookSender, Webhooks},
    exchange::{ExternalIssuers, Targets},
    federation::{Federation, FederationServices, Upstreams},
    invalidation::{Freshness, LocalCaches},
    keys::{KeyManager, KeyPolicy, KeyRing, MasterKeys},
    ldap::Ldap,
    logout::{BackChannel, LogoutTokens, Logouts},
    mail::Mailer,
    metrics::Metrics,
    oidc::IdTokens,
    operations::{Operations, Retention},
    outbox::{Deliverer, Outbox},
    possession::{DpopVerifier, PopNonces},
    rate_limit::{ClientRateLimiter, DeviceCodeThrottle, LoginThrottle, MailThrottle, RateLimiter},
    sessions::Sessions,
    ssf::{SetDelivery, SharedSignals, SsfServices, SsfSettings, StreamFanOut},
    state::AppState,
    store::{ClientStore, ProfileStore, Stores, Topic, UserStore},
    tokens::{Revocations, TokenIssuer, TokenVerifier},
};

impl AppState {
    /// Loads (or creates) the signing keys and assembles the domain services over `stores`.
    pub async fn build(
        config: Config,
        stores: Stores,
        master_keys: impl Into<MasterKeys>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let masters: MasterKeys = master_keys.into();
        let metrics = Arc::new(
            Metrics::new().map_err(|err| Error::Internal(format!("metrics registry: {err}")))?,
        );
        let key_ring = Arc::new(load_key_ring(&config, &stores, &masters, clock.as_ref()).await?);
        let keys = Arc::new(KeyManager::new(
            stores.signing_keys.clone(),
            stores.events.clone(),
            key_ring.clone(),
            masters.clone(),
            clock.clone(),
            KeyPolicy {
                algorithm: config.signing_algorithm,
                key_lifetime: config.signing_key_lifetime,
                rotation_interval: config.key_rotation,
                max_token_lifetime: config.access_token_ttl + config.clock_leeway,
            },
        ));
        let events = stores.events.clone();
        let freshness = Arc::new(Freshness::new(config.revocation_max_lag));
        // Clients, users and profiles are read from this replica's memory while it is current.
        let caches = Arc::new(LocalCaches::default());
        let (users, clients, profiles) = caches.wrap(
            freshness.clone(),
            events.clone(),
            stores.users.clone(),
            stores.clients.clone(),
            stores.profiles.clone(),
        );
        let (users, clients, profiles): (
            Arc<dyn UserStore>,
            Arc<dyn ClientStore>,
            Arc<dyn ProfileStore>,
        ) = (Arc::new(users), Arc::new(clients), Arc::new(profiles));
        let revocations = Arc::new(Revocations::new(
            stores.revocations.clone(),
            stores.token_cache.clone(),
            freshness.clone(),
            events.clone(),
            metrics.clone(),
        ));
        let outbox = Outbox::new(
            stores.outbox.clone(),
            Arc::new(masters.clone()),
            clock.clone(),
            metrics.clone(),
        );
        let trail = Arc::new(AuditTrail::new(
            stores.audit.clone(),
            outbox.clone(),
            clock.clone(),
        ));
        let webhooks = Arc::new(Webhooks::new(
            stores.webhooks.clone(),
            Arc::new(masters.clone()),
            AddressGuard::new(config.webhook_allow_loopback),
            clock.clone(),
        ));
        let sessions = Arc::new(
            Sessions::new(
                stores.sessions.clone(),
                revocations.clone(),
                clock.clone(),
                config.refresh_token_ttl,
                config.session_max_lifetime,
                config.access_token_ttl + config.clock_leeway,
                metrics.clone(),
            )
            .with_trail(trail.clone()),
        );
        let reauthentications = Arc::new(Reauthentications::new(stores.proof_state.clone()));
        let (mailer, mail_deliverer) = Mailer::new(
            config.mail.clone(),
            outbox.clone(),
            &config.public_url,
            clock.clone(),
        )?;
        let mailer = Arc::new(mailer);
        let federation_masters = Arc::new(masters.clone());
        let factors = factors(
            &config,
            &stores,
            masters,
            &clock,
            (reauthentications.clone(), mailer.clone()),
        );
        let ldap = match &config.ldap {
            Some(settings) => Some(Arc::new(LdapLogins::new(
                Arc::new(Ldap::new(settings.clone())),
                stores.ldap_accounts.clone(),
                (
                    users.clone(),
                    Arc::new(Groups::new(stores.groups.clone(), clock.clone())),
                ),
                clock.clone(),
                trail.clone(),
                config.admin_group.clone(),
            ))),
            None => None,
        };
        let hasher = PasswordHasher::new(config.argon2).await?;
        let recovery = Arc::new(Recovery::new(
            users.clone(),
            RecoveryServices {
                mailer: mailer.clone(),
                sessions: sessions.clone(),
                hasher: hasher.clone(),
                throttle: Arc::new(MailThrottle::new(
                    stores.rate_limits.clone(),
                    clock.clone(),
                    metrics.clone(),
                )),
                trail: trail.clone(),
                ldap: ldap.clone(),
            },
            clock.clone(),
        ));
        let accounts = accounts(
            &config,
            &stores,
            users.clone(),
            (factors, hasher, trail.clone()),
            &clock,
            &metrics,
        );
        let accounts = match &ldap {
            Some(ldap) => accounts.with_ldap(ldap.clone()),
            None => accounts,
        };
        let users_service = Arc::new(Users::new(users, profiles.clone(), clock.clone()));
        let trust = config.trust.clone();
        let targets = Arc::new(Targets::new(trust.clone(), config.audience.clone()));
        let clients = Arc::new(
            Clients::new(clients, clock.clone())
                .with_assertions(ClientAssertions::new(
                    &config.issuer,
                    &config.public_url,
                    stores.proof_state.clone(),
                    clock.clone(),
                ))
                .with_rate_limits(ClientRateLimiter::new(
                    stores.rate_limits.clone(),
                    config.client_rate_limit,
                    clock.clone(),
                    metrics.clone(),
                )),
        );
        let sender = WebhookSender::new(webhooks.clone(), clock.clone())
            .map_err(|err| Error::Internal(format!("webhook client: {err}")))?;
        let logout_tokens = LogoutTokens::new(
            clients.clone(),
            key_ring.clone(),
            clock.clone(),
            config.issuer.clone(),
            AddressGuard::new(config.backchannel_allow_loopback),
        )
        .map_err(|err| Error::Internal(format!("back-channel logout client: {err}")))?;
        let shared_signals = Arc::new(SharedSignals::new(
            SsfServices {
                store: stores.streams.clone(),
                outbox: outbox.clone(),
                master_keys: federation_masters.clone(),
                key_ring: key_ring.clone(),
                guard: AddressGuard::new(config.ssf_allow_loopback),
                clock: clock.clone(),
            },
            config.issuer.clone(),
            SsfSettings {
                // A long poll must answer before the request's own deadline cuts it off.
                long_poll: config.ssf.long_poll.min(config.request_timeout / 2),
                ..config.ssf.clone()
            },
        ));
        let set_delivery = SetDelivery::new(shared_signals.clone())
            .map_err(|err| Error::Internal(format!("SSF push client: {err}")))?;
        let fan_out = FanOut::new(webhooks.clone(), outbox.clone())
            .with_listener(Arc::new(BackChannel::new(clients.clone())))
            .with_listener(Arc::new(StreamFanOut::new(
                shared_signals.clone(),
                users_service.clone(),
            )));
        let event_deliverers: [(Topic, Arc<dyn Deliverer>); 4] = [
            (Topic::Events, Arc::new(fan_out)),
            (Topic::Webhook, Arc::new(sender)),
            (Topic::Logout, Arc::new(logout_tokens)),
            (Topic::SecurityEvent, Arc::new(set_delivery)),
        ];
        let authorizations = Arc::new(Authorizations::new(
            stores.proof_state.clone(),
            stores.consents.clone(),
            FlowServices {
                sessions: sessions.clone(),
                clients: clients.clone(),
                targets: targets.clone(),
                key_ring: key_ring.clone(),
            },
            clock.clone(),
            FlowSettings {
                issuer: config.issuer.clone(),
                require_par: config.require_par,
                pkce_default: config.pkce_policy,
                require_verified_email: recovery.verified_email_required(),
            },
        ));
        let groups = Arc::new(Groups::new(stores.groups.clone(), clock.clone()));
        let upstreams = Arc::new(Upstreams::new(
            stores.upstreams.clone(),
            federation_masters,
            clock.clone(),
            config.public_url.clone(),
        ));
        let admin = Arc::new(Admin::new(
            AdminServices {
                users: users_service.clone(),
                accounts: accounts.clone(),
                sessions: sessions.clone(),
                clients: clients.clone(),
                authorizations: authorizations.clone(),
                keys: keys.clone(),
                key_ring: key_ring.clone(),
                groups: groups.clone(),
                trail: trail.clone(),
                webhooks,
                mailer: mailer.clone(),
                upstreams: upstreams.clone(),
            },
            clock.clone(),
        ));
        let pending_logins = Arc::new(PendingLogins::new(stores.proof_state.clone()));
        let federation_trail = trail.clone();
        Ok(Self {
            admin,
            shared_signals,
            groups,
            trail,
            external_issuers: Arc::new(ExternalIssuers::new(
                &trust.issuers,
                clock.clone(),
                config.clock_leeway,
            )),
            trust,
            authorizations: authorizations.clone(),
            logouts: Arc::new(Logouts::new(
                clients.clone(),
                sessions.clone(),
                key_ring.clone(),
                clock.clone(),
                config.issuer.clone(),
            )),
            targets,
            verifier: Arc::new(
                TokenVerifier::new(
                    key_ring.clone(),
                    revocations.clone(),
                    clock.clone(),
                    config.issuer.clone(),
                    config.audience.clone(),
                    config.clock_leeway,
                    metrics.clone(),
                )
                .with_resources(
                    config
                        .trust
                        .resources
                        .iter()
                        .map(|resource| resource.id.clone()),
                ),
            ),
            sessions,
            clients,
            revocations,
            pop_nonces: Arc::new(PopNonces::new(
                stores.proof_state.clone(),
                clock.clone(),
                config.pop_nonce_ttl,
                config.pop_nonce_reuse,
            )),
            dpop: Arc::new(DpopVerifier::new(
                stores.proof_state.clone(),
                clock.clone(),
                config.public_url.clone(),
                config.dpop_nonce,
            )),
            operations: Arc::new(Operations::new(
                stores.probes.clone(),
                stores.housekeeping.clone(),
                Retention {
                    auth_logs: config.auth_log_retention,
                    expired_test_key: config.expired_tokens,
                },
                metrics.clone(),
                key_ring.clone(),
                accounts.clone(),
                clock.clone(),
            )),
            federation: Arc::new(Federation::new(
                FederationServices {
                    upstreams,
                    store: stores.upstreams.clone(),
                    state: stores.proof_state.clone(),
                    accounts: accounts.clone(),
                    users: users_service.clone(),
                    pending: pending_logins.clone(),
                    trail: federation_trail,
                    clock: clock.clone(),
                },
                config.clock_leeway,
            )),
            logins: Arc::new(Logins::new(
                accounts.clone(),
                users_service.clone(),
                pending_logins,
                clock.clone(),
            )),
            accounts,
            reauthentications,
            recovery,
            mailer,
            deliverers: mail_deliverer
                .map(|deliverer| (Topic::Mail, deliverer))
                .into_iter()
                .chain(event_deliverers)
                .collect(),
            users: users_service,
            id_tokens: Arc::new(IdTokens::new(
                key_ring.clone(),
                profiles,
                clock.clone(),
                config.issuer.clone(),
                config.access_token_ttl,
            )),
            tokens: Arc::new(TokenIssuer::new(
                key_ring.clone(),
                config.issuer.clone(),
                config.audience.clone(),
                config.access_token_ttl,
            )),
            key_ring,
            keys,
            events,
            freshness,
            caches,
            device_codes: Arc::new(DeviceCodeThrottle::new(
                stores.rate_limits.clone(),
                clock.clone(),
                metrics.clone(),
            )),
            rate_limiter: Arc::new(RateLimiter::per_second(
                stores.rate_limits.clone(),
                config.rate_limit_per_second,
                clock.clone(),
                metrics.clone(),
            )),
            metrics,
            config: Arc::new(config),
            clock,
        })
    }
}

/// The signing keys as stored (a first one created if there is none), with the expired-token
/// test mode's key when the mode is on.
async fn load_key_ring(
    config: &Config,
    stores: &Stores,
    masters: &MasterKeys,
    clock: &dyn Clock,
) -> Result<KeyRing, StartupError> {
    let now = clock.now();
    let key_ring = KeyRing::load(
        stores.signing_keys.as_ref(),
        masters,
        config.signing_algorithm,
        now,
        config.signing_key_lifetime,
        config.access_token_ttl,
    )
    .await?;
    if !config.expired_tokens {
        return Ok(key_ring);
    }
    tracing::warn!("expired-token test mode is ON: POST /auth?expired=true issues expired tokens");
    Ok(key_ring
        .with_expired_test_key(
            stores.signing_keys.as_ref(),
            masters,
            config.signing_algorithm,
            now,
        )
        .await?)
}

/// A user's authenticators beyond the password: TOTP secrets are sealed under the same
/// master keys as the signing keys.
fn factors(
    config: &Config,
    stores: &Stores,
    masters: MasterKeys,
    clock: &Arc<dyn Clock>,
    (reauthentications, notices): (Arc<Reauthentications>, Arc<Mailer>),
) -> Factors {
    let label = authenticator_label(&config.public_url);
    Factors {
        totp: Arc::new(SecondFactors::new(
            stores.second_factors.clone(),
            masters,
            clock.clone(),
            label.clone(),
        )),
        passkeys: Arc::new(Passkeys::new(
            &config.public_url,
            &label,
            stores.passkeys.clone(),
            stores.proof_state.clone(),
            clock.clone(),
        )),
        reauthentications,
        notices,
    }
}

/// Accounts with their factors, password hasher, login throttle and audit log.
fn accounts(
    config: &Config,
    stores: &Stores,
    users: Arc<dyn UserStore>,
    (factors, hasher, trail): (Factors, PasswordHasher, Arc<AuditTrail>),
    clock: &Arc<dyn Clock>,
    metrics: &Arc<Metrics>,
) -> Accounts {
    let audit = AuditLog::start(
        stores.auth_logs.clone(),
        users.clone(),
        Some(trail.clone()),
        metrics.audit_queue_depth.clone(),
        AUDIT_QUEUE_CAPACITY,
    );
    let throttle = Arc::new(LoginThrottle::new(
        stores.rate_limits.clone(),
        config.login_failure_limit,
        config.login_failure_window,
        clock.clone(),
        metrics.clone(),
    ));
    Accounts::new(
        users,
        audit,
        hasher,
        throttle,
        factors,
        clock.clone(),
        metrics.clone(),
    )
    .with_trail(trail)
}

/// What an authenticator app shows as the issuer of authd's codes: `authd` and the host users
/// reach it at, so two deployments are told apart (no `:`, which the Key Uri Format reserves).
fn authenticator_label(public_url: &str) -> String {
    match url::Url::parse(public_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
    {
        Some(host) => format!("authd ({host})"),
        None => "authd".to_owned(),
    }
}
