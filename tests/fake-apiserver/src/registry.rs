//! What the server serves: one [`ResourceInfo`] per group-resource, for the
//! pre-registered built-ins and for every CustomResourceDefinition created at run time.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::errors::Cause;
use crate::hints;

/// One additional printer column of a CRD version.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// Optional format hint.
    pub format: String,
    /// Column description.
    pub description: String,
    /// 0 = shown by default; higher only with `-o wide`.
    pub priority: i64,
    /// JSONPath (without braces), e.g. `.status.phase`.
    pub json_path: String,
}

/// A served version of a resource.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    /// Version name, e.g. `v1alpha1`.
    pub name: String,
    /// openAPIV3Schema for CRDs, a merge-hint schema for built-ins.
    pub schema: Option<Arc<Value>>,
    /// Printer columns (CRDs only).
    pub columns: Vec<PrinterColumn>,
}

/// Everything the server needs to know about one group-resource.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    /// API group, empty for core.
    pub group: String,
    /// Served versions, highest priority first.
    pub versions: Vec<VersionInfo>,
    /// The version objects are stored in.
    pub storage_version: String,
    /// Plural name (the URL segment).
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// List kind.
    pub list_kind: String,
    /// Short names (`cm`, `ts`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Has a `status` subresource.
    pub status: bool,
    /// Tracks `metadata.generation`.
    pub generation: bool,
    /// PUT without a resourceVersion is allowed.
    pub unconditional_update: bool,
    /// A built-in (accepts strategic merge patch).
    pub builtin: bool,
    /// Extra field-selector labels beyond metadata.name/namespace.
    pub field_labels: &'static [&'static str],
    /// Cross-version reads need a webhook (unsupported).
    pub webhook_conversion: bool,
    /// A review (`SelfSubjectAccessReview`...): only `create`, answered from
    /// the request and never stored.
    pub create_only: bool,
}

/// Identity of a stored resource: (group, plural).
pub type ResourceKey = (String, String);

impl ResourceInfo {
    /// (group, plural).
    pub fn key(&self) -> ResourceKey {
        (self.group.clone(), self.plural.clone())
    }

    /// Identity of the store that holds this resource's objects: its own, except for
    /// `events.k8s.io` Events, which kube-apiserver keeps as core Events (one resource served
    /// by two APIs, see [`crate::event_api`]).
    pub fn storage_key(&self) -> ResourceKey {
        if self.group == "events.k8s.io" && self.plural == "events" {
            (String::new(), "events".into())
        } else {
            self.key()
        }
    }

    /// Whether this resource's objects are another resource's (served through a conversion).
    pub fn stored_elsewhere(&self) -> bool {
        self.storage_key() != self.key()
    }

    /// `group/version`, or `version` for core.
    pub fn group_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// Whether `v` is served.
    pub fn version(&self, v: &str) -> Option<&VersionInfo> {
        self.versions.iter().find(|x| x.name == v)
    }

    /// Error-message naming.
    pub fn target(&self) -> crate::errors::Target<'_> {
        crate::errors::Target {
            group: &self.group,
            resource: &self.plural,
            kind: &self.kind,
        }
    }

    /// The schema used for merges and validation of `version`.
    pub fn schema(&self, version: &str) -> Option<Arc<Value>> {
        self.version(version).and_then(|v| v.schema.clone())
    }
}

/// Go's `CompareKubeAwareVersionStrings`: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > other (lexical).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u64, u8, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((major, 2, 0));
        }
        let (kind, num) = if let Some(n) = tail.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (0, n)
        } else {
            return None;
        };
        Some((major, kind, num.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        // Higher priority sorts first.
        (Some(x), Some(y)) => y.1.cmp(&x.1).then_with(|| match x.1 {
            2 => y.0.cmp(&x.0),
            _ => y.0.cmp(&x.0).then(y.2.cmp(&x.2)),
        }),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    short: &'static [&'static str],
    namespaced: bool,
    status: bool,
    generation: bool,
    field_labels: &'static [&'static str],
    create_only: bool,
}

