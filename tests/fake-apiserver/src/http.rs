//! HTTP routing (spec §2.1) and request handling: turns a request into a call on
//! [`crate::ops`], [`crate::watch`], discovery or OpenAPI, and the result into a
//! JSON response. Every failure is a `metav1.Status`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::authn;
use crate::authz;
use crate::discovery;
use crate::errors::{self, ApiError};
use crate::faults::Injected;
use crate::identity::UserInfo;
use crate::meta::meta_str;
use crate::openapi;
use crate::ops::{self, DeleteOpts, PatchType, Sub, WriteReq};
use crate::registry::ResourceInfo;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::server::Server;
use crate::store::{Obj, WatchFilter};
use crate::table::{self, IncludeObject};
use crate::validate::FieldValidation;

/// Largest accepted request body.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The router serving every path through one handler.
pub fn router(server: Arc<Server>) -> Router {
    Router::new().fallback(handle).with_state(server)
}

/// Parsed query parameters (the empty first pair kube-rs sends is skipped).
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parameters this server understands; others are logged once and ignored,
    /// as the apiserver ignores them.
    const KNOWN: &'static [&'static str] = &[
        "watch",
        "resourceVersion",
        "resourceVersionMatch",
        "timeoutSeconds",
        "allowWatchBookmarks",
        "sendInitialEvents",
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "fieldManager",
        "fieldValidation",
        "force",
        "dryRun",
        "propagationPolicy",
        "orphanDependents",
        "gracePeriodSeconds",
        "includeObject",
        "pretty",
        "hash",
        "timeout",
    ];

    fn unknown(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !Self::KNOWN.contains(k))
    }

    /// Parses a raw query string.
    pub fn parse(q: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// A parameter's value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`true`/`1`).
    pub fn flag(&self, k: &str) -> Option<bool> {
        self.get(k).map(|v| v == "true" || v == "1")
    }
}

/// What the client accepts for a resource response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain JSON objects and lists.
    Json,
    /// meta.k8s.io/v1 Table.
    Table,
    /// PartialObjectMetadata(List).
    Partial,
}

fn negotiate(accept: &str) -> Result<Format, ApiError> {
    if accept.trim().is_empty() {
        return Ok(Format::Json);
    }
    let mut only_binary = true;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let mt = parts.next().unwrap_or("");
        let params: Vec<&str> = parts.collect();
        if !matches!(
            mt,
            "application/json"
                | "*/*"
                | "application/*"
                | "application/yaml"
                | "text/*"
                | "application/json-seq"
        ) {
            continue;
        }
        only_binary = false;
        let as_ = params.iter().find_map(|p| p.strip_prefix("as="));
        match as_ {
            None => return Ok(Format::Json),
            Some("Table") => return Ok(Format::Table),
            Some("PartialObjectMetadata" | "PartialObjectMetadataList") => {
                return Ok(Format::Partial);
            }
            Some(_) => {}
        }
    }
    if only_binary {
        Err(ApiError::not_acceptable())
    } else {
        Ok(Format::Json)
    }
}

/// A JSON response.
pub fn json_response(code: u16, v: &Value) -> Response {
    bytes_response(
        code,
        serde_json::to_vec(v).unwrap_or_default(),
        "application/json",
    )
}

fn bytes_response(code: u16, body: Vec<u8>, ct: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

/// A Status error response.
pub fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(s) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

struct Ctx {
    server: Arc<Server>,
    method: Method,
    path: String,
    raw_query: String,
    query: Query,
    headers: HeaderMap,
    body: Bytes,
    /// The authenticated (and possibly impersonated) user.
    user: UserInfo,
}

impl Ctx {
    fn header(&self, h: header::HeaderName) -> &str {
        self.headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn describe(&self) -> String {
        if self.raw_query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.raw_query)
        }
    }

    fn not_implemented(&self, what: &str) -> ApiError {
        let full = format!("{what} ({})", self.describe());
        self.server.metrics.unsupported(full.clone());
        ApiError::not_implemented(&full)
    }

    fn manager(&self) -> String {
        if let Some(m) = self.query.get("fieldManager").filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        let ua = self.header(header::USER_AGENT);
        let name = ua.split('/').next().unwrap_or("");
        if name.is_empty() {
            "unknown".into()
        } else {
            name.to_string()
        }
    }

    fn dry_run(&self) -> Result<bool, ApiError> {
        match self.query.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::invalid_options(
                "CreateOptions.meta.k8s.io",
                vec![errors::Cause {
                    reason: "FieldValueNotSupported".into(),
                    message: format!("Unsupported value: \"{other}\": supported values: \"All\""),
                    field: "dryRun".into(),
                }],
            )),
        }
    }
}

