//! Object semantics (spec §3, §4, §6.1): create, update, patch (apply, merge,
//! JSON, strategic) and delete, including status-subresource separation,
//! generation, managedFields, optimistic concurrency, finalizers and no-op
//! detection. Every function runs under the server's write lock.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};

use crate::admission::{self, Attributes, Operation};
use crate::clock::Clock;
use crate::errors::{ApiError, Cause};
use crate::event_api;
use crate::fieldset::Shape;
use crate::identity::UserInfo;
use crate::managed::{self, Writer};
use crate::meta::{self, deleting, finalizers, meta_str, normalize, set_finalizers};
use crate::quota;
use crate::registry::{self, ResourceInfo};
use crate::store::State;
use crate::validate::{self, FieldValidation, Rejection};

/// Finalizer the apiserver puts on every CRD.
pub const CRD_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";
/// Namespaces that may not be deleted.
const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// Which endpoint a write came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// The object itself.
    Main,
    /// `/status`.
    Status,
    /// A namespace's `/finalize`.
    Finalize,
    /// A workload's `/scale` (its `spec.replicas`).
    Scale,
}

impl Sub {
    /// The subresource as admission names it (`""` for the object itself).
    pub fn name(self) -> &'static str {
        match self {
            Sub::Main => "",
            Sub::Status => "status",
            Sub::Finalize => "finalize",
            Sub::Scale => "scale",
        }
    }
}

/// The request context of a write.
#[derive(Debug, Clone)]
pub struct WriteReq<'a> {
    /// The resource.
    pub info: &'a Arc<ResourceInfo>,
    /// The URL's version.
    pub version: &'a str,
    /// The URL's namespace ("" for cluster-scoped or all).
    pub namespace: &'a str,
    /// Field manager.
    pub manager: &'a str,
    /// dryRun=All.
    pub dry_run: bool,
    /// fieldValidation.
    pub validation: FieldValidation,
    /// Endpoint.
    pub sub: Sub,
    /// Who asks (admission reads it).
    pub user: &'a UserInfo,
}

/// The result of a write.
#[derive(Debug)]
pub struct Written {
    /// The object as stored (or as it would be, for dry runs).
    pub obj: Arc<Value>,
    /// 201 rather than 200.
    pub created: bool,
    /// `Warning` headers to send.
    pub warnings: Vec<String>,
}

/// Patch body types (spec §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// application/apply-patch+yaml
    Apply,
    /// application/merge-patch+json
    Merge,
    /// application/json-patch+json
    Json,
    /// application/strategic-merge-patch+json
    Strategic,
}

impl PatchType {
    /// From a Content-Type (parameters stripped).
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            _ => None,
        }
    }
}

/// Options of a DELETE.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    /// Background, Foreground or Orphan.
    pub propagation: Option<String>,
    /// Legacy `orphanDependents`.
    pub orphan_dependents: Option<bool>,
    /// Precondition on uid.
    pub uid: Option<String>,
    /// Precondition on resourceVersion.
    pub resource_version: Option<String>,
    /// dryRun=All.
    pub dry_run: bool,
}

/// The result of a DELETE.
#[derive(Debug)]
pub enum Deleted {
    /// Removed at once; the last state.
    Gone(Arc<Value>),
    /// Still present (finalizers); the updated object.
    Pending(Arc<Value>),
}

fn storage_api_version(info: &ResourceInfo) -> String {
    info.group_version(&info.storage_version)
}

/// The object as served through `version` (an Event converted between its two APIs).
pub fn served(obj: &Value, info: &ResourceInfo, version: &str) -> Value {
    let gv = info.group_version(version);
    if event_api::is_event(&info.group, &info.plural) {
        return event_api::convert(obj, &gv);
    }
    let mut v = obj.clone();
    v["apiVersion"] = json!(gv);
    v
}

/// The object as its store keeps it: an `events.k8s.io` Event as the core Event it is.
/// Every other object is kept as written.
fn to_stored(info: &ResourceInfo, obj: Value) -> Value {
    if event_api::is_event(&info.group, &info.plural) {
        event_api::convert(&obj, event_api::CORE_API_VERSION)
    } else {
        obj
    }
}

