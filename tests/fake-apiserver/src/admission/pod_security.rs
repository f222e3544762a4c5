//! Pod Security admission: the Pod Security Standards (`baseline`, `restricted`) that a
//! namespace's labels `pod-security.kubernetes.io/enforce|audit|warn[-version]` select.
//! Follows `k8s.io/pod-security-admission`: `admission/admission.go` (which requests are
//! evaluated and how the answer is worded), `api/helpers.go` (labels to policy) and
//! `policy/check_*.go` (one function below per check, with the upstream check ID, reason
//! and detail text, and the versions at which a check changed).
//!
//! - Pods are refused on create, and on an update that changes an image or adds an
//!   ephemeral container, when they violate the `enforce` level; `warn` violations become
//!   `Warning` headers, `audit` violations audit annotations.
//! - Workload kinds (Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs)
//!   are never refused: their pod template is checked against `warn` and `audit` only.
//! - Namespaces with invalid Pod Security labels are refused (422); tightening `enforce`
//!   warns about existing pods that would violate it.
//!
//! No exemptions are configured (the upstream default). `latest` is the Kubernetes minor
//! this server reports, so checks newer than it are not applied (as on a real server of
//! that version).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Attributes, Operation, Verdict, forbidden};
use crate::errors::{ApiError, Cause};
use crate::store::State;

/// Label prefix of the namespace labels.
const PREFIX: &str = "pod-security.kubernetes.io/";

/// A Pod Security level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    fn parse(s: &str) -> Result<Level, &'static str> {
        match s {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err("must be one of privileged, baseline, restricted"),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// A level at a version of the standards (`None` = `latest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LevelVersion {
    level: Level,
    minor: Option<u32>,
}

impl std::fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.minor {
            None => write!(f, "{}:latest", self.level.as_str()),
            Some(m) => write!(f, "{}:v1.{m}", self.level.as_str()),
        }
    }
}

/// `ParseVersion`: `latest` or `v1.<minor>`.
fn parse_version(s: &str) -> Result<Option<u32>, &'static str> {
    const WRONG: &str = "must be \"latest\" or \"v1.x\"";
    if s == "latest" {
        return Ok(None);
    }
    let minor = s.strip_prefix("v1.").ok_or(WRONG)?;
    if minor.is_empty()
        || !minor.bytes().all(|b| b.is_ascii_digit())
        || (minor.len() > 1 && minor.starts_with('0'))
    {
        return Err(WRONG);
    }
    minor.parse().map(Some).map_err(|_| WRONG)
}

/// The three modes of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Policy {
    enforce: LevelVersion,
    audit: LevelVersion,
    warn: LevelVersion,
}

impl Policy {
    fn fully_privileged(&self) -> bool {
        [self.enforce, self.audit, self.warn]
            .iter()
            .all(|lv| lv.level == Level::Privileged)
    }
}

/// `api.PolicyToEvaluate`: the namespace labels (read through `label`) over the default
/// `privileged:latest`, with the errors of invalid labels. An invalid enforce level
/// becomes `restricted` (fail closed); invalid audit and warn levels `privileged`.
fn policy_of<'a>(label: impl Fn(&str) -> Option<&'a str>) -> (Policy, Vec<Cause>) {
    let privileged = LevelVersion {
        level: Level::Privileged,
        minor: None,
    };
    let mut p = Policy {
        enforce: privileged,
        audit: privileged,
        warn: privileged,
    };
    let mut errors = Vec::new();
    let mut invalid = |key: &str, value: &str, why: &str| {
        errors.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: \"{value}\": {why}"),
            field: format!("metadata.labels[{PREFIX}{key}]"),
        });
    };
    let mut has_enforce_level = false;
    let (mut has_warn_level, mut has_warn_version) = (false, false);
    for (mode, fallback) in [
        ("enforce", Level::Restricted),
        ("audit", Level::Privileged),
        ("warn", Level::Privileged),
    ] {
        let slot = match mode {
            "enforce" => &mut p.enforce,
            "audit" => &mut p.audit,
            _ => &mut p.warn,
        };
        if let Some(v) = label(&format!("{PREFIX}{mode}")) {
            match Level::parse(v) {
                Ok(level) => {
                    slot.level = level;
                    has_enforce_level |= mode == "enforce";
                }
                Err(why) => {
                    slot.level = fallback;
                    invalid(mode, v, why);
                }
            }
            has_warn_level |= mode == "warn";
        }
        if let Some(v) = label(&format!("{PREFIX}{mode}-version")) {
            match parse_version(v) {
                Ok(minor) => slot.minor = minor,
                Err(why) => {
                    slot.minor = None;
                    invalid(&format!("{mode}-version"), v, why);
                }
            }
            has_warn_version |= mode == "warn";
        }
    }
    // Warn defaults to an explicitly stricter enforce level.
    if !has_warn_level && has_enforce_level && p.enforce.level > p.warn.level {
        p.warn.level = p.enforce.level;
        if !has_warn_version {
            p.warn.minor = p.enforce.minor;
        }
    }
    (p, errors)
}

