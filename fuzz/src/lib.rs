//! What every fuzz target shares: one authd, as `authd dev` builds it (in-memory stores, an
//! ephemeral master key), with a registered user and a real access token to mutate.

use std::sync::{Arc, OnceLock};

use authd::{
    AppState, build_app,
    clock::SystemClock,
    config::{Cli, Command, Config},
    keys::MasterKey,
    possession::PopPublicKey,
    store::memory,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem::{
    Endpoint, EndpointExt, Request, Response,
    endpoint::BoxEndpoint,
    http::{Method, header::CONTENT_TYPE},
};
use rsa::pkcs8::{EncodePublicKey, LineEnding};

pub struct Harness {
    pub runtime: tokio::runtime::Runtime,
    pub state: AppState,
    pub app: BoxEndpoint<'static, Response>,
    /// A real access token of the user `alice`.
    pub token: String,
    /// An RSA public key as a PoP user registers it.
    pub pop_key: PopPublicKey,
}

/// Built on the first call; every later input reuses it (libFuzzer runs in one process).
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(build)
}

fn build() -> Harness {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // Limits far above what fuzzing reaches, so every input reaches the code under test;
    // cheap Argon2, so registrations the fuzzer stumbles on do not dominate.
    let cli = <Cli as clap::Parser>::try_parse_from([
        "authd",
        "dev",
        "--rate-limit",
        "1000000000",
        "--login-failure-limit",
        "1000000000",
        "--argon2-memory-kib",
        "1024",
        "--argon2-iterations",
        "1",
    ])
    .expect("fuzz settings parse");
    let Command::Dev(args) = cli.command else {
        unreachable!("parsed as dev")
    };
    let config = Config::from_common(&args.common, true).expect("valid settings");
    let state = runtime
        .block_on(AppState::build(
            config,
            memory::stores(),
            &MasterKey::generate_ephemeral(),
            Arc::new(SystemClock),
        ))
        .expect("authd builds");
    let app = build_app(&state).map_to_response().boxed();
    let password = "correct horse battery staple";
    let registered = runtime.block_on(call(
        &app,
        Method::POST,
        "/register",
        "application/json",
        None,
        format!(r#"{{"username":"alice","email":"alice@example.com","password":"{password}"}}"#),
    ));
    assert_eq!(registered.0, 201, "{}", registered.1);
    let login = runtime.block_on(call(
        &app,
        Method::POST,
        "/auth",
        "application/json",
        None,
        format!(r#"{{"username":"alice","password":"{password}"}}"#),
    ));
    assert_eq!(login.0, 200, "{}", login.1);
    let body: serde_json::Value = serde_json::from_str(&login.1).expect("JSON");
    let token = body["token"].as_str().expect("a token").to_owned();

    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
    let pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM");
    let pop_key = PopPublicKey::parse(&pem).expect("a valid key");
    Harness {
        runtime,
        state,
        app,
        token,
        pop_key,
    }
}

/// One request through the whole application; the status and body of its answer.
pub async fn call(
    app: &BoxEndpoint<'static, Response>,
    method: Method,
    path: &str,
    content_type: &str,
    bearer: Option<&str>,
    body: impl Into<poem::Body>,
) -> (u16, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(path.parse().expect("a path"))
        .header(CONTENT_TYPE, content_type);
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = app.get_response(request.body(body)).await;
    let status = response.status().as_u16();
    let body = response.into_body().into_string().await.unwrap_or_default();
    (status, body)
}

/// Turns fuzz input into a compact JWS: the first byte picks the shape. Raw text tests the
/// splitting and decoding; base64url-wrapped parts get past it to the JSON and the checks.
pub fn jws_from(data: &[u8], template: &str) -> String {
    let Some((&shape, rest)) = data.split_first() else {
        return String::new();
    };
    match shape % 4 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        // Replace one segment of a real token with the input.
        segment => {
            let mut parts: Vec<String> = template.split('.').map(str::to_owned).collect();
            parts[usize::from(segment - 1)] = URL_SAFE_NO_PAD.encode(rest);
            parts.join(".")
        }
    }
}

/// Splits input at 0xFF bytes into base64url parts: a whole JWS of fuzzer-made JSON.
pub fn jws_of_parts(data: &[u8]) -> String {
    data.split(|&byte| byte == 0xFF)
        .take(3)
        .map(|part| URL_SAFE_NO_PAD.encode(part))
        .collect::<Vec<_>>()
        .join(".")
}