/// An object of `info` from the store, in `info`'s own storage version: the shape the
/// write paths below work on (an `events.k8s.io` Event is read from the core store and
/// converted, so its fields, managedFields and patches are those of `events.k8s.io/v1`).
fn get_view(st: &State, info: &ResourceInfo, ns: &str, name: &str) -> Option<Arc<Value>> {
    let stored = st.get(&info.storage_key(), ns, name)?;
    Some(if info.stored_elsewhere() {
        Arc::new(served(&stored, info, &info.storage_version))
    } else {
        stored
    })
}

fn shape_schema(info: &ResourceInfo, version: &str) -> Option<Arc<Value>> {
    info.schema(version)
        .or_else(|| info.schema(&info.storage_version))
}

/// Checks the namespace rules of §3.7 for a write into `ns`.
fn check_namespace(
    st: &State,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    creating: bool,
) -> Result<(), ApiError> {
    if !info.namespaced {
        return Ok(());
    }
    let Some(nsobj) = st.get_stored(&(String::new(), "namespaces".into()), "", ns) else {
        return Err(ApiError::namespace_not_found(ns));
    };
    if creating && nsobj.deleting() {
        return Err(ApiError::forbidden(
            info.target(),
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
            Some(Cause {
                reason: "NamespaceTerminating".into(),
                message: format!("namespace {ns} is being terminated"),
                field: "metadata.namespace".into(),
            }),
        ));
    }
    Ok(())
}

fn check_crd_terminating(st: &State, info: &ResourceInfo, name: &str) -> Result<(), ApiError> {
    if info.builtin {
        return Ok(());
    }
    let crd_name = format!("{}.{}", info.plural, info.group);
    if let Some(crd) = st.get(
        &(
            "apiextensions.k8s.io".into(),
            "customresourcedefinitions".into(),
        ),
        "",
        &crd_name,
    ) && deleting(&crd)
    {
        return Err(ApiError::forbidden(
            info.target(),
            name,
            "create not allowed while custom resource definition is terminating",
            None,
        ));
    }
    Ok(())
}

/// Kind-specific defaulting on create and update.
fn kind_hooks(info: &ResourceInfo, obj: &mut Value, creating: bool) {
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "secrets") => {
            if let Some(sd) = obj.as_object_mut().and_then(|m| m.remove("stringData"))
                && let Some(sd) = sd.as_object()
            {
                if !obj["data"].is_object() {
                    obj["data"] = json!({});
                }
                for (k, v) in sd {
                    let enc =
                        base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or(""));
                    obj["data"][k] = json!(enc);
                }
            }
            if obj.get("type").is_none() {
                obj["type"] = json!("Opaque");
            }
        }
        ("", "namespaces") => {
            let name = meta_str(obj, "name").to_string();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            if creating {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
                obj["status"] = json!({"phase": "Active"});
            }
        }
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
            crate::rbac_writes::default_subjects(obj);
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") if creating => {
            let mut f = finalizers(obj);
            if !f.iter().any(|x| x == CRD_FINALIZER) {
                f.push(CRD_FINALIZER.into());
            }
            set_finalizers(obj, &f);
        }
        _ => {}
    }
}

/// Whether everything outside metadata (and outside status when it is a
/// subresource) is equal: the generation rule of §3.5.
fn same_content(a: &Value, b: &Value, info: &ResourceInfo) -> bool {
    let skip: &[&str] = if info.status {
        &["metadata", "apiVersion", "kind", "status"]
    } else {
        &["metadata", "apiVersion", "kind"]
    };
    managed::equal_except(a, b, skip, &[])
}

fn validation_causes(info: &ResourceInfo, obj: &Value) -> Vec<Cause> {
    let rule = if info.builtin {
        meta::NameRule::for_resource(&info.group, &info.plural)
    } else {
        meta::NameRule::Dns1123Subdomain
    };
    let mut causes = meta::validate_meta(obj, rule);
    if info.builtin {
        causes.extend(meta::kind_name_causes(&info.group, &info.plural, obj));
    }
    causes.extend(crate::rbac_writes::validation_causes(info, obj));
    if info.group == "apiextensions.k8s.io"
        && info.plural == "customresourcedefinitions"
        && let Err(c) = registry::from_crd(obj)
    {
        causes.extend(c);
    }
    causes
}