async fn handle(AxState(server): AxState<Arc<Server>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "could not read the request body: {e}"
            )));
        }
    };
    let query = Query::parse(parts.uri.query());
    let path = parts.uri.path().to_string();
    let user = match admit(
        &server,
        parts.method.as_str(),
        &path,
        &query,
        &parts.headers,
    ) {
        Ok(u) => u,
        Err(refusal) => {
            let (attrs, e) = *refusal;
            // The labels of an answered request: `plural[.group]`, or the path.
            let resource = match (attrs.resource_request, attrs.api_group.is_empty()) {
                (false, _) => attrs.path.clone(),
                (true, true) => attrs.resource.clone(),
                (true, false) => format!("{}.{}", attrs.resource, attrs.api_group),
            };
            server.metrics.record(&attrs.verb, &resource, e.code);
            return error_response(&e);
        }
    };
    let ctx = Ctx {
        server: server.clone(),
        method: parts.method,
        path,
        raw_query: parts.uri.query().unwrap_or("").to_string(),
        query,
        headers: parts.headers,
        body,
        user,
    };
    for k in ctx.query.unknown() {
        server.metrics.unknown_param(k);
    }
    let (verb, resource, resp) = match dispatch(&ctx).await {
        Ok(x) => x,
        Err(b) => {
            let (verb, resource, e) = *b;
            (verb, resource, error_response(&e))
        }
    };
    server
        .metrics
        .record(&verb, &resource, resp.status().as_u16());
    resp
}

/// A refused request: the attributes it was refused for (to count it) and the error.
type Refusal = Box<(rbac::Attributes, ApiError)>;

/// Authentication, impersonation and authorization, in kube-apiserver's filter
/// order: the user the request acts as, or the refusal.
fn admit(
    server: &Server,
    method: &str,
    path: &str,
    query: &Query,
    headers: &HeaderMap,
) -> Result<UserInfo, Refusal> {
    let attrs = || authz::request_attributes(method, path, query);
    let requestor = server
        .authn
        .authenticate(headers)
        .map_err(|e| Box::new((attrs(), e)))?;
    let asked = authn::requested(headers).map_err(|e| Box::new((attrs(), e)))?;
    let user = if asked.is_empty() {
        requestor
    } else {
        let mut st = server.lock();
        for imp in &asked {
            let imp_attrs = imp.attributes();
            authz::authorize(&mut st, &requestor, &imp_attrs)
                .map_err(|e| Box::new((imp_attrs, e)))?;
        }
        authn::acting_as(&asked)
    };
    // system:masters is allowed everything: skip building the attributes.
    if !user.is_master() {
        let a = attrs();
        authz::authorize(&mut server.lock(), &user, &a).map_err(|e| Box::new((a, e)))?;
    }
    Ok(user)
}

/// An apply that creates the object also needs `create` (a PUT never creates here)
/// (`handlers/rest.go` `withAuthorization`; its refusal carries only the
/// authorizer's reason, as upstream's does).
fn authorize_create_on_update(
    ctx: &Ctx,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    if ctx.user.is_master() {
        return Ok(());
    }
    let mut st = ctx.server.lock();
    if st.get(&info.storage_key(), namespace, name).is_some() {
        return Ok(());
    }
    let attrs = rbac::Attributes::resource("create", &info.group, &info.plural)
        .in_namespace(namespace)
        .named(name);
    let d = authz::decide(&authz::policy(&mut st), &ctx.user, &attrs);
    if d.allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden_request(
            &info.group,
            &info.plural,
            name,
            &d.reason,
        ))
    }
}

type Outcome = Result<(String, String, Response), Box<(String, String, ApiError)>>;

async fn dispatch(ctx: &Ctx) -> Outcome {
    let p = ctx.path.trim_end_matches('/');
    let p = if p.is_empty() { "/" } else { p };
    let nonres = |r: Result<Response, ApiError>| match r {
        Ok(resp) => Ok(("get".to_string(), p.to_string(), resp)),
        Err(e) => Err(Box::new(("get".to_string(), p.to_string(), e))),
    };
    if !p.starts_with("/api/") && !p.starts_with("/apis/") || p.starts_with("/api/v1/watch") {
        if ctx.method != Method::GET && p != "/" {
            return nonres(Err(ApiError::method_not_allowed()));
        }
        return nonres(non_resource(ctx, p));
    }
    let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", _] => return nonres(non_resource(ctx, p)),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return nonres(Err(ApiError::unknown_path())),
    };
    if rest.is_empty() {
        if ctx.method != Method::GET {
            return nonres(Err(ApiError::method_not_allowed()));
        }
        let reg = ctx.server.lock().registry.clone();
        return nonres(
            discovery::api_resource_list(&reg, group, version)
                .map(|v| json_response(200, &v))
                .ok_or_else(ApiError::unknown_path),
        );
    }
    let resolved = {
        let st = ctx.server.lock();
        resolve(&st.registry, group, version, rest)
    };
    let Some((info, target)) = resolved else {
        return Err(Box::new((
            "unknown".into(),
            p.to_string(),
            ApiError::unknown_path(),
        )));
    };
    let mut resource = if info.group.is_empty() {
        info.plural.clone()
    } else {
        format!("{}.{}", info.plural, info.group)
    };
    if let Target::Object { sub: Some(s), .. } = &target {
        resource = format!("{resource}/{s}");
    }
    let verb = verb_of(ctx, &target);
    if let Some(e) = inject_fault(ctx, &resource).await {
        return Err(Box::new((verb, resource, e)));
    }
    if info.webhook_conversion && version != info.storage_version {
        return Err(Box::new((
            verb,
            resource,
            ctx.not_implemented("conversion webhooks"),
        )));
    }
    let result = serve_resource(ctx, &info, version, target).await;
    match result {
        Ok(r) => Ok((verb, resource, r)),
        Err(e) => Err(Box::new((verb, resource, e))),
    }
}

