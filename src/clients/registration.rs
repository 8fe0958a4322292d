//! What a client registration may say, checked once, for the command line and RFC 7591 alike.

use std::num::NonZeroU32;

use super::redirect_uri;
use crate::{
    error::Error,
    grant_type::GrantType,
    scope::normalize_scope,
    store::{ApplicationType, ClientAuthMethod, ClientRecord, LogoutChannels, PkcePolicy},
};

/// A client's metadata as asked for, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// The id asked for (the command line's `--client-id`); `None`: a random one. Ignored by
    /// an update: a client's id never changes.
    pub client_id: Option<String>,
    pub name: String,
    /// `None`: `client_secret_basic`, or `private_key_jwt` when a key set is given.
    pub auth_method: Option<ClientAuthMethod>,
    pub redirect_uris: Vec<String>,
    /// Empty: the code flow with refresh when redirect URIs are given, else client credentials.
    pub grant_types: Vec<String>,
    pub scope: String,
    pub require_par: bool,
    /// A JWK set (JSON) of public keys, for `private_key_jwt`.
    pub jwks: Option<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Where the client hears of ended sessions.
    pub logout: LogoutChannels,
    /// `None`: the server's `AUTHD_PKCE_POLICY`.
    pub pkce: Option<PkcePolicy>,
    /// Browser origins; empty: those of the redirect URIs.
    pub allowed_origins: Vec<String>,
    pub verified: bool,
    /// `None`: `native` if a redirect URI uses a private-use scheme, else `web`.
    pub application_type: Option<ApplicationType>,
    /// Requests per second; `None`: the server's `AUTHD_CLIENT_RATE_LIMIT`.
    pub rate_limit: Option<NonZeroU32>,
}

/// A registration that passed every rule.
#[derive(Debug, Clone)]
pub struct Checked {
    pub client_id: Option<String>,
    pub name: String,
    pub auth_method: ClientAuthMethod,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scope: String,
    pub require_par: bool,
    pub jwks: Option<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub logout: LogoutChannels,
    pub pkce: Option<PkcePolicy>,
    pub allowed_origins: Vec<String>,
    pub verified: bool,
    pub application_type: ApplicationType,
    pub rate_limit: Option<NonZeroU32>,
}

impl From<&ClientRecord> for Registration {
    /// A client's registration as it stands, for an edit to start from.
    fn from(client: &ClientRecord) -> Self {
        Self {
            client_id: None,
            name: client.name.clone(),
            auth_method: Some(client.auth_method),
            redirect_uris: client.redirect_uris.clone(),
            grant_types: client
                .grant_types
                .iter()
                .map(|grant| grant.as_str().to_owned())
                .collect(),
            scope: client.scope.clone(),
            require_par: client.require_par,
            jwks: client.jwks.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            logout: client.logout.clone(),
            pkce: client.pkce,
            allowed_origins: client.allowed_origins.clone(),
            verified: client.verified,
            application_type: Some(client.application_type),
            rate_limit: client.rate_limit,
        }
    }
}

