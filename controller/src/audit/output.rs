//! The report as people and machines read it: text (a pull request's reviewer: failures
//! first, then a reachability matrix per tenant), markdown (a PR comment or a security
//! review), JSON (the [`Report`] as is) and SARIF 2.1.0 (code-scanning UIs, each failure on
//! the file and line of the TenantService that caused it). The same four for a
//! [`Comparison`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::compare::Comparison;
use super::report::{Access, CheckResult, Outcome, Reach, Report, Source};

/// Where a TenantService field is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, as given on the command line.
    pub uri: String,
    /// 1-based line.
    pub line: usize,
}

/// The report as JSON.
pub fn json(report: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report).map(|s| s + "\n")
}

/// The comparison as JSON.
pub fn comparison_json(comparison: &Comparison) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(comparison).map(|s| s + "\n")
}

fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    format!(
        "{} tenant(s), {} tenant namespace(s); {} of {} ordered pairs of tenant namespaces connected; {} subject(s) with rights; checks: {} passed, {} failed, {} not applicable",
        s.tenants,
        s.tenant_namespaces,
        s.tenant_pairs_allowed,
        s.tenant_pairs,
        s.subjects,
        s.checks.pass,
        s.checks.fail,
        s.checks.not_applicable
    )
}

/// What the reachability cells say.
const LEGEND: &str = "yes: every pod, on the ports listed in JSON; partly: every pod on some ports, more depending on pod labels or on whether ipBlocks apply to pod IPs; maybe: only depending on those; no: blocked";

/// A reachability cell (see [`LEGEND`]).
fn cell(reach: Option<&Reach>) -> &'static str {
    match reach {
        None => "-",
        Some(r) if !r.allowed => "no",
        Some(r) => match &r.unconditional_ports {
            None => "yes",
            Some(ports) if ports.is_empty() => "maybe",
            Some(_) => "partly",
        },
    }
}

/// One tenant's matrix: rows are its namespaces, columns the platform endpoints and its
/// class's egress destinations.
struct Matrix<'r> {
    tenant: &'r str,
    columns: Vec<String>,
    rows: Vec<(&'r str, Vec<&'static str>)>,
    peers: Vec<&'r Reach>,
}

fn matrices(report: &Report) -> Vec<Matrix<'_>> {
    let mut by_endpoints: BTreeMap<(&str, &str), &Reach> = BTreeMap::new();
    for r in &report.reachability {
        by_endpoints.insert((r.from.as_str(), r.to.as_str()), r);
    }
    let namespace_names: std::collections::BTreeSet<&str> =
        report.namespaces.iter().map(|n| n.name.as_str()).collect();
    let mut tenants: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for n in &report.namespaces {
        tenants
            .entry(n.tenant.as_str())
            .or_default()
            .push(n.name.as_str());
    }
    tenants
        .into_iter()
        .map(|(tenant, namespaces)| {
            let mut columns: Vec<String> = vec![
                super::reachability::DNS.to_string(),
                super::reachability::INGRESS_GATEWAY.to_string(),
                super::reachability::MONITORING.to_string(),
            ];
            for r in &report.reachability {
                if namespaces.contains(&r.from.as_str())
                    && r.to.starts_with(super::reachability::EGRESS_PREFIX)
                    && !columns.contains(&r.to)
                {
                    columns.push(r.to.clone());
                }
            }
            let rows = namespaces
                .iter()
                .map(|&ns| {
                    let cells = columns
                        .iter()
                        .map(|c| {
                            let inbound = c == super::reachability::INGRESS_GATEWAY
                                || c == super::reachability::MONITORING;
                            let key = if inbound {
                                (c.as_str(), ns)
                            } else {
                                (ns, c.as_str())
                            };
                            cell(by_endpoints.get(&key).copied())
                        })
                        .collect();
                    (ns, cells)
                })
                .collect();
            let peers = report
                .reachability
                .iter()
                .filter(|r| r.allowed)
                .filter(|r| {
                    namespace_names.contains(r.from.as_str())
                        && namespace_names.contains(r.to.as_str())
                })
                .filter(|r| namespaces.contains(&r.from.as_str()))
                .collect();
            Matrix {
                tenant,
                columns,
                rows,
                peers,
            }
        })
        .collect()
}

