//! Environments: names, namespace names, and quota overrides against the class's plan.

use std::collections::BTreeSet;

use super::names::is_dns_label;
use super::{MAX_NAMESPACE_NAME, Report, Rule};
use crate::api::quantity::{self, Amount, Unit};
use crate::api::{
    DEFAULT_PRODUCTION_ENVIRONMENT, QuotaOverride, ResourceAmounts, TenantClass, TenantServiceSpec,
};
use crate::labels;

/// Most environments a tenant may have (the CRD's `maxItems`).
const MAX_ENVIRONMENTS: usize = 8;

/// Environment names are unique DNS labels and every namespace `<tenant>-<environment>`
/// fits in 63 characters.
pub(super) fn check_names(tenant: &str, spec: &TenantServiceSpec, report: &mut Report) {
    if spec.environments.is_empty() {
        report.error(
            Rule::EnvCount,
            "spec.environments",
            "no environments; list at least one, e.g. [{name: prod}]",
        );
    }
    if spec.environments.len() > MAX_ENVIRONMENTS {
        report.error(
            Rule::EnvCount,
            "spec.environments",
            format!(
                "{} environments; a tenant has at most {MAX_ENVIRONMENTS}",
                spec.environments.len()
            ),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, env) in spec.environments.iter().enumerate() {
        let path = format!("spec.environments[{i}].name");
        let name = env.name.as_str();
        if !is_dns_label(name) {
            report.error(
                Rule::EnvName,
                path,
                format!(
                    "{name:?} is not a DNS label; use lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. \"prod\""
                ),
            );
            continue;
        }
        if !seen.insert(name) {
            report.error(
                Rule::EnvNameDuplicate,
                path,
                format!(
                    "environment {name:?} is listed twice; give each environment a different name"
                ),
            );
            continue;
        }
        let namespace = labels::namespace_name(tenant, name);
        if namespace.len() > MAX_NAMESPACE_NAME {
            report.error(
                Rule::EnvNamespaceLength,
                path,
                format!(
                    "namespace {namespace:?} has {} characters; namespace names have at most {MAX_NAMESPACE_NAME}: shorten the environment name to at most {} characters or the tenant name",
                    namespace.len(),
                    MAX_NAMESPACE_NAME.saturating_sub(tenant.len() + 1)
                ),
            );
        }
    }
}

/// Names an office may give its production environment, to point at when none is
/// declared: Italian and English words, and their usual abbreviations.
const PRODUCTION_LIKE: [&str; 8] = [
    "produzione",
    "production",
    "prd",
    "esercizio",
    "live",
    "main",
    "pubblico",
    "public",
];

/// How production is chosen, as the warnings say it.
const PRODUCTION_RULE: &str =
    "production is the environment with production: true, or else the one named";

/// At most one environment declares `production: true` (also a CEL rule of the CRD). When
/// none does, production is guessed from the names: the one named `prod`, or none. Both
/// guesses are warned, naming the rule, for a tenant with hostnames: production decides
/// only which certificate carries the hostnames as listed (the others get the
/// `<environment>.` prefix), so without hostnames the guess changes nothing and says
/// nothing.
pub(super) fn check_production(spec: &TenantServiceSpec, report: &mut Report) {
    let declared: Vec<(usize, &str)> = spec
        .environments
        .iter()
        .enumerate()
        .filter(|(_, e)| e.production == Some(true))
        .map(|(i, e)| (i, e.name.as_str()))
        .collect();
    if let Some((_, first)) = declared.first() {
        for (i, name) in declared.iter().skip(1) {
            report.error(
                Rule::EnvProductionOnce,
                format!("spec.environments[{i}].production"),
                format!(
                    "environment {name:?} declares production: true, and so does {first:?}; at most one environment is production: remove production: true from one of them"
                ),
            );
        }
        return;
    }
    let Some(hostname) = spec.tls.iter().flat_map(|t| &t.hostnames).next() else {
        return;
    };
    // No environments is an error of its own.
    if spec.environments.is_empty() {
        return;
    }
    if let Some((i, env)) = spec
        .environments
        .iter()
        .enumerate()
        .find(|(_, e)| spec.is_production(&e.name))
    {
        let other = spec
            .environments
            .iter()
            .find(|e| e.name != env.name)
            .map(|e| {
                format!(
                    ", the others' with an environment prefix (e.g. {})",
                    labels::certificate_dns_name(hostname, &e.name, false)
                )
            })
            .unwrap_or_default();
        report.warning(
            Rule::EnvProductionDefault,
            format!("spec.environments[{i}]"),
            format!(
                "no environment declares production: true, so {:?} is production by its name: its certificate carries the hostnames as listed (e.g. {hostname}){other}; add production: true to {:?} if it serves the public, or to the environment that does ({PRODUCTION_RULE} \"{DEFAULT_PRODUCTION_ENVIRONMENT}\")",
                env.name, env.name
            ),
        );
        return;
    }
    let candidate = spec
        .environments
        .iter()
        .enumerate()
        .find(|(_, e)| PRODUCTION_LIKE.contains(&e.name.as_str()));
    let (path, suggestion) = match candidate {
        Some((i, e)) => (
            format!("spec.environments[{i}]"),
            format!(
                "if {:?} serves the public, add production: true to it",
                e.name
            ),
        ),
        None => (
            "spec.environments".to_string(),
            "add production: true to the environment that serves the public".to_string(),
        ),
    };
    let env = spec
        .environments
        .first()
        .map_or("test", |e| e.name.as_str());
    let example = labels::certificate_dns_name(hostname, env, false);
    report.warning(
        Rule::EnvProductionDefault,
        path,
        format!(
            "no environment is production, so every certificate carries the hostnames with an environment prefix (e.g. {example}) and none the hostnames as listed; {suggestion} ({PRODUCTION_RULE} \"{DEFAULT_PRODUCTION_ENVIRONMENT}\")"
        ),
    );
}

/// One quota resource: its field name and how to read it from a plan and an override.
pub(super) struct Resource {
    pub(super) field: &'static str,
    /// What the amounts count, to print them as people write them.
    pub(super) unit: Unit,
    pub(super) plan: fn(&ResourceAmounts) -> Value<'_>,
    over: fn(&QuotaOverride) -> Option<Value<'_>>,
}

/// A resource amount as written: a quantity string or a count.
#[derive(Clone, Copy)]
pub(super) enum Value<'a> {
    Quantity(&'a str),
    Count(i64),
}

impl Value<'_> {
    pub(super) fn amount(self) -> Result<Amount, quantity::QuantityError> {
        match self {
            Value::Quantity(s) => quantity::parse(s),
            Value::Count(n) => Ok(Amount::from_count(n)),
        }
    }

    /// As people write it (see [`Amount::for_people`]); as written when it is not a
    /// quantity.
    pub(super) fn for_people(self, unit: Unit) -> String {
        match self.amount() {
            Ok(amount) => amount.for_people(unit),
            Err(_) => match self {
                Value::Quantity(s) => s.to_string(),
                Value::Count(n) => n.to_string(),
            },
        }
    }
}

