//! Swagger UI at `/docs`: poem-openapi's page (the spec, Swagger UI's script and its stylesheet,
//! all inline), under a Content-Security-Policy that allows exactly those inline blocks, by
//! hash, and calls to authd itself. The page holds the tokens a user pastes into "Authorize".
//! poem-openapi's OAuth 2.0 redirect receiver is not served: authd declares no redirect flow.

use base64::{Engine, engine::general_purpose::STANDARD};
use poem::{
    Endpoint, IntoResponse, Route,
    endpoint::make_sync,
    http::{HeaderValue, header},
    web::Html,
};
use sha2::{Digest, Sha256};

/// The page `html` (from `OpenApiService::swagger_ui_html`) at `/`, with its policy.
pub fn swagger_ui(html: String) -> impl Endpoint + 'static {
    // Keywords and base64 are always a valid header value; were it not, nothing would run.
    let policy = HeaderValue::from_str(&content_security_policy(&html))
        .unwrap_or(HeaderValue::from_static("default-src 'none'"));
    Route::new().at(
        "/",
        make_sync(move |_| {
            let mut response = Html(html.clone()).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_SECURITY_POLICY, policy.clone());
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            response
        }),
    )
}

/// Nothing but the page's own inline script and style (React sets the styles it computes
/// through the DOM, which `style-src` does not govern), its stylesheet's `data:` icons, and
/// Try-it-out requests to this origin (the spec names no other server).
fn content_security_policy(html: &str) -> String {
    let InlineBlocks { scripts, styles } = inline_blocks(html);
    let hashes = |blocks: Vec<&str>| {
        blocks
            .into_iter()
            .map(|block| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(block))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src 'self' data:; \
         connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        hashes(scripts),
        hashes(styles),
    )
}

#[derive(Debug, Default, PartialEq)]
struct InlineBlocks<'a> {
    scripts: Vec<&'a str>,
    styles: Vec<&'a str>,
}

/// The content of each `<script>` and `<style>` element, in order. An element's content is
/// skipped whole, so markup quoted inside a script is not taken for an element.
fn inline_blocks(html: &str) -> InlineBlocks<'_> {
    let mut blocks = InlineBlocks::default();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        rest = &rest[at..];
        let (tag, list) = if starts_element(rest, "script") {
            ("script", &mut blocks.scripts)
        } else if starts_element(rest, "style") {
            ("style", &mut blocks.styles)
        } else {
            rest = &rest[1..];
            continue;
        };
        let Some(open_end) = rest.find('>') else {
            break;
        };
        let content = &rest[open_end + 1..];
        let close = format!("</{tag}>");
        let Some(end) = content.find(&close) else {
            break;
        };
        list.push(&content[..end]);
        rest = &content[end + close.len()..];
    }
    blocks
}

/// Whether `markup` opens a `tag` element (`<tag>` or `<tag attributes…>`, not `<tagged>`).
fn starts_element(markup: &str, tag: &str) -> bool {
    markup
        .strip_prefix('<')
        .and_then(|rest| rest.strip_prefix(tag))
        .and_then(|rest| rest.chars().next())
        .is_some_and(|next| next == '>' || next.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_inline_script_and_style_and_nothing_quoted_inside_them() {
        let html = "<html><head><style charset=\"UTF-8\">a{}</style>\
                    <script>let s = '<style>x</style>';</script></head>\
                    <body><scripted></scripted><script>\ngo()\n</script></body></html>";
        assert_eq!(
            inline_blocks(html),
            InlineBlocks {
                scripts: vec!["let s = '<style>x</style>';", "\ngo()\n"],
                styles: vec!["a{}"],
            }
        );
    }

    #[test]
    fn the_policy_allows_the_blocks_by_hash_and_nothing_else_inline() {
        let policy = content_security_policy("<style>a{}</style><script>go()</script>");
        // printf 'go()' | openssl dgst -sha256 -binary | base64
        assert!(
            policy.contains("script-src 'sha256-5KYv+PUboo5h+0+YAtGRPbwv5d/QxzHslP4YGnUaxRw=';"),
            "{policy}"
        );
        // printf 'a{}' | …
        assert!(
            policy.contains("style-src 'sha256-X1RutGBrXCt9KkSaXMK7tHftWiRscFHOhxsS8tv8hBk=';"),
            "{policy}"
        );
        assert!(!policy.contains("unsafe"), "{policy}");
        assert!(policy.contains("default-src 'none'"), "{policy}");
    }
}
