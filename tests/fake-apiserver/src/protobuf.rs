//! Decoding of the Kubernetes protobuf envelope for the built-in kinds that
//! kubectl's typed clients send as protobuf: the `kubectl create <kind>`
//! generators (namespace, configmap, secret, serviceaccount, deployment, job,
//! cronjob, service, role, clusterrole, rolebinding, clusterrolebinding, quota,
//! priorityclass, ingress, poddisruptionbudget) and `kubectl auth can-i` /
//! `whoami` (the access and self-subject reviews), and the DeleteOptions of
//! `helm uninstall`. The server otherwise speaks
//! JSON only; another kind, or a field this decoder does not know, is refused
//! with 415 rather than misread.
//!
//! Wire format: the magic `k8s\0`, then a `runtime.Unknown` message
//! (1: typeMeta{1: apiVersion, 2: kind}, 2: raw object bytes), the raw bytes
//! being the object's own message as in `k8s.io/api/<group>/<version>/generated.proto`
//! (the field numbers below are those files'). Go's encoder writes every
//! non-pointer string, even empty; empty strings are dropped here, as JSON's
//! `omitempty` would.

use base64::Engine;
use serde_json::{Map, Value, json};

/// Content-Type of protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bytes,
    Int,
    Bool,
    Time,
    Msg(&'static [Field]),
    /// A message whose fields appear in the parent's JSON object (Go's
    /// embedded structs: `VolumeSource` in `Volume`, `ProbeHandler` in `Probe`...).
    Inline(&'static [Field]),
    /// map<string, string> (false) or map<string, bytes> (true, base64 in JSON).
    Map(bool),
    /// map<string, Quantity>: the quantity's string.
    QuantityMap,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: a JSON number or string.
    IntOrString,
    /// map<string, ExtraValue>: a JSON object of string lists.
    ExtraMap,
    /// Read and dropped: the `status` a client sends on create (Go writes its
    /// zero values; the server ignores a created object's status, and
    /// computes a review's).
    Dropped,
}

#[derive(Clone, Copy)]
struct Field {
    num: u64,
    name: &'static str,
    kind: Kind,
    repeated: bool,
}

const fn f(num: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        kind,
        repeated: false,
    }
}

const fn r(num: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        kind,
        repeated: true,
    }
}

const OWNER_REF: &[Field] = &[
    f(5, "apiVersion", Kind::Str),
    f(1, "kind", Kind::Str),
    f(3, "name", Kind::Str),
    f(4, "uid", Kind::Str),
    f(6, "controller", Kind::Bool),
    f(7, "blockOwnerDeletion", Kind::Bool),
];

const OBJECT_META: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "generateName", Kind::Str),
    f(3, "namespace", Kind::Str),
    f(4, "selfLink", Kind::Str),
    f(5, "uid", Kind::Str),
    f(6, "resourceVersion", Kind::Str),
    f(7, "generation", Kind::Int),
    f(8, "creationTimestamp", Kind::Time),
    f(11, "labels", Kind::Map(false)),
    f(12, "annotations", Kind::Map(false)),
    r(13, "ownerReferences", Kind::Msg(OWNER_REF)),
    r(14, "finalizers", Kind::Str),
];

const OBJECT_REF: &[Field] = &[
    f(1, "kind", Kind::Str),
    f(2, "namespace", Kind::Str),
    f(3, "name", Kind::Str),
    f(4, "uid", Kind::Str),
    f(5, "apiVersion", Kind::Str),
];

const LOCAL_REF: &[Field] = &[f(1, "name", Kind::Str)];

const NAMESPACE: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "spec", Kind::Msg(&[r(1, "finalizers", Kind::Str)])),
    f(3, "status", Kind::Dropped),
];

const CONFIG_MAP: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "data", Kind::Map(false)),
    f(3, "binaryData", Kind::Map(true)),
    f(4, "immutable", Kind::Bool),
];

const SECRET: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "data", Kind::Map(true)),
    f(3, "type", Kind::Str),
    f(4, "stringData", Kind::Map(false)),
    f(5, "immutable", Kind::Bool),
];

const SERVICE_ACCOUNT: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    r(2, "secrets", Kind::Msg(OBJECT_REF)),
    r(3, "imagePullSecrets", Kind::Msg(LOCAL_REF)),
    f(4, "automountServiceAccountToken", Kind::Bool),
];