/// The workload kinds whose pod template is checked (`DefaultPodSpecExtractor`).
/// Where the pod template of a workload kind is; `None` for other kinds.
fn template_path(attrs: &Attributes<'_>) -> Option<&'static [&'static str]> {
    match (attrs.info.group.as_str(), attrs.info.plural.as_str()) {
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets")
        | ("batch", "jobs")
        | ("", "replicationcontrollers" | "podtemplates") => Some(&["spec", "template"]),
        ("batch", "cronjobs") => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

/// Pod subresources that never change the pod spec (`ignoredPodSubresources`).
const IGNORED_POD_SUBRESOURCES: &[&str] = &[
    "exec",
    "attach",
    "binding",
    "eviction",
    "log",
    "portforward",
    "proxy",
    "status",
];

/// The plugin: namespaces, pods, and the pod templates of workloads, on CREATE and UPDATE.
pub fn admit(
    st: &mut State,
    attrs: &Attributes<'_>,
    verdict: &mut Verdict,
) -> Result<(), ApiError> {
    if attrs.operation == Operation::Delete {
        return Ok(());
    }
    let Some(obj) = attrs.object else {
        return Ok(());
    };
    let latest = st.admission.latest_minor;
    if attrs.is_namespace() {
        return admit_namespace(st, attrs, obj, latest, verdict);
    }
    let is_pod = attrs.info.group.is_empty() && attrs.info.plural == "pods";
    let template = if is_pod {
        if IGNORED_POD_SUBRESOURCES.contains(&attrs.subresource) {
            return Ok(());
        }
        None
    } else {
        let Some(path) = template_path(attrs) else {
            return Ok(());
        };
        let template = path.iter().fold(obj, |v, k| &v[*k]);
        // A workload without a template has nothing to check; its subresources neither.
        if !template.is_object() || !attrs.subresource.is_empty() {
            return Ok(());
        }
        Some((template["metadata"].clone(), template["spec"].clone()))
    };
    let (policy, errors) = {
        let Some(ns) = st.get_stored(&(String::new(), "namespaces".into()), "", attrs.namespace)
        else {
            return Ok(());
        };
        policy_of(|k| ns.label(k))
    };
    if errors.is_empty()
        && (policy.fully_privileged()
            || !is_pod
                && policy.warn.level == Level::Privileged
                && policy.audit.level == Level::Privileged)
    {
        return Ok(());
    }
    if !errors.is_empty() {
        verdict.annotations.insert(
            format!("{PREFIX}error"),
            format!(
                "Failed to parse policy: {}",
                errors
                    .iter()
                    .map(|c| format!("{}: {}", c.field, c.message))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    match template {
        None => {
            if attrs.operation == Operation::Update
                && let Some(old) = attrs.old_object
                && !significant_pod_update(obj, old)
            {
                return Ok(());
            }
            evaluate(
                attrs,
                &policy,
                &obj["metadata"],
                &obj["spec"],
                latest,
                true,
                verdict,
            )
        }
        Some((meta, spec)) => evaluate(attrs, &policy, &meta, &spec, latest, false, verdict),
    }
}

/// `EvaluatePod`: enforce (pods only), then audit, then warn (not on a refused request);
/// one evaluation per distinct level and version.
fn evaluate(
    attrs: &Attributes<'_>,
    policy: &Policy,
    meta: &Value,
    spec: &Value,
    latest: u32,
    enforce: bool,
    verdict: &mut Verdict,
) -> Result<(), ApiError> {
    let mut cache: Vec<(LevelVersion, Vec<Violation>)> = Vec::new();
    let mut run = |lv: LevelVersion| -> Vec<Violation> {
        if let Some((_, v)) = cache.iter().find(|(k, _)| *k == lv) {
            return v.clone();
        }
        let v = check_pod(lv, meta, spec, latest);
        cache.push((lv, v.clone()));
        v
    };
    let mut refusal = None;
    if enforce {
        verdict.annotations.insert(
            format!("{PREFIX}enforce-policy"),
            policy.enforce.to_string(),
        );
        let violations = run(policy.enforce);
        if !violations.is_empty() {
            refusal = Some(forbidden(
                attrs,
                &format!(
                    "violates PodSecurity \"{}\": {}",
                    policy.enforce,
                    detail(&violations)
                ),
            ));
        }
    }
    let audit = run(policy.audit);
    if !audit.is_empty() {
        verdict.annotations.insert(
            format!("{PREFIX}audit-violations"),
            format!(
                "would violate PodSecurity \"{}\": {}",
                policy.audit,
                detail(&audit)
            ),
        );
    }
    if let Some(e) = refusal {
        return Err(e);
    }
    let warn = run(policy.warn);
    if !warn.is_empty() {
        verdict.warnings.push(format!(
            "would violate PodSecurity \"{}\": {}",
            policy.warn,
            detail(&warn)
        ));
    }
    Ok(())
}

/// `ValidateNamespace`: valid labels on create (and on update when they changed); when
/// an update tightens `enforce`, warnings about the existing pods that violate it.
fn admit_namespace(
    st: &State,
    attrs: &Attributes<'_>,
    obj: &Value,
    latest: u32,
    verdict: &mut Verdict,
) -> Result<(), ApiError> {
    if !attrs.subresource.is_empty() {
        return Ok(());
    }
    let labels = &obj["metadata"]["labels"];
    let (policy, errors) = policy_of(|k| labels.get(k).and_then(Value::as_str));
    let invalid = || ApiError::invalid(attrs.info.target(), attrs.name, errors.clone());
    let Some(old) = attrs.old_object else {
        return if errors.is_empty() {
            Ok(())
        } else {
            Err(invalid())
        };
    };
    let old_labels = &old["metadata"]["labels"];
    let (old_policy, old_errors) = policy_of(|k| old_labels.get(k).and_then(Value::as_str));
    if !errors.is_empty() && errors != old_errors {
        return Err(invalid());
    }
    let (new, was) = (policy.enforce, old_policy.enforce);
    if new == was
        || new.level == Level::Privileged
        || new.minor == was.minor && new.level <= was.level
    {
        return Ok(());
    }
    verdict
        .warnings
        .extend(existing_pod_warnings(st, attrs.name, new, latest));
    Ok(())
}

/// `EvaluatePodsInNamespace`: one warning naming the namespace, then one per distinct set
/// of violated checks with the first pod (by name) and how many others.
fn existing_pod_warnings(st: &State, ns: &str, enforce: LevelVersion, latest: u32) -> Vec<String> {
    let mut by_reason: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for pod in st.list_values(&(String::new(), "pods".into()), Some(ns)) {
        let violations = check_pod(enforce, &pod["metadata"], &pod["spec"], latest);
        if violations.is_empty() {
            continue;
        }
        let reason = violations
            .iter()
            .map(|v| v.reason.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
        let entry = by_reason.entry(reason).or_insert((name.clone(), 0));
        if name < entry.0 {
            entry.0 = name;
        }
        entry.1 += 1;
    }
    if by_reason.is_empty() {
        return Vec::new();
    }
    let mut pods: Vec<String> = by_reason
        .into_iter()
        .map(|(reason, (first, count))| match count {
            1 => format!("{first}: {reason}"),
            2 => format!("{first} (and 1 other pod): {reason}"),
            n => format!("{first} (and {} other pods): {reason}", n - 1),
        })
        .collect();
    pods.sort();
    let mut out = vec![format!(
        "existing pods in namespace \"{ns}\" violate the new PodSecurity enforce level \"{enforce}\""
    )];
    out.extend(pods);
    out
}

/// `isSignificantPodUpdate`: a changed image, a changed number of containers or init
/// containers, or a new or changed ephemeral container.
fn significant_pod_update(pod: &Value, old: &Value) -> bool {
    let list = |o: &Value, k: &str| o["spec"][k].as_array().cloned().unwrap_or_default();
    for kind in ["containers", "initContainers"] {
        let (new, was) = (list(pod, kind), list(old, kind));
        if new.len() != was.len() || new.iter().zip(&was).any(|(a, b)| a["image"] != b["image"]) {
            return true;
        }
    }
    let was = list(old, "ephemeralContainers");
    list(pod, "ephemeralContainers").iter().any(|c| {
        was.iter()
            .find(|o| o["name"] == c["name"])
            .is_none_or(|o| o["image"] != c["image"])
    })
}

/// A failed check: its reason (`hostPort`) and detail (which container, which value).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    reason: String,
    detail: String,
}

/// `AggregateCheckResult.ForbiddenDetail`: `reason (detail), reason (detail)`.
fn detail(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| {
            if v.detail.is_empty() {
                v.reason.clone()
            } else {
                format!("{} ({})", v.reason, v.detail)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One check of a version range: the pod's metadata and spec in, a violation or not out.
type CheckFn = fn(&Value, &Value) -> Option<Violation>;

/// A check as `policy/checks.go` registers it.
struct Check {
    id: &'static str,
    level: Level,
    /// (minimum minor version, implementation), oldest first.
    versions: &'static [(u32, CheckFn)],
    /// Baseline checks this restricted check replaces.
    overrides: &'static [&'static str],
}

/// Every check, baseline then restricted, each group in ID order (`populate` in
/// `policy/registry.go` orders them so; the message lists violations in this order).
const CHECKS: &[Check] = &[
    Check {
        id: "appArmorProfile",
        level: Level::Baseline,
        versions: &[(0, app_armor_profile)],
        overrides: &[],
    },
    Check {
        id: "capabilities_baseline",
        level: Level::Baseline,
        versions: &[(0, capabilities_baseline)],
        overrides: &[],
    },
    Check {
        id: "hostNamespaces",
        level: Level::Baseline,
        versions: &[(0, host_namespaces)],
        overrides: &[],
    },
    Check {
        id: "hostPathVolumes",
        level: Level::Baseline,
        versions: &[(0, host_path_volumes)],
        overrides: &[],
    },
    Check {
        id: "hostPorts",
        level: Level::Baseline,
        versions: &[(0, host_ports)],
        overrides: &[],
    },
    Check {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        versions: &[(34, host_probes_and_lifecycle)],
        overrides: &[],
    },
    Check {
        id: "privileged",
        level: Level::Baseline,
        versions: &[(0, privileged)],
        overrides: &[],
    },
    Check {
        id: "procMount",
        level: Level::Baseline,
        versions: &[(0, proc_mount), (35, proc_mount_unless_user_namespace)],
        overrides: &[],
    },
    Check {
        id: "seLinuxOptions",
        level: Level::Baseline,
        versions: &[(0, se_linux_options_1_0), (31, se_linux_options_1_31)],
        overrides: &[],
    },
    Check {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        versions: &[(0, seccomp_annotations), (19, seccomp_baseline)],
        overrides: &[],
    },
    Check {
        id: "sysctls",
        level: Level::Baseline,
        versions: &[
            (0, sysctls_1_0),
            (27, sysctls_1_27),
            (29, sysctls_1_29),
            (32, sysctls_1_32),
            (37, sysctls_1_37),
        ],
        overrides: &[],
    },
    Check {
        id: "windowsHostProcess",
        level: Level::Baseline,
        versions: &[(0, windows_host_process)],
        overrides: &[],
    },
    Check {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        versions: &[
            (8, allow_privilege_escalation),
            (25, allow_privilege_escalation_1_25),
        ],
        overrides: &[],
    },
    Check {
        id: "capabilities_restricted",
        level: Level::Restricted,
        versions: &[
            (22, capabilities_restricted),
            (25, capabilities_restricted_1_25),
        ],
        overrides: &["capabilities_baseline"],
    },
    Check {
        id: "procMount_restricted",
        level: Level::Restricted,
        versions: &[(35, proc_mount)],
        overrides: &["procMount"],
    },
    Check {
        id: "restrictedVolumes",
        level: Level::Restricted,
        versions: &[(0, restricted_volumes)],
        overrides: &["hostPathVolumes"],
    },
    Check {
        id: "runAsNonRoot",
        level: Level::Restricted,
        versions: &[(0, run_as_non_root), (35, run_as_non_root_1_35)],
        overrides: &[],
    },
    Check {
        id: "runAsUser",
        level: Level::Restricted,
        versions: &[(23, run_as_user), (35, run_as_user_1_35)],
        overrides: &[],
    },
    Check {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        versions: &[(19, seccomp_restricted), (25, seccomp_restricted_1_25)],
        overrides: &["seccompProfile_baseline"],
    },
];

/// `checkRegistry.EvaluatePod`: the checks of `lv` at its version (at most the server's).
fn check_pod(lv: LevelVersion, meta: &Value, spec: &Value, latest: u32) -> Vec<Violation> {
    if lv.level == Level::Privileged {
        return Vec::new();
    }
    let minor = lv.minor.map_or(latest, |m| m.min(latest));
    let at_version = |c: &Check| {
        c.versions
            .iter()
            .rev()
            .find(|(min, _)| *min <= minor)
            .map(|(_, f)| *f)
    };
    let overridden: BTreeSet<&str> = if lv.level == Level::Restricted {
        CHECKS
            .iter()
            .filter(|c| c.level == Level::Restricted && at_version(c).is_some())
            .flat_map(|c| c.overrides.iter().copied())
            .collect()
    } else {
        BTreeSet::new()
    };
    CHECKS
        .iter()
        .filter(|c| c.level <= lv.level && !overridden.contains(c.id))
        .filter_map(|c| at_version(c).and_then(|f| f(meta, spec)))
        .collect()
}

// ----- helpers of policy/helpers.go and policy/visitor.go -------------------------------

/// `"a", "b"`.
fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("\"{}\"", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pluralize(singular: &'static str, plural: &'static str, count: usize) -> &'static str {
    if count == 1 { singular } else { plural }
}

/// `container "a"` or `containers "a", "b"`.
fn containers_named<S: AsRef<str>>(names: &[S]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// Init containers, containers, then ephemeral containers (`visitContainers`).
fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |k| spec[k].as_array().into_iter().flatten())
}

fn name(c: &Value) -> String {
    c["name"].as_str().unwrap_or("").to_string()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Pods with `spec.os.name: windows` are exempt from Linux-only restricted checks (1.25+).
fn windows(spec: &Value) -> bool {
    spec["os"]["name"] == "windows"
}

fn allow_privilege_escalation_1_25(meta: &Value, spec: &Value) -> Option<Violation> {
    if windows(spec) {
        None
    } else {
        allow_privilege_escalation(meta, spec)
    }
}

fn capabilities_restricted_1_25(meta: &Value, spec: &Value) -> Option<Violation> {
    if windows(spec) {
        None
    } else {
        capabilities_restricted(meta, spec)
    }
}

fn seccomp_restricted_1_25(meta: &Value, spec: &Value) -> Option<Violation> {
    if windows(spec) {
        None
    } else {
        seccomp_restricted(meta, spec)
    }
}

fn run_as_non_root_1_35(meta: &Value, spec: &Value) -> Option<Violation> {
    if in_user_namespace(spec) {
        None
    } else {
        run_as_non_root(meta, spec)
    }
}

fn run_as_user_1_35(meta: &Value, spec: &Value) -> Option<Violation> {
    if in_user_namespace(spec) {
        None
    } else {
        run_as_user(meta, spec)
    }
}

fn violation(reason: impl Into<String>, detail: impl Into<String>) -> Option<Violation> {
    Some(Violation {
        reason: reason.into(),
        detail: detail.into(),
    })
}

/// `badSetters` joined: `pod and containers "a", "b"`.
fn setters(pod: bool, bad_containers: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if pod {
        out.push("pod".to_string());
    }
    if !bad_containers.is_empty() {
        out.push(containers_named(bad_containers));
    }
    out
}

// ----- the checks --------------------------------------------------------------------

fn app_armor_profile(meta: &Value, spec: &Value) -> Option<Violation> {
    let allowed_type = |t: &Value| matches!(t.as_str(), Some("RuntimeDefault" | "Localhost"));
    let mut bad_values = BTreeSet::new();
    let profile = &spec["securityContext"]["appArmorProfile"];
    let pod_bad = profile.is_object() && !allowed_type(&profile["type"]);
    if pod_bad {
        bad_values.insert(profile["type"].as_str().unwrap_or("").to_string());
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        let p = &c["securityContext"]["appArmorProfile"];
        if p.is_object() && !allowed_type(&p["type"]) {
            bad.push(name(c));
            bad_values.insert(p["type"].as_str().unwrap_or("").to_string());
        }
    }
    let mut setters = setters(pod_bad, &bad);
    let mut values: Vec<String> = bad_values.into_iter().collect();
    let mut annotations: Vec<String> = meta["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let v = v.as_str().unwrap_or("");
            let allowed = v.is_empty() || v == "runtime/default" || v.starts_with("localhost/");
            (k.starts_with("container.apparmor.security.beta.kubernetes.io/") && !allowed)
                .then(|| format!("{k}=\"{v}\""))
        })
        .collect();
    if !annotations.is_empty() {
        annotations.sort();
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_string());
        values.extend(annotations);
    }
    if setters.is_empty() {
        return None;
    }
    violation(
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&values)
        ),
    )
}

const DEFAULT_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn capabilities_baseline(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut caps = BTreeSet::new();
    for c in containers(spec) {
        let added = strings(&c["securityContext"]["capabilities"]["add"]);
        let extra: Vec<&str> = added
            .into_iter()
            .filter(|a| !DEFAULT_CAPABILITIES.contains(a))
            .collect();
        if !extra.is_empty() {
            bad.push(name(c));
            caps.extend(extra.into_iter().map(String::from));
        }
    }
    if bad.is_empty() {
        return None;
    }
    let caps: Vec<String> = caps.into_iter().collect();
    violation(
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_named(&bad),
            join_quote(&caps)
        ),
    )
}

fn host_namespaces(_meta: &Value, spec: &Value) -> Option<Violation> {
    let set: Vec<&str> = [
        ("hostNetwork", "hostNetwork=true"),
        ("hostPID", "hostPID=true"),
        ("hostIPC", "hostIPC=true"),
    ]
    .into_iter()
    .filter(|(k, _)| spec[*k] == true)
    .map(|(_, text)| text)
    .collect();
    (!set.is_empty())
        .then(|| violation("host namespaces", set.join(", ")))
        .flatten()
}

fn volumes(spec: &Value) -> impl Iterator<Item = &Value> {
    spec["volumes"].as_array().into_iter().flatten()
}

fn host_path_volumes(_meta: &Value, spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = volumes(spec)
        .filter(|v| v["hostPath"].is_object())
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    violation(
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad)
        ),
    )
}

fn host_ports(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut ports = BTreeSet::new();
    for c in containers(spec) {
        let used: Vec<i64> = c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["hostPort"].as_i64())
            .filter(|p| *p != 0)
            .collect();
        if !used.is_empty() {
            bad.push(name(c));
            ports.extend(used.into_iter().map(|p| p.to_string()));
        }
    }
    if bad.is_empty() {
        return None;
    }
    let ports: Vec<String> = ports.into_iter().collect();
    violation(
        "hostPort",
        format!(
            "{} {} {} {}",
            containers_named(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.join(", ")
        ),
    )
}

fn host_probes_and_lifecycle(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for c in containers(spec) {
        let handlers = [
            &c["livenessProbe"],
            &c["readinessProbe"],
            &c["startupProbe"],
            &c["lifecycle"]["postStart"],
            &c["lifecycle"]["preStop"],
        ];
        for h in handlers {
            for action in ["httpGet", "tcpSocket"] {
                if let Some(host) = h[action]["host"].as_str().filter(|s| !s.is_empty()) {
                    bad.insert(name(c));
                    hosts.insert(host.to_string());
                }
            }
        }
    }
    if bad.is_empty() {
        return None;
    }
    let (bad, hosts): (Vec<String>, Vec<String>) =
        (bad.into_iter().collect(), hosts.into_iter().collect());
    violation(
        "probe or lifecycle host",
        format!(
            "{} {} {} {}",
            containers_named(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                hosts.len()
            ),
            join_quote(&hosts)
        ),
    )
}

fn privileged(_meta: &Value, spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = containers(spec)
        .filter(|c| c["securityContext"]["privileged"] == true)
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    violation(
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            containers_named(&bad)
        ),
    )
}

