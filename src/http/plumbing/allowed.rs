//! The `Allow` header of a 405 answer (RFC 9110 §15.5.6): each path's methods, for fixed paths
//! and for the spec's templates (`/admin/users/{id}`), whose parameters match any one segment.

use std::collections::HashMap;

use poem::http::HeaderValue;

#[derive(Default)]
pub struct AllowedMethods {
    exact: HashMap<String, HeaderValue>,
    /// Templates split into segments, `None` standing for a parameter.
    templates: Vec<(Vec<Option<String>>, HeaderValue)>,
}

impl AllowedMethods {
    pub fn insert(&mut self, path: &str, methods: HeaderValue) {
        if !path.contains('{') {
            self.exact.insert(path.to_owned(), methods);
            return;
        }
        let segments = path
            .split('/')
            .map(|segment| (!segment.starts_with('{')).then(|| segment.to_owned()))
            .collect();
        self.templates.push((segments, methods));
    }

    /// The methods `path` answers, if it is one of authd's.
    pub fn get(&self, path: &str) -> Option<&HeaderValue> {
        if let Some(methods) = self.exact.get(path) {
            return Some(methods);
        }
        let segments: Vec<&str> = path.split('/').collect();
        self.templates
            .iter()
            .find(|(template, _)| {
                template.len() == segments.len()
                    && template
                        .iter()
                        .zip(&segments)
                        .all(|(fixed, segment)| match fixed {
                            Some(fixed) => fixed == segment,
                            // A parameter is one segment, never an empty one.
                            None => !segment.is_empty(),
                        })
            })
            .map(|(_, methods)| methods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_matches_one_segment_per_parameter() {
        let mut allowed = AllowedMethods::default();
        allowed.insert("/admin/users", HeaderValue::from_static("GET, POST"));
        allowed.insert(
            "/admin/users/{id}",
            HeaderValue::from_static("GET, PATCH, DELETE"),
        );
        allowed.insert(
            "/admin/users/{id}/sessions/{session_id}",
            HeaderValue::from_static("DELETE"),
        );
        assert_eq!(allowed.get("/admin/users").unwrap(), "GET, POST");
        assert_eq!(
            allowed.get("/admin/users/42").unwrap(),
            "GET, PATCH, DELETE"
        );
        assert_eq!(allowed.get("/admin/users/42/sessions/7").unwrap(), "DELETE");
        assert!(allowed.get("/admin/users/42/sessions").is_none());
        assert!(allowed.get("/admin/users/").is_none());
        assert!(allowed.get("/admin/groups/42").is_none());
    }
}
