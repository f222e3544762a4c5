//! Rules of a `TenantClass`: quantities parse, the plan is ordered (environment default ≤
//! environment maximum ≤ tenant maximum), the LimitRange is ordered, egress destinations
//! are valid and named once.

use std::collections::BTreeSet;

use kube::ResourceExt;

use super::environments::RESOURCES;
use super::names::{cidr_problem, is_dns_label, is_dns_subdomain, port_problem};
use super::{Problem, Report, Rule};
use crate::api::quantity::{self, Amount, Unit};
use crate::api::{ResourceAmounts, TenantClass};

/// Every problem of a TenantClass on its own.
pub fn validate_class(class: &TenantClass) -> Vec<Problem> {
    let mut report = Report::new(class.name_any());
    let spec = &class.spec;
    let plan = &spec.quota;
    let levels = [
        ("environmentDefault", &plan.environment_default),
        ("environmentMax", &plan.environment_max),
        ("tenantMax", &plan.tenant_max),
    ];
    let parsed: Vec<Vec<Option<Amount>>> = levels
        .iter()
        .map(|(field, amounts)| parse_amounts(&format!("spec.quota.{field}"), amounts, &mut report))
        .collect();
    for pair in [(0, 1), (1, 2)] {
        let (lo, hi) = pair;
        for (r, (resource, unit)) in RESOURCES.iter().map(|r| (r.field, r.unit)).enumerate() {
            if let (Some(Some(a)), Some(Some(b))) = (
                parsed.get(lo).and_then(|p| p.get(r)),
                parsed.get(hi).and_then(|p| p.get(r)),
            ) && a > b
            {
                report.error(
                    Rule::ClassQuotaOrder,
                    format!("spec.quota.{}.{resource}", levels[lo].0),
                    format!(
                        "{} is more than quota.{}.{resource} ({}); the plan must satisfy environmentDefault <= environmentMax <= tenantMax",
                        a.for_people(unit),
                        levels[hi].0,
                        b.for_people(unit)
                    ),
                );
            }
        }
    }
    check_limit_range(class, &mut report);
    let mut seen = BTreeSet::new();
    for (i, dest) in spec.egress_destinations.iter().enumerate() {
        let base = format!("spec.egressDestinations[{i}]");
        if !is_dns_label(&dest.name) {
            report.error(
                Rule::ClassEgressName,
                format!("{base}.name"),
                format!("{:?} is not a DNS label; use e.g. \"pagopa\"", dest.name),
            );
        } else if !seen.insert(dest.name.as_str()) {
            report.error(
                Rule::ClassEgressName,
                format!("{base}.name"),
                format!(
                    "destination {:?} is declared twice; declare it once",
                    dest.name
                ),
            );
        }
        if dest.cidrs.is_empty() {
            report.error(
                Rule::ClassEgressCidrs,
                format!("{base}.cidrs"),
                "no networks; list at least one CIDR",
            );
        }
        for (j, cidr) in dest.cidrs.iter().enumerate() {
            if let Some(problem) = cidr_problem(cidr) {
                report.error(
                    Rule::ClassEgressCidrs,
                    format!("{base}.cidrs[{j}]"),
                    problem,
                );
            }
        }
        if dest.ports.is_empty() {
            report.error(
                Rule::ClassEgressPorts,
                format!("{base}.ports"),
                "no ports; list at least one, e.g. [443]",
            );
        }
        for (j, port) in dest.ports.iter().enumerate() {
            if let Some(problem) = port_problem(*port) {
                report.error(
                    Rule::ClassEgressPorts,
                    format!("{base}.ports[{j}]"),
                    problem,
                );
            }
        }
    }
    for (i, name) in spec.ingress_class_names.iter().enumerate() {
        if !is_dns_subdomain(name) {
            report.error(
                Rule::ClassIngressClass,
                format!("spec.ingressClassNames[{i}]"),
                format!("{name:?} is not an IngressClass name (a DNS subdomain); use e.g. \"regional-gateway\""),
            );
        }
    }
    if spec.allowed_data_classifications.is_empty() {
        report.error(
            Rule::ClassClassifications,
            "spec.allowedDataClassifications",
            "no classifications; list at least one of ordinario, critico, strategico",
        );
    }
    report.finish()
}

/// The amounts of one level of the plan, in [`RESOURCES`] order; `None` where invalid
/// (and reported).
fn parse_amounts(
    base: &str,
    amounts: &ResourceAmounts,
    report: &mut Report,
) -> Vec<Option<Amount>> {
    RESOURCES
        .iter()
        .map(|resource| {
            let field = resource.field;
            match (resource.plan)(amounts).amount() {
                Ok(a) if a >= Amount::ZERO => Some(a),
                Ok(a) => {
                    report.error(
                        Rule::ClassQuotaValue,
                        format!("{base}.{field}"),
                        format!("{} is negative; use 0 or more", a.for_people(resource.unit)),
                    );
                    None
                }
                Err(e) => {
                    report.error(
                        Rule::ClassQuotaValue,
                        format!("{base}.{field}"),
                        e.to_string(),
                    );
                    None
                }
            }
        })
        .collect()
}

