//! Request bodies (JSON and forms) through the whole application: whatever a client sends,
//! authd answers, and never with a 5xx.
#![no_main]

use authd_fuzz::{call, harness};
use libfuzzer_sys::fuzz_target;
use poem::http::Method;

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// Method, path, content type, and whether the call carries the real user's token.
const ROUTES: [(Method, &str, &str, bool); 10] = [
    (Method::POST, "/register", JSON, false),
    (Method::POST, "/auth", JSON, false),
    (Method::POST, "/pop/login", JSON, false),
    (Method::POST, "/oauth/token", FORM, false),
    (Method::POST, "/oauth/introspect", FORM, false),
    (Method::POST, "/oauth/revoke", FORM, false),
    (Method::PUT, "/api/profile", JSON, true),
    (Method::PUT, "/me/public-key", JSON, true),
    // Not the real token: a logout would revoke it for every later input.
    (Method::POST, "/logout", JSON, false),
    (Method::POST, "/oauth/token", JSON, false),
];

fuzz_target!(|data: &[u8]| {
    let harness = harness();
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (method, path, content_type, authorized) = &ROUTES[usize::from(pick) % ROUTES.len()];
    let bearer = if *authorized {
        Some(harness.token.as_str())
    } else if *path == "/logout" {
        Some("not-a-token")
    } else {
        None
    };
    let (status, answer) = harness.runtime.block_on(call(
        &harness.app,
        method.clone(),
        path,
        content_type,
        bearer,
        body.to_vec(),
    ));
    assert!(status < 500, "{method} {path} answered {status}: {answer}");
});
