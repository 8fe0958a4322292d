//! What the audit trail's events mean to a receiver: the CAEP and RISC events authd transmits,
//! their subjects (SSF 1.0 §3, RFC 9493) and their claims, before a stream's `jti`, `aud` and
//! signature are added.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    accounts::UserRecord,
    events::{Actor, EventPayload, EventType, NewEvent},
};

pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
pub const TOKEN_CLAIMS_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const ACCOUNT_ENABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
pub const ACCOUNT_PURGED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-purged";
/// Sent on request (SSF 1.0 §8.1.4), on every stream whatever it asked for.
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// The event types a stream may ask for, in the order `events_supported` lists them.
pub const SUPPORTED: [&str; 6] = [
    SESSION_REVOKED,
    CREDENTIAL_CHANGE,
    TOKEN_CLAIMS_CHANGE,
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    ACCOUNT_PURGED,
];

/// One event about to become a SET: its type, its subject (`sub_id`), its own members, and
/// the `txn` shared by every SET one recorded event causes.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub event_type: &'static str,
    pub subject: Value,
    pub event: Value,
    pub txn: String,
}

impl Signal {
    /// The SET's claims but `jti` and `iat`, which each delivery adds: SSF 1.0 §4.1 forbids
    /// `sub` and `exp`.
    pub fn claims(&self, issuer: &str, audience: &str) -> Value {
        json!({
            "iss": issuer,
            "aud": audience,
            "txn": self.txn,
            "sub_id": self.subject,
            "events": { self.event_type: self.event },
        })
    }
}

/// What a credential change event says changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Password,
    /// A TOTP authenticator app.
    App,
    /// A passkey (WebAuthn): authd does not learn whether it roams, so it says `fido2-platform`
    /// as the closest CAEP names.
    Passkey,
}

impl Credential {
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::Password => "password",
            Credential::App => "app",
            Credential::Passkey => "fido2-platform",
        }
    }
}

/// CAEP's `change_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Update,
    Delete,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update => "update",
            Change::Delete => "delete",
        }
    }
}

/// The audit event of a credential the user changed (a password set, an authenticator app or
/// a passkey added or removed): receivers hear of it as a CAEP `credential-change`.
pub fn credential_event(
    actor: Actor,
    user_id: Uuid,
    credential: Credential,
    change: Change,
) -> NewEvent {
    NewEvent::new(EventType::UserCredentialChanged, actor)
        .user(user_id)
        .detail(json!({
            "credential_type": credential.as_str(),
            "change_type": change.as_str(),
        }))
}

/// The subject for a user: `iss_sub`, the `sub` of the user's tokens.
pub fn user_subject(issuer: &str, user_id: Uuid) -> Value {
    json!({ "format": "iss_sub", "iss": issuer, "sub": user_id.to_string() })
}

/// The subject for one session of a user: a complex subject whose `session` is the `sid` of
/// the session's tokens.
pub fn session_subject(issuer: &str, user_id: Uuid, session_id: &str) -> Value {
    json!({
        "format": "complex",
        "user": user_subject(issuer, user_id),
        "session": { "format": "opaque", "id": session_id },
    })
}

