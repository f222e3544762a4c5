//! What a change does to the cluster: the objects before (a render of the base branch, or
//! the live cluster) and after (a render of the pull request, or the API server's dry run
//! of it), compared object by object: added, removed, kept by `deletionPolicy: Retain`,
//! or changed, with a unified diff of the changed fields, as `kubectl diff` shows them.
//!
//! Noise is left out before comparing: `status`, `metadata.managedFields` and the metadata
//! the server sets (uid, resourceVersion, generation, creationTimestamp, the last-applied
//! annotation). Secrets are shown without their data, as `kubectl diff` masks them: each
//! value is `***`, or `*** (before)` and `*** (after)` where it changes.
//!
//! Pure: objects in, [`ObjectChange`]s and text out; the CLI (`tenant-operator diff`)
//! renders the trees or reads the cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use serde_json::{Map, Value};

use crate::labels;
use crate::render::output;

/// Which object: kind, namespace and name (the apiVersion is shown, not compared: each
/// managed kind has one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Sorting group: the namespace of a namespaced object, the name of a Namespace, so
    /// that a namespace and what it holds sort together.
    group: String,
    /// Whether the object lives in a namespace (a Namespace sorts before its contents).
    namespaced: bool,
    /// `Namespace`, `NetworkPolicy`, ...
    pub kind: String,
    /// The namespace, for namespaced objects.
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
    /// `v1`, `networking.k8s.io/v1`, ...
    pub api_version: String,
}

impl ObjectKey {
    /// The key of an object (empty parts where it has none).
    pub fn of(object: &Value) -> ObjectKey {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        let namespace = text("/metadata/namespace").map(str::to_string);
        let name = text("/metadata/name").unwrap_or_default().to_string();
        ObjectKey {
            group: namespace.clone().unwrap_or_else(|| name.clone()),
            namespaced: namespace.is_some(),
            kind: text("/kind").unwrap_or_default().to_string(),
            namespace,
            name,
            api_version: text("/apiVersion").unwrap_or_default().to_string(),
        }
    }

    /// `apiVersion/Kind/namespace/name`, the path of the object in diff headers.
    fn path(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{}/{ns}/{}", self.api_version, self.kind, self.name),
            None => format!("{}/{}/{}", self.api_version, self.kind, self.name),
        }
    }
}

impl fmt::Display for ObjectKey {
    /// `NetworkPolicy comune-bari-prod/tenancy-default-deny`, `Namespace comune-bari-prod`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// What happens to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Created.
    Added,
    /// Deleted.
    Removed,
    /// No longer desired, but kept with its data (its tenant's `deletionPolicy: Retain`):
    /// a namespace is detached from the tenant, the objects in it stay.
    Retained,
    /// Updated: some fields change.
    Changed,
}

impl ChangeKind {
    /// `added`, `removed`, `retained`, `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Retained => "retained",
            ChangeKind::Changed => "changed",
        }
    }
}

/// One object that a change touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectChange {
    /// The object.
    pub key: ObjectKey,
    /// What happens to it.
    pub change: ChangeKind,
    /// Its tenant (the `tenancy.innova.puglia.it/tenant` label), if it has one.
    pub tenant: Option<String>,
    /// Unified diff of its YAML, noise left out; empty for a retained object.
    pub diff: String,
    /// For a retained Namespace: how many objects it holds that are kept with it (they
    /// are not listed one by one).
    pub kept_objects: usize,
}

