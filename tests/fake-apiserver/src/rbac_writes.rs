//! The checks kube-apiserver's RBAC storage makes on writes of Roles,
//! ClusterRoles and their bindings (`pkg/registry/rbac/{role,clusterrole,
//! rolebinding,clusterrolebinding}/policybased/storage.go`, `pkg/registry/rbac/escalation_check.go`):
//!
//! - a Role or ClusterRole may only grant what its writer holds, unless the
//!   writer has `escalate` on it;
//! - setting (or holding) an `aggregationRule` needs `*` on everything;
//! - a binding may only bind a role whose permissions its writer holds, unless
//!   the writer has `bind` on that role;
//! - `system:masters` is not checked; writes that only touch ownerReferences
//!   or finalizers are not checked (so the garbage collector can work);
//! - a binding's `roleRef` cannot change, and the objects are validated and
//!   defaulted as `pkg/apis/rbac/validation` and `pkg/apis/rbac/v1/defaults.go` do.

use serde_json::{Value, json};

use crate::authz::{self, RBAC_GROUP};
use crate::errors::{ApiError, Cause};
use crate::meta::meta_str;
use crate::ops::WriteReq;
use crate::registry::ResourceInfo;
use crate::store::State;

/// Metadata a write may change without being an RBAC change.
const GC_FIELDS: &[&str] = &["ownerReferences", "finalizers"];
/// Metadata the server itself sets on every write.
const SERVER_FIELDS: &[&str] = &["resourceVersion", "managedFields", "generation"];

/// Whether `new` differs from `old` only in the garbage collector's fields
/// (`rbacregistry.IsOnlyMutatingGCFields`).
fn only_gc_fields(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v["metadata"].as_object_mut() {
            for k in GC_FIELDS.iter().chain(SERVER_FIELDS) {
                m.remove(*k);
            }
        }
        v
    };
    strip(new) == strip(old)
}

fn required(field: String, detail: &str) -> Cause {
    let message = if detail.is_empty() {
        "Required value".to_string()
    } else {
        format!("Required value: {detail}")
    };
    Cause {
        reason: "FieldValueRequired".into(),
        message,
        field,
    }
}

fn not_supported(field: String, value: &str, supported: &[&str]) -> Cause {
    let supported: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    Cause {
        reason: "FieldValueNotSupported".into(),
        message: format!(
            "Unsupported value: {value:?}: supported values: {}",
            supported.join(", ")
        ),
        field,
    }
}

/// Go's `%#v` of a string list, as field errors print it: `[]string{"/a", "/b"}`.
fn go_strings(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[]string{{{}}}", items.join(", "))
}

fn non_empty(v: &Value) -> bool {
    v.as_array().is_some_and(|a| !a.is_empty())
}

