//! Validating admission: what kube-apiserver runs after a write's object is fully
//! computed (defaults, merges, server-side apply, status separation) and before it is
//! stored, dry runs included. One module per plugin, run in kube-apiserver's order
//! (`pkg/kubeapiserver/options/plugins.go`: PodSecurity, then
//! ValidatingAdmissionPolicy, then ResourceQuota last, because it charges usage):
//!
//! - [`pod_security`]: the Pod Security Standards of the namespace labels;
//! - [`policy`]: ValidatingAdmissionPolicies and their bindings (CEL);
//! - [`quota`]: ResourceQuota limits (usage is recorded by [`crate::quota`]).
//!
//! [`admit`] is the one call the write paths of [`crate::ops`] make. Mutating admission
//! (defaulting, LimitRanger, ServiceAccount) is not run: objects are stored as sent.

pub mod pod_security;
pub mod policy;
pub mod quota;

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::Value;

use crate::errors::ApiError;
use crate::identity::UserInfo;
use crate::registry::ResourceInfo;
use crate::store::State;

/// What a request does, as admission names it (`admission.Operation`). A PATCH or an
/// apply is an UPDATE, or a CREATE when it creates the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// POST, or an apply that creates.
    Create,
    /// PUT, any PATCH, a `/status` or other subresource write.
    Update,
    /// DELETE (also each object of a deletecollection).
    Delete,
}

impl Operation {
    /// `CREATE`, `UPDATE`, `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// One write as admission sees it (`admission.Attributes`).
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    /// The resource written.
    pub info: &'a ResourceInfo,
    /// The version of the URL.
    pub version: &'a str,
    /// What the request does.
    pub operation: Operation,
    /// `""`, `status`, `finalize`, ...
    pub subresource: &'a str,
    /// The namespace of the URL (`""` for cluster-scoped resources).
    pub namespace: &'a str,
    /// The object's name (generated names already chosen).
    pub name: &'a str,
    /// The object as it would be stored; `None` for DELETE.
    pub object: Option<&'a Value>,
    /// The stored object; `None` for CREATE.
    pub old_object: Option<&'a Value>,
    /// Who asks.
    pub user: &'a UserInfo,
    /// dryRun=All.
    pub dry_run: bool,
    /// Field manager of the request (`request.options.fieldManager`).
    pub manager: &'a str,
}

impl Attributes<'_> {
    /// The namespace as kube-apiserver's request info sets it: for a Namespace object
    /// addressed by name (update, delete) it is the namespace's own name
    /// (`apiserver/pkg/endpoints/request/requestinfo.go`); for its creation it is empty.
    pub fn request_namespace(&self) -> &str {
        if self.is_namespace() && self.operation != Operation::Create {
            self.name
        } else {
            self.namespace
        }
    }

    /// Whether the resource is core `namespaces`.
    pub fn is_namespace(&self) -> bool {
        self.info.group.is_empty() && self.info.plural == "namespaces"
    }
}

/// One admission decision kept for audit (what kube-apiserver's audit log records as
/// `annotations` of an audit event): Pod Security audit violations, a
/// ValidatingAdmissionPolicy's `auditAnnotations` and its `Audit` validation failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// What the request did.
    pub operation: Operation,
    /// API group of the resource.
    pub group: String,
    /// The resource, with `/subresource` when there is one.
    pub resource: String,
    /// Namespace of the request.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// Who asked.
    pub username: String,
    /// Whether the request was a dry run.
    pub dry_run: bool,
    /// Annotation key to value, e.g. `pod-security.kubernetes.io/audit-violations`.
    pub annotations: BTreeMap<String, String>,
}

/// How many audit records are kept (the oldest go first).
const AUDIT_RECORDS: usize = 10_000;

/// What admission keeps between requests: compiled policies and the audit records.
#[derive(Default)]
pub struct Memory {
    /// Compiled ValidatingAdmissionPolicies, rebuilt when a policy or binding changes.
    pub policies: policy::Cache,
    /// The newest audit records.
    audit: VecDeque<AuditRecord>,
    /// The Kubernetes minor version this server reports: Pod Security's `latest`.
    pub latest_minor: u32,
}

impl Memory {
    /// Admission state for a server reporting Kubernetes `1.<latest_minor>`.
    pub fn new(latest_minor: u32) -> Self {
        Memory {
            latest_minor,
            ..Memory::default()
        }
    }

    /// The audit records, oldest first.
    pub fn audit_records(&self) -> Vec<AuditRecord> {
        self.audit.iter().cloned().collect()
    }

    fn record(&mut self, attrs: &Attributes<'_>, annotations: BTreeMap<String, String>) {
        if annotations.is_empty() {
            return;
        }
        if self.audit.len() >= AUDIT_RECORDS {
            self.audit.pop_front();
        }
        let resource = if attrs.subresource.is_empty() {
            attrs.info.plural.clone()
        } else {
            format!("{}/{}", attrs.info.plural, attrs.subresource)
        };
        self.audit.push_back(AuditRecord {
            operation: attrs.operation,
            group: attrs.info.group.clone(),
            resource,
            namespace: attrs.request_namespace().to_string(),
            name: attrs.name.to_string(),
            username: attrs.user.username.clone(),
            dry_run: attrs.dry_run,
            annotations,
        });
    }
}

/// What the plugins add to a request, allowed or refused.
#[derive(Debug, Default)]
pub struct Verdict {
    /// `Warning` headers for the client.
    pub warnings: Vec<String>,
    /// Audit annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Runs every validating admission plugin on a write. `Ok` carries the warnings to send;
/// `Err` is the refusal of the first plugin that refused. Audit annotations are recorded
/// for allowed and refused requests alike, as kube-apiserver's audit log does.
pub fn admit(st: &mut State, attrs: &Attributes<'_>) -> Result<Vec<String>, ApiError> {
    let mut verdict = Verdict::default();
    let result = run_plugins(st, attrs, &mut verdict);
    st.admission.record(attrs, verdict.annotations);
    result.map(|()| verdict.warnings)
}

fn run_plugins(
    st: &mut State,
    attrs: &Attributes<'_>,
    verdict: &mut Verdict,
) -> Result<(), ApiError> {
    pod_security::admit(st, attrs, verdict)?;
    policy::admit(st, attrs, verdict)?;
    quota::admit(st, attrs)
}

/// The refusal every plugin words the same way (`admission.NewForbidden` →
/// `apierrors.NewForbidden`): `<resource> "<name>" is forbidden: <why>`, or without the
/// name when there is none.
pub fn forbidden(attrs: &Attributes<'_>, why: &str) -> ApiError {
    let t = attrs.info.target();
    let mut e = ApiError::forbidden(t, attrs.name, why, None);
    if attrs.name.is_empty() {
        e.message = format!("{} is forbidden: {why}", t.qualified_resource());
    }
    e
}