// A table-like constructor: one positional argument per column keeps the
// built-in list readable as a table.
#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    short: &'static [&'static str],
    namespaced: bool,
    status: bool,
    generation: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        plural,
        kind,
        short,
        namespaced,
        status,
        generation,
        field_labels: &[],
        create_only: false,
    }
}

/// A review resource: answered on create, never stored.
const fn review(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> Builtin {
    Builtin {
        create_only: true,
        ..b(group, "v1", plural, kind, &[], namespaced, false, false)
    }
}

const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];
// Upstream's `pkg/registry/events` selectable fields; they read the core Event's fields
// (`event_api::core_field_label`).
const EVENT_V1_FIELDS: &[&str] = &[
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingController",
    "source",
    "type",
];

/// The built-in resources every server starts with.
pub fn builtins() -> Vec<ResourceInfo> {
    let list = [
        b(
            "",
            "v1",
            "namespaces",
            "Namespace",
            &["ns"],
            false,
            true,
            false,
        ),
        b(
            "",
            "v1",
            "configmaps",
            "ConfigMap",
            &["cm"],
            true,
            false,
            false,
        ),
        Builtin {
            field_labels: &["type"],
            ..b("", "v1", "secrets", "Secret", &[], true, false, false)
        },
        b(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            &["sa"],
            true,
            false,
            false,
        ),
        b("", "v1", "services", "Service", &["svc"], true, true, false),
        Builtin {
            field_labels: &[
                "status.phase",
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
            ],
            ..b("", "v1", "pods", "Pod", &["po"], true, true, false)
        },
        Builtin {
            field_labels: EVENT_FIELDS,
            ..b("", "v1", "events", "Event", &["ev"], true, false, false)
        },
        // The apiserver's own `default/kubernetes` (bootstrap); nothing else writes them here.
        b(
            "",
            "v1",
            "endpoints",
            "Endpoints",
            &["ep"],
            true,
            false,
            false,
        ),
        b(
            "",
            "v1",
            "resourcequotas",
            "ResourceQuota",
            &["quota"],
            true,
            true,
            false,
        ),
        b(
            "",
            "v1",
            "limitranges",
            "LimitRange",
            &["limits"],
            true,
            false,
            false,
        ),
        b(
            "",
            "v1",
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            &["pvc"],
            true,
            true,
            false,
        ),
        b(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            &["deploy"],
            true,
            true,
            true,
        ),
        b(
            "apps",
            "v1",
            "statefulsets",
            "StatefulSet",
            &["sts"],
            true,
            true,
            true,
        ),
        b(
            "apps",
            "v1",
            "daemonsets",
            "DaemonSet",
            &["ds"],
            true,
            true,
            true,
        ),
        b(
            "apps",
            "v1",
            "replicasets",
            "ReplicaSet",
            &["rs"],
            true,
            true,
            true,
        ),
        b("batch", "v1", "jobs", "Job", &[], true, true, true),
        b(
            "batch",
            "v1",
            "cronjobs",
            "CronJob",
            &["cj"],
            true,
            true,
            true,
        ),
        b(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            &["netpol"],
            true,
            false,
            true,
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "Role",
            &[],
            true,
            false,
            false,
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            &[],
            true,
            false,
            false,
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            &[],
            false,
            false,
            false,
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            &[],
            false,
            false,
            false,
        ),
        b(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            &["crd", "crds"],
            false,
            true,
            true,
        ),
        b(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            &[],
            true,
            false,
            false,
        ),
        Builtin {
            field_labels: EVENT_V1_FIELDS,
            ..b(
                "events.k8s.io",
                "v1",
                "events",
                "Event",
                &["ev"],
                true,
                false,
                false,
            )
        },
        b(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            &["pdb"],
            true,
            true,
            true,
        ),
        b(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "Ingress",
            &["ing"],
            true,
            true,
            true,
        ),
        b(
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            "IngressClass",
            &[],
            false,
            false,
            true,
        ),
        b(
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            "PriorityClass",
            &["pc"],
            false,
            false,
            false,
        ),
        b(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            &["hpa"],
            true,
            true,
            true,
        ),
        review(
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
        ),
        review(
            "authorization.k8s.io",
            "selfsubjectrulesreviews",
            "SelfSubjectRulesReview",
            false,
        ),
        review(
            "authorization.k8s.io",
            "subjectaccessreviews",
            "SubjectAccessReview",
            false,
        ),
        review(
            "authorization.k8s.io",
            "localsubjectaccessreviews",
            "LocalSubjectAccessReview",
            true,
        ),
        review(
            "authentication.k8s.io",
            "selfsubjectreviews",
            "SelfSubjectReview",
            false,
        ),
        b(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicies",
            "ValidatingAdmissionPolicy",
            &[],
            false,
            true,
            true,
        ),
        b(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicybindings",
            "ValidatingAdmissionPolicyBinding",
            &[],
            false,
            false,
            true,
        ),
    ];
    list.iter()
        .map(|x| ResourceInfo {
            group: x.group.into(),
            versions: vec![VersionInfo {
                name: x.version.into(),
                schema: hints::builtin_schema(x.group, x.kind).map(Arc::new),
                columns: Vec::new(),
            }],
            storage_version: x.version.into(),
            plural: x.plural.into(),
            singular: x.kind.to_lowercase(),
            kind: x.kind.into(),
            list_kind: format!("{}List", x.kind),
            short_names: x
                .short
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
            categories: if matches!(
                x.plural,
                "pods"
                    | "services"
                    | "deployments"
                    | "statefulsets"
                    | "daemonsets"
                    | "replicasets"
                    | "jobs"
                    | "cronjobs"
            ) {
                vec!["all".into()]
            } else {
                Vec::new()
            },
            namespaced: x.namespaced,
            status: x.status,
            generation: x.generation,
            unconditional_update: true,
            builtin: true,
            field_labels: x.field_labels,
            webhook_conversion: false,
            create_only: x.create_only,
        })
        .collect()
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("")
}