/// Compares the objects `before` and `after` a change. An object that is only before is
/// [`ChangeKind::Retained`] when `retains(tenant)` holds for its tenant and it is a
/// Namespace, or lives in a namespace that is no longer desired (the controller detaches
/// such namespaces and leaves their contents); otherwise removed. Objects in sorted order
/// (each namespace, then what it holds).
pub fn compare(
    before: &[Value],
    after: &[Value],
    retains: &dyn Fn(&str) -> bool,
) -> Vec<ObjectChange> {
    let index = |objects: &[Value]| -> BTreeMap<ObjectKey, Value> {
        objects
            .iter()
            .map(|o| (ObjectKey::of(o), clean(o)))
            .collect()
    };
    let before = index(before);
    let after = index(after);
    let desired_namespaces: BTreeSet<&str> = after
        .keys()
        .filter(|k| k.kind == "Namespace")
        .map(|k| k.name.as_str())
        .collect();
    let keys: BTreeSet<&ObjectKey> = before.keys().chain(after.keys()).collect();
    let mut changes = Vec::new();
    for key in keys {
        let change = match (before.get(key), after.get(key)) {
            (None, Some(new)) => ObjectChange {
                key: key.clone(),
                change: ChangeKind::Added,
                tenant: tenant_of(new),
                diff: unified(key, None, Some(&shown(new))),
                kept_objects: 0,
            },
            (Some(old), None) => {
                let tenant = tenant_of(old);
                let namespace_goes = match &key.namespace {
                    None => key.kind == "Namespace",
                    Some(ns) => !desired_namespaces.contains(ns.as_str()),
                };
                let kept = namespace_goes && tenant.as_deref().is_some_and(retains);
                ObjectChange {
                    key: key.clone(),
                    change: if kept {
                        ChangeKind::Retained
                    } else {
                        ChangeKind::Removed
                    },
                    tenant,
                    diff: if kept {
                        String::new()
                    } else {
                        unified(key, Some(&shown(old)), None)
                    },
                    kept_objects: 0,
                }
            }
            (Some(old), Some(new)) => {
                if old == new {
                    continue;
                }
                let (old, new) = mask_secret_pair(old, new);
                ObjectChange {
                    key: key.clone(),
                    change: ChangeKind::Changed,
                    tenant: tenant_of(&new),
                    diff: unified(key, Some(&old), Some(&new)),
                    kept_objects: 0,
                }
            }
            (None, None) => continue,
        };
        changes.push(change);
    }
    fold_retained_contents(changes)
}

/// The objects retained with their retained Namespace, counted on it rather than listed.
fn fold_retained_contents(changes: Vec<ObjectChange>) -> Vec<ObjectChange> {
    let retained_namespaces: BTreeSet<String> = changes
        .iter()
        .filter(|c| c.change == ChangeKind::Retained && c.key.kind == "Namespace")
        .map(|c| c.key.name.clone())
        .collect();
    let mut kept: BTreeMap<String, usize> = BTreeMap::new();
    let mut folded: Vec<ObjectChange> = Vec::new();
    for c in changes {
        match &c.key.namespace {
            Some(ns) if c.change == ChangeKind::Retained && retained_namespaces.contains(ns) => {
                *kept.entry(ns.clone()).or_default() += 1;
            }
            _ => folded.push(c),
        }
    }
    for c in &mut folded {
        if c.change == ChangeKind::Retained && c.key.kind == "Namespace" {
            c.kept_objects = kept.get(&c.key.name).copied().unwrap_or_default();
        }
    }
    folded
}