/// The resources of a quota plan, in the order of the API: the one list that class and
/// tenant validation check.
pub(super) const RESOURCES: [Resource; 16] = [
    Resource {
        field: "cpu",
        unit: Unit::Cpu,
        plan: |r| Value::Quantity(&r.cpu.0),
        over: |o| o.cpu.as_ref().map(|q| Value::Quantity(&q.0)),
    },
    Resource {
        field: "memory",
        unit: Unit::Bytes,
        plan: |r| Value::Quantity(&r.memory.0),
        over: |o| o.memory.as_ref().map(|q| Value::Quantity(&q.0)),
    },
    Resource {
        field: "storage",
        unit: Unit::Bytes,
        plan: |r| Value::Quantity(&r.storage.0),
        over: |o| o.storage.as_ref().map(|q| Value::Quantity(&q.0)),
    },
    Resource {
        field: "pods",
        unit: Unit::Count,
        plan: |r| Value::Count(r.pods),
        over: |o| o.pods.map(Value::Count),
    },
    Resource {
        field: "services",
        unit: Unit::Count,
        plan: |r| Value::Count(r.services),
        over: |o| o.services.map(Value::Count),
    },
    Resource {
        field: "persistentVolumeClaims",
        unit: Unit::Count,
        plan: |r| Value::Count(r.persistent_volume_claims),
        over: |o| o.persistent_volume_claims.map(Value::Count),
    },
    Resource {
        field: "loadBalancers",
        unit: Unit::Count,
        plan: |r| Value::Count(r.load_balancers),
        over: |o| o.load_balancers.map(Value::Count),
    },
    Resource {
        field: "ephemeralStorage",
        unit: Unit::Bytes,
        plan: |r| Value::Quantity(&r.ephemeral_storage.0),
        over: |o| o.ephemeral_storage.as_ref().map(|q| Value::Quantity(&q.0)),
    },
    Resource {
        field: "secrets",
        unit: Unit::Count,
        plan: |r| Value::Count(r.secrets),
        over: |o| o.secrets.map(Value::Count),
    },
    Resource {
        field: "configMaps",
        unit: Unit::Count,
        plan: |r| Value::Count(r.config_maps),
        over: |o| o.config_maps.map(Value::Count),
    },
    Resource {
        field: "jobs",
        unit: Unit::Count,
        plan: |r| Value::Count(r.jobs),
        over: |o| o.jobs.map(Value::Count),
    },
    Resource {
        field: "cronJobs",
        unit: Unit::Count,
        plan: |r| Value::Count(r.cron_jobs),
        over: |o| o.cron_jobs.map(Value::Count),
    },
    Resource {
        field: "ingresses",
        unit: Unit::Count,
        plan: |r| Value::Count(r.ingresses),
        over: |o| o.ingresses.map(Value::Count),
    },
    Resource {
        field: "podDisruptionBudgets",
        unit: Unit::Count,
        plan: |r| Value::Count(r.pod_disruption_budgets),
        over: |o| o.pod_disruption_budgets.map(Value::Count),
    },
    Resource {
        field: "horizontalPodAutoscalers",
        unit: Unit::Count,
        plan: |r| Value::Count(r.horizontal_pod_autoscalers),
        over: |o| o.horizontal_pod_autoscalers.map(Value::Count),
    },
    Resource {
        field: "serviceAccounts",
        unit: Unit::Count,
        plan: |r| Value::Count(r.service_accounts),
        over: |o| o.service_accounts.map(Value::Count),
    },
];