/// `authorization.k8s.io` `ExtraValue`: a string list.
const EXTRA_VALUE: &[Field] = &[r(1, "items", Kind::Str)];

const LABEL_SELECTOR_REQ: &[Field] = &[
    f(1, "key", Kind::Str),
    f(2, "operator", Kind::Str),
    r(3, "values", Kind::Str),
];

const LABEL_SELECTOR: &[Field] = &[
    f(1, "matchLabels", Kind::Map(false)),
    r(2, "matchExpressions", Kind::Msg(LABEL_SELECTOR_REQ)),
];

const KEY_SELECTOR: &[Field] = &[
    f(1, "", Kind::Inline(LOCAL_REF)),
    f(2, "key", Kind::Str),
    f(3, "optional", Kind::Bool),
];

const ENV_VAR_SOURCE: &[Field] = &[
    f(
        1,
        "fieldRef",
        Kind::Msg(&[f(1, "apiVersion", Kind::Str), f(2, "fieldPath", Kind::Str)]),
    ),
    f(
        2,
        "resourceFieldRef",
        Kind::Msg(&[
            f(1, "containerName", Kind::Str),
            f(2, "resource", Kind::Str),
            f(3, "divisor", Kind::Quantity),
        ]),
    ),
    f(3, "configMapKeyRef", Kind::Msg(KEY_SELECTOR)),
    f(4, "secretKeyRef", Kind::Msg(KEY_SELECTOR)),
];

const ENV_VAR: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "value", Kind::Str),
    f(3, "valueFrom", Kind::Msg(ENV_VAR_SOURCE)),
];

const ENV_FROM: &[Field] = &[
    f(1, "prefix", Kind::Str),
    f(
        2,
        "configMapRef",
        Kind::Msg(&[
            f(1, "", Kind::Inline(LOCAL_REF)),
            f(2, "optional", Kind::Bool),
        ]),
    ),
    f(
        3,
        "secretRef",
        Kind::Msg(&[
            f(1, "", Kind::Inline(LOCAL_REF)),
            f(2, "optional", Kind::Bool),
        ]),
    ),
];

const CONTAINER_PORT: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "hostPort", Kind::Int),
    f(3, "containerPort", Kind::Int),
    f(4, "protocol", Kind::Str),
    f(5, "hostIP", Kind::Str),
];

const RESOURCES: &[Field] = &[
    f(1, "limits", Kind::QuantityMap),
    f(2, "requests", Kind::QuantityMap),
];

const VOLUME_MOUNT: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "readOnly", Kind::Bool),
    f(3, "mountPath", Kind::Str),
    f(4, "subPath", Kind::Str),
    f(5, "mountPropagation", Kind::Str),
    f(6, "subPathExpr", Kind::Str),
    f(7, "recursiveReadOnly", Kind::Str),
];

const SECCOMP: &[Field] = &[f(1, "type", Kind::Str), f(2, "localhostProfile", Kind::Str)];

const SECURITY_CONTEXT: &[Field] = &[
    f(
        1,
        "capabilities",
        Kind::Msg(&[r(1, "add", Kind::Str), r(2, "drop", Kind::Str)]),
    ),
    f(2, "privileged", Kind::Bool),
    f(4, "runAsUser", Kind::Int),
    f(5, "runAsNonRoot", Kind::Bool),
    f(6, "readOnlyRootFilesystem", Kind::Bool),
    f(7, "allowPrivilegeEscalation", Kind::Bool),
    f(8, "runAsGroup", Kind::Int),
    f(9, "procMount", Kind::Str),
    f(11, "seccompProfile", Kind::Msg(SECCOMP)),
];

const PROBE: &[Field] = &[
    f(
        1,
        "",
        Kind::Inline(&[
            f(1, "exec", Kind::Msg(&[r(1, "command", Kind::Str)])),
            f(
                2,
                "httpGet",
                Kind::Msg(&[
                    f(1, "path", Kind::Str),
                    f(2, "port", Kind::IntOrString),
                    f(3, "host", Kind::Str),
                    f(4, "scheme", Kind::Str),
                ]),
            ),
            f(
                3,
                "tcpSocket",
                Kind::Msg(&[f(1, "port", Kind::IntOrString), f(2, "host", Kind::Str)]),
            ),
        ]),
    ),
    f(2, "initialDelaySeconds", Kind::Int),
    f(3, "timeoutSeconds", Kind::Int),
    f(4, "periodSeconds", Kind::Int),
    f(5, "successThreshold", Kind::Int),
    f(6, "failureThreshold", Kind::Int),
    f(7, "terminationGracePeriodSeconds", Kind::Int),
];

