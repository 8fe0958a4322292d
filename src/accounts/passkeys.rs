//! Passkeys (WebAuthn Level 2): registering them from the profile, logging in with one and no
//! username (a discoverable credential), and verifying a known user with one (the second step
//! after a password, or re-authentication before a sensitive change).
//!
//! The ceremonies are webauthn-rs's: it checks the origin, the relying-party id hash, the
//! challenge, user presence and verification, the signature and the counter. What is authd's:
//! - **The relying party** is `AUTHD_PUBLIC_URL`: its host is the RP id, its origin the only
//!   origin accepted. A public URL on an IP address has no RP id, so passkeys are off there.
//! - **Each ceremony's state** (its challenge) waits in Redis between the two requests, under a
//!   random id, and is taken with GETDEL: any replica finishes what another began, and a
//!   challenge answers once.
//! - **The counter** is compared and swapped in Postgres when a use is recorded, so two
//!   assertions with one counter value cannot both pass, on one replica or several.

use std::{fmt, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn,
    WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use crate::{
    clock::Clock,
    error::Error,
    store::{PasskeyRecord, PasskeyStore, ProofStateStore, StoreError, UniqueField, UserRecord},
};

/// How many passkeys one account may hold.
pub const PASSKEY_LIMIT: u64 = 20;

/// How long a ceremony may take, from the options to the authenticator's answer.
pub const CEREMONY_TTL: Duration = Duration::from_secs(300);

/// The longest passkey name, in characters.
const NAME_MAX: usize = 64;

/// How a passkey proved the user, for `amr` (RFC 8176).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyMethod {
    /// A device-bound key (`hwk`): the authenticator says it cannot be backed up.
    Hardware,
    /// A key that may be synced to other devices (`swk`): backup eligible, so its private
    /// half can leave the hardware that made it.
    Software,
}

impl PasskeyMethod {
    pub fn amr(self) -> &'static str {
        match self {
            PasskeyMethod::Hardware => "hwk",
            PasskeyMethod::Software => "swk",
        }
    }

    fn of(result: &AuthenticationResult) -> Self {
        if result.backup_eligible() {
            PasskeyMethod::Software
        } else {
            PasskeyMethod::Hardware
        }
    }
}

/// Why a known user is asked for a passkey: a ceremony begun for one cannot finish the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    SecondFactor,
    Reauthentication,
}

/// A ceremony begun: its id (for the page's form) and the options for
/// `navigator.credentials.create()` or `.get()`, as JSON.
pub struct Ceremony {
    pub id: String,
    pub options: String,
}

impl fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ceremony").finish_non_exhaustive()
    }
}

/// What waits in Redis between the two halves of a ceremony.
#[derive(Serialize, Deserialize)]
enum Pending {
    Register {
        user_id: Uuid,
        name: String,
        state: PasskeyRegistration,
    },
    Login {
        state: DiscoverableAuthentication,
    },
    Verify {
        user_id: Uuid,
        purpose: Purpose,
        state: PasskeyAuthentication,
    },
}

pub struct Passkeys {
    /// `None` when the public URL has no domain name (see the module's comment).
    webauthn: Option<Webauthn>,
    store: Arc<dyn PasskeyStore>,
    ceremonies: Arc<dyn ProofStateStore>,
    clock: Arc<dyn Clock>,
}

impl Passkeys {
    /// Passkeys for the relying party at `public_url`, shown to users as `rp_name`.
    pub fn new(
        public_url: &str,
        rp_name: &str,
        store: Arc<dyn PasskeyStore>,
        ceremonies: Arc<dyn ProofStateStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let webauthn = relying_party(public_url, rp_name);
        if webauthn.is_none() {
            tracing::warn!(
                public_url,
                "passkeys are off: AUTHD_PUBLIC_URL needs a domain name (WebAuthn has no relying \
                 party on an IP address)"
            );
        }
        Self {
            webauthn,
            store,
            ceremonies,
            clock,
        }
    }

    /// Whether this server can take passkeys at all.
    pub fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    fn webauthn(&self) -> Result<&Webauthn, Error> {
        self.webauthn.as_ref().ok_or(Error::PasskeysUnavailable)
    }

    /// The user's passkeys, oldest first.
    pub async fn list(&self, user_id: Uuid) -> Result<Vec<PasskeyRecord>, Error> {
        Ok(self.store.passkeys(user_id).await?)
    }

    /// Whether the user has a passkey (which makes it a second factor of their password).
    pub async fn any(&self, user_id: Uuid) -> Result<bool, Error> {
        Ok(!self.store.passkeys(user_id).await?.is_empty())
    }

