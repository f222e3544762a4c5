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