/// Validates (schema, CEL, metadata) and returns warnings, or a 422.
fn validate_object(
    req: &WriteReq<'_>,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<Vec<String>, ApiError> {
    let name = meta_str(obj, "name").to_string();
    let mut causes = validation_causes(req.info, obj);
    let mut warnings = Vec::new();
    if !req.info.builtin
        && let Some(schema) = shape_schema(req.info, req.version)
    {
        match validate::custom_resource(&schema, obj, old, req.validation) {
            Ok(w) => warnings = w,
            Err(Rejection::Invalid(c)) => causes.extend(c),
            Err(Rejection::Unknown(u)) => {
                return Err(validate::strict_decoding_error(
                    &req.info.kind,
                    req.version,
                    &u,
                ));
            }
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(req.info.target(), &name, causes));
    }
    // After the kind's validation, as upstream builds the storage key after it.
    match meta::storage_key_error(&name) {
        Some(message) => Err(ApiError::bad_request(message)),
        None => Ok(warnings),
    }
}

/// Validating admission of a create or update (see [`crate::admission`]): the one
/// place where the write paths below ask it.
fn admit(
    st: &mut State,
    req: &WriteReq<'_>,
    operation: Operation,
    name: &str,
    object: &Value,
    old: Option<&Value>,
) -> Result<Vec<String>, ApiError> {
    admission::admit(
        st,
        &Attributes {
            info: req.info,
            version: req.version,
            operation,
            subresource: req.sub.name(),
            namespace: req.namespace,
            name,
            object: Some(object),
            old_object: old,
            user: req.user,
            dry_run: req.dry_run,
            manager: req.manager,
        },
    )
}

/// Stores a write and keeps what the server derives from it current (quota usage).
fn commit(st: &mut State, info: &ResourceInfo, obj: Value, old: Option<Arc<Value>>) -> Arc<Value> {
    let ns = meta_str(&obj, "namespace").to_string();
    let obj = to_stored(info, obj);
    let old = old.map(|o| {
        if info.stored_elsewhere() {
            Arc::new(to_stored(info, (*o).clone()))
        } else {
            o
        }
    });
    let stored = st.put(&info.storage_key(), obj, old.clone());
    quota::record(st, info, &ns, old.as_deref(), Some(&stored));
    stored
}

/// POST to a collection (spec §3.1).
pub fn create(
    st: &mut State,
    clock: &Clock,
    req: &WriteReq<'_>,
    obj: Value,
) -> Result<Written, ApiError> {
    tracing::trace!(user = %req.user.username, resource = %req.info.plural, namespace = req.namespace, "create");
    create_with(st, clock, req, obj, None)
}

/// Create, with the managedFields of an apply-create when `applied` is set.
fn create_with(
    st: &mut State,
    clock: &Clock,
    req: &WriteReq<'_>,
    mut obj: Value,
    applied: Option<Value>,
) -> Result<Written, ApiError> {
    let info = req.info;
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request could not be decoded as an object",
        ));
    }
    check_body_type(info, req.version, &obj)?;
    normalize(&mut obj);
    let body_ns = meta_str(&obj, "namespace").to_string();
    if info.namespaced {
        if !body_ns.is_empty() && body_ns != req.namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        obj["metadata"]["namespace"] = json!(req.namespace);
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    if meta_str(&obj, "name").is_empty() {
        let gen_name = meta_str(&obj, "generateName").to_string();
        if gen_name.is_empty() {
            return Err(ApiError::invalid(
                info.target(),
                "",
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: name or generateName is required".into(),
                    field: "metadata.name".into(),
                }],
            ));
        }
        obj["metadata"]["name"] = json!(format!("{gen_name}{}", clock.name_suffix()));
    }
    if !meta_str(&obj, "resourceVersion").is_empty() {
        return Err(ApiError::internal(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let name = meta_str(&obj, "name").to_string();
    check_namespace(st, info, req.namespace, &name, true)?;
    check_crd_terminating(st, info, &name)?;
    if st.get(&info.storage_key(), req.namespace, &name).is_some() {
        return Err(ApiError::already_exists(info.target(), &name));
    }
    obj["apiVersion"] = json!(storage_api_version(info));
    obj["kind"] = json!(info.kind);
    if let Some(m) = obj["metadata"].as_object_mut() {
        for k in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "generation",
            "uid",
            "creationTimestamp",
        ] {
            m.remove(k);
        }
    }
    if info.status
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    kind_hooks(info, &mut obj, true);
    let mut warnings = validate_object(req, &mut obj, None)?;
    crate::rbac_writes::check(st, req, &obj, None)?;
    obj["metadata"]["uid"] = json!(clock.new_uid());
    let now = clock.now_rfc3339();
    obj["metadata"]["creationTimestamp"] = json!(now);
    if info.generation {
        obj["metadata"]["generation"] = json!(1);
    }
    let gv = info.group_version(req.version);
    let schema = shape_schema(info, req.version);
    let w = Writer {
        manager: req.manager,
        api_version: &gv,
        subresource: "",
        now: &now,
    };
    match applied {
        Some(mf) => {
            obj["metadata"]["managedFields"] = mf;
            let mut entries = managed::read_entries(&obj);
            for e in &mut entries {
                e.time.clone_from(&now);
            }
            managed::write_entries(&mut obj, entries);
        }
        None => {
            if let Some(entries) =
                managed::after_update(None, &obj, Shape::root(schema.as_deref()), &w)
            {
                managed::write_entries(&mut obj, entries);
            }
        }
    }
    normalize(&mut obj);
    warnings.extend(admit(st, req, Operation::Create, &name, &obj, None)?);
    if req.dry_run {
        return Ok(Written {
            obj: Arc::new(obj),
            created: true,
            warnings,
        });
    }
    let stored = commit(st, info, obj, None);
    after_commit(st, clock, info, &stored);
    // A real server answers a CRD create without the status written right after.
    Ok(Written {
        obj: stored,
        created: true,
        warnings,
    })
}

/// Body apiVersion/kind must match the URL when present.
fn check_body_type(info: &ResourceInfo, version: &str, obj: &Value) -> Result<(), ApiError> {
    let av = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let want = info.group_version(version);
    if !av.is_empty() && av != want {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({want})"
        )));
    }
    if !kind.is_empty() && kind != info.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            info.kind
        )));
    }
    Ok(())
}

