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
//! - a binding's `roleRef` cannot change (`pkg/apis/rbac/validation`).

use serde_json::Value;

use crate::authz::{self, RBAC_GROUP};
use crate::errors::{ApiError, Cause};
use crate::meta::meta_str;
use crate::ops::WriteReq;
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