fn proc_mount(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for c in containers(spec) {
        if let Some(t) = c["securityContext"]["procMount"].as_str()
            && t != "Default"
        {
            bad.push(name(c));
            types.insert(t.to_string());
        }
    }
    if bad.is_empty() {
        return None;
    }
    let types: Vec<String> = types.into_iter().collect();
    violation(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_named(&bad),
            join_quote(&types)
        ),
    )
}

/// `hostUsers: false` puts the pod in a user namespace.
fn in_user_namespace(spec: &Value) -> bool {
    spec["hostUsers"] == false
}

fn proc_mount_unless_user_namespace(meta: &Value, spec: &Value) -> Option<Violation> {
    if in_user_namespace(spec) {
        None
    } else {
        proc_mount(meta, spec)
    }
}

fn se_linux_options(spec: &Value, allowed_types: &[&str]) -> Option<Violation> {
    let mut bad_types = BTreeSet::new();
    let (mut set_user, mut set_role) = (false, false);
    let mut valid = |opts: &Value| {
        let mut ok = true;
        let t = opts["type"].as_str().unwrap_or("");
        if !allowed_types.contains(&t) {
            ok = false;
            bad_types.insert(t.to_string());
        }
        if opts["user"].as_str().is_some_and(|u| !u.is_empty()) {
            ok = false;
            set_user = true;
        }
        if opts["role"].as_str().is_some_and(|r| !r.is_empty()) {
            ok = false;
            set_role = true;
        }
        ok
    };
    let pod_opts = &spec["securityContext"]["seLinuxOptions"];
    let pod_bad = pod_opts.is_object() && !valid(pod_opts);
    let mut bad = Vec::new();
    for c in containers(spec) {
        let o = &c["securityContext"]["seLinuxOptions"];
        if o.is_object() && !valid(o) {
            bad.push(name(c));
        }
    }
    let setters = setters(pod_bad, &bad);
    if setters.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !bad_types.is_empty() {
        let types: Vec<String> = bad_types.into_iter().collect();
        data.push(format!(
            "{} {}",
            pluralize("type", "types", types.len()),
            join_quote(&types)
        ));
    }
    if set_user {
        data.push("user may not be set".to_string());
    }
    if set_role {
        data.push("role may not be set".to_string());
    }
    violation(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    )
}

