//! The only code that writes child objects: one write-if-changed path ([`ensure`]) on top
//! of one server-side-apply helper (one field manager, `force` because the operator owns
//! every field it sets), plus read and delete. Every write is counted in
//! `tenant_operator_api_writes_total`.

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::Value;

use super::FIELD_MANAGER;
use super::compare::{
    fingerprint, foreign_manager, matches_live, replacement, resource_version_of,
};
use super::context::Context;
use super::error::Error;
use super::inventory::{LastApplied, ObjectKey};
use crate::telemetry::Metrics;

/// What writing one object did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The live object was already as desired: nothing was written.
    Unchanged,
    /// The object did not exist and was created.
    Created,
    /// The object existed with other content (the spec changed) and was updated.
    Updated,
    /// The object had been made as desired, then changed or deleted by someone else, and
    /// was restored.
    DriftCorrected,
}

/// Makes one object as `desired`, writing only if it differs. See
/// [`super::inventory`] for how the inventory avoids reads.
pub async fn ensure(ctx: &Context, key: &ObjectKey, desired: &Value) -> Result<Change, Error> {
    let fp = fingerprint(desired);
    let live = ctx.inventory.live(key);
    let applied = ctx.inventory.applied(key);
    if let (Some(live), Some(applied)) = (&live, &applied)
        && applied.resource_version == live.resource_version
        && applied.fingerprint == fp
    {
        return Ok(Change::Unchanged);
    }
    // Unknown, changed by someone, or not yet seen by the watch: read and compare.
    let current = if live.is_some() || applied.is_some() {
        get(&ctx.client, key).await.map_err(|source| Error::Read {
            object: key.clone(),
            source: Box::new(source),
        })?
    } else {
        None
    };
    let foreign = current
        .as_ref()
        .and_then(|c| foreign_manager(c, FIELD_MANAGER));
    if let Some(current) = &current
        && foreign.is_none()
        && matches_live(desired, current)
    {
        ctx.inventory.record_applied(
            key.clone(),
            LastApplied {
                resource_version: resource_version_of(current),
                fingerprint: fp,
                certificate: None,
            },
        );
        return Ok(Change::Unchanged);
    }
    // Someone else changed an object this operator had made as desired (or added fields
    // to it that server-side apply would leave in place).
    let drift = foreign.is_some() || applied.as_ref().is_some_and(|a| a.fingerprint == fp);
    let written = match (&current, &foreign) {
        (Some(current), Some(manager)) => {
            tracing::info!(object = %key, %manager, "replacing fields written by another manager");
            replace(
                &ctx.client,
                &ctx.metrics,
                key,
                &replacement(desired, current),
            )
            .await
        }
        _ => apply(&ctx.client, &ctx.metrics, key, desired).await,
    };
    let resource_version = written.map_err(|source| Error::Apply {
        object: key.clone(),
        source: Box::new(source),
    })?;
    ctx.inventory.record_applied(
        key.clone(),
        LastApplied {
            resource_version,
            fingerprint: fp,
            certificate: None,
        },
    );
    if drift {
        ctx.metrics
            .drift_corrections
            .with_label_values(&[key.kind.as_str()])
            .inc();
        tracing::info!(object = %key, "restored an object changed by someone else");
        return Ok(Change::DriftCorrected);
    }
    Ok(if current.is_none() {
        Change::Created
    } else {
        Change::Updated
    })
}

fn api(client: &Client, key: &ObjectKey) -> Api<DynamicObject> {
    let resource = key.kind.api_resource();
    match &key.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// Server-side applies `body` (a complete object with apiVersion, kind and metadata) as the
/// operator's field manager, taking over conflicting fields. Returns the new
/// resourceVersion.
pub async fn apply(
    client: &Client,
    metrics: &Metrics,
    key: &ObjectKey,
    body: &Value,
) -> Result<String, kube::Error> {
    metrics
        .writes
        .with_label_values(&["apply", key.kind.as_str()])
        .inc();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let object = api(client, key)
        .patch(&key.name, &params, &Patch::Apply(body))
        .await?;
    Ok(object.metadata.resource_version.unwrap_or_default())
}

/// Replaces an object whole (PUT) with `body`, which must carry the live
/// resourceVersion. Used only to undo changes that server-side apply cannot undo: fields
/// that another manager added to an object the operator owns entirely.
async fn replace(
    client: &Client,
    metrics: &Metrics,
    key: &ObjectKey,
    body: &Value,
) -> Result<String, kube::Error> {
    metrics
        .writes
        .with_label_values(&["update", key.kind.as_str()])
        .inc();
    let object: DynamicObject =
        serde_json::from_value(body.clone()).map_err(kube::Error::SerdeError)?;
    let params = kube::api::PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    let object = api(client, key)
        .replace(&key.name, &params, &object)
        .await?;
    Ok(object.metadata.resource_version.unwrap_or_default())
}

/// Reads the live object as JSON; `None` if it does not exist.
pub async fn get(client: &Client, key: &ObjectKey) -> Result<Option<Value>, kube::Error> {
    let Some(object) = api(client, key).get_opt(&key.name).await? else {
        return Ok(None);
    };
    serde_json::to_value(&object)
        .map(Some)
        .map_err(kube::Error::SerdeError)
}

/// Deletes an object (background propagation). An object already gone is not an error.
pub async fn delete(
    client: &Client,
    metrics: &Metrics,
    key: &ObjectKey,
) -> Result<(), kube::Error> {
    metrics
        .writes
        .with_label_values(&["delete", key.kind.as_str()])
        .inc();
    match api(client, key)
        .delete(&key.name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}