/// Hooks after an object was stored: CRD registration and status.
fn after_commit(st: &mut State, clock: &Clock, info: &ResourceInfo, stored: &Arc<Value>) {
    if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
        crd_changed(st, clock, stored);
    }
}

/// Registers (or re-registers) a CRD and writes its Established status.
pub fn crd_changed(st: &mut State, clock: &Clock, crd: &Arc<Value>) {
    let Ok(ri) = registry::from_crd(crd) else {
        return;
    };
    // A stored CR keeps its storage version; re-registering only changes what is served.
    st.registry.insert(ri);
    let established = crd["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    });
    let names_match = crd["status"]["acceptedNames"] == crd["spec"]["names"];
    if established && names_match {
        return;
    }
    let mut next = (**crd).clone();
    let now = clock.now_rfc3339();
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|v| v["storage"] == true)
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    let mut names = crd["spec"]["names"].clone();
    if names["singular"].as_str().is_none_or(str::is_empty)
        && let Some(k) = names["kind"].as_str()
    {
        names["singular"] = json!(k.to_lowercase());
    }
    if names["listKind"].as_str().is_none_or(str::is_empty)
        && let Some(k) = names["kind"].as_str()
    {
        names["listKind"] = json!(format!("{k}List"));
    }
    next["status"] = json!({
        "acceptedNames": names,
        "storedVersions": storage,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
    });
    st.put(
        &(
            "apiextensions.k8s.io".into(),
            "customresourcedefinitions".into(),
        ),
        next,
        Some(crd.clone()),
    );
}

