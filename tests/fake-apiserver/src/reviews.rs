//! The review resources, answered on create and never stored
//! (`pkg/registry/authorization/*`, `pkg/registry/authentication/selfsubjectreview`):
//! `SelfSubjectAccessReview` (`kubectl auth can-i`), `SubjectAccessReview`,
//! `LocalSubjectAccessReview`, `SelfSubjectRulesReview` (`kubectl auth can-i
//! --list`) and `SelfSubjectReview` (`kubectl auth whoami`).

use serde_json::{Value, json};

use crate::authz;
use crate::errors::{ApiError, Cause};
use crate::identity::UserInfo;
use crate::registry::{ResourceInfo, strings};

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn invalid(info: &ResourceInfo, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        info.target(),
        "",
        vec![Cause {
            reason: "FieldValueRequired".into(),
            message: message.into(),
            field: field.into(),
        }],
    )
}

/// The request a review's spec asks about (`resourceAttributes` or `nonResourceAttributes`).
fn review_attributes(info: &ResourceInfo, spec: &Value) -> Result<rbac::Attributes, ApiError> {
    let r = &spec["resourceAttributes"];
    let n = &spec["nonResourceAttributes"];
    match (r.is_object(), n.is_object()) {
        (true, false) => {
            Ok(
                rbac::Attributes::resource(s(r, "verb"), s(r, "group"), s(r, "resource"))
                    .in_namespace(s(r, "namespace"))
                    .named(s(r, "name"))
                    .subresource(s(r, "subresource")),
            )
        }
        (false, true) => Ok(rbac::Attributes::non_resource(s(n, "verb"), s(n, "path"))),
        (true, true) => Err(invalid(
            info,
            "spec.nonResourceAttributes",
            "Invalid value: \"\": cannot be specified in combination with resourceAttributes",
        )),
        (false, false) => Err(invalid(
            info,
            "spec.resourceAttributes",
            "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
    }
}

fn access_status(policy: &rbac::Policy, user: &UserInfo, attrs: &rbac::Attributes) -> Value {
    let d = authz::decide(policy, user, attrs);
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = json!(d.reason);
    }
    status
}

/// The user a SubjectAccessReview asks about: taken as given (no group is added).
fn subject_user(info: &ResourceInfo, spec: &Value) -> Result<UserInfo, ApiError> {
    let user = UserInfo {
        username: s(spec, "user").into(),
        uid: s(spec, "uid").into(),
        groups: strings(&spec["groups"]),
        extra: spec["extra"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), strings(v))).collect())
            .unwrap_or_default(),
    };
    if user.username.is_empty() && user.groups.is_empty() {
        return Err(invalid(
            info,
            "spec.user",
            "Invalid value: \"\": at least one of user or group must be specified",
        ));
    }
    Ok(user)
}

fn rules_status(resolved: rbac::ResolvedRules) -> Value {
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for r in resolved.rules {
        if r.resources.as_ref().is_some_and(|x| !x.is_empty()) {
            let mut rule = json!({"verbs": r.verbs, "apiGroups": r.api_groups.clone().unwrap_or_default(),
                "resources": r.resources.clone().unwrap_or_default()});
            if let Some(names) = r.resource_names.as_ref().filter(|n| !n.is_empty()) {
                rule["resourceNames"] = json!(names);
            }
            resource_rules.push(rule);
        }
        if let Some(urls) = r.non_resource_urls.as_ref().filter(|u| !u.is_empty()) {
            non_resource_rules.push(json!({"verbs": r.verbs, "nonResourceURLs": urls}));
        }
    }
    let mut status = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false});
    if !resolved.errors.is_empty() {
        status["evaluationError"] = json!(format!("[{}]", resolved.errors.join(", ")));
    }
    status
}

/// Answers a review created by `user` (the URL's namespace for
/// LocalSubjectAccessReviews): the body with its `status` filled in.
pub fn answer(
    policy: &rbac::Policy,
    user: &UserInfo,
    info: &ResourceInfo,
    namespace: &str,
    mut body: Value,
) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request could not be decoded as an object",
        ));
    }
    let spec = body["spec"].clone();
    let status = match info.plural.as_str() {
        "selfsubjectaccessreviews" => access_status(policy, user, &review_attributes(info, &spec)?),
        "subjectaccessreviews" => access_status(
            policy,
            &subject_user(info, &spec)?,
            &review_attributes(info, &spec)?,
        ),
        "localsubjectaccessreviews" => {
            let mut attrs = review_attributes(info, &spec)?;
            if !attrs.resource_request {
                return Err(invalid(
                    info,
                    "spec.nonResourceAttributes",
                    "Invalid value: \"\": disallowed on this kind of request",
                ));
            }
            if attrs.namespace.is_empty() {
                attrs.namespace = namespace.into();
                body["spec"]["resourceAttributes"]["namespace"] = json!(namespace);
            } else if attrs.namespace != namespace {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match namespace: {namespace}"
                )));
            }
            access_status(policy, &subject_user(info, &spec)?, &attrs)
        }
        "selfsubjectrulesreviews" => {
            let ns = s(&spec, "namespace");
            if ns.is_empty() {
                return Err(ApiError::bad_request("no namespace on request"));
            }
            rules_status(authz::rules_for(policy, user, ns))
        }
        "selfsubjectreviews" => json!({"userInfo": user}),
        other => return Err(ApiError::internal(format!("{other} is not a review"))),
    };
    body["apiVersion"] = json!(info.group_version(&info.storage_version));
    body["kind"] = json!(info.kind);
    if !body["metadata"].is_object() {
        body["metadata"] = json!({});
    }
    body["metadata"]["creationTimestamp"] = Value::Null;
    body["status"] = status;
    Ok(body)
}
