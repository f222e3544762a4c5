//! The only code that writes child objects: one server-side-apply helper (one field
//! manager, `force` because the operator owns every field it sets), plus read and delete.
//! Every write is counted in `tenant_operator_api_writes_total`.

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::Value;

use super::FIELD_MANAGER;
use super::inventory::ObjectKey;
use crate::telemetry::Metrics;

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
pub async fn replace(
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