const CONTAINER: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "image", Kind::Str),
    r(3, "command", Kind::Str),
    r(4, "args", Kind::Str),
    f(5, "workingDir", Kind::Str),
    r(6, "ports", Kind::Msg(CONTAINER_PORT)),
    r(7, "env", Kind::Msg(ENV_VAR)),
    f(8, "resources", Kind::Msg(RESOURCES)),
    r(9, "volumeMounts", Kind::Msg(VOLUME_MOUNT)),
    f(10, "livenessProbe", Kind::Msg(PROBE)),
    f(11, "readinessProbe", Kind::Msg(PROBE)),
    f(13, "terminationMessagePath", Kind::Str),
    f(14, "imagePullPolicy", Kind::Str),
    f(15, "securityContext", Kind::Msg(SECURITY_CONTEXT)),
    f(16, "stdin", Kind::Bool),
    f(17, "stdinOnce", Kind::Bool),
    f(18, "tty", Kind::Bool),
    r(19, "envFrom", Kind::Msg(ENV_FROM)),
    f(20, "terminationMessagePolicy", Kind::Str),
    f(22, "startupProbe", Kind::Msg(PROBE)),
    f(24, "restartPolicy", Kind::Str),
];

const KEY_TO_PATH: &[Field] = &[
    f(1, "key", Kind::Str),
    f(2, "path", Kind::Str),
    f(3, "mode", Kind::Int),
];

const VOLUME_SOURCE: &[Field] = &[
    f(
        2,
        "emptyDir",
        Kind::Msg(&[f(1, "medium", Kind::Str), f(2, "sizeLimit", Kind::Quantity)]),
    ),
    f(
        6,
        "secret",
        Kind::Msg(&[
            f(1, "secretName", Kind::Str),
            r(2, "items", Kind::Msg(KEY_TO_PATH)),
            f(3, "defaultMode", Kind::Int),
            f(4, "optional", Kind::Bool),
        ]),
    ),
    f(
        10,
        "persistentVolumeClaim",
        Kind::Msg(&[f(1, "claimName", Kind::Str), f(2, "readOnly", Kind::Bool)]),
    ),
    f(
        19,
        "configMap",
        Kind::Msg(&[
            f(1, "", Kind::Inline(LOCAL_REF)),
            r(2, "items", Kind::Msg(KEY_TO_PATH)),
            f(3, "defaultMode", Kind::Int),
            f(4, "optional", Kind::Bool),
        ]),
    ),
];

const POD_SECURITY_CONTEXT: &[Field] = &[
    f(2, "runAsUser", Kind::Int),
    f(3, "runAsNonRoot", Kind::Bool),
    r(4, "supplementalGroups", Kind::Int),
    f(5, "fsGroup", Kind::Int),
    f(6, "runAsGroup", Kind::Int),
    f(9, "fsGroupChangePolicy", Kind::Str),
    f(10, "seccompProfile", Kind::Msg(SECCOMP)),
];

const TOLERATION: &[Field] = &[
    f(1, "key", Kind::Str),
    f(2, "operator", Kind::Str),
    f(3, "value", Kind::Str),
    f(4, "effect", Kind::Str),
    f(5, "tolerationSeconds", Kind::Int),
];