/// The strings of a JSON array (others skipped), empty when it is not one.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Validates a CustomResourceDefinition (§2.6 step 1) and derives what it serves.
/// Errors are field causes for a 422 Invalid.
pub fn from_crd(crd: &Value) -> Result<ResourceInfo, Vec<Cause>> {
    let mut causes = Vec::new();
    let mut req = |field: &str, msg: &str| {
        causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: format!("Required value: {msg}"),
            field: field.into(),
        });
    };
    let group = s(crd, &["spec", "group"]);
    let kind = s(crd, &["spec", "names", "kind"]);
    let plural = s(crd, &["spec", "names", "plural"]);
    let scope = s(crd, &["spec", "scope"]);
    if group.is_empty() {
        req("spec.group", "");
    }
    if kind.is_empty() {
        req("spec.names.kind", "");
    }
    if plural.is_empty() {
        req("spec.names.plural", "");
    }
    let versions = crd["spec"]["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        req(
            "spec.versions",
            "must have exactly one version marked as storage version",
        );
    }
    let name = s(crd, &["metadata", "name"]);
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
            ),
            field: "metadata.name".into(),
        });
    }
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
            field: "spec.scope".into(),
        });
    }
    let storage: Vec<&Value> = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .collect();
    if !versions.is_empty() && storage.len() != 1 {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: {}: must have exactly one version marked as storage version",
                storage.len()
            ),
            field: "spec.versions".into(),
        });
    }
    if !causes.is_empty() {
        return Err(causes);
    }
    let storage_version = s(storage[0], &["name"]).to_string();
    let mut served: Vec<VersionInfo> = Vec::new();
    let mut status = false;
    for v in &versions {
        if v["served"].as_bool() != Some(true) {
            continue;
        }
        if v["subresources"]["status"].is_object() {
            status = true;
        }
        let columns = v["additionalPrinterColumns"]
            .as_array()
            .map(|cols| {
                cols.iter()
                    .map(|c| PrinterColumn {
                        name: s(c, &["name"]).into(),
                        type_: s(c, &["type"]).into(),
                        format: s(c, &["format"]).into(),
                        description: s(c, &["description"]).into(),
                        priority: c["priority"].as_i64().unwrap_or(0),
                        json_path: s(c, &["jsonPath"]).into(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let schema = v["schema"]["openAPIV3Schema"].clone();
        served.push(VersionInfo {
            name: s(v, &["name"]).into(),
            schema: if schema.is_object() {
                Some(Arc::new(schema))
            } else {
                None
            },
            columns,
        });
    }
    served.sort_by(|a, b| compare_versions(&a.name, &b.name));
    let singular = s(crd, &["spec", "names", "singular"]);
    let list_kind = s(crd, &["spec", "names", "listKind"]);
    Ok(ResourceInfo {
        group: group.into(),
        versions: served,
        storage_version,
        plural: plural.into(),
        singular: if singular.is_empty() {
            kind.to_lowercase()
        } else {
            singular.into()
        },
        kind: kind.into(),
        list_kind: if list_kind.is_empty() {
            format!("{kind}List")
        } else {
            list_kind.into()
        },
        short_names: strings(&crd["spec"]["names"]["shortNames"]),
        categories: strings(&crd["spec"]["names"]["categories"]),
        namespaced: scope == "Namespaced",
        status,
        generation: true,
        unconditional_update: false,
        builtin: false,
        field_labels: &[],
        webhook_conversion: s(crd, &["spec", "conversion", "strategy"]) == "Webhook",
        create_only: false,
    })
}

/// All served resources, indexed by (group, plural).
#[derive(Debug, Default, Clone)]
pub struct Registry {
    resources: BTreeMap<ResourceKey, Arc<ResourceInfo>>,
}

impl Registry {
    /// A registry holding the built-ins.
    pub fn with_builtins() -> Self {
        let mut r = Registry::default();
        for info in builtins() {
            r.insert(info);
        }
        r
    }

    /// Adds or replaces a resource.
    pub fn insert(&mut self, info: ResourceInfo) {
        self.resources.insert(info.key(), Arc::new(info));
    }

    /// Removes a resource.
    pub fn remove(&mut self, key: &ResourceKey) {
        self.resources.remove(key);
    }

    /// Looks up by group and plural.
    pub fn get(&self, group: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.resources
            .get(&(group.to_string(), plural.to_string()))
            .cloned()
    }

    /// Looks up the resource that a served `group/version` + kind names.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        self.resources
            .values()
            .find(|r| r.group == group && r.kind == kind && r.version(version).is_some())
            .cloned()
    }

    /// Looks up by group, version and plural (the version must be served).
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.get(group, plural)
            .filter(|r| r.version(version).is_some())
    }

    /// Every resource.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceInfo>> {
        self.resources.values()
    }

    /// Served groups (excluding core) with their versions sorted by priority.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self.resources.values() {
            let e = m.entry(r.group.clone()).or_default();
            for v in &r.versions {
                if !e.contains(&v.name) {
                    e.push(v.name.clone());
                }
            }
        }
        let mut out: Vec<(String, Vec<String>)> = m
            .into_iter()
            .map(|(g, mut vs)| {
                vs.sort_by(|a, b| compare_versions(a, b));
                (g, vs)
            })
            .collect();
        // Core first (as `/api`), then groups in a stable order.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Resources served at `group/version`.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceInfo>> {
        self.resources
            .values()
            .filter(|r| r.group == group && r.version(version).is_some())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_priority() {
        let mut v = vec!["v1alpha1", "v1", "v1beta2", "v2", "v1beta1", "foo"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(v, ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }

    #[test]
    fn crd_validation_names_the_field() {
        let crd = json!({"metadata": {"name": "wrong"}, "spec": {"group": "example.io", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"}, "versions": [{"name": "v1", "served": true, "storage": true}]}});
        let err = from_crd(&crd).unwrap_err();
        assert_eq!(err[0].field, "metadata.name");
        let ok = json!({"metadata": {"name": "widgets.example.io"}, "spec": {"group": "example.io", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"}, "versions": [{"name": "v1", "served": true, "storage": true,
            "subresources": {"status": {}}}]}});
        let info = from_crd(&ok).unwrap();
        assert!(info.status && info.namespaced);
        assert_eq!(info.list_kind, "WidgetList");
    }
}