/// Quota overrides parse, are not negative, do not exceed the class's per-environment
/// maximum, and the total over all environments (class default where an environment does
/// not override) does not exceed the class's tenant maximum.
pub(super) fn check_quota(spec: &TenantServiceSpec, class: &TenantClass, report: &mut Report) {
    let plan = &class.spec.quota;
    for resource in &RESOURCES {
        let (Ok(default), Ok(env_max), Ok(tenant_max)) = (
            (resource.plan)(&plan.environment_default).amount(),
            (resource.plan)(&plan.environment_max).amount(),
            (resource.plan)(&plan.tenant_max).amount(),
        ) else {
            report.error(
                Rule::ClassQuotaValue,
                "spec.class",
                format!(
                    "TenantClass {:?} has an invalid quota.*.{}, so quotas cannot be checked; fix the class (tenant-operator validate reports its problems)",
                    spec.class, resource.field
                ),
            );
            continue;
        };
        let mut total = Some(Amount::ZERO);
        let mut parts = Vec::new();
        for (i, env) in spec.environments.iter().enumerate() {
            let requested = env.quota.as_ref().and_then(resource.over);
            let amount = match requested {
                None => {
                    parts.push(format!(
                        "{} {} (default)",
                        env.name,
                        default.for_people(resource.unit)
                    ));
                    default
                }
                Some(value) => {
                    let path = format!("spec.environments[{i}].quota.{}", resource.field);
                    let Some(amount) =
                        check_override(value, env_max, resource, class, &path, report)
                    else {
                        total = None;
                        continue;
                    };
                    parts.push(format!("{} {}", env.name, value.for_people(resource.unit)));
                    amount
                }
            };
            total = total.and_then(|t| t.checked_add(amount));
        }
        if let Some(total) = total
            && total > tenant_max
        {
            report.error(
                Rule::QuotaTenantMax,
                "spec.environments",
                format!(
                    "{}: the environments ask for {} in total ({}), more than TenantClass {:?} allows per tenant ({}); lower the quotas or remove an environment (a removed environment's namespace, retained under deletionPolicy Retain, keeps its own quota outside this limit until a datacenter operator releases it)",
                    resource.field,
                    total.for_people(resource.unit),
                    parts.join(", "),
                    class.metadata.name.as_deref().unwrap_or_default(),
                    tenant_max.for_people(resource.unit)
                ),
            );
        }
    }
}

