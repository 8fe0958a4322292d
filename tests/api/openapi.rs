//! The generated OpenAPI document and Swagger UI.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_spec_lists_every_route() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let spec: Value = response.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for (path, method) in [
        ("/ping", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/register", "post"),
        ("/auth", "post"),
        ("/me", "get"),
        ("/logout", "post"),
        ("/oauth/token", "post"),
        ("/oauth/revoke", "post"),
        ("/oauth/introspect", "post"),
        ("/.well-known/oauth-authorization-server", "get"),
        ("/pop/login", "post"),
        ("/protected", "post"),
        ("/me/public-key", "put"),
        ("/api/profile", "get"),
        ("/api/profile", "put"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let register = &paths["/register"]["post"]["responses"];
    for status in ["201", "409", "422", "429"] {
        assert!(
            register.get(status).is_some(),
            "/register documents {status}"
        );
    }
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = spawn_app().await;
    let response = app.get("/docs").await;
    assert_eq!(response.status(), 200);
    // Its inline script and style are allowed by hash, and nothing else inline.
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.starts_with("default-src 'none'; "), "{policy}");
    assert!(policy.contains("script-src 'sha256-"), "{policy}");
    assert!(policy.contains("style-src 'sha256-"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
}

#[tokio::test]
async fn protected_routes_declare_a_bearer_scheme_and_the_whole_header() {
    let app = spawn_app().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let schemes = &spec["components"]["securitySchemes"];
    // What Swagger UI's Authorize dialog offers: the access token alone, sent as a bearer...
    assert_eq!(schemes["BearerAuth"]["type"], "http", "{schemes}");
    assert_eq!(schemes["BearerAuth"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["BearerAuth"]["bearerFormat"], "JWT", "{schemes}");
    // ...or the header whole, for DPoP and PoP.
    assert_eq!(schemes["HeaderAuth"]["type"], "apiKey", "{schemes}");
    assert_eq!(schemes["HeaderAuth"]["in"], "header", "{schemes}");
    assert_eq!(schemes["HeaderAuth"]["name"], "Authorization", "{schemes}");
    for (path, method) in [
        ("/me", "get"),
        ("/logout", "post"),
        ("/me/public-key", "put"),
        ("/api/profile", "get"),
        ("/api/profile", "put"),
    ] {
        assert_eq!(
            spec["paths"][path][method]["security"],
            serde_json::json!([{ "BearerAuth": [] }, { "HeaderAuth": [] }]),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let app = spawn_app().await;
    let response = app.get("/no/such/route").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}