/// The object without what the server sets or what changes without a change of intent
/// (Secret values are compared as they are, and masked only when shown).
pub fn clean(object: &Value) -> Value {
    let mut object = object.clone();
    if let Value::Object(root) = &mut object {
        root.remove("status");
        if let Some(Value::Object(meta)) = root.get_mut("metadata") {
            for field in [
                "managedFields",
                "resourceVersion",
                "uid",
                "generation",
                "creationTimestamp",
                "selfLink",
            ] {
                meta.remove(field);
            }
            if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
                annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
                if annotations.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
    }
    object
}

/// The object as shown: a Secret's values masked.
fn shown(object: &Value) -> Value {
    mask_secret_pair(object, object).0
}

/// A Secret pair with the values of `data` and `stringData` masked as `kubectl diff` does:
/// `***` where both sides hold the same value (or only one side has the key), `*** (before)`
/// and `*** (after)` where it changes. Other kinds are returned as they are.
fn mask_secret_pair(before: &Value, after: &Value) -> (Value, Value) {
    let (mut before, mut after) = (before.clone(), after.clone());
    if before["kind"] != "Secret" && after["kind"] != "Secret" {
        return (before, after);
    }
    for field in ["data", "stringData"] {
        let old = before.get(field).and_then(Value::as_object).cloned();
        let new = after.get(field).and_then(Value::as_object).cloned();
        let mask = |map: &Option<Map<String, Value>>, other: &Option<Map<String, Value>>, side| {
            map.as_ref().map(|entries| {
                entries
                    .iter()
                    .map(|(k, v)| {
                        let same = other.as_ref().and_then(|o| o.get(k)).is_none_or(|o| o == v);
                        let shown = if same {
                            "***".to_string()
                        } else {
                            format!("*** ({side})")
                        };
                        (k.clone(), Value::String(shown))
                    })
                    .collect::<Map<_, _>>()
            })
        };
        if let Some(masked) = mask(&old, &new, "before") {
            before[field] = Value::Object(masked);
        }
        if let Some(masked) = mask(&new, &old, "after") {
            after[field] = Value::Object(masked);
        }
    }
    (before, after)
}

fn tenant_of(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(labels::TENANT))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The unified diff (three lines of context) of an object's YAML before and after.
fn unified(key: &ObjectKey, before: Option<&Value>, after: Option<&Value>) -> String {
    let old = before.map(output::to_yaml_string).unwrap_or_default();
    let new = after.map(output::to_yaml_string).unwrap_or_default();
    let path = key.path();
    let old_name = if before.is_some() {
        format!("before/{path}")
    } else {
        "/dev/null".to_string()
    };
    let new_name = if after.is_some() {
        format!("after/{path}")
    } else {
        "/dev/null".to_string()
    };
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &new_name)
        .to_string()
}

/// The kinds that carry a namespace's quota or policies, what a TenantClass decides: pod
/// security (labels of the Namespace), quota and limits, network policies, roles and
/// bindings. ConfigMaps and Secrets are not among them.
const QUOTA_OR_POLICY_KINDS: [&str; 6] = [
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "Role",
    "RoleBinding",
];

/// A namespace that is there before and after the change and whose quota or policies
/// change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceChange {
    /// The namespace.
    pub namespace: String,
    /// Its tenant, if its objects name one.
    pub tenant: Option<String>,
    /// Each object of a quota or policy kind that changes in it: `ResourceQuota
    /// tenancy-quota changed`.
    pub objects: Vec<String>,
}

/// The namespaces that stay (neither added, removed nor retained) and whose quota or
/// policies change, in the order of `changes`.
pub fn namespaces_changed(changes: &[ObjectChange]) -> Vec<NamespaceChange> {
    let coming_or_going: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.key.kind == "Namespace" && c.change != ChangeKind::Changed)
        .map(|c| c.key.name.as_str())
        .collect();
    let mut namespaces: Vec<NamespaceChange> = Vec::new();
    for c in changes {
        if !QUOTA_OR_POLICY_KINDS.contains(&c.key.kind.as_str()) {
            continue;
        }
        let namespace = c.key.namespace.as_deref().unwrap_or(&c.key.name);
        if coming_or_going.contains(namespace) {
            continue;
        }
        let object = format!("{} {} {}", c.key.kind, c.key.name, c.change.as_str());
        match namespaces.iter_mut().find(|n| n.namespace == namespace) {
            Some(n) => n.objects.push(object),
            None => namespaces.push(NamespaceChange {
                namespace: namespace.to_string(),
                tenant: c.tenant.clone(),
                objects: vec![object],
            }),
        }
    }
    namespaces
}

/// An object of the trusted policy folder: a TenantClass or a DomainDelegation, by its
/// spec.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyObject {
    /// `TenantClass` or `DomainDelegation`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its spec, as JSON.
    pub spec: Value,
}

/// What a tenant takes from the trusted policy folder: its class, and the delegations of
/// its IPA code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPolicies {
    /// The tenant's name.
    pub tenant: String,
    /// `spec.class`.
    pub class: String,
    /// `spec.entity.ipaCode`.
    pub ipa_code: String,
}