const POD_SPEC: &[Field] = &[
    r(
        1,
        "volumes",
        Kind::Msg(&[
            f(1, "name", Kind::Str),
            f(2, "", Kind::Inline(VOLUME_SOURCE)),
        ]),
    ),
    r(2, "containers", Kind::Msg(CONTAINER)),
    f(3, "restartPolicy", Kind::Str),
    f(4, "terminationGracePeriodSeconds", Kind::Int),
    f(5, "activeDeadlineSeconds", Kind::Int),
    f(6, "dnsPolicy", Kind::Str),
    f(7, "nodeSelector", Kind::Map(false)),
    f(8, "serviceAccountName", Kind::Str),
    f(9, "serviceAccount", Kind::Str),
    f(10, "nodeName", Kind::Str),
    f(11, "hostNetwork", Kind::Bool),
    f(12, "hostPID", Kind::Bool),
    f(13, "hostIPC", Kind::Bool),
    f(14, "securityContext", Kind::Msg(POD_SECURITY_CONTEXT)),
    r(15, "imagePullSecrets", Kind::Msg(LOCAL_REF)),
    f(16, "hostname", Kind::Str),
    f(17, "subdomain", Kind::Str),
    f(19, "schedulerName", Kind::Str),
    r(20, "initContainers", Kind::Msg(CONTAINER)),
    f(21, "automountServiceAccountToken", Kind::Bool),
    r(22, "tolerations", Kind::Msg(TOLERATION)),
    f(24, "priorityClassName", Kind::Str),
    f(25, "priority", Kind::Int),
    f(27, "shareProcessNamespace", Kind::Bool),
    f(29, "runtimeClassName", Kind::Str),
    f(30, "enableServiceLinks", Kind::Bool),
    f(31, "preemptionPolicy", Kind::Str),
    f(35, "setHostnameAsFQDN", Kind::Bool),
    f(37, "hostUsers", Kind::Bool),
];

const POD_TEMPLATE: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "spec", Kind::Msg(POD_SPEC)),
];

const DEPLOYMENT: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            f(1, "replicas", Kind::Int),
            f(2, "selector", Kind::Msg(LABEL_SELECTOR)),
            f(3, "template", Kind::Msg(POD_TEMPLATE)),
            f(
                4,
                "strategy",
                Kind::Msg(&[
                    f(1, "type", Kind::Str),
                    f(
                        2,
                        "rollingUpdate",
                        Kind::Msg(&[
                            f(1, "maxUnavailable", Kind::IntOrString),
                            f(2, "maxSurge", Kind::IntOrString),
                        ]),
                    ),
                ]),
            ),
            f(5, "minReadySeconds", Kind::Int),
            f(6, "revisionHistoryLimit", Kind::Int),
            f(7, "paused", Kind::Bool),
            f(9, "progressDeadlineSeconds", Kind::Int),
        ]),
    ),
    f(3, "status", Kind::Dropped),
];

const JOB_SPEC: &[Field] = &[
    f(1, "parallelism", Kind::Int),
    f(2, "completions", Kind::Int),
    f(3, "activeDeadlineSeconds", Kind::Int),
    f(4, "selector", Kind::Msg(LABEL_SELECTOR)),
    f(5, "manualSelector", Kind::Bool),
    f(6, "template", Kind::Msg(POD_TEMPLATE)),
    f(7, "backoffLimit", Kind::Int),
    f(8, "ttlSecondsAfterFinished", Kind::Int),
    f(9, "completionMode", Kind::Str),
    f(10, "suspend", Kind::Bool),
    f(12, "backoffLimitPerIndex", Kind::Int),
    f(13, "maxFailedIndexes", Kind::Int),
    f(14, "podReplacementPolicy", Kind::Str),
    f(15, "managedBy", Kind::Str),
];

const JOB: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "spec", Kind::Msg(JOB_SPEC)),
    f(3, "status", Kind::Dropped),
];

const CRON_JOB: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            f(1, "schedule", Kind::Str),
            f(2, "startingDeadlineSeconds", Kind::Int),
            f(3, "concurrencyPolicy", Kind::Str),
            f(4, "suspend", Kind::Bool),
            f(
                5,
                "jobTemplate",
                Kind::Msg(&[
                    f(1, "metadata", Kind::Msg(OBJECT_META)),
                    f(2, "spec", Kind::Msg(JOB_SPEC)),
                ]),
            ),
            f(6, "successfulJobsHistoryLimit", Kind::Int),
            f(7, "failedJobsHistoryLimit", Kind::Int),
            f(8, "timeZone", Kind::Str),
        ]),
    ),
    f(3, "status", Kind::Dropped),
];