/// Applies the configured faults to a resource request: added latency, then
/// possibly an injected 500 or 429 (counted under the request's own verb and
/// resource, like any other answer).
async fn inject_fault(ctx: &Ctx, resource: &str) -> Option<ApiError> {
    let faults = ctx.server.faults();
    let latency = faults.latency_for(ctx.header(header::USER_AGENT));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let watch = ctx.method == Method::GET && ctx.query.flag("watch") == Some(true);
    match faults.roll(resource) {
        Injected::None if watch && faults.fail_watch() => {
            Some(ApiError::internal("injected fault: watch start failed"))
        }
        Injected::None => None,
        Injected::Error => Some(ApiError::internal("injected fault: internal error")),
        Injected::Throttle => Some(ApiError::too_many_requests()),
    }
}

fn verb_of(ctx: &Ctx, t: &Target) -> String {
    let v = match (&ctx.method, t) {
        (&Method::GET, Target::Collection { .. }) if ctx.query.flag("watch") == Some(true) => {
            "watch"
        }
        (&Method::GET, Target::Collection { .. }) => "list",
        (&Method::POST, _) => "create",
        (&Method::DELETE, Target::Collection { .. }) => "deletecollection",
        (&Method::GET, _) => "get",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, _) => "delete",
        (m, _) => return m.as_str().to_lowercase(),
    };
    v.to_string()
}

/// What a resource path names.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A collection; `namespace` None means all namespaces (or cluster-scoped).
    Collection {
        /// Namespace from the URL.
        namespace: Option<String>,
    },
    /// One object, optionally a subresource.
    Object {
        /// Namespace ("" for cluster-scoped).
        namespace: String,
        /// Object name.
        name: String,
        /// Subresource.
        sub: Option<String>,
    },
}

