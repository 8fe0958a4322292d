//! `authd serve` (against Postgres and Redis) and `authd dev` (in memory): a replica, serving
//! until SIGTERM or Ctrl-C, then draining.

use std::{net::SocketAddr, sync::Arc};

use crate::{
    AppState, Application,
    clients::Registration,
    clock::SystemClock,
    config::{Config, DevArgs, ServeArgs},
    keys::MasterKey,
    startup::{StartupError, connect_stores, require_schema},
    store::{memory, postgres::run_migrations},
    telemetry::{self, LogFormat, Telemetry},
};

pub async fn serve(args: ServeArgs) -> Result<(), StartupError> {
    // Validate everything before touching the network, so a typo fails in milliseconds.
    let master_keys = args.connection.master_keys()?;
    let config = Config::from_common(&args.common, args.expired_tokens, false)?;
    let telemetry = telemetry::init(LogFormat::Json)?;
    // Connect first: an unreachable service is then reported under the setting that names it.
    let stores = connect_stores(
        &args.connection.database.database_url,
        &args.connection.redis,
    )
    .await?;
    let database_url = &args.connection.database.database_url;
    if args.no_migrate {
        // A job migrates: say so if it has not (or migrated for a newer authd).
        require_schema(database_url).await?;
    } else {
        // Leaves the schema current, or fails saying why (a newer authd's schema included).
        run_migrations(database_url)
            .await
            .map_err(StartupError::Migrate)?;
    }
    let state = AppState::build(config, stores, master_keys, Arc::new(SystemClock)).await?;
    if !state.recovery.available() {
        tracing::info!(
            "no AUTHD_SMTP_URL: no mail is sent, so password resets and address verification \
             are off (docs/mail.md)"
        );
    }
    let app = Application::bind(args.listen, state).await?;
    let addr = app.local_addr().unwrap_or(args.listen);
    tracing::info!(%addr, "authd listening");
    run(app, addr, telemetry).await
}

pub async fn dev(mut args: DevArgs) -> Result<(), StartupError> {
    // Bound first: without an explicit issuer, the one every discovery document and token
    // names must be where authd really listens. `localhost`, not the address, so passkeys
    // (which need a domain name) keep working.
    let listener =
        std::net::TcpListener::bind(args.listen).map_err(|source| StartupError::Bind {
            addr: args.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(args.listen);
    if args.common.issuer.is_none() {
        args.common.issuer = Some(format!("http://localhost:{}", addr.port()));
    }
    let config = Config::from_common(&args.common, true, true)?;
    let telemetry = telemetry::init(LogFormat::Pretty)?;
    let docs = format!("{}/docs", config.public_url);
    let mailbox = match config.mail.delivery {
        crate::mail::MailDelivery::Memory => format!("{}/ui/dev/mail", config.public_url),
        _ => "sent through AUTHD_SMTP_URL".to_owned(),
    };
    let issuer = config.issuer.clone();
    let state = AppState::build(
        config,
        memory::stores(),
        &MasterKey::generate_ephemeral(),
        Arc::new(SystemClock),
    )
    .await?;
    // The admin API needs a client with its scope; on `serve` an operator makes one with
    // `authd clients create --scope authd:admin`, which `dev`'s memory cannot be reached by.
    let (admin, secret) = state
        .clients
        .create(Registration {
            client_id: Some("dev-admin".to_owned()),
            name: "authd dev administrator".to_owned(),
            scope: "authd:admin".to_owned(),
            verified: true,
            ..Registration::default()
        })
        .await?;
    let secret = secret
        .map(|secret| secret.expose().to_owned())
        .unwrap_or_default();
    let app = Application::from_listener(listener, state)
        .map_err(|source| StartupError::Bind { addr, source })?;
    eprintln!(
        "\n  authd dev — in-memory stores, an ephemeral master key, expired-token test mode ON.\n  \
         NOTHING PERSISTS: every user and key is gone when this process stops.\n  \
         For production run `authd serve` against Postgres and Redis.\n\n  \
         Issuer:     {issuer}\n  \
         Swagger UI: {docs}\n  \
         Mail:       {mailbox}\n  \
         Admin API:  client `{}`, secret `{secret}` (scope authd:admin)\n",
        admin.client_id
    );
    run(app, addr, telemetry).await
}

/// Serves until SIGTERM or Ctrl-C, drains, and flushes the traces. The first line on stdout
/// says where it listens (scripts and tests wait for it).
async fn run(app: Application, addr: SocketAddr, telemetry: Telemetry) -> Result<(), StartupError> {
    println!("authd listening on http://{addr}");
    let served = app.run_until(shutdown_signal()).await;
    telemetry.shutdown().await;
    served.map_err(|source| StartupError::Bind { addr, source })
}

/// Resolves on SIGTERM (orchestrators) or Ctrl-C (people).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: draining in-flight requests");
}