/// The signals an event causes; none for most. `user` is the event's user as it is now, for
/// the claims a `token-claims-change` carries (None if it is gone).
pub fn signals(issuer: &str, event: &EventPayload, user: Option<&UserRecord>) -> Vec<Signal> {
    let Some(user_id) = event.data.user_id else {
        return Vec::new();
    };
    let txn = transaction(event);
    let timestamp = event.timestamp.unix_timestamp();
    let initiating_entity = initiating_entity(event);
    let signal = |event_type: &'static str, subject: Value, mut members: Value| {
        if let Some(object) = members.as_object_mut() {
            object.insert("event_timestamp".into(), json!(timestamp));
            object.insert("initiating_entity".into(), json!(initiating_entity));
        }
        Signal {
            event_type,
            subject,
            event: members,
            txn: txn.clone(),
        }
    };
    let user_only = || user_subject(issuer, user_id);
    let credential = |credential: &str, change: &str| {
        signal(
            CREDENTIAL_CHANGE,
            user_only(),
            json!({ "credential_type": credential, "change_type": change }),
        )
    };
    let detail = &event.data.detail;
    match EventType::ALL
        .iter()
        .find(|kind| kind.as_str() == event.kind)
    {
        Some(&EventType::SessionEnded) => {
            let Some(session_id) = detail.get("session_id").and_then(Value::as_str) else {
                return Vec::new();
            };
            let mut members = json!({});
            if let Some(reason) = detail.get("reason").and_then(Value::as_str) {
                members["reason_admin"] = json!({ "en": reason });
            }
            vec![signal(
                SESSION_REVOKED,
                session_subject(issuer, user_id, session_id),
                members,
            )]
        }
        Some(&EventType::UserDisabled) => vec![signal(ACCOUNT_DISABLED, user_only(), json!({}))],
        Some(&EventType::UserEnabled) => vec![signal(ACCOUNT_ENABLED, user_only(), json!({}))],
        Some(&EventType::UserDeleted) => vec![signal(ACCOUNT_PURGED, user_only(), json!({}))],
        Some(&EventType::UserPasswordReset) => vec![credential("password", "update")],
        Some(&EventType::UserCredentialChanged) => {
            let kind = detail.get("credential_type").and_then(Value::as_str);
            let change = detail.get("change_type").and_then(Value::as_str);
            match (kind, change) {
                (Some(kind), Some(change)) => vec![credential(kind, change)],
                _ => Vec::new(),
            }
        }
        Some(&EventType::UserFactorsReset) => {
            let removed = |key: &str| {
                detail
                    .get(key)
                    .is_some_and(|value| value.as_bool() == Some(true) || value.as_u64() > Some(0))
            };
            let mut signals = Vec::new();
            if removed("authenticator_app_removed") {
                signals.push(credential(Credential::App.as_str(), "delete"));
            }
            if removed("passkeys_removed") {
                signals.push(credential(Credential::Passkey.as_str(), "delete"));
            }
            signals
        }
        Some(&EventType::UserUpdated) => {
            let Some(user) = user else {
                return Vec::new();
            };
            let changed = |field: &str| {
                detail
                    .get("changed")
                    .and_then(Value::as_array)
                    .is_some_and(|changed| changed.iter().any(|name| name == field))
            };
            let mut claims = serde_json::Map::new();
            if changed("username") {
                claims.insert("preferred_username".into(), json!(user.username));
            }
            if changed("email") || changed("email_verified") {
                claims.insert("email".into(), json!(user.email));
                claims.insert(
                    "email_verified".into(),
                    json!(user.email_verified_at.is_some()),
                );
            }
            if claims.is_empty() {
                return Vec::new();
            }
            vec![signal(
                TOKEN_CLAIMS_CHANGE,
                user_only(),
                json!({ "claims": claims }),
            )]
        }
        _ => Vec::new(),
    }
}

/// Who caused the event, in CAEP's words (§2): the user themself, an administrator (an
/// operator, an admin token, a client acting for itself), authd's own policy (a reused refresh
/// token, a replayed authorization code), or authd itself (an end recorded after a crash).
fn initiating_entity(event: &EventPayload) -> &'static str {
    let reason = event.data.detail.get("reason").and_then(Value::as_str);
    if matches!(
        reason,
        Some("refresh_token_reused" | "authorization_code_replayed")
    ) {
        return "policy";
    }
    let actor = event.data.actor.as_str();
    match event.data.user_id {
        Some(user_id) if actor == format!("user:{user_id}") => "user",
        _ if actor == "anonymous" || actor == "system" => "system",
        _ => "admin",
    }
}

