//! The real kubectl against the server (SPEC.md §10): server-side apply of
//! CRDs and custom resources, table output with printer columns, `-o yaml`,
//! `get -w` seeing changes, label/annotate, JSON and merge patches, delete
//! waiting for finalizers, namespace deletion, explain from OpenAPI v3, the
//! admin kubeconfig over TLS, `kubectl auth` (`can-i`, `--as`, `--list`,
//! `whoami`), `kubectl create` of the kinds tenants use (protobuf bodies), and
//! admission refusals (Pod Security, a ValidatingAdmissionPolicy, quota) with
//! `describe quota`.
//! Every kubectl run uses a fresh `--cache-dir`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.io
spec:
  group: example.io
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, description: "How big the widget is, in centimetres."}
              color: {type: string}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#;

const W1: &str = "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w1, namespace: default}\nspec: {size: 3, color: red}\n";

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    dir: PathBuf,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn cmd(&self, args: &[&str]) -> Command {
        // A fresh cache per command, so that discovery is exercised every time.
        use std::sync::atomic::{AtomicU32, Ordering};
        static RUN: AtomicU32 = AtomicU32::new(0);
        let cache = self
            .dir
            .join(format!("cache-{}", RUN.fetch_add(1, Ordering::Relaxed)));
        let mut c = Command::new(&self.bin);
        c.arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn file(&self, name: &str, content: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, content).expect("write manifest");
        p.display().to_string()
    }

    async fn run(&self, args: &[&str]) -> Out {
        let mut cmd = self.cmd(args);
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("kubectl runs");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn ok(&self, args: &[&str]) -> String {
        let start = Instant::now();
        let o = self.run(args).await;
        assert_eq!(
            o.code,
            0,
            "kubectl {args:?} failed ({}):\n{}\n{}",
            self.bin.display(),
            o.stdout,
            o.stderr
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "kubectl {args:?} took {:?}",
            start.elapsed()
        );
        o.stdout
    }
}