/// A table with columns padded to their widest cell, as kubectl lays them out.
fn table(header: &[String], rows: &[Vec<String>], indent: &str) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths.get(i).copied().unwrap_or(0)))
            .collect();
        format!("{indent}{}\n", padded.join("   ").trim_end())
    };
    let mut out = line(header);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

fn failed(report: &Report) -> Vec<&CheckResult> {
    report
        .checks
        .iter()
        .filter(|c| c.result == Outcome::Fail)
        .collect()
}

/// The report for a person: failed checks first, then a reachability matrix per tenant,
/// the cross-tenant traffic, the rights, and the notes.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "tenant-operator audit: {}", summary_line(report));
    let failures = failed(report);
    if failures.is_empty() {
        let _ = writeln!(out, "\nEvery check passed.");
    } else {
        let _ = writeln!(out, "\nFAILED CHECKS ({})", failures.len());
        for c in failures {
            let _ = writeln!(
                out,
                "  {} {} [{}]",
                c.id,
                c.namespace.as_deref().unwrap_or("cluster"),
                c.title
            );
            for e in &c.evidence {
                let _ = writeln!(out, "      {e}");
            }
        }
    }
    let _ = writeln!(out, "\nREACHABILITY ({LEGEND})");
    for m in matrices(report) {
        let _ = writeln!(out, "\n  tenant {}", m.tenant);
        let mut header = vec!["NAMESPACE".to_string()];
        header.extend(m.columns.iter().map(|c| c.to_uppercase()));
        let rows: Vec<Vec<String>> = m
            .rows
            .iter()
            .map(|(ns, cells)| {
                std::iter::once(ns.to_string())
                    .chain(cells.iter().map(std::string::ToString::to_string))
                    .collect()
            })
            .collect();
        out.push_str(&table(&header, &rows, "  "));
        if m.peers.is_empty() {
            let _ = writeln!(out, "  other tenant namespaces: none reachable");
        }
        for p in m.peers {
            let _ = writeln!(out, "  {} -> {} on {}", p.from, p.to, p.ports.join(", "));
        }
    }
    if !report.access.is_empty() {
        let _ = writeln!(out, "\nACCESS");
        out.push_str(&access_text(&report.access));
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out, "\nNOTES");
        for n in &report.notes {
            let _ = writeln!(out, "  {n}");
        }
    }
    out
}

