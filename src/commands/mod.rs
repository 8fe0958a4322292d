//! What each `authd` command does, once its command line is parsed: `main` calls [`run`] and
//! prints the error it returns, if any, as one line.

mod clients;
mod keys;
mod ldap;
mod serve;
mod upstreams;
mod users;

use crate::{
    config::{ClientsCommand, Command, KeysCommand, LdapCommand, UpstreamsCommand, UsersCommand},
    startup::StartupError,
    store::postgres::run_migrations,
    telemetry::{self, LogFormat},
};

pub async fn run(command: Command) -> Result<(), StartupError> {
    match command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Dev(args) => serve::dev(args).await,
        Command::Clients(ClientsCommand::Create(args)) => clients::create(args).await,
        Command::Clients(ClientsCommand::List(args)) => clients::list(args).await,
        Command::Clients(ClientsCommand::Show(args)) => clients::show(args).await,
        Command::Clients(ClientsCommand::Update(args)) => clients::update(args).await,
        Command::Clients(ClientsCommand::RotateSecret(args)) => clients::rotate_secret(args).await,
        Command::Clients(ClientsCommand::Delete(args)) => clients::delete(args).await,
        Command::Users(UsersCommand::Delete(args)) => users::delete(args).await,
        Command::Users(UsersCommand::ResetFactors(args)) => users::reset_factors(*args).await,
        Command::Users(UsersCommand::VerifyEmail(args)) => users::verify_email(args).await,
        Command::Upstreams(UpstreamsCommand::Create(args)) => upstreams::create(*args).await,
        Command::Upstreams(UpstreamsCommand::List(args)) => upstreams::list(*args).await,
        Command::Upstreams(UpstreamsCommand::Show(args)) => upstreams::show(*args).await,
        Command::Upstreams(UpstreamsCommand::Update(args)) => upstreams::update(*args).await,
        Command::Upstreams(UpstreamsCommand::Delete(args)) => upstreams::delete(*args).await,
        Command::Ldap(LdapCommand::Check(args)) => ldap::check(*args).await,
        Command::Ldap(LdapCommand::Adopt(args)) => ldap::adopt(*args).await,
        Command::Keys(KeysCommand::Rotate(args)) => keys::rotate(*args).await,
        Command::Keys(KeysCommand::List(args)) => keys::list(args).await,
        Command::Keys(KeysCommand::Rewrap(args)) => keys::rewrap(*args).await,
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