fn se_linux_options_1_0(_meta: &Value, spec: &Value) -> Option<Violation> {
    se_linux_options(
        spec,
        &["", "container_t", "container_init_t", "container_kvm_t"],
    )
}

fn se_linux_options_1_31(_meta: &Value, spec: &Value) -> Option<Violation> {
    se_linux_options(
        spec,
        &[
            "",
            "container_t",
            "container_init_t",
            "container_kvm_t",
            "container_engine_t",
        ],
    )
}

fn seccomp_annotations(meta: &Value, spec: &Value) -> Option<Violation> {
    let valid =
        |v: &str| v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/");
    let annotations = &meta["annotations"];
    let mut forbidden = BTreeSet::new();
    let pod_key = "seccomp.security.alpha.kubernetes.io/pod";
    if let Some(v) = annotations[pod_key].as_str()
        && !valid(v)
    {
        forbidden.insert(format!("{pod_key}=\"{v}\""));
    }
    for c in containers(spec) {
        let key = format!("container.seccomp.security.alpha.kubernetes.io/{}", name(c));
        if let Some(v) = annotations[&key].as_str()
            && !valid(v)
        {
            forbidden.insert(format!("{key}=\"{v}\""));
        }
    }
    if forbidden.is_empty() {
        return None;
    }
    let list: Vec<String> = forbidden.into_iter().collect();
    violation(
        "seccompProfile",
        format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", list.len()),
            list.join(", ")
        ),
    )
}