/// Applies the update rules shared by PUT, PATCH and /status (spec §3.3-§3.5),
/// then stores the result (or deletes it when it is deleting without finalizers).
fn finish_update(
    st: &mut State,
    clock: &Clock,
    req: &WriteReq<'_>,
    old: &Arc<Value>,
    mut new: Value,
    precomputed_mf: bool,
) -> Result<Written, ApiError> {
    let info = req.info;
    let name = meta_str(old, "name").to_string();
    normalize(&mut new);
    if req.sub == Sub::Status {
        // Only status is taken from the request.
        let status = new.get("status").cloned();
        let mut merged = (**old).clone();
        match status {
            Some(s) => merged["status"] = s,
            None => {
                if let Some(m) = merged.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        if precomputed_mf {
            merged["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
        }
        new = merged;
    } else if info.status {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    let new_name = meta_str(&new, "name");
    if !new_name.is_empty() && new_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({new_name}) does not match the name on the URL ({name})"
        )));
    }
    let new_ns = meta_str(&new, "namespace");
    if info.namespaced && !new_ns.is_empty() && new_ns != req.namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let new_uid = meta_str(&new, "uid");
    if !new_uid.is_empty() && new_uid != meta_str(old, "uid") {
        return Err(immutable(info, &name, "metadata.uid", new_uid));
    }
    if !deleting(old) && deleting(&new) {
        return Err(immutable(
            info,
            &name,
            "metadata.deletionTimestamp",
            meta_str(&new, "deletionTimestamp"),
        ));
    }
    if deleting(old) {
        let before = finalizers(old);
        let added: Vec<String> = finalizers(&new)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        if !added.is_empty() {
            let list = added
                .iter()
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ApiError::invalid(
                info.target(),
                &name,
                vec![Cause {
                    reason: "FieldValueForbidden".into(),
                    message: format!(
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"
                    ),
                    field: "metadata.finalizers".into(),
                }],
            ));
        }
    }
    // Server-owned fields come from the stored object.
    new["apiVersion"] = json!(storage_api_version(info));
    new["kind"] = json!(info.kind);
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ] {
        match old["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    if !precomputed_mf {
        new["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
    }
    kind_hooks(info, &mut new, false);
    if info.generation && !same_content(old, &new, info) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
        new["metadata"]["generation"] = json!(g + 1);
    }
    let mut warnings = validate_object(req, &mut new, Some(old))?;
    crate::rbac_writes::check(st, req, &new, Some(old))?;
    let now = clock.now_rfc3339();
    if !precomputed_mf {
        let gv = info.group_version(req.version);
        let schema = shape_schema(info, req.version);
        let sub = if req.sub == Sub::Status { "status" } else { "" };
        let w = Writer {
            manager: req.manager,
            api_version: &gv,
            subresource: sub,
            now: &now,
        };
        match managed::after_update(Some(old), &new, Shape::root(schema.as_deref()), &w) {
            Some(entries) => managed::write_entries(&mut new, entries),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove("managedFields");
                }
            }
        }
    }
    normalize(&mut new);
    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    warnings.extend(admit(st, req, Operation::Update, &name, &new, Some(old))?);
    if managed::equal_ignoring_times(old, &new) {
        return Ok(Written {
            obj: old.clone(),
            created: false,
            warnings,
        });
    }
    if req.dry_run {
        return Ok(Written {
            obj: Arc::new(new),
            created: false,
            warnings,
        });
    }
    if deleting(&new) && finalizers(&new).is_empty() && !blocks_namespace(info, &new) {
        let ns = meta_str(old, "namespace").to_string();
        let gone = remove_object(st, info, &ns, &name, Some(new)).unwrap_or_else(|| old.clone());
        return Ok(Written {
            obj: gone,
            created: false,
            warnings,
        });
    }
    let stored = commit(st, info, new, Some(old.clone()));
    after_commit(st, clock, info, &stored);
    let stored = st
        .get(&info.storage_key(), req.namespace, &name)
        .unwrap_or(stored);
    Ok(Written {
        obj: stored,
        created: false,
        warnings,
    })
}

/// A namespace stays while `spec.finalizers` is non-empty.
fn blocks_namespace(info: &ResourceInfo, obj: &Value) -> bool {
    info.group.is_empty()
        && info.plural == "namespaces"
        && obj["spec"]["finalizers"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
}

/// Removes an object and runs the hooks of its disappearance (CRD unregistration).
pub fn remove_object(
    st: &mut State,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    last: Option<Value>,
) -> Option<Arc<Value>> {
    let last = last.map(|l| to_stored(info, l));
    let gone = st.remove_with(&info.storage_key(), ns, name, last)?;
    quota::record(st, info, ns, Some(&gone), None);
    if info.group == "apiextensions.k8s.io"
        && info.plural == "customresourcedefinitions"
        && let Ok(ri) = registry::from_crd(&gone)
    {
        let key = ri.key();
        st.registry.remove(&key);
        st.drop_resource(&key);
    }
    Some(gone)
}

fn immutable(info: &ResourceInfo, name: &str, field: &str, value: &str) -> ApiError {
    ApiError::invalid(
        info.target(),
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: \"{value}\": field is immutable"),
            field: field.into(),
        }],
    )
}

fn check_rv(
    info: &ResourceInfo,
    old: &Value,
    new: &Value,
    name: &str,
    required: bool,
) -> Result<(), ApiError> {
    let rv = meta_str(new, "resourceVersion");
    if rv.is_empty() {
        if required && !info.unconditional_update {
            return Err(ApiError::invalid(
                info.target(),
                name,
                vec![Cause {
                    reason: "FieldValueInvalid".into(),
                    message: "Invalid value: 0x0: must be specified for an update".into(),
                    field: "metadata.resourceVersion".into(),
                }],
            ));
        }
        return Ok(());
    }
    if rv != meta_str(old, "resourceVersion") {
        return Err(ApiError::conflict(info.target(), name));
    }
    Ok(())
}