/// A `txn` unique to the recorded event and the same each time it is fanned out (the fan-out
/// runs at least once): a digest of the event as recorded (its time is to the nanosecond).
fn transaction(event: &EventPayload) -> String {
    let recorded = serde_json::to_vec(event).unwrap_or_default();
    Sha256::digest(&recorded)
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::events::EventData;

    fn event(kind: EventType, actor: &str, user_id: Uuid, detail: Value) -> EventPayload {
        EventPayload {
            kind: kind.as_str().to_owned(),
            timestamp: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            data: EventData {
                user_id: Some(user_id),
                client_id: None,
                actor: actor.to_owned(),
                ip: None,
                detail,
            },
        }
    }

    #[test]
    fn an_ended_session_is_a_session_revoked_about_its_sid() {
        let user = Uuid::now_v7();
        let ended = event(
            EventType::SessionEnded,
            &format!("user:{user}"),
            user,
            json!({ "session_id": "s-1", "reason": "signed_out" }),
        );
        let signals = signals("https://authd.example", &ended, None);
        assert_eq!(signals.len(), 1);
        let signal = &signals[0];
        assert_eq!(signal.event_type, SESSION_REVOKED);
        assert_eq!(signal.subject["format"], "complex");
        assert_eq!(signal.subject["session"]["id"], "s-1");
        assert_eq!(signal.subject["user"]["sub"], user.to_string());
        assert_eq!(signal.event["initiating_entity"], "user");
        assert_eq!(signal.event["event_timestamp"], 1_700_000_000);
        let claims = signal.claims("https://authd.example", "rs");
        assert!(claims.get("sub").is_none() && claims.get("exp").is_none());
        assert_eq!(claims["txn"], signals_again(&ended));
    }

    fn signals_again(event: &EventPayload) -> String {
        signals("https://authd.example", event, None)[0].txn.clone()
    }

    #[test]
    fn a_reused_token_or_replayed_code_is_policy_a_recovered_end_system_an_operator_admin() {
        let user = Uuid::now_v7();
        let ended = |actor: &str, reason: &str| {
            let ended = event(
                EventType::SessionEnded,
                actor,
                user,
                json!({ "session_id": "s", "reason": reason }),
            );
            signals("i", &ended, None)[0].event["initiating_entity"].clone()
        };
        assert_eq!(ended("anonymous", "refresh_token_reused"), "policy");
        assert_eq!(ended("anonymous", "authorization_code_replayed"), "policy");
        assert_eq!(ended("system", "revoked"), "system");
        assert_eq!(ended(&format!("user:{user}"), "revoked"), "user");
        let disabled = event(EventType::UserDisabled, "operator", user, json!({}));
        let signal = &signals("i", &disabled, None)[0];
        assert_eq!(signal.event_type, ACCOUNT_DISABLED);
        assert_eq!(signal.event["initiating_entity"], "admin");
        assert_eq!(signal.subject, user_subject("i", user));
    }

    #[test]
    fn a_factors_reset_tells_each_kind_removed() {
        let user = Uuid::now_v7();
        let reset = event(
            EventType::UserFactorsReset,
            "operator",
            user,
            json!({ "authenticator_app_removed": true, "passkeys_removed": 2 }),
        );
        let kinds: Vec<Value> = signals("i", &reset, None)
            .iter()
            .map(|signal| signal.event["credential_type"].clone())
            .collect();
        assert_eq!(kinds, vec![json!("app"), json!("fido2-platform")]);
        let txns: Vec<String> = signals("i", &reset, None)
            .into_iter()
            .map(|signal| signal.txn)
            .collect();
        assert_eq!(txns[0], txns[1], "one cause, one txn");
    }

    #[test]
    fn events_of_no_concern_to_receivers_make_no_signal() {
        let user = Uuid::now_v7();
        let login = event(EventType::UserLoggedIn, "anonymous", user, json!({}));
        assert!(signals("i", &login, None).is_empty());
        let renamed_but_gone = event(
            EventType::UserUpdated,
            "operator",
            user,
            json!({ "changed": ["username"] }),
        );
        assert!(signals("i", &renamed_but_gone, None).is_empty());
    }
}