async fn suite(bin: &Path) {
    let s = server().await;
    let dir = scratch_dir("kubectl");
    let kubeconfig = dir.join("kubeconfig");
    s.write_kubeconfig(&kubeconfig).unwrap();
    let k = Kubectl {
        bin: bin.to_path_buf(),
        kubeconfig,
        dir,
    };
    assert!(k.ok(&["version"]).await.contains("Server Version: v1."));
    let res = k.ok(&["api-resources"]).await;
    assert!(
        res.lines()
            .any(|l| l.starts_with("configmaps") && l.contains(" cm ")),
        "{res}"
    );

    let crd = k.file("crd.yaml", CRD);
    let out = k.ok(&["apply", "--server-side", "-f", &crd]).await;
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.io serverside-applied"
    );
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.io",
        "--timeout=10s",
    ])
    .await;
    assert!(
        k.ok(&["api-resources", "--api-group=example.io"])
            .await
            .contains("widgets")
    );

    let w1 = k.file("w1.yaml", W1);
    assert_eq!(
        k.ok(&["apply", "--server-side", "-f", &w1]).await.trim(),
        "widget.example.io/w1 serverside-applied"
    );
    let w1b = k.file("w1-size4.yaml", &W1.replace("size: 3", "size: 4"));
    let conflict = k
        .run(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            &w1b,
        ])
        .await;
    assert_eq!(conflict.code, 1);
    assert!(
        conflict
            .stderr
            .contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.size"),
        "{}",
        conflict.stderr
    );
    k.ok(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        &w1b,
    ])
    .await;

    // Strict field validation refuses what the schema does not declare.
    let bad = k.file(
        "bad.yaml",
        &W1.replace("color: red", "color: red, bogus: 1")
            .replace("name: w1", "name: bad"),
    );
    let refused = k.run(&["apply", "--server-side", "-f", &bad]).await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("unknown field \"spec.bogus\""),
        "{}",
        refused.stderr
    );

    // Table output with the CRD's printer columns.
    let table = k.ok(&["get", "widgets", "-A"]).await;
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["NAMESPACE", "NAME", "SIZE", "READY"], "{table}");
    let row: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(row, ["default", "w1", "4"], "{table}");
    let yaml = k
        .ok(&[
            "get",
            "widget",
            "w1",
            "-n",
            "default",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .await;
    assert!(
        yaml.contains("manager: other")
            && yaml.contains("operation: Apply")
            && yaml.contains("size: 4"),
        "{yaml}"
    );

    // get -w sees the changes (label, annotate, finalizer, deletion).
    let mut watch = k.cmd(&[
        "get",
        "widgets",
        "-n",
        "default",
        "-w",
        "--output-watch-events",
    ]);
    let child = watch.spawn().expect("kubectl get -w starts");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        k.ok(&["label", "widget", "w1", "-n", "default", "tier=a"])
            .await
            .trim(),
        "widget.example.io/w1 labeled"
    );
    k.ok(&["annotate", "widget", "w1", "-n", "default", "note=x"])
        .await;
    k.ok(&[
        "patch",
        "widget",
        "w1",
        "-n",
        "default",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/metadata/finalizers","value":["example.io/hold"]}]"#,
    ])
    .await;
    k.ok(&["delete", "widget", "w1", "-n", "default", "--wait=false"])
        .await;
    let ts = k
        .ok(&[
            "get",
            "widget",
            "w1",
            "-n",
            "default",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await;
    assert!(
        !ts.is_empty(),
        "w1 stays Terminating while its finalizer is there"
    );
    // A waiting delete returns once the finalizer goes.
    let mut waiting = k.cmd(&["delete", "widget", "w1", "-n", "default", "--timeout=20s"]);
    let waiter = tokio::task::spawn_blocking(move || waiting.output());
    tokio::time::sleep(Duration::from_millis(800)).await;
    k.ok(&[
        "patch",
        "widget",
        "w1",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])
    .await;
    let waited = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("delete returns")
        .unwrap()
        .unwrap();
    assert!(
        waited.status.success(),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut child = child;
    let _ = child.kill();
    let watched = child.wait_with_output().expect("watch output");
    let watched = String::from_utf8_lossy(&watched.stdout).into_owned();
    assert!(
        watched.lines().any(|l| l.starts_with("MODIFIED")),
        "{watched}"
    );
    assert!(
        watched.lines().any(|l| l.starts_with("DELETED")),
        "{watched}"
    );

    who_may_do_what(&k).await;
    create_what_tenants_use(&k).await;

    // Namespace deletion waits until its content is gone.
    // `create namespace|configmap` send protobuf bodies.
    assert_eq!(
        k.ok(&["create", "namespace", "demo"]).await.trim(),
        "namespace/demo created"
    );
    k.ok(&[
        "create",
        "configmap",
        "c",
        "-n",
        "demo",
        "--from-literal=a=b",
    ])
    .await;
    let cm = k.file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied, namespace: demo}\ndata: {a: b}\n");
    k.ok(&["apply", "--server-side", "-f", &cm]).await;
    k.ok(&["delete", "namespace", "demo", "--timeout=20s"])
        .await;
    let gone = k.run(&["get", "namespace", "demo"]).await;
    assert_ne!(gone.code, 0);

    admission(&k).await;

    let explain = k.ok(&["explain", "widgets.spec.size"]).await;
    assert!(
        explain.contains("How big the widget is, in centimetres."),
        "{explain}"
    );
    let raw = k.ok(&["get", "--raw", "/apis"]).await;
    assert!(
        raw.starts_with("{\"apiVersion\":\"v1\",\"groups\":[")
            || raw.contains("\"kind\":\"APIGroupList\""),
        "{raw}"
    );
    assert!(
        s.unsupported_requests().is_empty(),
        "{:?}",
        s.unsupported_requests()
    );
    s.shutdown().await;
    if let Err(e) = std::fs::remove_dir_all(&k.dir) {
        eprintln!("could not remove {}: {e}", k.dir.display());
    }
}

/// `kubectl auth` against RBAC: the admin's identity, `can-i` as the admin and
/// as other users (`--as`, `--as-group`), `--list`, and a refusal worded as upstream's.
async fn who_may_do_what(k: &Kubectl) {
    let me = k.ok(&["auth", "whoami"]).await;
    assert!(
        me.contains("admin") && me.contains("system:masters"),
        "{me}"
    );
    assert_eq!(
        k.ok(&["auth", "can-i", "create", "pods"]).await.trim(),
        "yes"
    );
    let no = k
        .run(&["auth", "can-i", "create", "pods", "--as=bob"])
        .await;
    assert_eq!((no.code, no.stdout.trim()), (1, "no"));
    k.ok(&[
        "create",
        "rolebinding",
        "devs-edit",
        "--clusterrole=edit",
        "--group=devs",
        "-n",
        "default",
    ])
    .await;
    assert_eq!(
        k.ok(&[
            "auth",
            "can-i",
            "create",
            "deployments.apps",
            "--as=bob",
            "--as-group=devs",
            "-n",
            "default"
        ])
        .await
        .trim(),
        "yes"
    );
    let no = k
        .run(&[
            "auth",
            "can-i",
            "create",
            "rolebindings",
            "--as=bob",
            "--as-group=devs",
            "-n",
            "default",
        ])
        .await;
    assert_eq!(no.stdout.trim(), "no");
    let list = k
        .ok(&[
            "auth",
            "can-i",
            "--list",
            "--as=bob",
            "--as-group=devs",
            "-n",
            "default",
        ])
        .await;
    assert!(
        list.lines()
            .any(|l| l.starts_with("deployments.apps ") && l.contains("create")),
        "{list}"
    );
    assert!(
        !list.lines().any(|l| l.starts_with("rolebindings")),
        "{list}"
    );
    let refused = k
        .run(&[
            "get",
            "secrets",
            "-n",
            "kube-system",
            "--as=bob",
            "--as-group=devs",
        ])
        .await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains(r#"secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" in the namespace "kube-system""#),
        "{}",
        refused.stderr
    );
    k.ok(&[
        "get",
        "deployments",
        "-n",
        "default",
        "--as=bob",
        "--as-group=devs",
    ])
    .await;
    k.ok(&["delete", "rolebinding", "devs-edit", "-n", "default"])
        .await;
}

/// `kubectl create` of the kinds tenants use: the generators send protobuf.
async fn create_what_tenants_use(k: &Kubectl) {
    let creates: &[&[&str]] = &[
        &[
            "deployment",
            "web",
            "--image=nginx",
            "--replicas=2",
            "--port=80",
        ],
        &["job", "once", "--image=busybox", "--", "echo", "hi"],
        &[
            "cronjob",
            "nightly",
            "--image=busybox",
            "--schedule=0 3 * * *",
            "--",
            "date",
        ],
        &["service", "clusterip", "web", "--tcp=80:8080"],
        &[
            "role",
            "reader",
            "--verb=get,list",
            "--resource=pods,deployments.apps",
        ],
        &[
            "rolebinding",
            "reader",
            "--role=reader",
            "--user=bob",
            "--serviceaccount=default:bot",
        ],
        &[
            "clusterrole",
            "tenant-operator:tenant-admin",
            "--verb=get",
            "--resource=namespaces",
        ],
        &[
            "clusterrolebinding",
            "tenant-operator:tenant-admin",
            "--clusterrole=tenant-operator:tenant-admin",
            "--group=admins",
        ],
        &["quota", "compute", "--hard=cpu=2,memory=4Gi,pods=10"],
        &[
            "priorityclass",
            "tenant-high",
            "--value=1000",
            "--description=tenant workloads",
        ],
        &[
            "ingress",
            "web",
            "--class=nginx",
            "--rule=web.example.com/*=web:80,tls=web-tls",
        ],
        &[
            "poddisruptionbudget",
            "web",
            "--selector=app=web",
            "--min-available=1",
        ],
    ];
    for args in creates {
        let mut full = vec!["create"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["-n", "default"]);
        let out = k.ok(&full).await;
        assert!(out.trim().ends_with(" created"), "{out}");
    }
    let deploy = k
        .ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].ports[0].containerPort}",
        ])
        .await;
    assert_eq!(deploy, "2 80");
    let ing = k.ok(&["get", "ingress", "web", "-n", "default", "-o", "jsonpath={.spec.rules[0].host} {.spec.rules[0].http.paths[0].backend.service.port.number} {.spec.tls[0].secretName}"]).await;
    assert_eq!(ing, "web.example.com 80 web-tls");
    let pcs = k.ok(&["get", "priorityclasses", "-o", "name"]).await;
    assert!(
        pcs.contains("system-node-critical") && pcs.contains("system-cluster-critical"),
        "{pcs}"
    );
    k.ok(&[
        "delete",
        "-n",
        "default",
        "deployment/web",
        "job/once",
        "cronjob/nightly",
        "service/web",
        "role/reader",
        "rolebinding/reader",
        "quota/compute",
        "ingress/web",
        "pdb/web",
    ])
    .await;
    k.ok(&[
        "delete",
        "clusterrolebinding/tenant-operator:tenant-admin",
        "clusterrole/tenant-operator:tenant-admin",
        "priorityclass/tenant-high",
    ])
    .await;
}