    /// Begins registering a passkey called `name` for `user`. The authenticator is asked for a
    /// discoverable credential (so the login page needs no username) with user verification,
    /// and not for one it holds already for this account.
    pub async fn begin_registration(
        &self,
        user: &UserRecord,
        name: &str,
    ) -> Result<Ceremony, Error> {
        let webauthn = self.webauthn()?;
        let name = valid_name(name)?;
        let existing = self.store.passkeys(user.id).await?;
        if existing.len() as u64 >= PASSKEY_LIMIT {
            return Err(Error::InvalidField {
                field: "passkey",
                message: format!(
                    "limit reached: an account holds at most {PASSKEY_LIMIT} passkeys; remove \
                     one first"
                ),
            });
        }
        let exclude = existing
            .into_iter()
            .map(|passkey| passkey.credential_id)
            .collect();
        let (mut options, state) = webauthn
            .start_passkey_registration(user.id, &user.username, &user.username, Some(exclude))
            .map_err(|err| Error::Internal(format!("passkey registration options: {err}")))?;
        // webauthn-rs leaves residency to the authenticator; a login without a username needs it.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
        }
        let pending = Pending::Register {
            user_id: user.id,
            name,
            state,
        };
        self.hold(&pending, &options).await
    }

    /// Finishes a registration begun by `user` with the authenticator's `response` (the JSON
    /// of its `PublicKeyCredential`).
    pub async fn finish_registration(
        &self,
        user: &UserRecord,
        ceremony: &str,
        response: &str,
    ) -> Result<PasskeyRecord, Error> {
        let webauthn = self.webauthn()?;
        let Some(Pending::Register {
            user_id,
            name,
            state,
        }) = self.take(ceremony).await?
        else {
            return Err(rejected(
                "no such registration (expired, finished, or never begun)",
            ));
        };
        if user_id != user.id {
            return Err(rejected("registration begun by another user"));
        }
        let credential: RegisterPublicKeyCredential = serde_json::from_str(response)
            .map_err(|err| rejected(&format!("unreadable credential: {err}")))?;
        // Said plainly here: webauthn-rs refuses an excluded credential with an error about
        // algorithms, and the unique index would only say it after the checks.
        if self.store.find_passkey(&credential.raw_id).await?.is_some() {
            return Err(Error::PasskeyTaken);
        }
        let passkey = webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|err| rejected(&format!("registration refused: {err}")))?;
        let stored = serde_json::to_value(&passkey)
            .map_err(|err| Error::Internal(format!("passkey to JSON: {err}")))?;
        let record = PasskeyRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            credential_id: passkey.cred_id().to_vec(),
            name,
            sign_count: counter_of(&stored),
            credential: stored,
            created_at: self.clock.now(),
            last_used_at: None,
        };
        match self.store.insert_passkey(&record, PASSKEY_LIMIT).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::InvalidField {
                    field: "passkey",
                    message: format!("limit reached: at most {PASSKEY_LIMIT} passkeys"),
                });
            }
            Err(StoreError::Conflict(UniqueField::PasskeyCredential)) => {
                return Err(Error::PasskeyTaken);
            }
            Err(other) => return Err(other.into()),
        }
        tracing::info!(user_id = %user.id, passkey = %record.id, "passkey registered");
        Ok(record)
    }

    /// Begins a login with whichever passkey the user picks: no username, no list of
    /// credentials (the authenticator offers the ones it holds for this site).
    pub async fn begin_login(&self) -> Result<Ceremony, Error> {
        let (mut options, state) = self
            .webauthn()?
            .start_discoverable_authentication()
            .map_err(|err| Error::Internal(format!("passkey login options: {err}")))?;
        // webauthn-rs asks for conditional mediation (autofill); authd's page has a button.
        options.mediation = None;
        self.hold(&Pending::Login { state }, &options).await
    }

    /// Finishes a login: the user the passkey belongs to, and how it proved them.
    pub async fn finish_login(
        &self,
        ceremony: &str,
        response: &str,
    ) -> Result<(Uuid, PasskeyMethod), Error> {
        let webauthn = self.webauthn()?;
        let Some(Pending::Login { state }) = self.take(ceremony).await? else {
            return Err(rejected(
                "no such login (expired, finished, or never begun)",
            ));
        };
        let credential = read_assertion(response)?;
        let (user_id, credential_id) =
            webauthn
                .identify_discoverable_authentication(&credential)
                .map_err(|err| rejected(&format!("no user handle: {err}")))?;
        let Some(record) = self.store.find_passkey(credential_id).await? else {
            return Err(rejected("unknown credential"));
        };
        if record.user_id != user_id {
            return Err(rejected(
                "user handle does not match the credential's owner",
            ));
        }
        let mut passkey = stored_passkey(&record)?;
        let result = webauthn
            .finish_discoverable_authentication_v2(&credential, state, &passkey)
            .map_err(|err| assertion_refused(&err, user_id, &credential.id))?;
        self.record_use(&record, &mut passkey, &result).await?;
        Ok((record.user_id, PasskeyMethod::of(&result)))
    }

    /// Begins verifying `user` with one of their passkeys, for `purpose`.
    pub async fn begin_verification(
        &self,
        user: &UserRecord,
        purpose: Purpose,
    ) -> Result<Ceremony, Error> {
        let webauthn = self.webauthn()?;
        let passkeys = self
            .store
            .passkeys(user.id)
            .await?
            .iter()
            .map(stored_passkey)
            .collect::<Result<Vec<_>, _>>()?;
        if passkeys.is_empty() {
            return Err(Error::InvalidField {
                field: "passkey",
                message: "none registered: add one from your profile first".to_owned(),
            });
        }
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|err| Error::Internal(format!("passkey options: {err}")))?;
        let pending = Pending::Verify {
            user_id: user.id,
            purpose,
            state,
        };
        self.hold(&pending, &options).await
    }

    /// Finishes verifying `user` for `purpose`: how the passkey proved them.
    pub async fn finish_verification(
        &self,
        user: &UserRecord,
        purpose: Purpose,
        ceremony: &str,
        response: &str,
    ) -> Result<PasskeyMethod, Error> {
        let webauthn = self.webauthn()?;
        let Some(Pending::Verify {
            user_id,
            purpose: begun_for,
            state,
        }) = self.take(ceremony).await?
        else {
            return Err(rejected(
                "no such verification (expired, finished, or never begun)",
            ));
        };
        if user_id != user.id || begun_for != purpose {
            return Err(rejected("verification begun for another user or purpose"));
        }
        let credential = read_assertion(response)?;
        let result = webauthn
            .finish_passkey_authentication(&credential, &state)
            .map_err(|err| assertion_refused(&err, user.id, &credential.id))?;
        let Some(record) = self
            .store
            .passkeys(user.id)
            .await?
            .into_iter()
            .find(|record| record.credential_id.as_slice() == result.cred_id().as_slice())
        else {
            // Removed between the two halves of the ceremony.
            return Err(rejected("credential no longer registered"));
        };
        let mut passkey = stored_passkey(&record)?;
        self.record_use(&record, &mut passkey, &result).await?;
        Ok(PasskeyMethod::of(&result))
    }

    /// Removes one of `user`'s passkeys. A passkey-only account keeps its last one: it would
    /// have no way left to sign in.
    pub async fn remove(&self, user: &UserRecord, id: Uuid) -> Result<(), Error> {
        let passkeys = self.store.passkeys(user.id).await?;
        if !passkeys.iter().any(|passkey| passkey.id == id) {
            return Err(Error::InvalidField {
                field: "passkey",
                message: "no such passkey on this account".to_owned(),
            });
        }
        let last_way_in = user.password_hash.is_none() && passkeys.len() == 1;
        if last_way_in || !self.store.remove_passkey(user.id, id).await? {
            return Err(Error::InvalidField {
                field: "passkey",
                message: format!(
                    "\u{201c}{}\u{201d} is your last one, and your account has no password: \
                     set a password or add another passkey first",
                    passkeys
                        .iter()
                        .find(|passkey| passkey.id == id)
                        .map_or("", |passkey| passkey.name.as_str())
                ),
            });
        }
        tracing::info!(user_id = %user.id, passkey = %id, "passkey removed");
        Ok(())
    }

    /// Removes every passkey of the user (an operator's reset, for a user who lost them); how
    /// many. Unlike [`Self::remove`], it may leave a passkey-only account with no way in: the
    /// user then sets a password with a reset link.
    pub async fn remove_all(&self, user_id: Uuid) -> Result<usize, Error> {
        let mut removed = 0;
        for passkey in self.store.passkeys(user_id).await? {
            if self.store.remove_passkey(user_id, passkey.id).await? {
                removed += 1;
            }
        }
        tracing::info!(%user_id, removed, "passkeys removed by an operator");
        Ok(removed)
    }

    /// Stores the credential's new counter and backup state. The compare-and-swap on the
    /// counter makes a second assertion with the same counter value fail, wherever it lands.
    async fn record_use(
        &self,
        record: &PasskeyRecord,
        passkey: &mut Passkey,
        result: &AuthenticationResult,
    ) -> Result<(), Error> {
        // webauthn-rs compared the counter with the passkey as the ceremony began; a use
        // recorded since (by the original, if this is a copy) is compared here.
        let counter = result.counter();
        if (counter > 0 || record.sign_count > 0) && counter <= record.sign_count {
            tracing::warn!(
                user_id = %record.user_id,
                passkey = %record.id,
                counter,
                stored = record.sign_count,
                "passkey refused: its counter went backwards (a cloned authenticator?)"
            );
            return Err(Error::InvalidPasskey);
        }
        passkey.update_credential(result);
        let stored = serde_json::to_value(&*passkey)
            .map_err(|err| Error::Internal(format!("passkey to JSON: {err}")))?;
        let recorded = self
            .store
            .record_passkey_use(
                record.id,
                record.sign_count,
                &stored,
                counter,
                self.clock.now(),
            )
            .await?;
        if !recorded {
            tracing::warn!(
                user_id = %record.user_id,
                passkey = %record.id,
                "passkey refused: its counter was used concurrently (a cloned authenticator?)"
            );
            return Err(Error::InvalidPasskey);
        }
        Ok(())
    }

    async fn hold(&self, pending: &Pending, options: &impl Serialize) -> Result<Ceremony, Error> {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let value = serde_json::to_string(pending)
            .map_err(|err| Error::Internal(format!("passkey ceremony to JSON: {err}")))?;
        self.ceremonies
            .put(&ceremony_key(&id), &value, CEREMONY_TTL)
            .await?;
        let options = serde_json::to_string(options)
            .map_err(|err| Error::Internal(format!("passkey options to JSON: {err}")))?;
        Ok(Ceremony { id, options })
    }

    /// The ceremony held under `id`, gone afterwards: each challenge answers once.
    async fn take(&self, id: &str) -> Result<Option<Pending>, Error> {
        if id.len() != 43
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        let Some(value) = self.ceremonies.get(&ceremony_key(id), true).await? else {
            return Ok(None);
        };
        serde_json::from_str(&value)
            .map(Some)
            .map_err(|err| Error::Internal(format!("passkey ceremony from JSON: {err}")))
    }
}

