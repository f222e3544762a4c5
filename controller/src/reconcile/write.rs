//! Every write the controller makes, and the one path that decides whether to make it.
//!
//! - [`ensure`] and [`write_if_changed`]: a desired object (a rendered child, the CA bundle
//!   of the operator namespace, a TLS Secret through [`super::certificates`]) is compared
//!   with what is known of the live one and written only if it differs: with server-side
//!   apply under the one field manager (`force`, because the operator owns every field it
//!   sets), or replaced whole when another manager added fields apply cannot take back.
//!   A write that restores what someone changed is a drift correction.
//! - [`status`], [`finalizers`], [`event`], [`delete`], [`create`] and [`set_holder`]:
//!   the other writes, each decided by its step ([`create`] and [`set_holder`] by
//!   [`super::ownership`], which decides whose a namespace is).
//!
//! Every request here goes through [`retry::request`]: a transient failure (5xx, 429, a
//! dropped connection) is retried in place a few times before it fails the reconcile.
//!
//! Every mutating request is counted here, in `tenant_operator_api_writes_total`, by
//! one function (`count`) and nowhere else.

use kube::api::{
    DeleteParams, DynamicObject, GetParams, ListParams, Patch, PatchParams, PostParams,
};
use kube::core::request::{Error as RequestError, Request};
use kube::runtime::events::Event;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::FIELD_MANAGER;
use super::compare::{
    fingerprint, foreign_manager, leftovers_patch, matches_live, own_leftovers, parse_fingerprint,
    replacement, resource_version_of, with_fingerprint,
};
use super::context::Context;
use super::error::Error;
use super::inventory::{LastApplied, ObjectKey};
use crate::api::TenantService;
use crate::kinds::ManagedKind;
use crate::labels;
use crate::pki::CertificateInfo;
use crate::retry;
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

/// One object to make as desired.
#[derive(Clone, Debug)]
pub struct Desired<'a> {
    /// The object, as the inventory knows it.
    pub key: &'a ObjectKey,
    /// The complete object (apiVersion, kind, metadata and content).
    pub body: &'a Value,
    /// What tells whether the desired object is the one last applied: [`fingerprint`] of
    /// the body, or for TLS Secrets of what they are issued for.
    pub fingerprint: u64,
    /// The certificate in the body, for TLS Secrets: remembered with the write.
    pub certificate: Option<&'a CertificateInfo>,
    /// The content changes by the operator's own decision (a certificate due for renewal),
    /// so a difference from what was applied is not drift.
    pub renewal: bool,
}

impl Desired<'_> {
    /// Records in the inventory that the object is as desired at `resource_version`.
    fn record_applied(&self, ctx: &Context, resource_version: String) {
        ctx.inventory.record_applied(
            self.key.clone(),
            LastApplied {
                resource_version,
                fingerprint: self.fingerprint,
                certificate: self.certificate.cloned().map(Box::new),
            },
        );
    }
}

/// Makes the object `key` as `body`, writing only if it differs. See
/// [`super::inventory`] for how the inventory avoids reads.
pub async fn ensure(ctx: &Context, key: &ObjectKey, body: &Value) -> Result<Change, Error> {
    let fingerprint = fingerprint(body);
    if known_as_desired(ctx, key, fingerprint).is_some() {
        return Ok(Change::Unchanged);
    }
    let current = read(ctx, key).await?;
    let desired = Desired {
        key,
        body,
        fingerprint,
        certificate: None,
        renewal: false,
    };
    write_if_changed(ctx, &desired, current.as_ref()).await
}

/// What the operator last applied to `key`, if the inventory shows the live object is
/// still exactly that and it was applied with `fingerprint`: then nothing needs reading.
///
/// After a restart nothing is known of what this process applied; the object's own
/// [`labels::APPLIED_FINGERPRINT`] annotation stands in for it when no other manager owns
/// fields of the object (an edit transfers the edited fields to the editor), and is
/// recorded as applied at the live resourceVersion. An edit made while the operator was
/// down is thus caught unless it only removed fields (such an edit leaves no manager
/// behind): that one is corrected at the tenant's next change.
pub fn known_as_desired(ctx: &Context, key: &ObjectKey, fingerprint: u64) -> Option<LastApplied> {
    let live = ctx.inventory.live(key)?;
    if let Some(applied) = ctx.inventory.applied(key) {
        return (applied.resource_version == live.resource_version
            && applied.fingerprint == fingerprint)
            .then_some(applied);
    }
    if live.fingerprint != Some(fingerprint) || live.foreign || live.deleting {
        return None;
    }
    let applied = LastApplied {
        resource_version: live.resource_version,
        fingerprint,
        certificate: None,
    };
    ctx.inventory.record_applied(key.clone(), applied.clone());
    Some(applied)
}