const SERVICE: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            r(
                1,
                "ports",
                Kind::Msg(&[
                    f(1, "name", Kind::Str),
                    f(2, "protocol", Kind::Str),
                    f(3, "port", Kind::Int),
                    f(4, "targetPort", Kind::IntOrString),
                    f(5, "nodePort", Kind::Int),
                    f(6, "appProtocol", Kind::Str),
                ]),
            ),
            f(2, "selector", Kind::Map(false)),
            f(3, "clusterIP", Kind::Str),
            f(4, "type", Kind::Str),
            r(5, "externalIPs", Kind::Str),
            f(7, "sessionAffinity", Kind::Str),
            f(8, "loadBalancerIP", Kind::Str),
            r(9, "loadBalancerSourceRanges", Kind::Str),
            f(10, "externalName", Kind::Str),
            f(11, "externalTrafficPolicy", Kind::Str),
            f(12, "healthCheckNodePort", Kind::Int),
            f(13, "publishNotReadyAddresses", Kind::Bool),
            f(17, "ipFamilyPolicy", Kind::Str),
            r(18, "clusterIPs", Kind::Str),
            r(19, "ipFamilies", Kind::Str),
            f(20, "allocateLoadBalancerNodePorts", Kind::Bool),
            f(21, "loadBalancerClass", Kind::Str),
            f(22, "internalTrafficPolicy", Kind::Str),
            f(23, "trafficDistribution", Kind::Str),
        ]),
    ),
    f(3, "status", Kind::Dropped),
];

const RESOURCE_QUOTA: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            f(1, "hard", Kind::QuantityMap),
            r(2, "scopes", Kind::Str),
            f(
                3,
                "scopeSelector",
                Kind::Msg(&[r(
                    1,
                    "matchExpressions",
                    Kind::Msg(&[
                        f(1, "scopeName", Kind::Str),
                        f(2, "operator", Kind::Str),
                        r(3, "values", Kind::Str),
                    ]),
                )]),
            ),
        ]),
    ),
    f(3, "status", Kind::Dropped),
];

const POLICY_RULE: &[Field] = &[
    r(1, "verbs", Kind::Str),
    r(2, "apiGroups", Kind::Str),
    r(3, "resources", Kind::Str),
    r(4, "resourceNames", Kind::Str),
    r(5, "nonResourceURLs", Kind::Str),
];

const ROLE: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    r(2, "rules", Kind::Msg(POLICY_RULE)),
];

const CLUSTER_ROLE: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    r(2, "rules", Kind::Msg(POLICY_RULE)),
    f(
        3,
        "aggregationRule",
        Kind::Msg(&[r(1, "clusterRoleSelectors", Kind::Msg(LABEL_SELECTOR))]),
    ),
];

const BINDING: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    r(
        2,
        "subjects",
        Kind::Msg(&[
            f(1, "kind", Kind::Str),
            f(2, "apiGroup", Kind::Str),
            f(3, "name", Kind::Str),
            f(4, "namespace", Kind::Str),
        ]),
    ),
    f(
        3,
        "roleRef",
        Kind::Msg(&[
            f(1, "apiGroup", Kind::Str),
            f(2, "kind", Kind::Str),
            f(3, "name", Kind::Str),
        ]),
    ),
];

const PRIORITY_CLASS: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "value", Kind::Int),
    f(3, "globalDefault", Kind::Bool),
    f(4, "description", Kind::Str),
    f(5, "preemptionPolicy", Kind::Str),
];

/// `meta/v1` DeleteOptions: Helm's `uninstall` deletes its release Secrets with a
/// protobuf body (`k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto`).
const DELETE_OPTIONS: &[Field] = &[
    f(1, "gracePeriodSeconds", Kind::Int),
    f(
        2,
        "preconditions",
        Kind::Msg(&[f(1, "uid", Kind::Str), f(2, "resourceVersion", Kind::Str)]),
    ),
    f(3, "orphanDependents", Kind::Bool),
    f(4, "propagationPolicy", Kind::Str),
    r(5, "dryRun", Kind::Str),
    f(
        6,
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        Kind::Bool,
    ),
];

const INGRESS_BACKEND: &[Field] = &[
    f(
        3,
        "resource",
        Kind::Msg(&[
            f(1, "apiGroup", Kind::Str),
            f(2, "kind", Kind::Str),
            f(3, "name", Kind::Str),
        ]),
    ),
    f(
        4,
        "service",
        Kind::Msg(&[
            f(1, "name", Kind::Str),
            f(
                2,
                "port",
                Kind::Msg(&[f(1, "name", Kind::Str), f(2, "number", Kind::Int)]),
            ),
        ]),
    ),
];

