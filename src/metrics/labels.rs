//! The label values of counters whose values are a closed set: each set is written once, as an
//! enum, so the values counted where things happen and the series created at zero at start-up
//! (see `Metrics::new`) cannot drift apart.

/// An enum of label values with `as_str` (the label value) and `ALL` (every value, in order),
/// both generated from the one list.
macro_rules! closed_labels {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident => $value:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every value, so each series can exist from the first scrape.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $value,)+
                }
            }
        }
    };
}
pub(crate) use closed_labels;

closed_labels! {
    /// How a token verification ended, as counted.
    pub enum Verification {
        /// Valid; answered from the verified-token cache.
        CacheHit => "cache_hit",
        /// Valid; the signature and claims were checked.
        Ok => "ok",
        Expired => "expired",
        Revoked => "revoked",
        BadSignature => "bad_signature",
        /// Any other refusal: malformed, wrong type, issuer, audience, unknown key.
        Invalid => "invalid",
        /// A backing service failed; no verdict.
        Unavailable => "unavailable",
    }
}

closed_labels! {
    /// How an access token was asked for: an OAuth grant type (RFC 6749) or one of authd's
    /// own routes.
    pub enum Grant {
        Password => "password",
        RefreshToken => "refresh_token",
        ClientCredentials => "client_credentials",
        AuthorizationCode => "authorization_code",
        /// RFC 8693.
        TokenExchange => "token_exchange",
        /// `POST /auth`, the seed-compatible login.
        Auth => "auth",
        /// `POST /pop/login`, the signed-nonce scheme.
        PopLogin => "pop_login",
        /// A web UI session's access token.
        Ui => "ui",
    }
}