/// The seccomp profile types both levels allow.
fn valid_seccomp(profile: &Value) -> bool {
    matches!(
        profile["type"].as_str(),
        Some("RuntimeDefault" | "Localhost")
    )
}

/// The seccomp checks of both levels: explicit bad values, and (restricted) unset ones.
fn seccomp(spec: &Value, required: bool) -> Option<Violation> {
    let mut bad_values = BTreeSet::new();
    let pod_profile = &spec["securityContext"]["seccompProfile"];
    let pod_bad = pod_profile.is_object() && !valid_seccomp(pod_profile);
    if pod_bad {
        bad_values.insert(pod_profile["type"].as_str().unwrap_or("").to_string());
    }
    let pod_set = pod_profile.is_object() && !pod_bad;
    let (mut explicit, mut implicit) = (Vec::new(), Vec::new());
    for c in containers(spec) {
        let p = &c["securityContext"]["seccompProfile"];
        if p.is_object() {
            if !valid_seccomp(p) {
                explicit.push(name(c));
                bad_values.insert(p["type"].as_str().unwrap_or("").to_string());
            }
        } else if !pod_set {
            implicit.push(name(c));
        }
    }
    let setters = setters(pod_bad, &explicit);
    if !setters.is_empty() {
        let values: Vec<String> = bad_values.into_iter().collect();
        return violation(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                setters.join(" and "),
                join_quote(&values)
            ),
        );
    }
    if required && !implicit.is_empty() {
        return violation(
            "seccompProfile",
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_named(&implicit)
            ),
        );
    }
    None
}

