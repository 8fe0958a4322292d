//! The `authd` command: parse the command line, run what it names, exit with one clear line.

use std::process::ExitCode;

use authd::config::{Cli, explain_parse_error};
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
    match runtime.block_on(authd::commands::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("authd: {err}");
            ExitCode::FAILURE
        }
    }
}
