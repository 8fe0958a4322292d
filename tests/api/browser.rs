//! A browser without JavaScript, for the tests of the web UI and the authorization endpoint:
//! cookies kept between requests, forms posted with their CSRF token, redirects looked at
//! rather than followed.

use std::collections::HashMap;

use reqwest::{StatusCode, header};

use crate::helpers::TestApp;

/// A browser without JavaScript: a cookie jar, and the last page's CSRF token.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub client: reqwest::Client,
    pub cookies: HashMap<String, String>,
    /// The raw `Set-Cookie` lines of the last answer, to check their flags.
    pub last_set_cookies: Vec<String>,
}

/// A page as the browser received it.
pub struct Page {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The `value` of the input with this `id` or `name` (the first one in the page).
    pub fn input(&self, name: &str) -> String {
        let start = self
            .body
            .find(&format!("name=\"{name}\""))
            .or_else(|| self.body.find(&format!("id=\"{name}\"")))
            .unwrap_or_else(|| panic!("no input {name} in:\n{}", self.body));
        let rest = &self.body[start..];
        let value = rest.find("value=\"").unwrap() + "value=\"".len();
        let end = rest[value..].find('"').unwrap();
        rest[value..value + end].to_owned()
    }

    pub fn location(&self) -> &str {
        self.headers[header::LOCATION].to_str().unwrap()
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            last_set_cookies: Vec::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header(header::COOKIE, self.cookie_header())
        };
        let response = request.send().await.unwrap();
        self.last_set_cookies = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect();
        for line in &self.last_set_cookies {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || line.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(self.app.url(path));
        self.send(request).await
    }

    /// Posts `fields` as a form, exactly as given (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self
            .client
            .post(self.app.url(path))
            .header("sec-fetch-site", "same-origin")
            .form(fields);
        self.send(request).await
    }

    /// Opens `form_page` and submits its form to `action` with `fields` and the page's token.
    pub async fn submit(&mut self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.input("csrf");
        let mut fields = fields.to_vec();
        fields.push(("csrf", &csrf));
        self.post_raw(action, &fields).await
    }

    /// Registers `username` with a generated password, which it returns.
    pub async fn register(&mut self, username: &str) -> String {
        let email = format!("{username}@example.com");
        let page = self
            .submit(
                "/ui/register",
                "/ui/register",
                &[("username", username), ("email", &email), ("password", "")],
            )
            .await;
        assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
        page.input("generated-password")
    }

    pub async fn log_in(&mut self, username: &str, password: &str) -> Page {
        self.submit(
            "/ui/login",
            "/ui/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    /// Registers and logs in a new user; the user's password.
    pub async fn signed_in_as(&mut self, username: &str) -> String {
        let password = self.register(username).await;
        let page = self.log_in(username, &password).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(page.location(), "/ui/profile");
        password
    }

    pub fn access_token(&self) -> String {
        self.cookies["authd_access"].clone()
    }
}