fn resolve(
    reg: &crate::registry::Registry,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Option<(Arc<ResourceInfo>, Target)> {
    let get = |r: &str| reg.resolve(group, version, r);
    let obj = |ns: &str, n: &str, s: Option<&str>| Target::Object {
        namespace: ns.into(),
        name: n.into(),
        sub: s.map(String::from),
    };
    match rest {
        [r] => Some((get(r)?, Target::Collection { namespace: None })),
        ["namespaces", ns, r] => match get(r).filter(|i| i.namespaced) {
            Some(info) => Some((
                info,
                Target::Collection {
                    namespace: Some(ns.to_string()),
                },
            )),
            None if group.is_empty() => Some((get("namespaces")?, obj("", ns, Some(r)))),
            None => None,
        },
        [r, n] => get(r)
            .filter(|i| !i.namespaced)
            .map(|i| (i, obj("", n, None))),
        [r, n, s] => get(r)
            .filter(|i| !i.namespaced)
            .map(|i| (i, obj("", n, Some(s)))),
        ["namespaces", ns, r, n] => get(r)
            .filter(|i| i.namespaced)
            .map(|i| (i, obj(ns, n, None))),
        ["namespaces", ns, r, n, s] => get(r)
            .filter(|i| i.namespaced)
            .map(|i| (i, obj(ns, n, Some(s)))),
        _ => None,
    }
}

fn non_resource(ctx: &Ctx, p: &str) -> Result<Response, ApiError> {
    let s = &ctx.server;
    let accept = ctx.header(header::ACCEPT);
    match p {
        "/healthz" | "/readyz" | "/livez" => Ok(bytes_response(
            200,
            b"ok".to_vec(),
            "text/plain; charset=utf-8",
        )),
        "/version" => Ok(json_response(200, &version_info(s.opts.version_minor))),
        "/debug/requests" => Ok(json_response(200, &s.metrics.snapshot().to_json())),
        "/openapi/v2" | "/swagger.json" => Err(ApiError::unknown_path()),
        "/openapi/v3" => {
            let reg = s.lock().registry.clone();
            Ok(json_response(200, &openapi::index(&reg)))
        }
        "/api" => {
            if discovery::wants_aggregated(accept) {
                let reg = s.lock().registry.clone();
                Ok(bytes_response(
                    200,
                    serde_json::to_vec(&discovery::aggregated(&reg, true)).unwrap_or_default(),
                    discovery::AGGREGATED_CONTENT_TYPE,
                ))
            } else {
                Ok(json_response(
                    200,
                    &discovery::api_versions(&s.opts.address),
                ))
            }
        }
        "/apis" => {
            let reg = s.lock().registry.clone();
            if discovery::wants_aggregated(accept) {
                Ok(bytes_response(
                    200,
                    serde_json::to_vec(&discovery::aggregated(&reg, false)).unwrap_or_default(),
                    discovery::AGGREGATED_CONTENT_TYPE,
                ))
            } else {
                Ok(json_response(200, &discovery::api_group_list(&reg)))
            }
        }
        _ => {
            if let Some(gv) = p.strip_prefix("/openapi/v3/") {
                let reg = s.lock().registry.clone();
                let (g, v) = match gv.split('/').collect::<Vec<_>>().as_slice() {
                    ["api", v] => (String::new(), v.to_string()),
                    ["apis", g, v] => (g.to_string(), v.to_string()),
                    _ => return Err(ApiError::unknown_path()),
                };
                return openapi::group_version_doc(&reg, &g, &v)
                    .map(|d| json_response(200, &d))
                    .ok_or_else(ApiError::unknown_path);
            }
            if let Some(g) = p.strip_prefix("/apis/") {
                let reg = s.lock().registry.clone();
                return discovery::api_group(&reg, g)
                    .map(|d| json_response(200, &d))
                    .ok_or_else(ApiError::unknown_path);
            }
            Err(ApiError::unknown_path())
        }
    }
}

/// `/version` body.
pub fn version_info(minor: u32) -> Value {
    json!({"major": "1", "minor": minor.to_string(), "emulationMajor": "1", "emulationMinor": minor.to_string(),
        "minCompatibilityMajor": "1", "minCompatibilityMinor": minor.saturating_sub(1).to_string(),
        "gitVersion": format!("v1.{minor}.0-fake"), "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0 (fake-apiserver, Rust)",
        "compiler": "gc", "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a })})
}

async fn serve_resource(
    ctx: &Ctx,
    info: &Arc<ResourceInfo>,
    version: &str,
    target: Target,
) -> Result<Response, ApiError> {
    let ct = ctx.header(header::CONTENT_TYPE).to_string();
    let mut body = ctx.body.clone();
    if !body.is_empty()
        && ctx.method != Method::PATCH
        && (ct.contains("protobuf") || ct.contains("cbor"))
    {
        // kubectl's typed clients (`create <kind>`, `auth can-i`) send protobuf.
        let decoded = if ct.starts_with(crate::protobuf::CONTENT_TYPE) {
            crate::protobuf::decode_object(&body).map_err(|e| e.to_string())
        } else {
            Err("only JSON, YAML and protobuf bodies are decoded".to_string())
        };
        match decoded {
            Ok(obj) => body = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default()),
            Err(why) => {
                return Err(ApiError {
                    code: 415,
                    reason: "UnsupportedMediaType",
                    message: format!(
                        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct}: {why})"
                    ),
                    details: None,
                    retry_after: None,
                });
            }
        }
    }
    let format = negotiate(ctx.header(header::ACCEPT))?;
    if info.create_only {
        return match (&ctx.method, target) {
            (&Method::POST, Target::Collection { namespace }) => {
                let body = parse_body(&body)?;
                let policy = authz::policy(&mut ctx.server.lock());
                let ns = namespace.unwrap_or_default();
                let answer = crate::reviews::answer(&policy, &ctx.user, info, &ns, body)?;
                Ok(json_response(201, &answer))
            }
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    let include = match ctx.query.get("includeObject") {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    };
    match target {
        Target::Collection { namespace } => {
            let ns = namespace.unwrap_or_default();
            match ctx.method {
                Method::GET if ctx.query.flag("watch") == Some(true) => crate::watch::start(
                    ctx.server.clone(),
                    info.clone(),
                    version,
                    &ns,
                    &ctx.query,
                    format,
                    include,
                ),
                Method::GET => list(ctx, info, version, &ns, format, include),
                Method::POST => {
                    if info.namespaced && ns.is_empty() {
                        return Err(ApiError::method_not_allowed());
                    }
                    let body = parse_body(&body)?;
                    let manager = ctx.manager();
                    let req = write_req(ctx, info, version, &ns, &manager, Sub::Main)?;
                    let w = {
                        let mut st = ctx.server.lock();
                        ops::create(&mut st, &ctx.server.clock, &req, body)?
                    };
                    ctx.server.gc_notify.notify_one();
                    Ok(with_warnings(
                        object_response(
                            ctx,
                            info,
                            version,
                            &w.obj,
                            if w.created { 201 } else { 200 },
                            format,
                            include,
                        ),
                        &w.warnings,
                    ))
                }
                Method::DELETE => delete_collection(ctx, info, version, &ns),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        Target::Object {
            namespace,
            name,
            sub,
        } => {
            let subr = match sub.as_deref() {
                None => Sub::Main,
                Some("status") if info.status => Sub::Status,
                Some("finalize")
                    if info.group.is_empty()
                        && info.plural == "namespaces"
                        && ctx.method == Method::PUT =>
                {
                    return finalize_namespace(ctx, info, &name);
                }
                Some("status") => return Err(ApiError::unknown_path()),
                Some("scale") if crate::scale::serves(info) => {
                    return scale_subresource(ctx, info, &namespace, &name, &ct);
                }
                Some(other) => return Err(ctx.not_implemented(&format!("subresource {other}"))),
            };
            match ctx.method {
                Method::GET => {
                    let obj = ctx
                        .server
                        .lock()
                        .get(&info.storage_key(), &namespace, &name);
                    let obj = obj.ok_or_else(|| ApiError::not_found(info.target(), &name))?;
                    Ok(object_response(
                        ctx, info, version, &obj, 200, format, include,
                    ))
                }
                Method::PUT => {
                    let body = parse_body(&body)?;
                    let manager = ctx.manager();
                    let req = write_req(ctx, info, version, &namespace, &manager, subr)?;
                    let w = {
                        let mut st = ctx.server.lock();
                        ops::update(&mut st, &ctx.server.clock, &req, &name, body)?
                    };
                    ctx.server.gc_notify.notify_one();
                    Ok(with_warnings(
                        object_response(ctx, info, version, &w.obj, 200, format, include),
                        &w.warnings,
                    ))
                }
                Method::PATCH => {
                    let Some(ptype) = PatchType::from_content_type(&ct) else {
                        return Err(ApiError::unsupported_media_type(info.builtin));
                    };
                    let manager = if ptype == PatchType::Apply {
                        ctx.query.get("fieldManager").unwrap_or("").to_string()
                    } else {
                        ctx.manager()
                    };
                    if ptype == PatchType::Apply {
                        authorize_create_on_update(ctx, info, &namespace, &name)?;
                    }
                    let req = write_req(ctx, info, version, &namespace, &manager, subr)?;
                    let force = ctx.query.get("force").map(|v| v == "true" || v == "1");
                    let w = {
                        let mut st = ctx.server.lock();
                        ops::patch(
                            &mut st,
                            &ctx.server.clock,
                            &req,
                            &name,
                            ptype,
                            &ctx.body,
                            force,
                        )?
                    };
                    ctx.server.gc_notify.notify_one();
                    let code = if w.created { 201 } else { 200 };
                    Ok(with_warnings(
                        object_response(ctx, info, version, &w.obj, code, format, include),
                        &w.warnings,
                    ))
                }
                Method::DELETE if subr == Sub::Main => {
                    // The decoded body: Helm sends DeleteOptions as protobuf.
                    let opts = delete_opts(ctx, &body)?;
                    let r = {
                        let mut st = ctx.server.lock();
                        ops::delete(
                            &mut st,
                            &ctx.server.clock,
                            info,
                            (&namespace, &name),
                            &opts,
                            &ctx.user,
                        )?
                    };
                    ctx.server.gc_notify.notify_one();
                    match r {
                        ops::Deleted::Gone(obj) => {
                            let code = if opts.orphan_dependents == Some(false) {
                                202
                            } else {
                                200
                            };
                            Ok(json_response(
                                code,
                                &errors::delete_success(
                                    info.target(),
                                    &name,
                                    meta_str(&obj, "uid"),
                                ),
                            ))
                        }
                        ops::Deleted::Pending(obj) => Ok(object_response(
                            ctx, info, version, &obj, 200, format, include,
                        )),
                    }
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
    }
}

fn finalize_namespace(
    ctx: &Ctx,
    info: &Arc<ResourceInfo>,
    name: &str,
) -> Result<Response, ApiError> {
    let body = parse_body(&ctx.body)?;
    let wanted = body["spec"]["finalizers"].clone();
    let manager = ctx.manager();
    let req = write_req(
        ctx,
        info,
        &info.storage_version,
        "",
        &manager,
        Sub::Finalize,
    )?;
    {
        let mut st = ctx.server.lock();
        ops::internal_update(&mut st, &ctx.server.clock, &req, name, |o| {
            o["spec"]["finalizers"] = if wanted.is_null() { json!([]) } else { wanted };
        })?;
    }
    ctx.server.gc_notify.notify_one();
    let obj = ctx.server.lock().get(&info.key(), "", name);
    match obj {
        Some(o) => Ok(json_response(200, &o)),
        None => Ok(json_response(200, &body)),
    }
}

/// `GET`, `PUT` and `PATCH` (merge, strategic, JSON patch) of a workload's `/scale`
/// (see [`crate::scale`]): the write sets the parent's `spec.replicas`.
fn scale_subresource(
    ctx: &Ctx,
    info: &Arc<ResourceInfo>,
    namespace: &str,
    name: &str,
    content_type: &str,
) -> Result<Response, ApiError> {
    let current = ctx
        .server
        .lock()
        .get(&info.key(), namespace, name)
        .ok_or_else(|| ApiError::not_found(info.target(), name))?;
    let scale = crate::scale::of(&current);
    let wanted = match ctx.method {
        Method::GET => return Ok(json_response(200, &scale)),
        Method::PUT => parse_body(&ctx.body)?,
        Method::PATCH => {
            let mut patched = scale.clone();
            match PatchType::from_content_type(content_type) {
                // A Scale has no lists: a strategic merge patch merges as a JSON merge patch.
                Some(PatchType::Merge | PatchType::Strategic) => {
                    let patch = parse_body(&ctx.body)?;
                    json_patch::merge(&mut patched, &patch);
                }
                Some(PatchType::Json) => ops::json_patch_apply(&mut patched, &ctx.body)?,
                Some(PatchType::Apply) => {
                    return Err(ctx.not_implemented("server-side apply of subresource scale"));
                }
                None => return Err(ApiError::unsupported_media_type(info.builtin)),
            }
            patched
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    let replicas = crate::scale::replicas(&wanted, info.target(), name)?;
    let precondition = wanted["metadata"]["resourceVersion"]
        .as_str()
        .filter(|rv| !rv.is_empty());
    if precondition.is_some_and(|rv| Some(rv) != current["metadata"]["resourceVersion"].as_str()) {
        return Err(ApiError::conflict(info.target(), name));
    }
    let manager = ctx.manager();
    let req = write_req(
        ctx,
        info,
        &info.storage_version,
        namespace,
        &manager,
        Sub::Scale,
    )?;
    let written = {
        let mut st = ctx.server.lock();
        ops::internal_update(&mut st, &ctx.server.clock, &req, name, |o| {
            o["spec"]["replicas"] = json!(replicas);
        })?
    };
    ctx.server.gc_notify.notify_one();
    Ok(json_response(200, &crate::scale::of(&written.obj)))
}

fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

fn parse_body(b: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice(b) {
        Ok(v) => Ok(v),
        Err(je) => {
            let text = std::str::from_utf8(b)
                .map_err(|_| ApiError::bad_request("the request body is not UTF-8 JSON or YAML"))?;
            serde_saphyr::from_str(text).map_err(|_| {
                ApiError::bad_request(format!("the request body could not be decoded: {je}"))
            })
        }
    }
}

fn write_req<'a>(
    ctx: &'a Ctx,
    info: &'a Arc<ResourceInfo>,
    version: &'a str,
    ns: &'a str,
    manager: &'a str,
    sub: Sub,
) -> Result<WriteReq<'a>, ApiError> {
    Ok(WriteReq {
        info,
        version,
        namespace: ns,
        manager,
        dry_run: ctx.dry_run()?,
        validation: FieldValidation::parse(ctx.query.get("fieldValidation"))?,
        sub,
        user: &ctx.user,
    })
}

fn delete_opts(ctx: &Ctx, body: &[u8]) -> Result<DeleteOpts, ApiError> {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        parse_body(body)?
    };
    let s = |k: &str| {
        body[k]
            .as_str()
            .map(String::from)
            .or_else(|| ctx.query.get(k).map(String::from))
    };
    let dry_body = body["dryRun"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == "All"));
    Ok(DeleteOpts {
        propagation: s("propagationPolicy"),
        orphan_dependents: body["orphanDependents"]
            .as_bool()
            .or_else(|| ctx.query.flag("orphanDependents")),
        uid: body["preconditions"]["uid"].as_str().map(String::from),
        resource_version: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(String::from),
        dry_run: dry_body || ctx.dry_run()?,
    })
}

fn object_response(
    ctx: &Ctx,
    info: &ResourceInfo,
    version: &str,
    obj: &Value,
    code: u16,
    format: Format,
    include: IncludeObject,
) -> Response {
    match format {
        Format::Json => {
            if info.storage_version == version && !info.stored_elsewhere() {
                json_response(code, obj)
            } else {
                json_response(code, &ops::served(obj, info, version))
            }
        }
        Format::Partial => json_response(code, &table::partial_metadata(obj)),
        Format::Table => {
            let now = ctx.server.clock.peek_seconds();
            let t = table::table(
                info,
                version,
                &[Arc::new(obj.clone())],
                meta_str(obj, "resourceVersion"),
                None,
                include,
                now,
            );
            json_response(code, &t)
        }
    }
}

/// Selector and namespace filter from the query.
pub fn filter_from(q: &Query, info: &ResourceInfo, ns: &str) -> Result<WatchFilter, ApiError> {
    let mut fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or(""), info.field_labels)?;
    if info.stored_elsewhere() {
        // Selectors are evaluated on stored objects: an `events.k8s.io` label
        // (`regarding.name`) reads the core Event's field (`involvedObject.name`).
        fields = fields.relabel(crate::event_api::core_field_label);
    }
    Ok(WatchFilter {
        namespace: (!ns.is_empty()).then(|| ns.to_string()),
        labels: LabelSelector::parse(q.get("labelSelector").unwrap_or(""))?,
        fields,
    })
}

/// Checks resourceVersion/resourceVersionMatch of a list or watch; returns the asked RV.
pub fn check_rv_params(q: &Query, current: u64, watch: bool) -> Result<Option<u64>, ApiError> {
    let rv = q.get("resourceVersion").filter(|s| !s.is_empty());
    let rvm = q.get("resourceVersionMatch").filter(|s| !s.is_empty());
    if rvm.is_some() && rv.is_none() && !(watch && q.flag("sendInitialEvents") == Some(true)) {
        return Err(ApiError::invalid_options(
            "ListOptions.meta.k8s.io",
            vec![errors::Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
                field: "resourceVersionMatch".into(),
            }],
        ));
    }
    if let Some(m) = rvm
        && !matches!(m, "NotOlderThan" | "Exact")
    {
        return Err(ApiError::invalid_options(
            "ListOptions.meta.k8s.io",
            vec![errors::Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: \"{m}\": supported values: \"Exact\", \"NotOlderThan\""
                ),
                field: "resourceVersionMatch".into(),
            }],
        ));
    }
    let Some(rv) = rv else { return Ok(None) };
    let n: u64 = rv.parse().map_err(|_| {
        ApiError::invalid_options(
            "ListOptions.meta.k8s.io",
            vec![errors::Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: \"{rv}\": must be a valid resourceVersion"),
                field: "resourceVersion".into(),
            }],
        )
    })?;
    if !watch && n > current {
        return Err(ApiError::too_large_rv(n, current));
    }
    if !watch && rvm == Some("Exact") && n != current && n != 0 {
        return Err(ApiError::not_implemented(&format!(
            "resourceVersionMatch=Exact with a historical resourceVersion {n}"
        )));
    }
    Ok(Some(n))
}