/// A TenantClass or DomainDelegation that a change adds, removes or edits: the tenants
/// checked again with it (those of the class, those of the delegation's IPA code, after
/// the change) and the namespaces of those tenants whose quota or policies change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChange {
    /// `TenantClass` or `DomainDelegation`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Added, removed or changed.
    pub change: ChangeKind,
    /// The tenants that use it after the change, by name.
    pub tenants: Vec<String>,
    /// Their namespaces whose quota or policies change (whatever the cause: a pull
    /// request may change a tenant and its class at once).
    pub namespaces: Vec<NamespaceChange>,
}

/// The policy objects that differ between `before` and `after`, each with the tenants
/// (of `tenants`, the tree after the change) that use it and their namespaces among
/// `changes` whose quota or policies change. Sorted by kind and name.
pub fn policy_changes(
    before: &[PolicyObject],
    after: &[PolicyObject],
    tenants: &[TenantPolicies],
    changes: &[ObjectChange],
) -> Vec<PolicyChange> {
    let index = |objects: &[PolicyObject]| -> BTreeMap<(String, String), Value> {
        objects
            .iter()
            .map(|o| ((o.kind.clone(), o.name.clone()), o.spec.clone()))
            .collect()
    };
    let before = index(before);
    let after = index(after);
    let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    let namespaces = namespaces_changed(changes);
    let mut out = Vec::new();
    for key in keys {
        let (kind, name) = key;
        let (old, new) = (before.get(key), after.get(key));
        let change = match (old, new) {
            (None, Some(_)) => ChangeKind::Added,
            (Some(_), None) => ChangeKind::Removed,
            (Some(o), Some(n)) if o != n => ChangeKind::Changed,
            _ => continue,
        };
        // A delegation concerns the tenants of its IPA code, before and after the change
        // (a change of the code moves the domains from one body to another).
        let codes: BTreeSet<&str> = [old, new]
            .into_iter()
            .flatten()
            .filter_map(|spec| spec.get("ipaCode").and_then(Value::as_str))
            .collect();
        let users: Vec<String> = tenants
            .iter()
            .filter(|t| {
                if kind == "TenantClass" {
                    t.class == *name
                } else {
                    codes.contains(t.ipa_code.as_str())
                }
            })
            .map(|t| t.tenant.clone())
            .collect();
        let affected = namespaces
            .iter()
            .filter(|n| n.tenant.as_ref().is_some_and(|t| users.contains(t)))
            .cloned()
            .collect();
        out.push(PolicyChange {
            kind: kind.clone(),
            name: name.clone(),
            change,
            tenants: users,
            namespaces: affected,
        });
    }
    out
}