/// Checks one override; its amount when it is valid and within the environment maximum.
fn check_override(
    value: Value<'_>,
    env_max: Amount,
    resource: &Resource,
    class: &TenantClass,
    path: &str,
    report: &mut Report,
) -> Option<Amount> {
    let class_name = class.metadata.name.as_deref().unwrap_or_default();
    let amount = match value.amount() {
        Ok(amount) => amount,
        Err(e) => {
            report.error(Rule::QuotaValue, path, e.to_string());
            return None;
        }
    };
    if amount < Amount::ZERO {
        report.error(
            Rule::QuotaValue,
            path,
            format!(
                "{} is negative; use 0 or more",
                value.for_people(resource.unit)
            ),
        );
        return None;
    }
    if amount > env_max {
        report.error(
            Rule::QuotaEnvironmentMax,
            path,
            format!(
                "{} exceeds the per-environment maximum of TenantClass {class_name:?}; use at most {}",
                value.for_people(resource.unit),
                env_max.for_people(resource.unit)
            ),
        );
        return None;
    }
    if resource.field == "loadBalancers"
        && amount > Amount::ZERO
        && !class.spec.services.allow_load_balancer
    {
        report.error(
            Rule::QuotaLoadBalancer,
            path,
            format!(
                "TenantClass {class_name:?} does not allow Services of type LoadBalancer; use 0 or a class that allows them"
            ),
        );
        return None;
    }
    Some(amount)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{paths, problems_with};
    use super::super::validate_tenant;
    use crate::fixtures::{class_with, default_class, tenant};

    #[test]
    fn environment_names_are_dns_labels() {
        let p = problems_with(
            json!({"environments": [{"name": "prod", "production": true}, {"name": "Test_1"}]}),
        );
        assert_eq!(paths(&p), ["spec.environments[1].name"]);
        assert!(p[0].message.contains("not a DNS label"));
    }

    #[test]
    fn environment_names_are_unique() {
        let p = problems_with(
            json!({"environments": [{"name": "prod", "production": true}, {"name": "prod"}]}),
        );
        assert_eq!(paths(&p), ["spec.environments[1].name"]);
        assert!(p[0].message.contains("listed twice"));
    }

    #[test]
    fn at_least_one_environment() {
        let p = problems_with(json!({"environments": []}));
        assert_eq!(paths(&p), ["spec.environments"]);
    }

    #[test]
    fn at_most_eight_environments() {
        let envs = |n: usize| {
            let mut list: Vec<_> = (0..n).map(|i| json!({"name": format!("e{i}")})).collect();
            list[0]["production"] = json!(true);
            json!({"environments": list})
        };
        let ok = problems_with(envs(3));
        assert!(ok.is_empty(), "{ok:?}");
        let p = problems_with(envs(9));
        // Nine environments also exceed the tenant's cpu maximum with the defaults.
        assert_eq!(paths(&p)[0], "spec.environments");
        assert!(p[0].message.contains("at most 8"), "{}", p[0].message);
    }

    #[test]
    fn overrides_are_not_negative() {
        let p = problems_with(
            json!({"environments": [{"name": "prod", "production": true, "quota": {"cpu": "-1", "pods": -2}}]}),
        );
        assert_eq!(
            paths(&p),
            [
                "spec.environments[0].quota.cpu",
                "spec.environments[0].quota.pods"
            ]
        );
        assert!(p[0].message.contains("use 0 or more"));
    }

    #[test]
    fn namespace_names_fit_in_63() {
        let name = "a".repeat(50);
        let mut t = tenant(
            json!({"environments": [{"name": "prod", "production": true}, {"name": "dev"}]}),
        );
        t.metadata.name = Some(name.clone());
        assert!(validate_tenant(&t, Some(&default_class("standard"))).is_empty());
        let mut t = tenant(
            json!({"environments": [{"name": "prod", "production": true}, {"name": "collaudo-esterno"}]}),
        );
        t.metadata.name = Some(name);
        let p = validate_tenant(&t, Some(&default_class("standard")));
        assert_eq!(paths(&p), ["spec.environments[1].name"]);
        assert!(
            p[0].message.contains("at most 12 characters"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn object_count_and_ephemeral_storage_overrides_within_the_maximum() {
        let ok = problems_with(
            json!({"environments": [{"name": "prod", "production": true, "quota": {"secrets": 200, "ephemeralStorage": "50Gi"}}]}),
        );
        assert!(ok.is_empty(), "{ok:?}");
        let p = problems_with(
            json!({"environments": [{"name": "prod", "production": true, "quota": {"secrets": 201, "ephemeralStorage": "51Gi", "jobs": -1}}]}),
        );
        assert_eq!(
            paths(&p),
            [
                "spec.environments[0].quota.ephemeralStorage",
                "spec.environments[0].quota.secrets",
                "spec.environments[0].quota.jobs"
            ]
        );
        assert!(p[1].message.contains("use at most 200"), "{}", p[1].message);
    }

    #[test]
    fn overrides_within_the_environment_maximum() {
        let ok = problems_with(
            json!({"environments": [{"name": "prod", "production": true, "quota": {"cpu": "8", "memory": "16Gi", "pods": 100}}]}),
        );
        assert!(ok.is_empty(), "{ok:?}");
        let p = problems_with(
            json!({"environments": [{"name": "prod", "production": true, "quota": {"cpu": "8001m", "memory": "17Gi", "pods": 101}}]}),
        );
        assert_eq!(
            paths(&p),
            [
                "spec.environments[0].quota.cpu",
                "spec.environments[0].quota.memory",
                "spec.environments[0].quota.pods"
            ]
        );
        assert_eq!(
            p[0].message,
            "8.001 CPU exceeds the per-environment maximum of TenantClass \"standard\"; use at most 8 CPU"
        );
        assert!(
            p[1].message.contains("use at most 16Gi"),
            "{}",
            p[1].message
        );
    }

    #[test]
    fn overrides_are_quantities() {
        let p = problems_with(
            json!({"environments": [{"name": "prod", "production": true, "quota": {"memory": "16GB"}}]}),
        );
        assert_eq!(paths(&p), ["spec.environments[0].quota.memory"]);
        assert!(p[0].message.contains("16Gi"), "{}", p[0].message);
    }

    #[test]
    fn total_within_the_tenant_maximum_counting_defaults() {
        // 8 + 4 (default) + 4 (default) = 16: exactly the maximum.
        let ok = problems_with(
            json!({"environments": [{"name": "prod", "production": true, "quota": {"cpu": "8"}}, {"name": "test"}, {"name": "dev"}]}),
        );
        assert!(ok.is_empty(), "{ok:?}");
        let p = problems_with(
            json!({"environments": [{"name": "prod", "production": true, "quota": {"cpu": "8"}}, {"name": "test", "quota": {"cpu": "4500m"}}, {"name": "dev"}]}),
        );
        assert_eq!(paths(&p), ["spec.environments"]);
        assert!(
            p[0].message.starts_with(
                "cpu: the environments ask for 16.5 CPU in total (prod 8 CPU, test 4.5 CPU, dev 4 CPU (default)), more than TenantClass \"standard\" allows per tenant (16 CPU);"
            ),
            "{}",
            p[0].message
        );
        // Bytes as people write them, never as a number of bytes.
        let p = problems_with(
            json!({"environments": [{"name": "prod", "production": true, "quota": {"memory": "16Gi"}}, {"name": "test", "quota": {"memory": "16Gi"}}, {"name": "dev"}]}),
        );
        assert_eq!(paths(&p), ["spec.environments"]);
        assert!(
            p[0].message.starts_with("memory: the environments ask for 40Gi in total (prod 16Gi, test 16Gi, dev 8Gi (default))"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn production_is_declared_once_or_defaults_to_prod_with_a_warning() {
        use crate::api::validation::{Rule, Severity};
        // Declared: any name will do, and the hostnames follow it.
        let declared = tenant(
            json!({"environments": [{"name": "produzione", "production": true}, {"name": "test"}]}),
        );
        assert_eq!(declared.spec.production_environment(), Some("produzione"));
        assert_eq!(
            validate_tenant(&declared, Some(&default_class("standard"))),
            []
        );
        // The default: `prod`, unless it says otherwise; with hostnames, a warning that
        // names the rule and says which certificate carries them.
        let default = tenant(json!({"environments": [{"name": "test"}, {"name": "prod"}]}));
        assert_eq!(default.spec.production_environment(), Some("prod"));
        let p = validate_tenant(&default, Some(&default_class("standard")));
        assert_eq!(paths(&p), ["spec.environments[1]"]);
        assert_eq!(p[0].severity, Severity::Warning);
        assert_eq!(p[0].rule, Rule::EnvProductionDefault);
        assert_eq!(
            p[0].message,
            "no environment declares production: true, so \"prod\" is production by its name: its certificate carries the hostnames as listed (e.g. servizi.comune.molfetta.ba.it), the others' with an environment prefix (e.g. test.servizi.comune.molfetta.ba.it); add production: true to \"prod\" if it serves the public, or to the environment that does (production is the environment with production: true, or else the one named \"prod\")"
        );
        assert!(
            problems_with(json!({})).is_empty(),
            "the fixture declares prod"
        );
        let not_prod = tenant(
            json!({"environments": [{"name": "prod", "production": false}, {"name": "test"}]}),
        );
        assert_eq!(not_prod.spec.production_environment(), None);
        let p = validate_tenant(&not_prod, Some(&default_class("standard")));
        assert_eq!(paths(&p), ["spec.environments"]);
        assert!(
            p[0].message.starts_with("no environment is production"),
            "{}",
            p[0]
        );
        // Two declared: an error on the second.
        let p = problems_with(
            json!({"environments": [{"name": "prod", "production": true}, {"name": "live", "production": true}]}),
        );
        assert_eq!(paths(&p), ["spec.environments[1].production"]);
        assert!(p[0].is_error());
        // None at all with hostnames: a warning that names the rule and the likely one.
        let p = problems_with(json!({"environments": [{"name": "produzione"}, {"name": "test"}]}));
        assert_eq!(paths(&p), ["spec.environments[0]"]);
        assert_eq!(p[0].severity, Severity::Warning);
        assert_eq!(
            p[0].message,
            "no environment is production, so every certificate carries the hostnames with an environment prefix (e.g. produzione.servizi.comune.molfetta.ba.it) and none the hostnames as listed; if \"produzione\" serves the public, add production: true to it (production is the environment with production: true, or else the one named \"prod\")"
        );
        let p = problems_with(json!({"environments": [{"name": "a"}, {"name": "b"}]}));
        assert_eq!(paths(&p), ["spec.environments"]);
        // Without hostnames, production changes nothing: no warning, guessed or not.
        for environments in [json!([{"name": "a"}]), json!([{"name": "prod"}])] {
            let p = problems_with(json!({"environments": environments, "tls": null}));
            assert!(p.is_empty(), "{p:?}");
        }
    }

    #[test]
    fn load_balancers_only_where_the_class_allows_them() {
        let t = tenant(
            json!({"environments": [{"name": "prod", "production": true, "quota": {"loadBalancers": 1}}]}),
        );
        let quota =
            json!({"environmentMax": {"loadBalancers": 1}, "tenantMax": {"loadBalancers": 1}});
        let allowed = class_with(
            "standard",
            json!({"quota": quota, "services": {"allowLoadBalancer": true}}),
        );
        assert_eq!(validate_tenant(&t, Some(&allowed)), []);
        let refused = class_with(
            "standard",
            json!({"quota": quota, "services": {"allowLoadBalancer": false}}),
        );
        let p = validate_tenant(&t, Some(&refused));
        assert_eq!(paths(&p), ["spec.environments[0].quota.loadBalancers"]);
    }
}