fn rights_summary(a: &Access) -> String {
    a.verbs
        .iter()
        .map(|(resource, verbs)| format!("{resource}: {}", verbs.join(",")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn access_text(access: &[Access]) -> String {
    let header: Vec<String> = ["SUBJECT", "NAMESPACE", "FLAGS", "BINDINGS"]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    let rows: Vec<Vec<String>> = access
        .iter()
        .map(|a| {
            vec![
                a.subject.clone(),
                a.namespace.clone(),
                if a.flags.is_empty() {
                    "-".to_string()
                } else {
                    a.flags.join(",")
                },
                a.bindings.join(","),
            ]
        })
        .collect();
    table(&header, &rows, "  ")
}

/// Escapes a markdown table cell.
fn md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The report as markdown, for a pull-request comment or a security review.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let failures = failed(report);
    let _ = writeln!(out, "## tenant-operator audit\n");
    let _ = writeln!(out, "{}\n", summary_line(report));
    if failures.is_empty() {
        let _ = writeln!(out, "**Every check passed.**\n");
    } else {
        let _ = writeln!(out, "### Failed checks ({})\n", failures.len());
        let _ = writeln!(
            out,
            "| Check | Namespace | Title | Evidence |\n| --- | --- | --- | --- |"
        );
        for c in failures {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                c.id,
                md(c.namespace.as_deref().unwrap_or("cluster")),
                md(&c.title),
                md(&c.evidence.join("; "))
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "### Reachability\n\n{LEGEND}.\n");
    for m in matrices(report) {
        let _ = writeln!(out, "#### {}\n", m.tenant);
        let _ = writeln!(
            out,
            "| Namespace | {} |\n| --- |{}",
            m.columns
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" | "),
            " --- |".repeat(m.columns.len())
        );
        for (ns, cells) in &m.rows {
            let _ = writeln!(out, "| {ns} | {} |", cells.join(" | "));
        }
        out.push('\n');
        if m.peers.is_empty() {
            let _ = writeln!(out, "No other tenant namespace is reachable.\n");
        } else {
            let _ = writeln!(
                out,
                "| From | To | Ports | Policies |\n| --- | --- | --- | --- |"
            );
            for p in m.peers {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    p.from,
                    p.to,
                    md(&p.ports.join(", ")),
                    md(&p.policies.join(", "))
                );
            }
            out.push('\n');
        }
    }
    if !report.access.is_empty() {
        let _ = writeln!(
            out,
            "### Access\n\n| Subject | Namespace | Flags | Rights |\n| --- | --- | --- | --- |"
        );
        for a in &report.access {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                md(&a.subject),
                md(&a.namespace),
                md(&a.flags.join(", ")),
                md(&rights_summary(a))
            );
        }
        out.push('\n');
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out, "### Notes\n");
        for n in &report.notes {
            let _ = writeln!(out, "- {}", md(n));
        }
    }
    out
}

/// The rule id of a check in SARIF: its benchmark id and its title in kebab case, unique
/// even where the benchmark reuses an id.
pub fn sarif_rule_id(check: &CheckResult) -> String {
    let slug: String = check
        .title
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug = slug
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    format!("{}/{slug}", check.id)
}

fn sarif_document(
    failures: &[&CheckResult],
    locate: &dyn Fn(&Source) -> Option<Location>,
) -> Value {
    let mut rules: BTreeMap<String, Value> = BTreeMap::new();
    let mut results = Vec::new();
    for c in failures {
        let rule_id = sarif_rule_id(c);
        rules.entry(rule_id.clone()).or_insert_with(|| {
            json!({
                "id": rule_id,
                "name": c.id,
                "shortDescription": {"text": c.title},
                "properties": {"tags": ["security", "multi-tenancy"]},
            })
        });
        let namespace = c.namespace.as_deref().unwrap_or("cluster");
        let mut result = json!({
            "ruleId": rule_id,
            "level": "error",
            "message": {"text": format!("{namespace}: {}: {}", c.title, c.evidence.join("; "))},
            "logicalLocations": [{"name": namespace, "kind": "namespace"}],
        });
        if let Some(location) = c.source.as_ref().and_then(locate) {
            result["locations"] = json!([{
                "physicalLocation": {
                    "artifactLocation": {"uri": location.uri},
                    "region": {"startLine": location.line},
                }
            }]);
        }
        results.push(result);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tenant-operator audit",
                "informationUri": "https://example.invalid/innovapuglia/tenant-operator",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}

/// The failed checks as SARIF 2.1.0; `locate` finds the file and line of a TenantService
/// field (results without a location keep their namespace as a logical location).
pub fn sarif(
    report: &Report,
    locate: &dyn Fn(&Source) -> Option<Location>,
) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&sarif_document(&failed(report), locate)).map(|s| s + "\n")
}

/// The checks a change makes fail, as SARIF 2.1.0.
pub fn comparison_sarif(
    comparison: &Comparison,
    locate: &dyn Fn(&Source) -> Option<Location>,
) -> Result<String, serde_json::Error> {
    let failures: Vec<&CheckResult> = comparison
        .checks
        .iter()
        .filter(|c| c.after == Some(Outcome::Fail) && c.before != Some(Outcome::Fail))
        .map(|c| &c.check)
        .collect();
    serde_json::to_string_pretty(&sarif_document(&failures, locate)).map(|s| s + "\n")
}

