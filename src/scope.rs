//! OAuth scopes (RFC 6749 §3.3).

use crate::error::Error;

/// RFC 6749 §3.3: space-separated scope tokens of printable ASCII except `"` and `\`.
/// Duplicates are dropped and the order kept.
pub fn normalize_scope(scope: Option<&str>) -> Result<String, Error> {
    let mut tokens: Vec<&str> = Vec::new();
    for token in scope
        .unwrap_or_default()
        .split(' ')
        .filter(|t| !t.is_empty())
    {
        let valid = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !valid {
            return Err(Error::InvalidField {
                field: "scope",
                message: format!("`{token}` is not a valid scope token"),
            });
        }
        if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    Ok(tokens.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_normalized_and_validated() {
        assert_eq!(normalize_scope(None).unwrap(), "");
        assert_eq!(
            normalize_scope(Some(" read  write read ")).unwrap(),
            "read write"
        );
        assert!(normalize_scope(Some("bad\"quote")).is_err());
        assert!(normalize_scope(Some("back\\slash")).is_err());
    }
}
