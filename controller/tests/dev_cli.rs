//! `tenant-operator dev` through the path a newcomer takes: start it, read what it prints,
//! run the kubectl commands it suggests (as the cluster admin, and `--as` a tenant's user),
//! stop it with SIGTERM. The operator runs there as its ServiceAccount under the chart's
//! RBAC and the admission policies, so the tenants becoming Ready shows the chart grants
//! what the operator needs; the refused command shows the tenant user is confined.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn dev_runs_the_operator_as_itself_and_prints_how_to_act_as_a_tenant_user() {
    let Some(kubectl) = fake_apiserver::tools::find("kubectl") else {
        return;
    };
    let kubeconfig =
        std::env::temp_dir().join(format!("dev-cli-{}.kubeconfig", std::process::id()));
    let mut dev = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .arg("dev")
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("tenant-operator dev starts");
    let stdout = dev.stdout.take().expect("piped stdout");
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("dev prints text");
        let done = line == "press Ctrl-C to stop";
        printed.push(line);
        if done || Instant::now() > deadline {
            break;
        }
    }
    let text = printed.join("\n");
    assert!(
        text.contains("in-memory API server listening on https://127.0.0.1:"),
        "dev prints the address kubectl uses (https):\n{text}"
    );
    assert!(
        text.contains(
            "controller started as system:serviceaccount:tenant-operator:tenant-operator"
        ),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("asl-bari ") && l.contains(" Ready ")),
        "the samples become Ready under the chart's RBAC:\n{text}"
    );

    // Every suggested kubectl command, as printed.
    let commands: Vec<&str> = printed
        .iter()
        .filter_map(|l| l.trim_start().strip_prefix("kubectl "))
        .collect();
    let as_tenant: Vec<&&str> = commands.iter().filter(|c| c.contains("--as=")).collect();
    assert!(
        as_tenant
            .iter()
            .all(|c| c.contains("--as-group=asl-bari-sistemi-informativi")),
        "acts as a member of a sample tenant's admin group: {as_tenant:?}"
    );
    assert!(as_tenant.len() >= 2, "{text}");
    let mut results = Vec::new();
    for command in &commands {
        let (args, comment) = command.split_once('#').unwrap_or((command, ""));
        let out = Command::new(&kubectl)
            .args(args.split_whitespace())
            .output()
            .expect("kubectl runs");
        results.push((
            command.to_string(),
            comment.trim().to_string(),
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }

    // SIGTERM: dev stops the controller and the server, and removes the kubeconfig.
    let term = Command::new("kill")
        .args(["-TERM", &dev.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let status = dev.wait().expect("dev exits");
    assert!(status.success(), "dev exits cleanly on SIGTERM: {status}");
    assert!(!kubeconfig.exists(), "dev removes its kubeconfig");

    for (command, comment, success, stderr) in &results {
        if comment == "refused" {
            assert!(!success, "kubectl {command}: should be refused");
            assert!(
                stderr
                    .contains("User \"asl-bari-admin\" cannot delete resource \"networkpolicies\""),
                "kubectl {command}: refused by RBAC: {stderr}"
            );
        } else {
            assert!(success, "kubectl {command}: {stderr}");
        }
    }
}

/// A tenant file as an entity keeps it, with the given environments.
fn poggiorsini(environments: &[&str]) -> String {
    let list: String = environments
        .iter()
        .map(|e| format!("    - name: {e}\n"))
        .collect();
    format!(
        "apiVersion: tenancy.innova.puglia.it/v1alpha1
kind: TenantService
metadata:
  name: comune-poggiorsini
spec:
  entity:
    type: Comune
    displayName: Comune di Poggiorsini
    istatCode: \"072034\"
    ipaCode: c_g769
    province: BA
  dataClassification: ordinario
  class: standard
  environments:
{list}  tls:
    hostnames: [www.comune.poggiorsini.ba.it]
  access:
    adminGroups: [comune-poggiorsini-admins]
"
    )
}

/// Runs kubectl; its stdout, or a panic with its stderr.
fn kubectl_ok(kubectl: &std::path::Path, kubeconfig: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The objects a condition's message counts: `2 NetworkPolicy, 2 RoleBinding as specified`
/// or `2 Namespace: ...`; 0 for a message without counts.
fn counted(message: &str) -> usize {
    let head = message
        .split(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches(" as specified");
    head.split(", ")
        .map(|part| {
            let mut words = part.split(' ');
            match (
                words.next().and_then(|n| n.parse::<usize>().ok()),
                words.next(),
                words.next(),
            ) {
                (Some(n), Some(kind), None) if kind.starts_with(char::is_uppercase) => n,
                _ => 0,
            }
        })
        .sum()
}

/// Polls `kubectl get` until its output is `want` (the operator works in the background).
fn wait_for_output(
    kubectl: &std::path::Path,
    kubeconfig: &std::path::Path,
    args: &[&str],
    want: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = kubectl_ok(kubectl, kubeconfig, args);
        if got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "kubectl {}: {got:?}, expected {want:?}",
                args.join(" ")
            ));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `dev -f DIR` hands the tenant over to kubectl: the user edits the file and re-applies it
/// with `kubectl apply --server-side`, as the README says, and an environment added or
/// removed in the file is added or removed in the cluster. Under a field manager of its own,
/// `dev` would co-own the list with kubectl and the removed entry would stay.
#[test]
fn dev_hands_its_manifests_over_to_kubectl_apply_server_side() {
    let Some(kubectl) = fake_apiserver::tools::find("kubectl") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("dev-handover-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("comune-poggiorsini.yaml");
    std::fs::write(&file, poggiorsini(&["prod", "test"])).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let mut dev = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .arg("dev")
        .arg("-f")
        .arg(&file)
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("tenant-operator dev starts");
    let stdout = dev.stdout.take().expect("piped stdout");
    let mut printed = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("dev prints text");
        let done = line == "press Ctrl-C to stop";
        printed.push(line);
        if done {
            break;
        }
    }

    let result = (|| -> Result<(), String> {
        let text = printed.join("\n");
        if !text.contains("press Ctrl-C to stop") {
            return Err(format!("dev did not settle:\n{text}"));
        }
        // One count of objects: the dev table, the status (Ready and the conditions, which
        // add up to it) and the summary of `render` for the same file agree.
        let table = printed
            .iter()
            .find(|l| l.starts_with("comune-poggiorsini "))
            .ok_or_else(|| format!("no table row for the tenant:\n{text}"))?;
        let in_table: usize = table
            .split_whitespace()
            .nth(3)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("OBJECTS column: {table}"))?;
        let conditions = kubectl_ok(
            &kubectl,
            &kubeconfig,
            &[
                "get",
                "ts",
                "comune-poggiorsini",
                "-o",
                r#"jsonpath={range .status.conditions[*]}{.type}={.message}{"\n"}{end}"#,
            ],
        );
        let mut in_ready = None;
        let mut in_conditions = 0;
        for line in conditions.lines() {
            let (kind, message) = line.split_once('=').unwrap_or_default();
            if kind == "Ready" {
                in_ready = message
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok());
            } else {
                in_conditions += counted(message);
            }
        }
        let rendered = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .arg("render")
            .arg("-f")
            .arg(&file)
            .output()
            .expect("render runs");
        let rendered = String::from_utf8_lossy(&rendered.stdout).into_owned();
        let in_render: Option<usize> = rendered
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# render summary: 1 tenant, 2 environments, "))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok());
        if in_ready != Some(in_table) || in_conditions != in_table || in_render != Some(in_table) {
            return Err(format!(
                "dev table {in_table}, Ready {in_ready:?}, conditions {in_conditions}, render {in_render:?}:\n{conditions}\n{}",
                rendered.lines().next().unwrap_or_default()
            ));
        }

        let apply = |environments: &[&str]| {
            std::fs::write(&file, poggiorsini(environments)).unwrap();
            let path = file.to_string_lossy();
            kubectl_ok(
                &kubectl,
                &kubeconfig,
                &["apply", "--server-side", "-f", &path],
            )
        };
        let environments = [
            "get",
            "ts",
            "comune-poggiorsini",
            "-o",
            "jsonpath={.spec.environments[*].name}",
        ];
        // The operator has caught up with the spec and is Ready again.
        let settled = [
            "get",
            "ts",
            "comune-poggiorsini",
            "-o",
            "jsonpath={.status.observedGeneration}={.metadata.generation} {.status.phase} {.status.namespaces}",
        ];

        // Add an environment.
        let out = apply(&["prod", "test", "dev"]);
        if !out.contains(
            "tenantservice.tenancy.innova.puglia.it/comune-poggiorsini serverside-applied",
        ) {
            return Err(format!("kubectl apply --server-side printed {out:?}"));
        }
        wait_for_output(&kubectl, &kubeconfig, &environments, "prod test dev")?;
        wait_for_output(
            &kubectl,
            &kubeconfig,
            &settled,
            r#"2=2 Ready ["comune-poggiorsini-dev","comune-poggiorsini-prod","comune-poggiorsini-test"]"#,
        )?;

        // Remove one: the list entry is gone, and the operator follows.
        apply(&["prod", "dev"]);
        wait_for_output(&kubectl, &kubeconfig, &environments, "prod dev")?;
        wait_for_output(
            &kubectl,
            &kubeconfig,
            &settled,
            r#"3=3 Ready ["comune-poggiorsini-dev","comune-poggiorsini-prod"]"#,
        )?;

        // What the operator emitted is what `kubectl describe` and `get events` show.
        let described = kubectl_ok(
            &kubectl,
            &kubeconfig,
            &["describe", "ts", "comune-poggiorsini"],
        );
        let events = described.split("\nEvents:").nth(1).unwrap_or_default();
        for reason in ["Provisioned", "NamespacesRetained"] {
            let listed = events.lines().any(|l| {
                let mut cells = l.split_whitespace();
                cells.next() == Some("Normal")
                    && cells.next() == Some(reason)
                    && l.contains(" tenant-operator ")
            });
            if !listed {
                return Err(format!("describe ts lists no {reason} Event:\n{described}"));
            }
        }
        let listed = kubectl_ok(&kubectl, &kubeconfig, &["get", "events", "-A"]);
        if !listed.lines().any(|l| {
            l.contains("NamespacesRetained") && l.contains("tenantservice/comune-poggiorsini")
        }) {
            return Err(format!("get events -A:\n{listed}"));
        }

        // kubectl is the only manager of the spec: nothing is left for it to fight.
        let managers = kubectl_ok(
            &kubectl,
            &kubeconfig,
            &[
                "get",
                "ts",
                "comune-poggiorsini",
                "--show-managed-fields",
                "-o",
                r#"jsonpath={range .metadata.managedFields[?(@.operation=="Apply")]}{.manager}/{.subresource} {end}"#,
            ],
        );
        // The operator applies only the status (and its finalizer, a patch of its own).
        let spec_appliers: Vec<&str> = managers
            .split_whitespace()
            .filter(|m| m.ends_with('/'))
            .collect();
        if spec_appliers != ["kubectl/"] {
            return Err(format!("appliers of the tenant: {managers:?}"));
        }
        Ok(())
    })();

    let term = Command::new("kill")
        .args(["-TERM", &dev.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let status = dev.wait().expect("dev exits");
    std::fs::remove_dir_all(&dir).unwrap();
    result.unwrap();
    assert!(status.success(), "dev exits cleanly on SIGTERM: {status}");
}