/// PUT (spec §3.3).
pub fn update(
    st: &mut State,
    clock: &Clock,
    req: &WriteReq<'_>,
    name: &str,
    body: Value,
) -> Result<Written, ApiError> {
    let info = req.info;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request could not be decoded as an object",
        ));
    }
    check_body_type(info, req.version, &body)?;
    let body_name = meta_str(&body, "name");
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    check_namespace(st, info, req.namespace, name, false)?;
    let Some(old) = get_view(st, info, req.namespace, name) else {
        return Err(ApiError::not_found(info.target(), name));
    };
    check_rv(info, &old, &body, name, true)?;
    finish_update(st, clock, req, &old, body, false)
}

/// PATCH (spec §4).
pub fn patch(
    st: &mut State,
    clock: &Clock,
    req: &WriteReq<'_>,
    name: &str,
    ptype: PatchType,
    body: &[u8],
    force: Option<bool>,
) -> Result<Written, ApiError> {
    let info = req.info;
    if force.is_some() && ptype != PatchType::Apply {
        return Err(ApiError::invalid_options(
            "PatchOptions.meta.k8s.io",
            vec![Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: may not be specified for non-apply patch".into(),
                field: "force".into(),
            }],
        ));
    }
    if ptype == PatchType::Strategic && !info.builtin {
        return Err(ApiError::unsupported_media_type(false));
    }
    check_namespace(st, info, req.namespace, name, false)?;
    let old = get_view(st, info, req.namespace, name);
    if ptype == PatchType::Apply {
        apply(st, clock, req, name, old, body, force.unwrap_or(false))
    } else {
        let Some(old) = old else {
            return Err(ApiError::not_found(info.target(), name));
        };
        let mut doc = served(&old, info, req.version);
        match ptype {
            PatchType::Merge => {
                let p: Value = parse_json(body)?;
                json_patch::merge(&mut doc, &p);
            }
            PatchType::Strategic => {
                let p: Value = parse_json(body)?;
                crate::strategic::apply(
                    &mut doc,
                    &p,
                    Shape::root(shape_schema(info, req.version).as_deref()),
                )?;
            }
            _ => json_patch_apply(&mut doc, body)?,
        }
        check_rv(info, &old, &doc, name, false)?;
        // managedFields: [{}] clears all entries.
        let clear = doc["metadata"]["managedFields"]
            .as_array()
            .is_some_and(|a| a.len() == 1 && a[0] == json!({}));
        let mut w = finish_update(st, clock, req, &old, doc, false)?;
        if clear && !req.dry_run {
            let mut v = (*w.obj).clone();
            if let Some(m) = v["metadata"].as_object_mut() {
                m.remove("managedFields");
            }
            let cur = w.obj.clone();
            w.obj = commit(st, info, v, Some(cur));
        }
        Ok(w)
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

pub(crate) fn json_patch_apply(doc: &mut Value, body: &[u8]) -> Result<(), ApiError> {
    let ops: Vec<Value> = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    if ops.len() > 10_000 {
        return Err(ApiError {
            code: 413,
            reason: "RequestEntityTooLarge",
            message: format!(
                "The allowed maximum operations in a JSON patch is 10000, got {}",
                ops.len()
            ),
            details: None,
            retry_after: None,
        });
    }
    let rejected = |cause: String| {
        ApiError::unprocessable(
            "the server rejected our request due to an error in our request",
            Some(cause),
        )
    };
    for op in ops {
        // evanphx/json-patch: `test` of null against a missing member succeeds.
        if op["op"] == "test" && op["value"].is_null() {
            let path = op["path"].as_str().unwrap_or("");
            match doc.pointer(path) {
                None | Some(Value::Null) => continue,
                Some(_) => {
                    return Err(rejected(format!(
                        "testing value {path} failed: test failed"
                    )));
                }
            }
        }
        let one: json_patch::PatchOperation = serde_json::from_value(op)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        json_patch::patch(doc, std::slice::from_ref(&one)).map_err(|e| rejected(e.to_string()))?;
    }
    Ok(())
}

/// Server-side apply (spec §4.4).
fn apply(
    st: &mut State,
    clock: &Clock,
    req: &WriteReq<'_>,
    name: &str,
    old: Option<Arc<Value>>,
    body: &[u8],
    force: bool,
) -> Result<Written, ApiError> {
    let info = req.info;
    if req.manager.is_empty() {
        return Err(ApiError::invalid_options(
            "PatchOptions.meta.k8s.io",
            vec![Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: is required for apply patch".into(),
                field: "fieldManager".into(),
            }],
        ));
    }
    let mut config: Value = if let Ok(v) = serde_json::from_slice(body) {
        v
    } else {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("apply patch is not UTF-8"))?;
        serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    };
    if !config.is_object() {
        return Err(ApiError::bad_request("apply patch must be an object"));
    }
    let want = info.group_version(req.version);
    let av = config["apiVersion"].as_str().unwrap_or("");
    if av != want {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {av}, expected: {want}"
        )));
    }
    let kind = config["kind"].as_str().unwrap_or("");
    if kind != info.kind {
        return Err(ApiError::bad_request(format!(
            "Incorrect kind specified in apply patch. Specified patch kind: {kind}, expected: {}",
            info.kind
        )));
    }
    if config["metadata"]
        .get("managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let cname = meta_str(&config, "name");
    if cname != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({cname}) does not match the name on the URL ({name})"
        )));
    }
    let cns = meta_str(&config, "namespace");
    if info.namespaced && !cns.is_empty() && cns != req.namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if let Some(old) = &old
        && !meta_str(&config, "resourceVersion").is_empty()
        && meta_str(&config, "resourceVersion") != meta_str(old, "resourceVersion")
    {
        return Err(ApiError::conflict(info.target(), name));
    }
    if old.is_none() && !meta_str(&config, "uid").is_empty() {
        return Err(ApiError::conflict_msg(info.target(), name, "uid mismatch"));
    }
    if old.is_none() && req.sub == Sub::Status {
        return Err(ApiError::not_found(info.target(), name));
    }
    // Reset fields the applier never owns (§3.4).
    if let Some(m) = config.as_object_mut() {
        if req.sub == Sub::Status {
            m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
            if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                md.retain(|k, _| matches!(k.as_str(), "name" | "namespace"));
            }
        } else if info.status {
            m.remove("status");
        }
    }
    if let Some(md) = config["metadata"].as_object_mut() {
        md.remove("resourceVersion");
        md.remove("uid");
    }
    let gv = info.group_version(req.version);
    let now = clock.now_rfc3339();
    let sub = if req.sub == Sub::Status { "status" } else { "" };
    let w = Writer {
        manager: req.manager,
        api_version: &gv,
        subresource: sub,
        now: &now,
    };
    let schema = shape_schema(info, req.version);
    let shape = Shape::root(schema.as_deref());
    match old {
        None => {
            let live = json!({"apiVersion": gv, "kind": info.kind, "metadata": {"name": name}});
            let mut merged = managed::apply(&live, &config, shape, &w, force)?;
            let mf = merged["metadata"]["managedFields"].take();
            create_with(st, clock, req, merged, Some(mf))
        }
        Some(old) => {
            let live = served(&old, info, req.version);
            let merged = managed::apply(&live, &config, shape, &w, force)?;
            finish_update(st, clock, req, &old, merged, true)
        }
    }
}