/// The relying party for `public_url`, if it has a domain name.
fn relying_party(public_url: &str, rp_name: &str) -> Option<Webauthn> {
    let url = Url::parse(public_url).ok()?;
    let url::Host::Domain(rp_id) = url.host()? else {
        return None;
    };
    let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
    WebauthnBuilder::new(rp_id, &origin)
        .and_then(|builder| builder.rp_name(rp_name).timeout(CEREMONY_TTL).build())
        .inspect_err(|err| tracing::warn!(error = %err, "passkeys: relying party refused"))
        .ok()
}

fn ceremony_key(id: &str) -> String {
    format!("webauthn:{id}")
}

/// Logs why, answers the one error (no detail for whoever is probing).
fn rejected(reason: &str) -> Error {
    tracing::info!(reason, "passkey refused");
    Error::InvalidPasskey
}

/// Logs why an assertion was refused. A counter that went backwards means two authenticators
/// hold one credential: a clone. That is an incident, not a typo, so it is a warning naming
/// the user and the credential, for operators to alert on.
fn assertion_refused(err: &WebauthnError, user_id: Uuid, credential_id: &str) -> Error {
    if matches!(err, WebauthnError::CredentialPossibleCompromise) {
        tracing::warn!(
            %user_id,
            credential_id,
            "passkey refused: its counter went backwards (a cloned authenticator?)"
        );
        return Error::InvalidPasskey;
    }
    rejected(&format!("assertion refused: {err}"))
}