fn seccomp_baseline(_meta: &Value, spec: &Value) -> Option<Violation> {
    seccomp(spec, false)
}

fn seccomp_restricted(_meta: &Value, spec: &Value) -> Option<Violation> {
    seccomp(spec, true)
}

const SYSCTLS_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
const SYSCTLS_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
const SYSCTLS_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const SYSCTLS_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];
const SYSCTLS_1_37: &[&str] = &[
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

fn sysctls(spec: &Value, allowed: &[&[&str]]) -> Option<Violation> {
    let forbidden: Vec<&str> = spec["securityContext"]["sysctls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .filter(|n| !allowed.iter().any(|set| set.contains(n)))
        .collect();
    (!forbidden.is_empty())
        .then(|| violation("forbidden sysctls", forbidden.join(", ")))
        .flatten()
}

fn sysctls_1_0(_meta: &Value, spec: &Value) -> Option<Violation> {
    sysctls(spec, &[SYSCTLS_1_0])
}

fn sysctls_1_27(_meta: &Value, spec: &Value) -> Option<Violation> {
    sysctls(spec, &[SYSCTLS_1_0, SYSCTLS_1_27])
}

fn sysctls_1_29(_meta: &Value, spec: &Value) -> Option<Violation> {
    sysctls(spec, &[SYSCTLS_1_0, SYSCTLS_1_27, SYSCTLS_1_29])
}

fn sysctls_1_32(_meta: &Value, spec: &Value) -> Option<Violation> {
    sysctls(
        spec,
        &[SYSCTLS_1_0, SYSCTLS_1_27, SYSCTLS_1_29, SYSCTLS_1_32],
    )
}

fn sysctls_1_37(_meta: &Value, spec: &Value) -> Option<Violation> {
    sysctls(
        spec,
        &[
            SYSCTLS_1_0,
            SYSCTLS_1_27,
            SYSCTLS_1_29,
            SYSCTLS_1_32,
            SYSCTLS_1_37,
        ],
    )
}

fn windows_host_process(_meta: &Value, spec: &Value) -> Option<Violation> {
    let pod = spec["securityContext"]["windowsOptions"]["hostProcess"] == true;
    let bad: Vec<String> = containers(spec)
        .filter(|c| c["securityContext"]["windowsOptions"]["hostProcess"] == true)
        .map(name)
        .collect();
    let setters = setters(pod, &bad);
    if setters.is_empty() {
        return None;
    }
    violation(
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        ),
    )
}

fn allow_privilege_escalation(_meta: &Value, spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = containers(spec)
        .filter(|c| c["securityContext"]["allowPrivilegeEscalation"] != false)
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    violation(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_named(&bad)
        ),
    )
}