/// The live object at `key`, read when it may exist: when the inventory knows it (live or
/// applied), or has not listed its kind yet. `None` if it does not exist.
pub async fn read(ctx: &Context, key: &ObjectKey) -> Result<Option<Value>, Error> {
    let may_exist = ctx.inventory.knows(key) || !ctx.inventory.is_kind_synced(key.kind);
    if !may_exist {
        return Ok(None);
    }
    read_live(ctx, key).await
}

/// The live object at `key`, read whatever the inventory says; `None` if it does not exist.
pub async fn read_live(ctx: &Context, key: &ObjectKey) -> Result<Option<Value>, Error> {
    get(&ctx.client, key).await.map_err(|source| Error::Read {
        object: key.clone(),
        source: Box::new(source),
    })
}

/// Writes `desired` unless `current` (the live object, `None` if absent) already has it;
/// records what was applied in the inventory either way, and counts drift corrections.
pub async fn write_if_changed(
    ctx: &Context,
    desired: &Desired<'_>,
    current: Option<&Value>,
) -> Result<Change, Error> {
    let key = desired.key;
    let record = |resource_version: String| desired.record_applied(ctx, resource_version);
    // What is written carries its fingerprint (see `known_as_desired`).
    let body = with_fingerprint(desired.body, desired.fingerprint);
    // What the operator's own create (or holder change, or replace) wrote and the desired
    // object no longer has is removed first: the apply below would leave it in place.
    let cleaned = match current {
        Some(live) => remove_own_leftovers(ctx, key, live, &body).await?,
        None => None,
    };
    let current = cleaned.as_ref().or(current);
    let foreign = current.and_then(|c| foreign_manager(c, FIELD_MANAGER));
    if let Some(current) = current
        && foreign.is_none()
        && matches_live(&body, current)
    {
        record(resource_version_of(current));
        return Ok(if cleaned.is_some() {
            Change::Updated
        } else {
            Change::Unchanged
        });
    }
    // Someone else changed an object this operator had made as desired (or added fields
    // to it that server-side apply would leave in place). After a restart, the object's
    // annotation says what it had been made as.
    let applied_before = ctx
        .inventory
        .applied(key)
        .map(|a| a.fingerprint)
        .or_else(|| {
            current
                .and_then(|c| c.pointer(&annotation_pointer(labels::APPLIED_FINGERPRINT)))
                .and_then(Value::as_str)
                .and_then(parse_fingerprint)
        });
    let drift =
        !desired.renewal && (foreign.is_some() || applied_before == Some(desired.fingerprint));
    let written = match (current, &foreign) {
        (Some(current), Some(manager)) => {
            tracing::info!(object = %key, %manager, "replacing fields written by another manager");
            replace(&ctx.client, &ctx.metrics, key, &replacement(&body, current)).await
        }
        _ => apply(&ctx.client, &ctx.metrics, key, &body).await,
    };
    let resource_version = written.map_err(|source| Error::Apply {
        object: key.clone(),
        source: Box::new(source),
    })?;
    record(resource_version);
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

/// Removes from `live` the labels and annotations that only the operator's own non-apply
/// writes hold and `body` no longer sets ([`own_leftovers`]), with a merge patch on the
/// live resourceVersion. Returns the object as written, or `None` when there was nothing
/// to remove (no request is made).
async fn remove_own_leftovers(
    ctx: &Context,
    key: &ObjectKey,
    live: &Value,
    body: &Value,
) -> Result<Option<Value>, Error> {
    let leftovers = own_leftovers(live, body, FIELD_MANAGER);
    if leftovers.is_empty() {
        return Ok(None);
    }
    count(&ctx.metrics, "patch", key.kind.as_str());
    tracing::info!(object = %key, ?leftovers, "removing labels and annotations no longer desired");
    merge_patch(&ctx.client, key, &leftovers_patch(live, &leftovers))
        .await
        .map(Some)
        .map_err(|source| Error::Apply {
            object: key.clone(),
            source: Box::new(source),
        })
}

/// The JSON pointer of annotation `key` (`/` escaped as `~1`).
fn annotation_pointer(key: &str) -> String {
    format!(
        "/metadata/annotations/{}",
        key.replace('~', "~0").replace('/', "~1")
    )
}

/// Counts one mutating request: `verb` (`apply`, `update`, `delete`, `patch`, `create`)
/// on `what` (a kind, or `TenantService/status`).
fn count(metrics: &Metrics, verb: &str, what: &str) {
    metrics.writes.with_label_values(&[verb, what]).inc();
}

fn api(client: &Client, key: &ObjectKey) -> Api<DynamicObject> {
    let resource = key.kind.api_resource();
    match &key.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// The one thing the operator reads of a write's answer: the object's new
/// resourceVersion. The API server answers every write with the whole object, managedFields
/// included; reading it into a `DynamicObject` (or a typed TenantService) only to drop it
/// was a large share of what a write cost the operator. Unknown fields are skipped.
#[derive(Deserialize)]
struct Written {
    #[serde(default)]
    metadata: WrittenMetadata,
}

#[derive(Deserialize, Default)]
struct WrittenMetadata {
    #[serde(rename = "resourceVersion", default)]
    resource_version: Option<String>,
}

/// Requests on the collection of `key`'s kind (in its namespace).
fn request_for(key: &ObjectKey) -> Request {
    let resource = key.kind.api_resource();
    Request::new(DynamicObject::url_path(&resource, key.namespace.as_deref()))
}

/// Sends the write that `build` makes (anew for each attempt, see [`retry::request`]) and
/// returns the new resourceVersion of the object (see [`Written`]).
async fn send_write(
    client: &Client,
    verb: &str,
    object: &(dyn std::fmt::Display + Sync),
    build: impl Fn() -> Result<http::Request<Vec<u8>>, RequestError>,
) -> Result<String, kube::Error> {
    let written: Written = send(client, verb, object, build).await?;
    Ok(written.metadata.resource_version.unwrap_or_default())
}

/// Sends the write that `build` makes and reads the answer as `T`: [`Written`], or the
/// whole object where the caller goes on from what was written.
async fn send<T: DeserializeOwned>(
    client: &Client,
    verb: &str,
    object: &(dyn std::fmt::Display + Sync),
    build: impl Fn() -> Result<http::Request<Vec<u8>>, RequestError>,
) -> Result<T, kube::Error> {
    retry::request(verb, object, || async {
        let request = build().map_err(kube::Error::BuildRequest)?;
        client.request::<T>(request).await
    })
    .await
}

/// Server-side applies `body` (a complete object with apiVersion, kind and metadata) as the
/// operator's field manager, taking over conflicting fields. Returns the new
/// resourceVersion.
async fn apply(
    client: &Client,
    metrics: &Metrics,
    key: &ObjectKey,
    body: &Value,
) -> Result<String, kube::Error> {
    count(metrics, "apply", key.kind.as_str());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(body);
    let request = request_for(key);
    send_write(client, "apply", key, || {
        request.patch(&key.name, &params, &patch)
    })
    .await
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
    count(metrics, "update", key.kind.as_str());
    let data = serde_json::to_vec(body).map_err(kube::Error::SerdeError)?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    let request = request_for(key);
    send_write(client, "replace", key, || {
        request.replace(&key.name, &params, data.clone())
    })
    .await
}

/// Reads the live object as JSON; `None` if it does not exist. Read straight into a
/// `Value` (what the comparison works on), not through a `DynamicObject`.
pub async fn get(client: &Client, key: &ObjectKey) -> Result<Option<Value>, kube::Error> {
    let request = request_for(key);
    let params = GetParams::default();
    let read = retry::request("get", key, || async {
        let request = request
            .get(&key.name, &params)
            .map_err(kube::Error::BuildRequest)?;
        client.request::<Value>(request).await
    })
    .await;
    match read {
        Ok(object) => Ok(Some(object)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(error) => Err(error),
    }
}

/// Deletes an object (background propagation). An object already gone is not an error.
pub async fn delete(ctx: &Context, key: &ObjectKey) -> Result<(), Error> {
    count(&ctx.metrics, "delete", key.kind.as_str());
    let api = api(&ctx.client, key);
    let params = DeleteParams::background();
    match retry::request("delete", key, || api.delete(&key.name, &params)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(Error::Prune {
            object: key.clone(),
            source: Box::new(source),
        }),
    }
}

/// Creates `desired` (POST, never server-side apply): fails with 409 if an object of that
/// name exists, so the operator never takes over a namespace by creating it (see
/// [`super::ownership`]). The object is created whole, carrying its fingerprint, and
/// recorded as applied: one write makes it as desired.
///
/// A create is not an apply: the fields it writes are held by the operator's `Update`
/// entry, which a later apply does not prune. [`write_if_changed`] removes what that entry
/// holds once the desired object drops it (see [`own_leftovers`]).
pub async fn create(ctx: &Context, desired: &Desired<'_>) -> Result<Change, Error> {
    let key = desired.key;
    count(&ctx.metrics, "create", key.kind.as_str());
    let body = with_fingerprint(desired.body, desired.fingerprint);
    let data = serde_json::to_vec(&body).map_err(|source| Error::Serialize {
        what: key.to_string(),
        source,
    })?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    let request = request_for(key);
    let resource_version = send_write(&ctx.client, "create", key, || {
        request.create(&params, data.clone())
    })
    .await
    .map_err(|source| Error::Apply {
        object: key.clone(),
        source: Box::new(source),
    })?;
    desired.record_applied(ctx, resource_version);
    Ok(Change::Created)
}

/// Writes who holds an existing namespace with a JSON merge patch that carries the
/// resourceVersion it was decided on (409 if the object changed since): a hand-over to a
/// tenant, or retaining it (see [`super::ownership`]). A merge patch, not an apply: it must
/// also remove labels and annotations that other writes made (the hand-over annotation,
/// the retained marks). Returns the namespace as written.
pub async fn set_holder(ctx: &Context, key: &ObjectKey, patch: &Value) -> Result<Value, Error> {
    count(&ctx.metrics, "patch", key.kind.as_str());
    merge_patch(&ctx.client, key, patch)
        .await
        .map_err(|source| Error::Apply {
            object: key.clone(),
            source: Box::new(source),
        })
}

/// Sends the JSON merge patch `patch` to `key` as the operator's field manager; returns the
/// object as written.
async fn merge_patch(
    client: &Client,
    key: &ObjectKey,
    patch: &Value,
) -> Result<Value, kube::Error> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    let patch = Patch::Merge(patch);
    let request = request_for(key);
    send(client, "patch", key, || {
        request.patch(&key.name, &params, &patch)
    })
    .await
}

/// The objects of `kind` in `namespace` labelled as managed by the operator, whichever
/// tenant they were made for (one list request).
pub async fn list_managed(
    ctx: &Context,
    kind: ManagedKind,
    namespace: &str,
) -> Result<Vec<ObjectKey>, Error> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), namespace, &kind.api_resource());
    let selector = format!("{}={}", labels::MANAGED_BY_KEY, labels::MANAGED_BY_VALUE);
    let params = ListParams::default().labels(&selector);
    let what = ObjectKey::new(kind, Some(namespace), "*");
    let list = retry::request("list", &what, || api.list_metadata(&params))
        .await
        .map_err(|source| Error::Read {
            object: ObjectKey::new(kind, Some(namespace), "*"),
            source: Box::new(source),
        })?;
    Ok(list
        .items
        .iter()
        .filter_map(|object| object.metadata.name.as_deref())
        .map(|name| ObjectKey::new(kind, Some(namespace), name))
        .collect())
}