const INGRESS: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            f(1, "defaultBackend", Kind::Msg(INGRESS_BACKEND)),
            r(
                2,
                "tls",
                Kind::Msg(&[r(1, "hosts", Kind::Str), f(2, "secretName", Kind::Str)]),
            ),
            r(
                3,
                "rules",
                Kind::Msg(&[
                    f(1, "host", Kind::Str),
                    f(
                        2,
                        "",
                        Kind::Inline(&[f(
                            1,
                            "http",
                            Kind::Msg(&[r(
                                1,
                                "paths",
                                Kind::Msg(&[
                                    f(1, "path", Kind::Str),
                                    f(2, "backend", Kind::Msg(INGRESS_BACKEND)),
                                    f(3, "pathType", Kind::Str),
                                ]),
                            )]),
                        )]),
                    ),
                ]),
            ),
            f(4, "ingressClassName", Kind::Str),
        ]),
    ),
    f(3, "status", Kind::Dropped),
];

const PDB: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            f(1, "minAvailable", Kind::IntOrString),
            f(2, "selector", Kind::Msg(LABEL_SELECTOR)),
            f(3, "maxUnavailable", Kind::IntOrString),
            f(4, "unhealthyPodEvictionPolicy", Kind::Str),
        ]),
    ),
    f(3, "status", Kind::Dropped),
];

const RESOURCE_ATTRIBUTES: &[Field] = &[
    f(1, "namespace", Kind::Str),
    f(2, "verb", Kind::Str),
    f(3, "group", Kind::Str),
    f(4, "version", Kind::Str),
    f(5, "resource", Kind::Str),
    f(6, "subresource", Kind::Str),
    f(7, "name", Kind::Str),
];

const NON_RESOURCE_ATTRIBUTES: &[Field] = &[f(1, "path", Kind::Str), f(2, "verb", Kind::Str)];

const SELF_SUBJECT_ACCESS_REVIEW: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            f(1, "resourceAttributes", Kind::Msg(RESOURCE_ATTRIBUTES)),
            f(
                2,
                "nonResourceAttributes",
                Kind::Msg(NON_RESOURCE_ATTRIBUTES),
            ),
        ]),
    ),
    f(3, "status", Kind::Dropped),
];

const SUBJECT_ACCESS_REVIEW: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            f(1, "resourceAttributes", Kind::Msg(RESOURCE_ATTRIBUTES)),
            f(
                2,
                "nonResourceAttributes",
                Kind::Msg(NON_RESOURCE_ATTRIBUTES),
            ),
            f(3, "user", Kind::Str),
            r(4, "groups", Kind::Str),
            f(5, "extra", Kind::ExtraMap),
            f(6, "uid", Kind::Str),
        ]),
    ),
    f(3, "status", Kind::Dropped),
];

const SELF_SUBJECT_RULES_REVIEW: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "spec", Kind::Msg(&[f(1, "namespace", Kind::Str)])),
    f(3, "status", Kind::Dropped),
];

const SELF_SUBJECT_REVIEW: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "status", Kind::Dropped),
];

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let s = self.b.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        Some(s)
    }

    /// Next (field number, wire type), or None at the end.
    fn tag(&mut self) -> Option<(u64, u64)> {
        if self.pos >= self.b.len() {
            return None;
        }
        let t = self.varint()?;
        Some((t >> 3, t & 7))
    }

    fn skip(&mut self, wire: u64) -> Option<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => {
                self.pos = self.pos.checked_add(8)?;
                Some(())
            }
            2 => self.bytes().map(|_| ()),
            5 => {
                self.pos = self.pos.checked_add(4)?;
                Some(())
            }
            _ => None,
        }
    }
}

fn string(b: &[u8]) -> Option<Value> {
    std::str::from_utf8(b).ok().map(|s| json!(s))
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Truncated or malformed bytes.
    Malformed,
    /// A kind this decoder has no table for.
    UnsupportedKind(String),
    /// A field number the table does not know, in the message at `path`.
    UnknownField {
        /// JSON path of the message.
        path: String,
        /// Field number.
        number: u64,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Malformed => write!(f, "the protobuf body is malformed"),
            DecodeError::UnsupportedKind(k) => write!(f, "protobuf is not decoded for {k}"),
            DecodeError::UnknownField { path, number } => {
                write!(
                    f,
                    "protobuf field {number} of {path} is not decoded by this server"
                )
            }
        }
    }
}