/// One policy change in a line: `TenantClass small changed: 3 tenants checked again
/// (comune-binetto, ...); quota or policies change in 2 namespaces`.
pub fn policy_summary(p: &PolicyChange) -> String {
    let tenants = match p.tenants.len() {
        0 => "no tenant uses it".to_string(),
        1 => format!("1 tenant checked again ({})", p.tenants[0]),
        n => format!("{n} tenants checked again ({})", p.tenants.join(", ")),
    };
    let namespaces = match p.namespaces.len() {
        0 => "no namespace's quota or policies change".to_string(),
        1 => format!(
            "quota or policies change in 1 namespace: {}",
            p.namespaces[0].namespace
        ),
        n => format!(
            "quota or policies change in {n} namespaces: {}",
            p.namespaces
                .iter()
                .map(|ns| ns.namespace.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "{} {} {}: {tenants}; {namespaces}",
        p.kind,
        p.name,
        p.change.as_str()
    )
}

/// Counts of each kind of change, e.g. `2 added, 1 changed`; `no changes` when empty.
pub fn summary(changes: &[ObjectChange]) -> String {
    let mut counts: BTreeMap<ChangeKind, usize> = BTreeMap::new();
    for c in changes {
        *counts.entry(c.change).or_default() += 1;
    }
    if counts.is_empty() {
        return "no changes".to_string();
    }
    counts
        .iter()
        .map(|(kind, n)| format!("{n} {}", kind.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Objects named per kind of change in a tenant's summary; the others are counted.
const SUMMARY_OBJECTS: usize = 3;

/// What one tenant's objects go through, e.g. `1 added (Namespace comune-bari-dev),
/// 1 changed (ResourceQuota comune-bari-prod/tenancy-quota)`.
pub fn tenant_summary(changes: &[&ObjectChange]) -> String {
    let mut by_kind: BTreeMap<ChangeKind, Vec<String>> = BTreeMap::new();
    for c in changes {
        by_kind.entry(c.change).or_default().push(c.key.to_string());
    }
    by_kind
        .iter()
        .map(|(kind, objects)| {
            let shown = if objects.len() > SUMMARY_OBJECTS {
                format!(
                    "{}, and {} more",
                    objects[..SUMMARY_OBJECTS].join(", "),
                    objects.len() - SUMMARY_OBJECTS
                )
            } else {
                objects.join(", ")
            };
            format!("{} {} ({shown})", objects.len(), kind.as_str())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The summary line: the object changes, then the classes and delegations changed.
fn summary_line(changes: &[ObjectChange], policies: &[PolicyChange]) -> String {
    if policies.is_empty() {
        return summary(changes);
    }
    let objects = if changes.is_empty() {
        "no object changes".to_string()
    } else {
        summary(changes)
    };
    let policies: Vec<String> = policies
        .iter()
        .map(|p| format!("{} {} {}", p.kind, p.name, p.change.as_str()))
        .collect();
    format!("{objects}; {}", policies.join(", "))
}

/// The changes as text: first each class or delegation changed, with the tenants checked
/// again and their namespaces whose quota or policies change; then each object's change
/// and unified diff; then the summary line.
pub fn text(changes: &[ObjectChange], policies: &[PolicyChange]) -> String {
    let mut out = String::new();
    for p in policies {
        let _ = writeln!(out, "{}", policy_summary(p));
        for n in &p.namespaces {
            let _ = writeln!(out, "  {}: {}", n.namespace, n.objects.join(", "));
        }
    }
    for c in changes {
        let _ = writeln!(out, "{}: {}", c.key, describe(c));
        out.push_str(&c.diff);
    }
    let _ = writeln!(out, "{}", summary_line(changes, policies));
    out
}

/// The changes as Markdown for a pull-request comment: a summary, the classes and
/// delegations changed with the namespaces they touch, a table of the objects, and each
/// diff in a collapsed block.
pub fn markdown(changes: &[ObjectChange], policies: &[PolicyChange]) -> String {
    let mut out = String::from("### tenant-operator diff\n\n");
    if changes.is_empty() && policies.is_empty() {
        out.push_str("No object changes.\n");
        return out;
    }
    let _ = writeln!(out, "**{}**\n", summary_line(changes, policies));
    if !policies.is_empty() {
        out.push_str("Classes and delegations:\n\n");
        for p in policies {
            let _ = writeln!(out, "- {}", policy_summary(p));
            for n in &p.namespaces {
                let _ = writeln!(out, "  - `{}`: {}", n.namespace, n.objects.join(", "));
            }
        }
        out.push('\n');
    }
    if changes.is_empty() {
        return out;
    }
    out.push_str("| change | object | tenant |\n| --- | --- | --- |\n");
    for c in changes {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} |",
            describe(c),
            c.key,
            c.tenant.as_deref().unwrap_or("")
        );
    }
    for c in changes.iter().filter(|c| !c.diff.is_empty()) {
        let _ = write!(
            out,
            "\n<details><summary>{} ({})</summary>\n\n```diff\n{}```\n\n</details>\n",
            c.key,
            c.change.as_str(),
            c.diff.replace("```", "'''")
        );
    }
    out
}

/// What the change means for the object, in the text form.
fn describe(change: &ObjectChange) -> String {
    match change.change {
        ChangeKind::Retained if change.kept_objects > 0 => format!(
            "retained with the {} objects in it (deletionPolicy Retain: kept with its data, detached from the tenant)",
            change.kept_objects
        ),
        ChangeKind::Retained => {
            "retained (deletionPolicy Retain: kept with its data, detached from the tenant)"
                .to_string()
        }
        other => other.as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(kind: &str, namespace: Option<&str>, name: &str, spec: Value) -> Value {
        let mut meta = json!({"name": name, "labels": {labels::TENANT: "comune-bari"}});
        if let Some(ns) = namespace {
            meta["namespace"] = json!(ns);
        }
        json!({"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": spec})
    }

    #[test]
    fn added_removed_retained_and_changed() {
        let prod = object("Namespace", None, "comune-bari-prod", json!({}));
        let dev = object("Namespace", None, "comune-bari-dev", json!({}));
        let test = object("Namespace", None, "comune-bari-test", json!({}));
        let quota = |cpu: &str| {
            object(
                "ResourceQuota",
                Some("comune-bari-prod"),
                "tenancy-quota",
                json!({"hard": {"limits.cpu": cpu, "pods": "20"}}),
            )
        };
        let dev_quota = object(
            "ResourceQuota",
            Some("comune-bari-dev"),
            "tenancy-quota",
            json!({}),
        );
        let gone = object("ConfigMap", Some("comune-bari-prod"), "old", json!({}));
        let before = [prod.clone(), dev.clone(), dev_quota, quota("4"), gone];
        let after = [prod, test, quota("8")];
        let changes = compare(&before, &after, &|_| true);
        let seen: Vec<String> = changes
            .iter()
            .map(|c| format!("{} {}", c.key, c.change.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                "Namespace comune-bari-dev retained",
                "ConfigMap comune-bari-prod/old removed",
                "ResourceQuota comune-bari-prod/tenancy-quota changed",
                "Namespace comune-bari-test added",
            ]
        );
        assert_eq!(changes[0].kept_objects, 1);
        let quota_diff = &changes[2].diff;
        assert!(
            quota_diff.contains("-    limits.cpu: \"4\"\n+    limits.cpu: \"8\"\n"),
            "{quota_diff}"
        );
        assert!(
            quota_diff.starts_with("--- before/v1/ResourceQuota/comune-bari-prod/tenancy-quota\n")
        );
        assert_eq!(
            summary(&changes),
            "1 added, 1 removed, 1 retained, 1 changed"
        );
        let deleting = compare(&before, &after, &|_| false);
        assert_eq!(deleting[0].change, ChangeKind::Removed);
        assert!(deleting[0].diff.contains("+++ /dev/null"));
    }

    #[test]
    fn server_noise_is_left_out() {
        let rendered = object("Namespace", None, "a-prod", json!({}));
        let mut live = rendered.clone();
        live["metadata"]["uid"] = json!("1234");
        live["metadata"]["resourceVersion"] = json!("7");
        live["metadata"]["managedFields"] = json!([{"manager": "x"}]);
        live["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"});
        live["status"] = json!({"phase": "Active"});
        assert_eq!(compare(&[live], &[rendered], &|_| true), []);
    }

    #[test]
    fn secrets_are_shown_without_their_data() {
        let secret = |key: &str| {
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
                   "data": {"tls.crt": key, "ca.crt": "c2FtZQ=="}})
        };
        let changes = compare(&[secret("b2xk")], &[secret("bmV3")], &|_| true);
        assert_eq!(changes.len(), 1);
        let diff = &changes[0].diff;
        assert!(
            diff.contains("-  tls.crt: '*** (before)'")
                || diff.contains("-  tls.crt: \"*** (before)\""),
            "{diff}"
        );
        assert!(diff.contains("\"*** (after)\""), "{diff}");
        assert!(diff.contains("  ca.crt: \"***\""), "{diff}");
        assert!(
            !diff.contains("b2xk") && !diff.contains("bmV3") && !diff.contains("c2FtZQ"),
            "{diff}"
        );
        let added = compare(&[], &[secret("bmV3")], &|_| true);
        assert!(!added[0].diff.contains("bmV3"), "{}", added[0].diff);
    }

    #[test]
    fn a_class_change_names_its_tenants_and_their_namespaces_whose_quota_or_policies_change() {
        let quota = |ns: &str, tenant: &str, cpu: &str| {
            let mut q = object(
                "ResourceQuota",
                Some(ns),
                "tenancy-quota",
                json!({"hard": {"limits.cpu": cpu}}),
            );
            q["metadata"]["labels"][labels::TENANT] = json!(tenant);
            q
        };
        let ca = |ns: &str, tenant: &str, data: &str| {
            let mut c = object("ConfigMap", Some(ns), "regional-ca.crt", json!({}));
            c["metadata"]["labels"][labels::TENANT] = json!(tenant);
            c["data"] = json!({"ca.crt": data});
            c
        };
        let new_ns = object("Namespace", None, "comune-bari-dev", json!({}));
        let before = [
            quota("comune-bari-prod", "comune-bari", "4"),
            quota("comune-bitonto-prod", "comune-bitonto", "4"),
            quota("asl-bari-prod", "asl-bari", "16"),
            ca("comune-turi-prod", "comune-turi", "a"),
        ];
        let after = [
            quota("comune-bari-prod", "comune-bari", "6"),
            quota("comune-bitonto-prod", "comune-bitonto", "6"),
            quota("asl-bari-prod", "asl-bari", "16"),
            ca("comune-turi-prod", "comune-turi", "b"),
            new_ns,
            quota("comune-bari-dev", "comune-bari", "6"),
        ];
        let changes = compare(&before, &after, &|_| true);
        // The new namespace is added, not changed; a ConfigMap is neither quota nor policy.
        assert_eq!(
            namespaces_changed(&changes)
                .iter()
                .map(|n| format!("{}: {}", n.namespace, n.objects.join(", ")))
                .collect::<Vec<_>>(),
            [
                "comune-bari-prod: ResourceQuota tenancy-quota changed",
                "comune-bitonto-prod: ResourceQuota tenancy-quota changed",
            ]
        );
        let class = |cpu: &str| PolicyObject {
            kind: "TenantClass".into(),
            name: "small".into(),
            spec: json!({"quota": {"cpu": cpu}}),
        };
        let large = PolicyObject {
            kind: "TenantClass".into(),
            name: "large".into(),
            spec: json!({"quota": {"cpu": "16"}}),
        };
        let delegation = |code: &str| PolicyObject {
            kind: "DomainDelegation".into(),
            name: "comune-bari".into(),
            spec: json!({"ipaCode": code, "domains": ["comune.bari.it"]}),
        };
        let tenant = |name: &str, class: &str, code: &str| TenantPolicies {
            tenant: name.into(),
            class: class.into(),
            ipa_code: code.into(),
        };
        let tenants = [
            tenant("comune-bari", "small", "c_a662"),
            tenant("comune-bitonto", "small", "c_a893"),
            tenant("asl-bari", "large", "asl_ba"),
            tenant("comune-turi", "small", "c_l472"),
        ];
        let policies = policy_changes(
            &[class("4"), large.clone(), delegation("c_a662")],
            &[class("6"), large, delegation("c_a893")],
            &tenants,
            &changes,
        );
        let seen: Vec<String> = policies.iter().map(policy_summary).collect();
        assert_eq!(
            seen,
            [
                "DomainDelegation comune-bari changed: 2 tenants checked again (comune-bari, comune-bitonto); quota or policies change in 2 namespaces: comune-bari-prod, comune-bitonto-prod",
                "TenantClass small changed: 3 tenants checked again (comune-bari, comune-bitonto, comune-turi); quota or policies change in 2 namespaces: comune-bari-prod, comune-bitonto-prod",
            ]
        );
        let text = text(&changes, &policies);
        assert!(
            text.ends_with("; DomainDelegation comune-bari changed, TenantClass small changed\n"),
            "{text}"
        );
        assert!(
            text.starts_with("DomainDelegation comune-bari changed: "),
            "{text}"
        );
        // An unchanged class is not listed; with no object change, the text says so.
        let unchanged = policy_changes(&[class("4")], &[class("4")], &tenants, &[]);
        assert_eq!(unchanged, []);
        let only = policy_changes(&[class("4")], &[class("6")], &tenants, &[]);
        assert_eq!(
            text_of(&only),
            "TenantClass small changed: 3 tenants checked again (comune-bari, comune-bitonto, comune-turi); no namespace's quota or policies change\nno object changes; TenantClass small changed\n"
        );
    }

    fn text_of(policies: &[PolicyChange]) -> String {
        text(&[], policies)
    }
}
