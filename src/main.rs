//! The `authd` command: parse the command line, start what it names, exit with one clear line.

mod client_commands;
mod user_commands;

use std::{process::ExitCode, sync::Arc};

use authd::{
    AppState, Application,
    clock::SystemClock,
    config::{
        Cli, ClientsCommand, Command, CommonArgs, Config, ConnectionArgs, DatabaseArgs, DevArgs,
        KeysCommand, RewrapKeysArgs, RotateKeysArgs, ServeArgs, UsersCommand, explain_parse_error,
    },
    error::Error,
    keys::MasterKey,
    keys::RotationMode,
    startup::{StartupError, connect_stores},
    store::SigningKeyStore,
    store::{self, memory, postgres::run_migrations},
    telemetry::{self, LogFormat},
};
use clap::Parser;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => match explain_parse_error(&err) {
            Some(line) => {
                eprintln!("authd: {line}");
                return ExitCode::from(2);
            }
            None => err.exit(), // help, version, usage errors: clap says those best
        },
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("authd: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("authd: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), StartupError> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Dev(args) => dev(args).await,
        Command::Clients(ClientsCommand::Create(args)) => client_commands::create(args).await,
        Command::Clients(ClientsCommand::List(args)) => client_commands::list(args).await,
        Command::Clients(ClientsCommand::Show(args)) => client_commands::show(args).await,
        Command::Clients(ClientsCommand::Update(args)) => client_commands::update(args).await,
        Command::Clients(ClientsCommand::RotateSecret(args)) => {
            client_commands::rotate_secret(args).await
        }
        Command::Clients(ClientsCommand::Delete(args)) => client_commands::delete(args).await,
        Command::Users(UsersCommand::Delete(args)) => user_commands::delete(args).await,
        Command::Keys(KeysCommand::Rotate(args)) => rotate_keys(*args).await,
        Command::Keys(KeysCommand::List(args)) => list_keys(args).await,
        Command::Keys(KeysCommand::Rewrap(args)) => rewrap_keys(*args).await,
        Command::Migrate(args) => {
            telemetry::init_logs(LogFormat::Json);
            let applied = run_migrations(&args.database_url)
                .await
                .map_err(StartupError::Migrate)?;
            eprintln!("authd: {applied} migration(s) applied; the schema is up to date");
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), StartupError> {
    // Validate everything before touching the network, so a typo fails in milliseconds.
    let master_keys = args.connection.master_keys()?;
    let config = Config::from_common(&args.common, args.expired_tokens)?;
    let telemetry = telemetry::init(LogFormat::Json)?;
    // Connect first: an unreachable service is then reported under the setting that names it.
    let stores = connect_stores(
        &args.connection.database.database_url,
        &args.connection.redis,
    )
    .await?;
    if !args.no_migrate {
        run_migrations(&args.connection.database.database_url)
            .await
            .map_err(StartupError::Migrate)?;
    }
    let state = AppState::build(config, stores, master_keys, Arc::new(SystemClock)).await?;
    let app = Application::bind(args.listen, state).await?;
    let addr = app.local_addr().unwrap_or(args.listen);
    tracing::info!(%addr, "authd listening");
    println!("authd listening on http://{addr}");
    let served = app.run_until(shutdown_signal()).await;
    telemetry.shutdown().await;
    served.map_err(|source| StartupError::Bind {
        addr: args.listen,
        source,
    })
}

async fn dev(args: DevArgs) -> Result<(), StartupError> {
    let config = Config::from_common(&args.common, true)?;
    let telemetry = telemetry::init(LogFormat::Pretty)?;
    let state = AppState::build(
        config,
        memory::stores(),
        &MasterKey::generate_ephemeral(),
        Arc::new(SystemClock),
    )
    .await?;
    let app = Application::bind(args.listen, state).await?;
    let addr = app.local_addr().unwrap_or(args.listen);
    eprintln!(
        "\n  authd dev — in-memory stores, an ephemeral master key, expired-token test mode ON.\n  \
         NOTHING PERSISTS: every user and key is gone when this process stops.\n  \
         For production run `authd serve` against Postgres and Redis.\n\n  \
         Swagger UI: http://{addr}/docs\n"
    );
    println!("authd listening on http://{addr}");
    let served = app.run_until(shutdown_signal()).await;
    telemetry.shutdown().await;
    served.map_err(|source| StartupError::Bind {
        addr: args.listen,
        source,
    })
}

/// The state a replica would have, for operator commands that act as one (no HTTP).
async fn operator_state(
    connection: &ConnectionArgs,
    common: &CommonArgs,
) -> Result<AppState, StartupError> {
    let master_keys = connection.master_keys()?;
    let config = Config::from_common(common, false)?;
    telemetry::init_logs(LogFormat::Pretty);
    let stores = connect_stores(&connection.database.database_url, &connection.redis).await?;
    AppState::build(config, stores, master_keys, Arc::new(SystemClock)).await
}

/// Rotates the signing key as every replica would, and announces it to them.
async fn rotate_keys(args: RotateKeysArgs) -> Result<(), StartupError> {
    let state = operator_state(&args.connection, &args.common).await?;
    let mode = if args.now {
        RotationMode::Immediate
    } else {
        RotationMode::Planned
    };
    match state.keys.rotate(mode).await? {
        Some(kid) => println!("{kid}"),
        None => eprintln!("authd: no rotation was needed"),
    }
    Ok(())
}

/// Re-seals every private key and TOTP secret under the first master key, and announces the
/// keys to the replicas.
async fn rewrap_keys(args: RewrapKeysArgs) -> Result<(), StartupError> {
    let state = operator_state(&args.connection, &args.common).await?;
    let rewrapped = state.keys.rewrap().await?;
    eprintln!("authd: {rewrapped} signing key(s) re-sealed under the new master key");
    let secrets = state.accounts.second_factors().rewrap().await?;
    eprintln!("authd: {secrets} TOTP secret(s) re-sealed under the new master key");
    Ok(())
}

/// Prints every stored key with its state now.
async fn list_keys(args: DatabaseArgs) -> Result<(), StartupError> {
    let pool = store::postgres::connect(&args.database_url)
        .await
        .map_err(|source| StartupError::Connect {
            setting: "DATABASE_URL",
            source,
        })?;
    let keys = store::postgres::Postgres::new(pool)
        .signing_keys()
        .list_keys()
        .await
        .map_err(Error::from)?;
    let now = time::OffsetDateTime::now_utc();
    println!(
        "{:<44}  {:<5}  {:<9}  {:<20}  {:<20}  {:<20}",
        "KID", "ALG", "STATE", "NOT BEFORE", "SIGNS UNTIL", "VERIFIES UNTIL"
    );
    for key in keys {
        let state = if key.purpose == store::KeyPurpose::ExpiredTest {
            "test-only"
        } else if now >= key.retire_at {
            "retired"
        } else if now >= key.expires_at {
            "verifying"
        } else if now >= key.not_before {
            "signing"
        } else {
            "published"
        };
        println!(
            "{:<44}  {:<5}  {:<9}  {:<20}  {:<20}  {:<20}",
            key.kid,
            format!("{:?}", key.algorithm),
            state,
            short_date(key.not_before),
            short_date(key.expires_at),
            short_date(key.retire_at),
        );
    }
    Ok(())
}

fn short_date(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.format(&format).unwrap_or_else(|_| at.to_string())
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