const SECURE_NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: secure\n  labels: {pod-security.kubernetes.io/enforce: restricted}\n";
const ROOT_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: root, namespace: secure}\nspec:\n  containers: [{name: app, image: nginx}]\n";
const POLICY: &str = r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-forbidden-key}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps]}
  validations:
  - expression: "!has(object.data) || !('forbidden' in object.data)"
    reason: Forbidden
    message: the key forbidden is not allowed
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: no-forbidden-key}
spec: {policyName: no-forbidden-key, validationActions: [Deny]}
"#;
const QUOTA: &str = "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: compute, namespace: secure}\nspec:\n  hard: {pods: \"1\", count/configmaps: \"5\", limits.memory: 1Gi}\n";
const SIZED_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: NAME, namespace: secure}\nspec:\n  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n  containers:\n  - name: app\n    image: nginx\n    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n    resources: {limits: {memory: 256Mi}}\n";

/// Admission refusals as kubectl prints them (exit code 1, the server's message), and
/// quota usage as `kubectl describe quota` shows it.
async fn admission(k: &Kubectl) {
    k.ok(&[
        "apply",
        "--server-side",
        "-f",
        &k.file("secure.yaml", SECURE_NS),
    ])
    .await;
    let refused = k
        .run(&[
            "apply",
            "--server-side",
            "-f",
            &k.file("root.yaml", ROOT_POD),
        ])
        .await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("pods \"root\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false)"),
        "{}",
        refused.stderr
    );

    k.ok(&[
        "apply",
        "--server-side",
        "-f",
        &k.file("policy.yaml", POLICY),
    ])
    .await;
    // `create configmap` sends protobuf: decoded, then admitted like any other body.
    let refused = k
        .run(&[
            "create",
            "configmap",
            "bad",
            "-n",
            "secure",
            "--from-literal=forbidden=x",
        ])
        .await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("configmaps \"bad\" is forbidden: ValidatingAdmissionPolicy 'no-forbidden-key' with binding 'no-forbidden-key' denied request: the key forbidden is not allowed"),
        "{}",
        refused.stderr
    );
    k.ok(&[
        "create",
        "configmap",
        "good",
        "-n",
        "secure",
        "--from-literal=a=b",
    ])
    .await;

    k.ok(&["apply", "--server-side", "-f", &k.file("quota.yaml", QUOTA)])
        .await;
    k.ok(&[
        "apply",
        "--server-side",
        "-f",
        &k.file("p1.yaml", &SIZED_POD.replace("NAME", "p1")),
    ])
    .await;
    let refused = k
        .run(&[
            "apply",
            "--server-side",
            "-f",
            &k.file("p2.yaml", &SIZED_POD.replace("NAME", "p2")),
        ])
        .await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("pods \"p2\" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=1, limited: pods=1"),
        "{}",
        refused.stderr
    );
    let described = k
        .ok(&["describe", "quota", "compute", "-n", "secure"])
        .await;
    for row in [
        ("count/configmaps", "1", "5"),
        ("limits.memory", "256Mi", "1Gi"),
        ("pods", "1", "1"),
    ] {
        assert!(
            described.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols == [row.0, row.1, row.2]
            }),
            "{row:?} in\n{described}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_suite() {
    for bin in kubectls() {
        suite(&bin).await;
    }
}