fn read_assertion(response: &str) -> Result<PublicKeyCredential, Error> {
    serde_json::from_str(response).map_err(|err| rejected(&format!("unreadable assertion: {err}")))
}

fn stored_passkey(record: &PasskeyRecord) -> Result<Passkey, Error> {
    serde_json::from_value(record.credential.clone())
        .map_err(|err| Error::Internal(format!("stored passkey {}: {err}", record.id)))
}

/// The counter in webauthn-rs's JSON of a passkey (`cred.counter`), for the compare-and-swap
/// column; a missing one counts as 0, as an authenticator without a counter sends.
fn counter_of(stored: &serde_json::Value) -> u32 {
    stored["cred"]["counter"]
        .as_u64()
        .and_then(|counter| u32::try_from(counter).ok())
        .unwrap_or(0)
}

/// A name the owner will recognise in the list: trimmed, 1 to 64 characters, no controls.
fn valid_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    let invalid = |message: &str| Error::InvalidField {
        field: "name",
        message: message.to_owned(),
    };
    if name.is_empty() {
        return Err(invalid(
            "is required: call the passkey after its device, e.g. laptop",
        ));
    }
    if name.chars().count() > NAME_MAX {
        return Err(invalid(&format!(
            "is too long: at most {NAME_MAX} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("may not contain control characters"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_public_urls_domain() {
        assert!(relying_party("https://auth.example.com", "authd").is_some());
        assert!(relying_party("http://localhost:8080", "authd").is_some());
        assert!(relying_party("http://127.0.0.1:8080", "authd").is_none());
        assert!(relying_party("http://[::1]:8080", "authd").is_none());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  laptop ").unwrap(), "laptop");
        assert!(valid_name("   ").is_err());
        assert!(valid_name(&"x".repeat(65)).is_err());
        assert!(valid_name("a\nb").is_err());
    }
}