/// LimitRange quantities parse; default request <= default limit <= maximum.
fn check_limit_range(class: &TenantClass, report: &mut Report) {
    let lr = &class.spec.limit_range;
    let mut parse = |field: &str, q: &str| match quantity::parse(q) {
        Ok(a) => Some(a),
        Err(e) => {
            report.error(
                Rule::ClassLimitRangeValue,
                format!("spec.limitRange.{field}"),
                e.to_string(),
            );
            None
        }
    };
    let cpu = [
        (
            "defaultRequestCpu",
            parse("defaultRequestCpu", &lr.default_request_cpu.0),
        ),
        (
            "defaultLimitCpu",
            parse("defaultLimitCpu", &lr.default_limit_cpu.0),
        ),
        ("maxCpu", parse("maxCpu", &lr.max_cpu.0)),
    ];
    let memory = [
        (
            "defaultRequestMemory",
            parse("defaultRequestMemory", &lr.default_request_memory.0),
        ),
        (
            "defaultLimitMemory",
            parse("defaultLimitMemory", &lr.default_limit_memory.0),
        ),
        ("maxMemory", parse("maxMemory", &lr.max_memory.0)),
    ];
    let ephemeral_storage = [
        (
            "defaultRequestEphemeralStorage",
            parse(
                "defaultRequestEphemeralStorage",
                &lr.default_request_ephemeral_storage.0,
            ),
        ),
        (
            "defaultLimitEphemeralStorage",
            parse(
                "defaultLimitEphemeralStorage",
                &lr.default_limit_ephemeral_storage.0,
            ),
        ),
        (
            "maxEphemeralStorage",
            parse("maxEphemeralStorage", &lr.max_ephemeral_storage.0),
        ),
    ];
    for (chain, unit) in [
        (cpu, Unit::Cpu),
        (memory, Unit::Bytes),
        (ephemeral_storage, Unit::Bytes),
    ] {
        for w in chain.windows(2) {
            if let [(lo_field, Some(lo)), (hi_field, Some(hi))] = w
                && lo > hi
            {
                report.error(
                    Rule::ClassLimitRangeOrder,
                    format!("spec.limitRange.{lo_field}"),
                    format!(
                        "{} is more than limitRange.{hi_field} ({}); a container's default request <= default limit <= maximum",
                        lo.for_people(unit),
                        hi.for_people(unit)
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::paths;
    use super::validate_class;
    use crate::api::TenantClass;
    use crate::fixtures::{default_class, merge};

    fn class_with(patch: serde_json::Value) -> TenantClass {
        let mut value = serde_json::to_value(default_class("standard")).unwrap();
        merge(&mut value["spec"], patch);
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn valid_class_has_no_problems() {
        assert!(validate_class(&default_class("standard")).is_empty());
    }

    #[test]
    fn quantities_parse() {
        let p = validate_class(&class_with(
            json!({"quota": {"tenantMax": {"memory": "32 GB"}}}),
        ));
        assert_eq!(paths(&p), ["spec.quota.tenantMax.memory"]);
    }

    #[test]
    fn plan_is_ordered() {
        let p = validate_class(&class_with(
            json!({"quota": {"environmentDefault": {"cpu": "9"}, "tenantMax": {"pods": 99}}}),
        ));
        assert_eq!(
            paths(&p),
            [
                "spec.quota.environmentDefault.cpu",
                "spec.quota.environmentMax.pods"
            ]
        );
        assert!(
            p[0].message
                .contains("environmentDefault <= environmentMax <= tenantMax")
        );
    }

    #[test]
    fn counts_are_not_negative() {
        let p = validate_class(&class_with(
            json!({"quota": {"environmentDefault": {"services": -1}}}),
        ));
        assert_eq!(paths(&p), ["spec.quota.environmentDefault.services"]);
    }

    #[test]
    fn object_counts_and_ephemeral_storage_are_part_of_the_ordered_plan() {
        let p = validate_class(&class_with(json!({"quota": {
            "environmentDefault": {"secrets": 201, "ephemeralStorage": "60Gi"},
            "tenantMax": {"serviceAccounts": -1}}})));
        assert_eq!(
            paths(&p),
            [
                "spec.quota.tenantMax.serviceAccounts",
                "spec.quota.environmentDefault.ephemeralStorage",
                "spec.quota.environmentDefault.secrets"
            ]
        );
    }

    #[test]
    fn ephemeral_storage_defaults_are_ordered_and_ingress_classes_are_names() {
        let p = validate_class(&class_with(json!({
            "limitRange": {"defaultRequestEphemeralStorage": "2Gi"},
            "ingressClassNames": ["regional-gateway", "a,b"]})));
        assert_eq!(
            paths(&p),
            [
                "spec.limitRange.defaultRequestEphemeralStorage",
                "spec.ingressClassNames[1]"
            ]
        );
    }

    #[test]
    fn limit_range_is_ordered() {
        let p = validate_class(&class_with(
            json!({"limitRange": {"defaultLimitMemory": "16Gi", "maxCpu": "x"}}),
        ));
        assert_eq!(
            paths(&p),
            [
                "spec.limitRange.maxCpu",
                "spec.limitRange.defaultLimitMemory"
            ]
        );
    }

    #[test]
    fn destinations_have_networks_and_ports_and_classifications_are_listed() {
        let p = validate_class(&class_with(json!({
            "allowedDataClassifications": [],
            "egressDestinations": [{"name": "Pago PA", "cidrs": [], "ports": []}]
        })));
        assert_eq!(
            paths(&p),
            [
                "spec.egressDestinations[0].name",
                "spec.egressDestinations[0].cidrs",
                "spec.egressDestinations[0].ports",
                "spec.allowedDataClassifications"
            ]
        );
    }

    #[test]
    fn egress_destinations_valid() {
        let p = validate_class(&class_with(json!({"egressDestinations": [
            {"name": "pagopa", "cidrs": ["203.0.113.0/24"], "ports": [443]},
            {"name": "pagopa", "cidrs": ["203.0.113.7/24"], "ports": [70000]}
        ]})));
        assert_eq!(
            paths(&p),
            [
                "spec.egressDestinations[1].name",
                "spec.egressDestinations[1].cidrs[0]",
                "spec.egressDestinations[1].ports[0]"
            ]
        );
    }
}
