//! The admin API (`/admin/…`): every resource, who may call it, paging, conditional writes,
//! the audit trail, and webhooks verified by the Standard Webhooks reference library.

mod access;
mod clients;
mod events;
mod groups;
mod scim;
mod upstreams;
mod users;
mod webhooks;

use reqwest::{Method, Response};
use serde_json::Value;

use crate::{clients::create_client, helpers::TestApp};

/// A token of a confidential client made with the command line, with `scope`.
pub async fn client_token(app: &TestApp, scope: &str) -> String {
    let (client_id, secret) = create_client(app, scope);
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A caller of the admin API with a token.
pub struct Admin<'a> {
    pub app: &'a TestApp,
    pub token: String,
}

impl<'a> Admin<'a> {
    /// With a client's `authd:admin` token, as `authd clients create --scope authd:admin`
    /// bootstraps it.
    pub async fn new(app: &'a TestApp) -> Self {
        let token = client_token(app, "authd:admin").await;
        Self { app, token }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Response {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(body), None).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(Method::DELETE, path, None, None).await
    }

    /// Creates a user with a strong password; the user's record.
    pub async fn create_user(&self, username: &str) -> Value {
        let response = self
            .post(
                "/admin/users",
                serde_json::json!({
                    "username": username,
                    "email": format!("{username}@example.com"),
                    "password": "violet-tundra-8-oboe-quartz",
                }),
            )
            .await;
        assert_eq!(response.status(), 201, "creating {username}");
        response.json().await.unwrap()
    }
}

/// The error code of an admin API answer.
pub async fn error_code(response: Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

/// Every item of a list, page by page.
pub async fn all_pages(admin: &Admin<'_>, path: &str, limit: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{separator}limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let response = admin.get(&url).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}