fn ports_or_blocked(ports: &Option<Vec<String>>) -> String {
    match ports {
        None => "blocked".to_string(),
        Some(p) => p.join(", "),
    }
}

fn outcome(o: Option<Outcome>) -> &'static str {
    match o {
        None => "absent",
        Some(Outcome::Pass) => "pass",
        Some(Outcome::Fail) => "fail",
        Some(Outcome::NotApplicable) => "not-applicable",
    }
}

/// The comparison for a person.
pub fn comparison_text(comparison: &Comparison) -> String {
    let mut out = String::new();
    if comparison.is_empty() {
        out.push_str(
            "tenant-operator audit --compare: no change to reachability, access or checks\n",
        );
        return out;
    }
    let _ = writeln!(
        out,
        "tenant-operator audit --compare: {} reachability change(s), {} access change(s), {} check change(s)",
        comparison.reachability.len(),
        comparison.access.len(),
        comparison.checks.len()
    );
    if !comparison.checks.is_empty() {
        let _ = writeln!(out, "\nCHECKS");
        for c in &comparison.checks {
            let _ = writeln!(
                out,
                "  {} {} [{}]: {} -> {}",
                c.check.id,
                c.check.namespace.as_deref().unwrap_or("cluster"),
                c.check.title,
                outcome(c.before),
                outcome(c.after)
            );
            if c.after == Some(Outcome::Fail) {
                for e in &c.check.evidence {
                    let _ = writeln!(out, "      {e}");
                }
            }
        }
    }
    if !comparison.reachability.is_empty() {
        let _ = writeln!(out, "\nREACHABILITY");
        for r in &comparison.reachability {
            let _ = writeln!(
                out,
                "  {} -> {}: {} => {}",
                r.from,
                r.to,
                ports_or_blocked(&r.before),
                ports_or_blocked(&r.after)
            );
        }
    }
    if !comparison.access.is_empty() {
        let _ = writeln!(out, "\nACCESS");
        for a in &comparison.access {
            let mut parts = Vec::new();
            if !a.added.is_empty() {
                parts.push(format!("+{}", a.added.join(",+")));
            }
            if !a.removed.is_empty() {
                parts.push(format!("-{}", a.removed.join(",-")));
            }
            let _ = writeln!(
                out,
                "  {} in {}: {} {}",
                a.subject,
                a.namespace,
                a.resource,
                parts.join(" ")
            );
        }
    }
    out
}

/// The comparison as markdown.
pub fn comparison_markdown(comparison: &Comparison) -> String {
    let mut out = String::from("## tenant-operator audit: what this change does to isolation\n\n");
    if comparison.is_empty() {
        out.push_str("No change to reachability, access or checks.\n");
        return out;
    }
    if !comparison.checks.is_empty() {
        out.push_str("### Checks\n\n| Check | Namespace | Before | After | Evidence |\n| --- | --- | --- | --- | --- |\n");
        for c in &comparison.checks {
            let _ = writeln!(
                out,
                "| `{}` {} | {} | {} | {} | {} |",
                c.check.id,
                md(&c.check.title),
                md(c.check.namespace.as_deref().unwrap_or("cluster")),
                outcome(c.before),
                outcome(c.after),
                md(&c.check.evidence.join("; "))
            );
        }
        out.push('\n');
    }
    if !comparison.reachability.is_empty() {
        out.push_str("### Reachability\n\n| From | To | Before | After | Policies |\n| --- | --- | --- | --- | --- |\n");
        for r in &comparison.reachability {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                r.from,
                r.to,
                md(&ports_or_blocked(&r.before)),
                md(&ports_or_blocked(&r.after)),
                md(&r.policies.join(", "))
            );
        }
        out.push('\n');
    }
    if !comparison.access.is_empty() {
        out.push_str("### Access\n\n| Subject | Namespace | Resource | Added | Removed |\n| --- | --- | --- | --- | --- |\n");
        for a in &comparison.access {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md(&a.subject),
                md(&a.namespace),
                md(&a.resource),
                a.added.join(", "),
                a.removed.join(", ")
            );
        }
    }
    out
}