fn encode_token(rv: u64, id: u64, offset: usize) -> String {
    let raw = format!("{{\"rv\":{rv},\"id\":{id},\"start\":{offset}}}");
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(t: &str) -> Option<(u64, u64, usize)> {
    let bytes: Option<Vec<u8>> = (0..t.len())
        .step_by(2)
        .map(|i| t.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    let v: Value = serde_json::from_slice(&bytes?).ok()?;
    Some((
        v["rv"].as_u64()?,
        v["id"].as_u64()?,
        usize::try_from(v["start"].as_u64()?).ok()?,
    ))
}

fn list(
    ctx: &Ctx,
    info: &Arc<ResourceInfo>,
    version: &str,
    ns: &str,
    format: Format,
    include: IncludeObject,
) -> Result<Response, ApiError> {
    let q = &ctx.query;
    let filter = filter_from(q, info, ns)?;
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let cont = q.get("continue").filter(|c| !c.is_empty());
    let expired = || {
        ApiError::expired(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        )
    };
    let (rv, items, start, snap_id) = {
        let st = ctx.server.lock();
        if let Some(t) = cont {
            if q.get("resourceVersion")
                .is_some_and(|r| !r.is_empty() && r != "0")
            {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            let (rv, id, start) = decode_token(t).ok_or_else(|| {
                ApiError::bad_request(
                    "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
                )
            })?;
            let (srv, items) = st.snapshot(id).ok_or_else(expired)?;
            if srv != rv {
                return Err(expired());
            }
            (rv, items, start, Some(id))
        } else {
            check_rv_params(q, st.rv(), false)?;
            let ns_opt = (!ns.is_empty()).then_some(ns);
            let all = st.list(&info.storage_key(), ns_opt);
            let items: Vec<Obj> = if filter.labels.is_empty() && filter.fields.is_empty() {
                all
            } else {
                all.into_iter()
                    .filter(|o| filter.matches_stored(o))
                    .collect()
            };
            (st.rv(), Arc::new(items), 0, None)
        }
    };
    let end = if limit > 0 {
        (start + limit).min(items.len())
    } else {
        items.len()
    };
    let start = start.min(end);
    let next = if end < items.len() {
        let id = match snap_id {
            Some(id) => id,
            None => ctx.server.lock().save_snapshot(rv, items.clone()),
        };
        Some(encode_token(rv, id, end))
    } else {
        None
    };
    let page = &items[start..end];
    let rv_s = rv.to_string();
    if format == Format::Table {
        let now = ctx.server.clock.peek_seconds();
        let values: Vec<Arc<Value>> = page.iter().map(|o| Arc::new(o.value())).collect();
        return Ok(json_response(
            200,
            &table::table(info, version, &values, &rv_s, next.as_deref(), include, now),
        ));
    }
    let mut meta = json!({"resourceVersion": rv_s});
    if let Some(n) = &next {
        meta["continue"] = json!(n);
        meta["remainingItemCount"] = json!(items.len() - end);
    }
    let (kind, api_version) = match format {
        Format::Partial => (
            "PartialObjectMetadataList".to_string(),
            "meta.k8s.io/v1".to_string(),
        ),
        _ => (info.list_kind.clone(), info.group_version(version)),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(64 + page.len() * 512);
    buf.extend_from_slice(b"{\"kind\":");
    buf.extend_from_slice(&serde_json::to_vec(&kind).unwrap_or_default());
    buf.extend_from_slice(b",\"apiVersion\":");
    buf.extend_from_slice(&serde_json::to_vec(&api_version).unwrap_or_default());
    buf.extend_from_slice(b",\"metadata\":");
    buf.extend_from_slice(&serde_json::to_vec(&meta).unwrap_or_default());
    buf.extend_from_slice(b",\"items\":[");
    for (i, o) in page.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let r = match format {
            Format::Partial => {
                serde_json::to_writer(&mut buf, &table::partial_metadata(&o.value()))
            }
            _ if info.storage_version == version && !info.stored_elsewhere() => {
                buf.extend_from_slice(o.json());
                Ok(())
            }
            _ => serde_json::to_writer(&mut buf, &ops::served(&o.value(), info, version)),
        };
        if let Err(e) = r {
            return Err(ApiError::internal(format!(
                "could not encode the list: {e}"
            )));
        }
    }
    buf.extend_from_slice(b"]}");
    Ok(bytes_response(200, buf, "application/json"))
}

fn delete_collection(
    ctx: &Ctx,
    info: &Arc<ResourceInfo>,
    version: &str,
    ns: &str,
) -> Result<Response, ApiError> {
    let filter = filter_from(&ctx.query, info, ns)?;
    let opts = delete_opts(ctx, &ctx.body)?;
    let mut affected = Vec::new();
    {
        let mut st = ctx.server.lock();
        let ns_opt = (!ns.is_empty()).then_some(ns);
        let items: Vec<Obj> = st
            .list(&info.storage_key(), ns_opt)
            .into_iter()
            .filter(|o| filter.matches_stored(o))
            .collect();
        for o in items {
            let (ons, name) = (o.namespace().to_string(), o.name().to_string());
            match ops::delete(
                &mut st,
                &ctx.server.clock,
                info,
                (&ons, &name),
                &opts,
                &ctx.user,
            )? {
                ops::Deleted::Gone(x) | ops::Deleted::Pending(x) => {
                    affected.push(ops::served(&x, info, version));
                }
            }
        }
    }
    ctx.server.gc_notify.notify_one();
    let rv = ctx.server.lock().rv().to_string();
    Ok(json_response(
        200,
        &json!({"kind": info.list_kind, "apiVersion": info.group_version(version),
        "metadata": {"resourceVersion": rv}, "items": affected}),
    ))
}

/// How long a watch without timeoutSeconds stays open at most.
pub const MAX_WATCH: Duration = Duration::from_secs(1800);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        assert_eq!(
            negotiate("application/json;as=Table;v=v1;g=meta.k8s.io,application/json").unwrap(),
            Format::Table
        );
        assert_eq!(negotiate("application/json").unwrap(), Format::Json);
        assert_eq!(negotiate("").unwrap(), Format::Json);
        assert_eq!(
            negotiate("application/vnd.kubernetes.protobuf")
                .unwrap_err()
                .code,
            406
        );
        assert_eq!(
            negotiate("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1").unwrap(),
            Format::Partial
        );
    }

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_token(1005, 7, 2);
        assert_eq!(decode_token(&t), Some((1005, 7, 2)));
        assert_eq!(decode_token("zz"), None);
    }

    #[test]
    fn path_resolution() {
        let reg = crate::registry::Registry::with_builtins();
        let (i, t) = resolve(&reg, "", "v1", &["namespaces", "demo", "configmaps"]).unwrap();
        assert_eq!(i.plural, "configmaps");
        assert_eq!(
            t,
            Target::Collection {
                namespace: Some("demo".into())
            }
        );
        let (i, t) = resolve(&reg, "", "v1", &["namespaces", "demo", "status"]).unwrap();
        assert_eq!(i.plural, "namespaces");
        assert_eq!(
            t,
            Target::Object {
                namespace: String::new(),
                name: "demo".into(),
                sub: Some("status".into())
            }
        );
        let (_, t) = resolve(&reg, "", "v1", &["namespaces", "demo"]).unwrap();
        assert_eq!(
            t,
            Target::Object {
                namespace: String::new(),
                name: "demo".into(),
                sub: None
            }
        );
        assert!(resolve(&reg, "", "v1", &["pods", "x"]).is_none());
    }
}
