//! Upstream identity providers, as administrators manage them through the admin API: the same
//! registry as `authd upstreams …`, each write audited. An OpenID Connect upstream's endpoints
//! come from its discovery document, read again at each write.

use serde_json::json;

use super::{Admin, written};
use crate::{
    error::Error,
    events::{Actor, EventType, NewEvent},
    federation::{UpstreamDraft, UpstreamKind, UpstreamRecord, discover},
};

impl Admin {
    pub async fn create_upstream(
        &self,
        actor: Actor,
        draft: UpstreamDraft,
    ) -> Result<UpstreamRecord, Error> {
        let draft = discovered(draft).await?;
        let upstream = self.services.upstreams.create(draft).await?;
        self.audit(NewEvent::new(EventType::UpstreamCreated, actor).detail(describe(&upstream)))
            .await;
        Ok(upstream)
    }

    pub async fn upstream(&self, id: &str) -> Result<UpstreamRecord, Error> {
        self.services
            .upstreams
            .find(id)
            .await?
            .ok_or(Error::NotFound("upstream"))
    }

    pub async fn update_upstream(
        &self,
        actor: Actor,
        draft: UpstreamDraft,
        expected: Option<i64>,
    ) -> Result<UpstreamRecord, Error> {
        // Missing before the discovery is fetched: a 404 needs no round trip.
        self.upstream(&draft.id).await?;
        let draft = discovered(draft).await?;
        let upstream = written(
            self.services.upstreams.update(draft, expected).await?,
            "upstream",
        )?;
        self.audit(NewEvent::new(EventType::UpstreamUpdated, actor).detail(describe(&upstream)))
            .await;
        Ok(upstream)
    }

    pub async fn delete_upstream(&self, actor: Actor, id: &str) -> Result<(), Error> {
        if !self.services.upstreams.delete(id).await? {
            return Err(Error::NotFound("upstream"));
        }
        self.audit(
            NewEvent::new(EventType::UpstreamDeleted, actor).detail(json!({ "upstream": id })),
        )
        .await;
        Ok(())
    }
}

/// An OpenID Connect draft with the endpoints its issuer's discovery document names (and the
/// administrator's other fields); a plain OAuth 2.0 one as it is. An issuer whose document
/// cannot be read is the request's fault: 422 on `issuer`, saying why.
async fn discovered(draft: UpstreamDraft) -> Result<UpstreamDraft, Error> {
    if draft.kind != UpstreamKind::Oidc {
        return Ok(draft);
    }
    let issuer = draft.issuer.clone().unwrap_or_default();
    let document = discover(&issuer).await.map_err(|err| match err {
        Error::InvalidField { .. } => err,
        other => Error::InvalidField {
            field: "issuer",
            message: format!("has no OpenID Connect discovery document authd could use: {other}"),
        },
    })?;
    Ok(draft.with_discovery(document))
}

/// What the audit trail says of an upstream (never its secret).
fn describe(upstream: &UpstreamRecord) -> serde_json::Value {
    json!({
        "upstream": upstream.id,
        "kind": upstream.kind.as_str(),
        "issuer": upstream.issuer,
        "provisioning": upstream.provisioning.as_str(),
        "trust_email": upstream.trust_email,
        "enabled": upstream.enabled,
    })
}
