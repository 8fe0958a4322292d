//! Logging set-up: JSON lines for `serve`, human-readable for `dev`. Filter with `AUTHD_LOG`
//! (or `RUST_LOG`), e.g. `AUTHD_LOG=authd=debug,info`.

use tracing_subscriber::{EnvFilter, fmt};

#[derive(Debug, Clone, Copy)]
pub enum LogFormat {
    Json,
    Pretty,
}

pub fn init_logging(format: LogFormat) {
    let filter = std::env::var("AUTHD_LOG")
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (tests starting several apps) is harmless: keep the first.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