/// DELETE of one object (spec §6.1), asked by `user`.
pub fn delete(
    st: &mut State,
    clock: &Clock,
    info: &Arc<ResourceInfo>,
    (ns, name): (&str, &str),
    opts: &DeleteOpts,
    user: &UserInfo,
) -> Result<Deleted, ApiError> {
    check_namespace(st, info, ns, name, false)?;
    let Some(old) = get_view(st, info, ns, name) else {
        return Err(ApiError::not_found(info.target(), name));
    };
    if opts
        .uid
        .as_deref()
        .is_some_and(|u| u != meta_str(&old, "uid"))
    {
        return Err(ApiError::conflict_msg(
            info.target(),
            name,
            &format!(
                "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                opts.uid.as_deref().unwrap_or(""),
                meta_str(&old, "uid")
            ),
        ));
    }
    if opts
        .resource_version
        .as_deref()
        .is_some_and(|r| r != meta_str(&old, "resourceVersion"))
    {
        return Err(ApiError::conflict(info.target(), name));
    }
    let is_ns = info.group.is_empty() && info.plural == "namespaces";
    if is_ns && PROTECTED_NAMESPACES.contains(&name) {
        return Err(ApiError::forbidden(
            info.target(),
            name,
            "this namespace may not be deleted",
            None,
        ));
    }
    admission::admit(
        st,
        &Attributes {
            info,
            version: &info.storage_version,
            operation: Operation::Delete,
            subresource: "",
            namespace: ns,
            name,
            object: None,
            old_object: Some(&old),
            user,
            dry_run: opts.dry_run,
            manager: "",
        },
    )?;
    let mut fins = finalizers(&old);
    let had_orphan = fins.iter().any(|f| f == "orphan");
    let had_fg = fins.iter().any(|f| f == "foregroundDeletion");
    let policy = opts
        .propagation
        .clone()
        .or_else(|| match opts.orphan_dependents {
            Some(true) => Some("Orphan".into()),
            Some(false) => Some("Background".into()),
            None => None,
        });
    fins.retain(|f| f != "orphan" && f != "foregroundDeletion");
    match policy.as_deref() {
        Some("Orphan") => fins.push("orphan".into()),
        Some("Foreground") => fins.push("foregroundDeletion".into()),
        Some("Background") => {}
        Some(other) => {
            return Err(ApiError::invalid_options(
                "DeleteOptions.meta.k8s.io",
                vec![Cause {
                    reason: "FieldValueNotSupported".into(),
                    message: format!(
                        "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                    ),
                    field: "propagationPolicy".into(),
                }],
            ));
        }
        None => {
            if had_orphan {
                fins.push("orphan".into());
            } else if had_fg {
                fins.push("foregroundDeletion".into());
            }
        }
    }
    let stays = !fins.is_empty() || blocks_namespace(info, &old);
    if !stays {
        if opts.dry_run {
            return Ok(Deleted::Gone(old));
        }
        let gone = remove_object(st, info, ns, name, None).unwrap_or(old);
        return Ok(Deleted::Gone(gone));
    }
    if deleting(&old) && finalizers(&old) == fins {
        return Ok(Deleted::Pending(old));
    }
    let mut next = (*old).clone();
    if !deleting(&old) {
        next["metadata"]["deletionTimestamp"] = json!(clock.now_rfc3339());
        next["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if let Some(g) = old["metadata"]["generation"].as_i64().filter(|g| *g > 0) {
            next["metadata"]["generation"] = json!(g + 1);
        }
    }
    set_finalizers(&mut next, &fins);
    if is_ns {
        next["status"]["phase"] = json!("Terminating");
    }
    if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
        let now = clock.now_rfc3339();
        let conds = next["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut conds: Vec<Value> = conds
            .into_iter()
            .filter(|c| c["type"] != "Terminating")
            .collect();
        conds.push(json!({"type": "Terminating", "status": "True", "reason": "InstanceDeletionPending",
            "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon", "lastTransitionTime": now}));
        next["status"]["conditions"] = Value::Array(conds);
    }
    if opts.dry_run {
        return Ok(Deleted::Pending(Arc::new(next)));
    }
    let stored = commit(st, info, next, Some(old));
    Ok(Deleted::Pending(stored))
}

/// An update that changes the stored object with `f` instead of taking a body: the
/// server's own controllers (GC, namespace and CRD cleanup) and the namespace
/// `/finalize` subresource. Internal controllers change metadata and spec only
/// (finalizers, owner references, namespace spec.finalizers): the main endpoint's rules
/// apply, and admission sees `req.user`.
pub fn internal_update(
    st: &mut State,
    clock: &Clock,
    req: &WriteReq<'_>,
    name: &str,
    f: impl FnOnce(&mut Value),
) -> Result<Written, ApiError> {
    let old = get_view(st, req.info, req.namespace, name)
        .ok_or_else(|| ApiError::not_found(req.info.target(), name))?;
    let mut new = (*old).clone();
    f(&mut new);
    finish_update(st, clock, req, &old, new, false)
}

/// The request context of a write by one of the server's own controllers.
pub fn controller_write<'a>(
    info: &'a Arc<ResourceInfo>,
    ns: &'a str,
    manager: &'a str,
    user: &'a UserInfo,
) -> WriteReq<'a> {
    WriteReq {
        info,
        version: &info.storage_version,
        namespace: ns,
        manager,
        dry_run: false,
        validation: FieldValidation::Ignore,
        sub: Sub::Main,
        user,
    }
}