/// Server-side applies `status` to the status subresource of TenantService `name`. Returns
/// false if the tenant is gone.
pub async fn status(ctx: &Context, name: &str, status: &Value) -> Result<bool, Error> {
    count(&ctx.metrics, "apply", "TenantService/status");
    let body = json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": "TenantService",
        "metadata": { "name": name },
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(&body);
    let request = Request::new(TenantService::url_path(&(), None));
    match send_write(&ctx.client, "apply status of TenantService", &name, || {
        request.patch_subresource("status", name, &params, &patch)
    })
    .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(Error::Status {
            tenant: name.to_string(),
            source: Box::new(source),
        }),
    }
}

/// Writes the finalizer list of `tenant` with a merge patch carrying its resourceVersion,
/// so that a concurrent change of the list makes it fail with 409 instead of dropping a
/// finalizer. Returns the tenant's new resourceVersion; `None` for a tenant already gone,
/// which has nothing left to finalize.
pub async fn finalizers(
    ctx: &Context,
    tenant: &TenantService,
    finalizers: &[String],
) -> Result<Option<String>, Error> {
    count(&ctx.metrics, "patch", "TenantService");
    let name = tenant.meta().name.clone().unwrap_or_default();
    let patch = json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": tenant.meta().resource_version,
        }
    });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    let patch = Patch::Merge(&patch);
    let request = Request::new(TenantService::url_path(&(), None));
    match send_write(
        &ctx.client,
        "patch finalizers of TenantService",
        &name,
        || request.patch(&name, &params, &patch),
    )
    .await
    {
        Ok(resource_version) => Ok(Some(resource_version)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(source) => Err(Error::Finalizer {
            tenant: name,
            source: Box::new(source),
        }),
    }
}

/// Reads TenantService `name` from the API server (not the cache); `None` if it is gone.
pub async fn tenant(ctx: &Context, name: &str) -> Result<Option<TenantService>, Error> {
    let api: Api<TenantService> = Api::all(ctx.client.clone());
    retry::request("get TenantService", &name, || api.get_opt(name))
        .await
        .map_err(|source| Error::Finalizer {
            tenant: name.to_string(),
            source: Box::new(source),
        })
}

/// Publishes an Event about `tenant`.
pub async fn event(
    ctx: &Context,
    tenant: &TenantService,
    event: &Event,
) -> Result<(), kube::Error> {
    count(&ctx.metrics, "create", "Event");
    let reference = tenant.object_ref(&());
    let name = tenant.name_any();
    retry::request("publish an Event on TenantService", &name, || {
        ctx.recorder.publish(event, &reference)
    })
    .await
}
