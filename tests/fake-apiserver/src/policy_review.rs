//! ValidatingAdmissionPolicies reviewed without a server: the evaluator the server runs
//! on every write, offered to tests that check policy files against requests they could
//! not send (another user's, an object in a state the server would not reach). Objects
//! (policies, bindings, namespaces, params) are held as given, and a request is reviewed
//! exactly as the server's admission would review it.

use serde_json::Value;

use crate::admission::policy::{self, BindingReview};
use crate::admission::{Attributes, Memory, Operation};
use crate::identity::UserInfo;
use crate::registry::Registry;
use crate::store::State;

/// A request to review.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    /// CREATE, UPDATE or DELETE.
    pub operation: Operation,
    /// `v1`, `apps/v1`, ...
    pub api_version: String,
    /// The resource (plural), e.g. `networkpolicies`.
    pub resource: String,
    /// `""` or a subresource such as `status`.
    pub subresource: String,
    /// The object's name.
    pub name: String,
    /// The namespace of the URL (`""` for cluster-scoped resources).
    pub namespace: String,
    /// The new object (absent for DELETE).
    pub object: Option<Value>,
    /// The stored object (absent for CREATE).
    pub old_object: Option<Value>,
    /// Who sends it.
    pub user: UserInfo,
}

/// Policies, bindings and the objects they read, and the evaluator of the server.
pub struct PolicyReview {
    state: State,
}

impl Default for PolicyReview {
    fn default() -> Self {
        Self::new()
    }
}

impl PolicyReview {
    /// An empty review with the built-in resources of the server (Kubernetes 1.34).
    pub fn new() -> Self {
        let mut state = State::new(Registry::with_builtins(), 1, 1, 1);
        state.admission = Memory::new(crate::Config::default().version_minor);
        PolicyReview { state }
    }

    /// Serves the custom resource a CustomResourceDefinition defines, as the server does
    /// once the CRD is created, so that requests on it can be reviewed. Err names what is
    /// wrong with the CRD.
    pub fn serve_crd(&mut self, crd: &Value) -> Result<(), String> {
        let info = crate::registry::from_crd(crd).map_err(|causes| {
            causes
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        self.state.registry.insert(info);
        Ok(())
    }

    /// Holds an object (a ValidatingAdmissionPolicy, a binding, a Namespace whose labels
    /// or object a policy reads, a param) as given; a CustomResourceDefinition also makes
    /// its kind served, so that requests for it can be reviewed. Err names what is wrong
    /// with it.
    pub fn add(&mut self, obj: &Value) -> Result<(), String> {
        if obj["kind"] == "CustomResourceDefinition" {
            let info = crate::registry::from_crd(obj).map_err(|causes| {
                let causes: Vec<String> = causes
                    .iter()
                    .map(|c| format!("{}: {}", c.field, c.message))
                    .collect();
                format!("CustomResourceDefinition: {}", causes.join("; "))
            })?;
            self.state.registry.insert(info);
        }
        let av = obj["apiVersion"].as_str().unwrap_or("");
        let kind = obj["kind"].as_str().unwrap_or("");
        let (group, version) = av.split_once('/').unwrap_or(("", av));
        let info = self
            .state
            .registry
            .by_kind(group, version, kind)
            .ok_or_else(|| format!("apiVersion {av:?}, kind {kind:?}: not a served kind"))?;
        if obj["metadata"]["name"].as_str().is_none_or(str::is_empty) {
            return Err(format!("{kind}: metadata.name is required"));
        }
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
        let old = self.state.get(
            &info.key(),
            ns,
            obj["metadata"]["name"].as_str().unwrap_or(""),
        );
        self.state.put(&info.key(), obj.clone(), old);
        Ok(())
    }

    /// What every (policy, binding) pair that matches the request decides; empty when
    /// none matches. Err when the request names no served resource.
    pub fn review(&mut self, r: &ReviewRequest) -> Result<Vec<BindingReview>, String> {
        let (group, version) = r
            .api_version
            .split_once('/')
            .unwrap_or(("", &r.api_version));
        let info = self
            .state
            .registry
            .resolve(group, version, &r.resource)
            .ok_or_else(|| format!("{}/{}: not a served resource", r.api_version, r.resource))?;
        let attrs = Attributes {
            info: &info,
            version,
            operation: r.operation,
            subresource: &r.subresource,
            namespace: &r.namespace,
            name: &r.name,
            object: r.object.as_ref(),
            old_object: r.old_object.as_ref(),
            user: &r.user,
            dry_run: false,
            manager: "",
        };
        Ok(policy::review(&mut self.state, &attrs))
    }
}