/// `ValidatePolicyRule`.
fn rule_causes(rule: &Value, namespaced: bool, at: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    if !non_empty(&rule["verbs"]) {
        causes.push(required(
            format!("{at}.verbs"),
            "verbs must contain at least one value",
        ));
    }
    if non_empty(&rule["nonResourceURLs"]) {
        let urls = go_strings(&crate::registry::strings(&rule["nonResourceURLs"]));
        let invalid = |detail: &str| Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {urls}: {detail}"),
            field: format!("{at}.nonResourceURLs"),
        };
        if namespaced {
            causes.push(invalid(
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if ["apiGroups", "resources", "resourceNames"]
            .iter()
            .any(|k| non_empty(&rule[*k]))
        {
            causes.push(invalid(
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return causes;
    }
    if !non_empty(&rule["apiGroups"]) {
        causes.push(required(
            format!("{at}.apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if !non_empty(&rule["resources"]) {
        causes.push(required(
            format!("{at}.resources"),
            "resource rules must supply at least one resource",
        ));
    }
    causes
}

/// `ValidateRoleBindingSubject`.
fn subject_causes(subject: &Value, namespaced: bool, at: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let (kind, name, group) = (
        meta_str_at(subject, "kind"),
        meta_str_at(subject, "name"),
        meta_str_at(subject, "apiGroup"),
    );
    if name.is_empty() {
        causes.push(required(format!("{at}.name"), ""));
    }
    match kind {
        "ServiceAccount" => {
            if !group.is_empty() {
                causes.push(not_supported(format!("{at}.apiGroup"), group, &[""]));
            }
            if !namespaced && meta_str_at(subject, "namespace").is_empty() {
                causes.push(required(format!("{at}.namespace"), ""));
            }
        }
        "User" | "Group" => {
            if group != RBAC_GROUP {
                causes.push(not_supported(
                    format!("{at}.apiGroup"),
                    group,
                    &[RBAC_GROUP],
                ));
            }
        }
        other => causes.push(not_supported(
            format!("{at}.kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
    }
    causes
}

fn meta_str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// Field errors of an RBAC object (other kinds: none).
pub fn validation_causes(info: &ResourceInfo, obj: &Value) -> Vec<Cause> {
    if info.group != RBAC_GROUP {
        return Vec::new();
    }
    let mut causes = Vec::new();
    match info.plural.as_str() {
        "roles" | "clusterroles" => {
            for (i, rule) in obj["rules"].as_array().into_iter().flatten().enumerate() {
                causes.extend(rule_causes(
                    rule,
                    info.plural == "roles",
                    &format!("rules[{i}]"),
                ));
            }
        }
        "rolebindings" | "clusterrolebindings" => {
            let namespaced = info.plural == "rolebindings";
            let role_ref = &obj["roleRef"];
            let group = meta_str_at(role_ref, "apiGroup");
            if group != RBAC_GROUP {
                causes.push(not_supported(
                    "roleRef.apiGroup".into(),
                    group,
                    &[RBAC_GROUP],
                ));
            }
            let kinds: &[&str] = if namespaced {
                &["Role", "ClusterRole"]
            } else {
                &["ClusterRole"]
            };
            let kind = meta_str_at(role_ref, "kind");
            if !kinds.contains(&kind) {
                causes.push(not_supported("roleRef.kind".into(), kind, kinds));
            }
            let name = meta_str_at(role_ref, "name");
            if name.is_empty() {
                causes.push(required("roleRef.name".into(), ""));
            } else if let Some(why) = crate::meta::NameRule::PathSegment.check(name) {
                causes.push(Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!("Invalid value: {name:?}: {why}"),
                    field: "roleRef.name".into(),
                });
            }
            for (i, s) in obj["subjects"].as_array().into_iter().flatten().enumerate() {
                causes.extend(subject_causes(s, namespaced, &format!("subjects[{i}]")));
            }
        }
        _ => {}
    }
    causes
}

/// Defaults a binding's User and Group subjects to the RBAC API group
/// (`SetDefaults_Subject`).
pub fn default_subjects(obj: &mut Value) {
    for s in obj["subjects"].as_array_mut().into_iter().flatten() {
        if matches!(s["kind"].as_str(), Some("User" | "Group"))
            && meta_str_at(s, "apiGroup").is_empty()
        {
            s["apiGroup"] = json!(RBAC_GROUP);
        }
    }
}

fn rules_of(obj: &Value) -> Result<Vec<rbac::PolicyRule>, ApiError> {
    match obj.get("rules") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(r) => serde_json::from_value(r.clone()).map_err(|e| {
            ApiError::bad_request(format!(
                "rules of {:?} could not be read: {e}",
                meta_str(obj, "name")
            ))
        }),
    }
}

fn has_aggregation_rule(obj: &Value) -> bool {
    obj["aggregationRule"]["clusterRoleSelectors"]
        .as_array()
        .is_some_and(|s| !s.is_empty())
}

/// Checks a write of an RBAC object by the request's user; Ok for other kinds.
pub fn check(
    st: &mut State,
    req: &WriteReq<'_>,
    new: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let info = req.info;
    if info.group != RBAC_GROUP {
        return Ok(());
    }
    let plural = info.plural.as_str();
    let name = meta_str(new, "name");
    if plural.ends_with("bindings")
        && let Some(old) = old
        && old["roleRef"] != new["roleRef"]
    {
        return Err(ApiError::invalid(
            info.target(),
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {}: cannot change roleRef", new["roleRef"]),
                field: "roleRef".into(),
            }],
        ));
    }
    let user = req.user;
    if user.is_master() || old.is_some_and(|o| only_gc_fields(new, o)) {
        return Ok(());
    }
    let policy = authz::policy(st);
    let ns = req.namespace;
    let refuse = |why: String| ApiError::forbidden_request(RBAC_GROUP, plural, name, &why);
    let allowed =
        |attrs: rbac::Attributes| authz::decide(&policy, user, &attrs.in_namespace(ns)).allowed;
    match plural {
        "roles" | "clusterroles" => {
            // The escalate check names the object only when the URL does (not on POST).
            let url_name = if old.is_some() { name } else { "" };
            if allowed(rbac::Attributes::resource("escalate", RBAC_GROUP, plural).named(url_name)) {
                return Ok(());
            }
            let rbac_user = user.rbac_user();
            policy
                .confirm_no_escalation(&rbac_user, ns, &rules_of(new)?)
                .map_err(refuse)?;
            if plural == "clusterroles"
                && (has_aggregation_rule(new) || old.is_some_and(has_aggregation_rule))
                && policy
                    .confirm_no_escalation(&rbac_user, ns, &rbac::full_authority())
                    .is_err()
            {
                return Err(refuse(
                    "must have cluster-admin privileges to use the aggregationRule".into(),
                ));
            }
            Ok(())
        }
        "rolebindings" | "clusterrolebindings" => {
            let role_ref: rbac::RoleRef =
                serde_json::from_value(new["roleRef"].clone()).map_err(|e| {
                    ApiError::bad_request(format!("roleRef of {name:?} could not be read: {e}"))
                })?;
            let role_resource = if role_ref.kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            if allowed(
                rbac::Attributes::resource("bind", RBAC_GROUP, role_resource).named(&role_ref.name),
            ) {
                return Ok(());
            }
            let rules = policy.role_ref_rules(&role_ref, ns).map_err(refuse)?;
            policy
                .confirm_no_escalation(&user.rbac_user(), ns, rules)
                .map_err(refuse)
        }
        _ => Ok(()),
    }
}