fn capabilities_restricted(_meta: &Value, spec: &Value) -> Option<Violation> {
    let (mut missing_drop, mut adding) = (Vec::new(), Vec::new());
    let mut forbidden_caps = BTreeSet::new();
    for c in containers(spec) {
        let caps = &c["securityContext"]["capabilities"];
        if !caps.is_object() {
            missing_drop.push(name(c));
            continue;
        }
        if !strings(&caps["drop"]).contains(&"ALL") {
            missing_drop.push(name(c));
        }
        let extra: Vec<&str> = strings(&caps["add"])
            .into_iter()
            .filter(|a| *a != "NET_BIND_SERVICE")
            .collect();
        if !extra.is_empty() {
            adding.push(name(c));
            forbidden_caps.extend(extra.into_iter().map(String::from));
        }
    }
    let mut details = Vec::new();
    if !missing_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_named(&missing_drop)
        ));
    }
    if !adding.is_empty() {
        let caps: Vec<String> = forbidden_caps.into_iter().collect();
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_named(&adding),
            join_quote(&caps)
        ));
    }
    (!details.is_empty())
        .then(|| violation("unrestricted capabilities", details.join("; ")))
        .flatten()
}

/// Inline volume sources the restricted level allows.
const ALLOWED_VOLUME_SOURCES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Volume sources as `restrictedVolumes_1_0` names them, in its order.
const NAMED_VOLUME_SOURCES: &[(&str, &str)] = &[
    ("hostPath", "hostPath"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("gitRepo", "gitRepo"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("rbd", "rbd"),
    ("flexVolume", "flexVolume"),
    ("cinder", "cinder"),
    ("cephfs", "cephfs"),
    ("flocker", "flocker"),
    ("fc", "fc"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("quobyte", "quobyte"),
    ("azureDisk", "azureDisk"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("scaleIO", "scaleIO"),
    ("storageos", "storageos"),
];

fn restricted_volumes(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for v in volumes(spec) {
        if ALLOWED_VOLUME_SOURCES.iter().any(|s| v[*s].is_object()) {
            continue;
        }
        bad.push(name(v));
        let t = NAMED_VOLUME_SOURCES
            .iter()
            .find(|(field, _)| v[*field].is_object())
            .map_or("unknown", |(_, t)| t);
        types.insert(t.to_string());
    }
    if bad.is_empty() {
        return None;
    }
    let types: Vec<String> = types.into_iter().collect();
    violation(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&types)
        ),
    )
}

fn run_as_non_root(_meta: &Value, spec: &Value) -> Option<Violation> {
    let pod = &spec["securityContext"]["runAsNonRoot"];
    let pod_bad = *pod == false;
    let pod_ok = *pod == true;
    let (mut explicit, mut implicit) = (Vec::new(), Vec::new());
    for c in containers(spec) {
        match c["securityContext"]["runAsNonRoot"].as_bool() {
            Some(false) => explicit.push(name(c)),
            Some(true) => {}
            None if !pod_ok => implicit.push(name(c)),
            None => {}
        }
    }
    let setters = setters(pod_bad, &explicit);
    if !setters.is_empty() {
        return violation(
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
        );
    }
    if !implicit.is_empty() {
        return violation(
            "runAsNonRoot != true",
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_named(&implicit)
            ),
        );
    }
    None
}

fn run_as_user(_meta: &Value, spec: &Value) -> Option<Violation> {
    let pod_bad = spec["securityContext"]["runAsUser"] == 0;
    let bad: Vec<String> = containers(spec)
        .filter(|c| c["securityContext"]["runAsUser"] == 0)
        .map(name)
        .collect();
    let setters = setters(pod_bad, &bad);
    if setters.is_empty() {
        return None;
    }
    violation(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters.join(" and ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reasons(level: Level, minor: Option<u32>, spec: Value) -> Vec<String> {
        check_pod(LevelVersion { level, minor }, &json!({}), &spec, 34)
            .into_iter()
            .map(|v| v.reason)
            .collect()
    }

    #[test]
    fn labels_to_policy() {
        let labels = |pairs: &[(&str, &str)]| {
            let m: BTreeMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
                .collect();
            policy_of(|k| m.get(k).map(String::as_str))
        };
        let (p, errors) = labels(&[("enforce", "baseline"), ("enforce-version", "v1.25")]);
        assert!(errors.is_empty());
        assert_eq!(p.enforce.to_string(), "baseline:v1.25");
        assert_eq!(
            p.warn.to_string(),
            "baseline:v1.25",
            "warn follows a stricter enforce"
        );
        assert_eq!(p.audit.to_string(), "privileged:latest");
        let (p, errors) = labels(&[("enforce", "nope"), ("warn-version", "1.2")]);
        assert_eq!(
            p.enforce.level,
            Level::Restricted,
            "an invalid enforce fails closed"
        );
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors[1].message,
            "Invalid value: \"1.2\": must be \"latest\" or \"v1.x\""
        );
        assert_eq!(parse_version("v1.0"), Ok(Some(0)));
        assert!(parse_version("v1.01").is_err());
    }

    #[test]
    fn checks_follow_their_versions() {
        let spec = json!({"containers": [{"name": "a", "image": "x",
            "securityContext": {"runAsUser": 0},
            "livenessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}}}]});
        let at = |minor| reasons(Level::Restricted, Some(minor), spec.clone());
        assert!(!at(21).contains(&"unrestricted capabilities".to_string()));
        assert!(at(22).contains(&"unrestricted capabilities".to_string()));
        assert!(!at(22).contains(&"runAsUser=0".to_string()));
        assert!(at(23).contains(&"runAsUser=0".to_string()));
        assert!(!at(33).contains(&"probe or lifecycle host".to_string()));
        assert_eq!(
            reasons(Level::Baseline, None, spec.clone()),
            ["probe or lifecycle host"],
            "latest is this server's minor (34)"
        );
        // A version beyond the server's is evaluated as the server's.
        assert_eq!(at(40), at(34));
    }

    #[test]
    fn restricted_checks_replace_the_baseline_ones_they_override() {
        let spec = json!({"volumes": [{"name": "host", "hostPath": {"path": "/"}}],
            "containers": [{"name": "a", "image": "x", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]});
        assert_eq!(
            reasons(Level::Baseline, None, spec.clone()),
            ["non-default capabilities", "hostPath volumes"]
        );
        let restricted = check_pod(
            LevelVersion {
                level: Level::Restricted,
                minor: None,
            },
            &json!({}),
            &spec,
            34,
        );
        assert_eq!(
            detail(&restricted),
            "allowPrivilegeEscalation != false (container \"a\" must set securityContext.allowPrivilegeEscalation=false), \
             unrestricted capabilities (container \"a\" must set securityContext.capabilities.drop=[\"ALL\"]; container \"a\" must not include \"SYS_ADMIN\" in securityContext.capabilities.add), \
             restricted volume types (volume \"host\" uses restricted volume type \"hostPath\"), \
             runAsNonRoot != true (pod or container \"a\" must set securityContext.runAsNonRoot=true), \
             seccompProfile (pod or container \"a\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        );
    }

    #[test]
    fn pod_level_settings_cover_the_containers() {
        let spec = json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "Localhost", "localhostProfile": "p"}},
            "containers": [{"name": "a", "image": "x", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]});
        assert!(reasons(Level::Restricted, None, spec).is_empty());
        let windows = json!({"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": true},
            "containers": [{"name": "a", "image": "x"}]});
        assert!(reasons(Level::Restricted, None, windows).is_empty());
    }
}