fn scalar(rd: &mut Reader<'_>, kind: Kind) -> Option<Value> {
    Some(match kind {
        // int64 is the varint's bits read as two's complement.
        Kind::Int => json!(rd.varint()?.cast_signed()),
        Kind::Bool => json!(rd.varint()? != 0),
        Kind::Str => string(rd.bytes()?)?,
        Kind::Bytes => json!(base64::engine::general_purpose::STANDARD.encode(rd.bytes()?)),
        _ => return None,
    })
}

fn decode(b: &[u8], schema: &[Field], path: &str) -> Result<Value, DecodeError> {
    let mut out = Map::new();
    decode_into(b, schema, path, &mut out)?;
    Ok(Value::Object(out))
}

fn decode_into(
    b: &[u8],
    schema: &[Field],
    path: &str,
    out: &mut Map<String, Value>,
) -> Result<(), DecodeError> {
    let bad = || DecodeError::Malformed;
    let mut rd = Reader { b, pos: 0 };
    while let Some((num, _wire)) = rd.tag() {
        let Some(field) = schema.iter().find(|x| x.num == num) else {
            return Err(DecodeError::UnknownField {
                path: path.to_string(),
                number: num,
            });
        };
        let here = format!("{path}.{}", field.name);
        let v = match field.kind {
            Kind::Int | Kind::Bool | Kind::Str | Kind::Bytes => {
                scalar(&mut rd, field.kind).ok_or_else(bad)?
            }
            Kind::Time => {
                let t = decode(
                    rd.bytes().ok_or_else(bad)?,
                    &[f(1, "s", Kind::Int), f(2, "nanos", Kind::Int)],
                    &here,
                )?;
                match t["s"].as_i64() {
                    Some(s) if s != 0 => json!(crate::clock::format_seconds(s)),
                    _ => continue,
                }
            }
            Kind::Msg(sub) => decode(rd.bytes().ok_or_else(bad)?, sub, &here)?,
            Kind::Dropped => {
                rd.bytes().ok_or_else(bad)?;
                continue;
            }
            Kind::Inline(sub) => {
                decode_into(rd.bytes().ok_or_else(bad)?, sub, path, out)?;
                continue;
            }
            Kind::Quantity => {
                decode(rd.bytes().ok_or_else(bad)?, &[f(1, "s", Kind::Str)], &here)?["s"].clone()
            }
            Kind::IntOrString => {
                let v = decode(
                    rd.bytes().ok_or_else(bad)?,
                    &[
                        f(1, "type", Kind::Int),
                        f(2, "int", Kind::Int),
                        f(3, "str", Kind::Str),
                    ],
                    &here,
                )?;
                if v["type"].as_i64() == Some(1) {
                    v.get("str").cloned().unwrap_or_else(|| json!(""))
                } else {
                    v.get("int").cloned().unwrap_or_else(|| json!(0))
                }
            }
            Kind::Map(_) | Kind::QuantityMap | Kind::ExtraMap => {
                let value_kind = match field.kind {
                    Kind::Map(true) => Kind::Bytes,
                    Kind::Map(false) => Kind::Str,
                    Kind::QuantityMap => Kind::Quantity,
                    _ => Kind::Msg(EXTRA_VALUE),
                };
                let e = decode(
                    rd.bytes().ok_or_else(bad)?,
                    &[f(1, "k", Kind::Str), f(2, "v", value_kind)],
                    &here,
                )?;
                let m = out.entry(field.name).or_insert_with(|| json!({}));
                let key = e["k"].as_str().unwrap_or("").to_string();
                let value = match field.kind {
                    Kind::ExtraMap => e["v"].get("items").cloned().unwrap_or_else(|| json!([])),
                    Kind::Map(_) => e.get("v").cloned().unwrap_or_else(|| json!("")),
                    _ => e.get("v").cloned().unwrap_or(Value::Null),
                };
                m[key] = value;
                continue;
            }
        };
        if field.repeated {
            if let Some(a) = out
                .entry(field.name)
                .or_insert_with(|| json!([]))
                .as_array_mut()
            {
                a.push(v);
            }
        } else if v != json!("") {
            // Go writes empty non-pointer strings; JSON would omit them.
            out.insert(field.name.into(), v);
        }
    }
    Ok(())
}

