//! `metav1.Status` error bodies, exactly as the real kube-apiserver writes them
//! (apimachinery `pkg/api/errors/errors.go`). Every failure the server returns goes
//! through [`ApiError`], so clients (kube-rs, kubectl) always get a JSON Status with
//! the real HTTP code, never a text body.

use serde_json::{Value, json};

/// A failed API request, rendered as a `metav1.Status` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code (also the Status `code` field).
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The Status `details` object, if any.
    pub details: Option<Value>,
    /// Extra response headers (e.g. `Retry-After` for 429).
    pub retry_after: Option<u64>,
}

/// How a resource is named in error messages: `qr` (`configmaps`, `widgets.example.io`)
/// and the group and resource used in `details`.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// API group, empty for core.
    pub group: &'a str,
    /// Plural resource name.
    pub resource: &'a str,
    /// Kind, used by Invalid errors (`Widget.example.io`).
    pub kind: &'a str,
}

impl Target<'_> {
    /// `resource` for core, `resource.group` otherwise.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// `Kind` for core, `Kind.group` otherwise.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    fn details(&self, name: &str) -> Value {
        let mut d = json!({"name": name, "kind": self.resource});
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d
    }
}

/// One entry of `details.causes` in an Invalid or Conflict Status.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldManagerConflict`, ...
    pub reason: String,
    /// What is wrong.
    pub message: String,
    /// The field path, e.g. `metadata.name` or `.spec.size`.
    pub field: String,
}

impl Cause {
    fn to_json(&self) -> Value {
        json!({"reason": self.reason, "message": self.message, "field": self.field})
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 404 for an object that does not exist.
    pub fn not_found(t: Target<'_>, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", t.qualified_resource()),
        );
        e.details = Some(t.details(name));
        e
    }

    /// 404 for a path the server does not serve.
    pub fn unknown_path() -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details = Some(json!({}));
        e
    }

    /// 404 `namespaces "x" not found`.
    pub fn namespace_not_found(ns: &str) -> Self {
        Self::not_found(
            Target {
                group: "",
                resource: "namespaces",
                kind: "Namespace",
            },
            ns,
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(t: Target<'_>, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", t.qualified_resource()),
        );
        e.details = Some(t.details(name));
        e
    }

    /// 409 Conflict for a stale resourceVersion or a failed precondition.
    pub fn conflict(t: Target<'_>, name: &str) -> Self {
        Self::conflict_msg(
            t,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 Conflict with a custom explanation.
    pub fn conflict_msg(t: Target<'_>, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                t.qualified_resource()
            ),
        );
        e.details = Some(t.details(name));
        e
    }

    /// 409 Conflict of server-side apply, with `FieldManagerConflict` causes.
    pub fn apply_conflict(message: String, causes: Vec<Cause>) -> Self {
        let mut e = Self::new(409, "Conflict", message);
        e.details = Some(json!({"causes": causes.iter().map(Cause::to_json).collect::<Vec<_>>()}));
        e
    }

    /// 422 Invalid, message `Kind.group "n" is invalid: <cause>[, <cause>...]`.
    pub fn invalid(t: Target<'_>, name: &str, causes: Vec<Cause>) -> Self {
        let text = match causes.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!(
                "[{}]",
                many.iter()
                    .map(|c| format!("{}: {}", c.field, c.message))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {text}", t.qualified_kind()),
        );
        let mut d = json!({"name": name, "kind": t.kind,
            "causes": causes.iter().map(Cause::to_json).collect::<Vec<_>>()});
        if !t.group.is_empty() {
            d["group"] = json!(t.group);
        }
        e.details = Some(d);
        e
    }

    /// 422 Invalid for a request-level problem (no object involved), e.g. PatchOptions.
    pub fn invalid_options(kind_group: &str, causes: Vec<Cause>) -> Self {
        let text = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect::<Vec<_>>()
            .join(", ");
        let (kind, group) = kind_group.split_once('.').unwrap_or((kind_group, ""));
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{kind_group} \"\" is invalid: {text}"),
        );
        e.details = Some(json!({"group": group, "kind": kind,
            "causes": causes.iter().map(Cause::to_json).collect::<Vec<_>>()}));
        e
    }

    /// 422 with a free message (the generic "server rejected our request").
    pub fn unprocessable(message: impl Into<String>, cause: Option<String>) -> Self {
        let mut e = Self::new(422, "Invalid", message);
        if let Some(c) = cause {
            e.details = Some(json!({"causes": [{"message": c}]}));
        }
        e
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 403 Forbidden `qr "n" is forbidden: why`.
    pub fn forbidden(t: Target<'_>, name: &str, why: &str, cause: Option<Cause>) -> Self {
        let mut e = Self::new(
            403,
            "Forbidden",
            format!("{} \"{name}\" is forbidden: {why}", t.qualified_resource()),
        );
        let mut d = json!({"name": name, "kind": t.resource});
        if !t.group.is_empty() {
            d["group"] = json!(t.group);
        }
        if let Some(c) = cause {
            d["causes"] = json!([c.to_json()]);
        }
        e.details = Some(d);
        e
    }

    /// 403 Forbidden as `apierrors.NewForbidden(groupResource, name, err)`:
    /// `qr "n" is forbidden: why`, `qr is forbidden: why` without a name, and
    /// `forbidden: why` without a resource (non-resource paths).
    pub fn forbidden_request(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let t = Target {
            group,
            resource,
            kind: "",
        };
        let message = match (resource.is_empty(), name.is_empty()) {
            (true, _) => format!("forbidden: {why}"),
            (false, true) => format!("{} is forbidden: {why}", t.qualified_resource()),
            (false, false) => format!("{} {name:?} is forbidden: {why}", t.qualified_resource()),
        };
        let mut e = Self::new(403, "Forbidden", message);
        e.details = Some(t.details(name));
        e
    }

    /// 401 Unauthorized, as kube-apiserver answers a request whose credentials
    /// it does not recognise.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 410 Expired.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 504 Timeout for a resourceVersion newer than the server's.
    pub fn too_large_rv(asked: u64, current: u64) -> Self {
        let mut e = Self::new(
            504,
            "Timeout",
            format!("Too large resource version: {asked}, current: {current}"),
        );
        e.details = Some(
            json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
        );
        // The apiserver turns retryAfterSeconds into a Retry-After header.
        e.retry_after = Some(1);
        e
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        let mut e = Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        );
        e.details = Some(json!({}));
        e
    }

    /// 415 for a patch type the resource does not accept.
    pub fn unsupported_media_type(builtin: bool) -> Self {
        let mut types =
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".to_string();
        if builtin {
            types.push_str(", application/strategic-merge-patch+json");
        }
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {types}"
            ),
        )
    }

    /// 406 when the client accepts only protobuf or CBOR.
    pub fn not_acceptable() -> Self {
        Self::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
    }

    /// 501 for a recognised but unimplemented feature; `what` names it and the request.
    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            501,
            "NotImplemented",
            format!("mock-apiserver: not implemented: {what}"),
        )
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// 429 TooManyRequests (fault injection).
    pub fn too_many_requests() -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        );
        e.details = Some(json!({"retryAfterSeconds": 1}));
        e.retry_after = Some(1);
        e
    }

    /// The `metav1.Status` body.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The Success Status returned when a DELETE removed the object at once.
pub fn delete_success(t: Target<'_>, name: &str, uid: &str) -> Value {
    let mut d = t.details(name);
    d["uid"] = json!(uid);
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d})
}