impl Registration {
    pub fn check(self) -> Result<Checked, Error> {
        if let Some(id) = &self.client_id {
            let valid = (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !valid {
                return Err(invalid(
                    "client_id",
                    "must be 1 to 64 letters, digits, `.`, `_` or `-`",
                ));
            }
        }
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("client_name", "must be 1 to 100 characters"));
        }
        let application_type = self.application_type.unwrap_or(
            if self
                .redirect_uris
                .iter()
                .any(|uri| redirect_uri::is_private_use(uri))
            {
                ApplicationType::Native
            } else {
                ApplicationType::Web
            },
        );
        for uri in &self.redirect_uris {
            redirect_uri::registrable_for(uri, application_type).map_err(|message| {
                Error::InvalidField {
                    field: "redirect_uris",
                    message,
                }
            })?;
        }
        for uri in &self.post_logout_redirect_uris {
            redirect_uri::registrable(uri).map_err(|message| Error::InvalidField {
                field: "redirect_uris",
                message,
            })?;
        }
        for (uri, field) in [
            (&self.logout.backchannel_uri, "backchannel_logout_uri"),
            (&self.logout.frontchannel_uri, "frontchannel_logout_uri"),
        ] {
            if let Some(uri) = uri {
                redirect_uri::registrable(uri)
                    .map_err(|message| Error::InvalidField { field, message })?;
            }
        }
        let allowed_origins = self
            .allowed_origins
            .iter()
            .map(|origin| redirect_uri::normalized_origin(origin))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| invalid("allowed_origins", &message))?;
        let auth_method = self.auth_method.unwrap_or(if self.jwks.is_some() {
            ClientAuthMethod::PrivateKeyJwt
        } else {
            ClientAuthMethod::ClientSecretBasic
        });
        let jwks = match (auth_method, self.jwks) {
            (ClientAuthMethod::PrivateKeyJwt, Some(jwks)) => Some(public_key_set(&jwks)?),
            (ClientAuthMethod::PrivateKeyJwt, None) => {
                return Err(invalid("jwks", "is required for private_key_jwt"));
            }
            (_, Some(_)) => {
                return Err(invalid("jwks", "is only used by private_key_jwt clients"));
            }
            (_, None) => None,
        };
        let mut grant_types = dedup(self.grant_types)
            .iter()
            .map(|grant| {
                GrantType::parse(grant)
                    .filter(|grant| GrantType::REGISTRABLE.contains(grant))
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            GrantType::REGISTRABLE.map(GrantType::as_str).to_vec();
                        invalid(
                            "grant_types",
                            &format!("`{grant}` is not one of {}", known.join(", ")),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if grant_types.is_empty() {
            grant_types = if self.redirect_uris.is_empty() {
                vec![GrantType::ClientCredentials]
            } else {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            };
        }
        let has = |grant: GrantType| grant_types.contains(&grant);
        if has(GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(invalid(
                "redirect_uris",
                "at least one is required for the authorization_code grant",
            ));
        }
        if has(GrantType::RefreshToken)
            && !has(GrantType::AuthorizationCode)
            && !has(GrantType::DeviceCode)
        {
            return Err(invalid(
                "grant_types",
                "refresh_token comes with authorization_code or the device_code grant",
            ));
        }
        if auth_method == ClientAuthMethod::None
            && let Some(grant) = [GrantType::ClientCredentials, GrantType::TokenExchange]
                .into_iter()
                .find(|grant| has(*grant))
        {
            return Err(invalid(
                "grant_types",
                &format!("a public client cannot use {grant}: it has no credentials"),
            ));
        }
        Ok(Checked {
            client_id: self.client_id,
            name,
            auth_method,
            redirect_uris: dedup(self.redirect_uris),
            grant_types,
            scope: normalize_scope(Some(&self.scope))?,
            require_par: self.require_par,
            jwks,
            post_logout_redirect_uris: dedup(self.post_logout_redirect_uris),
            logout: self.logout,
            pkce: self.pkce,
            allowed_origins: dedup(allowed_origins),
            verified: self.verified,
            application_type,
            rate_limit: self.rate_limit,
        })
    }
}

fn invalid(field: &'static str, message: &str) -> Error {
    Error::InvalidField {
        field,
        message: message.to_owned(),
    }
}

fn dedup(values: Vec<String>) -> Vec<String> {
    let mut kept: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        if !kept.contains(&value) {
            kept.push(value);
        }
    }
    kept
}

/// The key set, normalised, if it holds at least one usable public key and no private one: a
/// client that registers its private key has leaked it.
fn public_key_set(jwks: &str) -> Result<String, Error> {
    let raw: serde_json::Value = serde_json::from_str(jwks)
        .map_err(|err| invalid("jwks", &format!("is not JSON: {err}")))?;
    let keys = raw["keys"]
        .as_array()
        .filter(|keys| !keys.is_empty())
        .ok_or_else(|| invalid("jwks", "must be a JWK set with at least one key"))?;
    for key in keys {
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|member| key.get(member).is_some())
        {
            return Err(invalid(
                "jwks",
                "holds a private or symmetric key: register public keys only",
            ));
        }
    }
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(raw.clone())
        .map_err(|err| invalid("jwks", &format!("is not a usable JWK set: {err}")))?;
    for jwk in &set.keys {
        jsonwebtoken::DecodingKey::from_jwk(jwk)
            .map_err(|err| invalid("jwks", &format!("holds an unusable key: {err}")))?;
    }
    Ok(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_flow(auth_method: Option<ClientAuthMethod>) -> Registration {
        Registration {
            name: "app".to_owned(),
            auth_method,
            redirect_uris: vec!["https://app.example/cb".to_owned()],
            ..Registration::default()
        }
    }

    #[test]
    fn defaults_follow_the_redirect_uris() {
        let checked = code_flow(None).check().unwrap();
        assert_eq!(
            checked.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(checked.auth_method, ClientAuthMethod::ClientSecretBasic);
        let service = Registration {
            name: "svc".to_owned(),
            ..Registration::default()
        };
        assert_eq!(
            service.check().unwrap().grant_types,
            [GrantType::ClientCredentials]
        );
    }

    #[test]
    fn inconsistent_registrations_are_refused() {
        let mut public_service = code_flow(Some(ClientAuthMethod::None));
        public_service.grant_types = vec!["client_credentials".to_owned()];
        assert!(public_service.check().is_err());

        let mut no_redirect = code_flow(None);
        no_redirect.redirect_uris.clear();
        no_redirect.grant_types = vec!["authorization_code".to_owned()];
        assert!(no_redirect.check().is_err());

        let mut unknown = code_flow(None);
        unknown.grant_types = vec!["implicit".to_owned()];
        assert!(unknown.check().is_err());

        assert!(
            code_flow(Some(ClientAuthMethod::PrivateKeyJwt))
                .check()
                .is_err()
        );
    }

    #[test]
    fn private_keys_are_refused_in_a_key_set() {
        let mut registration = code_flow(None);
        registration.jwks = Some(
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}"#
                .to_owned(),
        );
        assert!(registration.check().is_err());
        let mut public = code_flow(None);
        public.jwks = Some(
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#
                .to_owned(),
        );
        assert_eq!(
            public.check().unwrap().auth_method,
            ClientAuthMethod::PrivateKeyJwt
        );
    }
}