/// The message table of a kind.
fn schema_of(api_version: &str, kind: &str) -> Option<&'static [Field]> {
    Some(match (api_version, kind) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("v1", "Service") => SERVICE,
        ("v1", "ResourceQuota") => RESOURCE_QUOTA,
        ("apps/v1", "Deployment") => DEPLOYMENT,
        ("batch/v1", "Job") => JOB,
        ("batch/v1", "CronJob") => CRON_JOB,
        ("rbac.authorization.k8s.io/v1", "Role") => ROLE,
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => CLUSTER_ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => BINDING,
        ("scheduling.k8s.io/v1", "PriorityClass") => PRIORITY_CLASS,
        ("v1" | "meta.k8s.io/v1", "DeleteOptions") => DELETE_OPTIONS,
        ("networking.k8s.io/v1", "Ingress") => INGRESS,
        ("policy/v1", "PodDisruptionBudget") => PDB,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SELF_SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "SubjectAccessReview" | "LocalSubjectAccessReview") => {
            SUBJECT_ACCESS_REVIEW
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => SELF_SUBJECT_RULES_REVIEW,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => SELF_SUBJECT_REVIEW,
        _ => return None,
    })
}

/// Decodes a protobuf request body into the JSON object it encodes.
pub fn decode_object(body: &[u8]) -> Result<Value, DecodeError> {
    let bad = || DecodeError::Malformed;
    let envelope = body.strip_prefix(b"k8s\0").ok_or_else(bad)?;
    let mut rd = Reader {
        b: envelope,
        pos: 0,
    };
    let (mut type_meta, mut raw) = (None, None);
    while let Some((num, wire)) = rd.tag() {
        match (num, wire) {
            (1, 2) => type_meta = Some(rd.bytes().ok_or_else(bad)?),
            (2, 2) => raw = Some(rd.bytes().ok_or_else(bad)?),
            _ => rd.skip(wire).ok_or_else(bad)?,
        }
    }
    let tm = decode(
        type_meta.ok_or_else(bad)?,
        &[f(1, "apiVersion", Kind::Str), f(2, "kind", Kind::Str)],
        "typeMeta",
    )?;
    let (api_version, kind) = (
        tm["apiVersion"].as_str().unwrap_or(""),
        tm["kind"].as_str().unwrap_or(""),
    );
    let schema = schema_of(api_version, kind)
        .ok_or_else(|| DecodeError::UnsupportedKind(format!("{api_version} {kind}")))?;
    let mut obj = decode(raw.ok_or_else(bad)?, schema, kind)?;
    obj["apiVersion"] = tm["apiVersion"].clone();
    obj["kind"] = tm["kind"].clone();
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u64, payload: &[u8]) -> Vec<u8> {
        let tag = u8::try_from((num << 3) | 2).expect("a one-byte tag");
        let len = u8::try_from(payload.len()).expect("a one-byte length");
        let mut v = vec![tag, len];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn decodes_a_configmap() {
        let entry = [field(1, b"a"), field(2, b"b")].concat();
        let meta = [field(1, b"c1"), field(3, b"demo"), field(8, &[])].concat();
        let raw = [field(1, &meta), field(2, &entry)].concat();
        let tm = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &tm), field(2, &raw)].concat();
        let obj = decode_object(&body).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "namespace": "demo"}, "data": {"a": "b"}})
        );
        // DeleteOptions, as helm uninstall sends them (propagationPolicy, dryRun list).
        let options = [field(4, b"Background"), field(5, b"All")].concat();
        let tm_delete = [field(1, b"v1"), field(2, b"DeleteOptions")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &tm_delete), field(2, &options)].concat();
        assert_eq!(
            decode_object(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background", "dryRun": ["All"]})
        );
        let tm = [field(1, b"v1"), field(2, b"Pod")].concat();
        assert_eq!(
            decode_object(&[b"k8s\0".to_vec(), field(1, &tm), field(2, &raw)].concat()),
            Err(DecodeError::UnsupportedKind("v1 Pod".into()))
        );
    }
}
