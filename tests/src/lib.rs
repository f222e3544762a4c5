//! Shared by the integration tests (`tests/`) and the controller benchmark
//! (`src/bin/provision_bench.rs`): tenant manifests generated from the ISTAT registry.

use serde_json::{Value, json};

/// A DNS label from a Comune name: lowercase ASCII, accents dropped, other characters
/// replaced by `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        let mapped = match c {
            'à' | 'á' | 'â' | 'ä' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            c if c.is_ascii_alphanumeric() => c,
            _ => '-',
        };
        if mapped == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(mapped);
    }
    out.trim_end_matches('-').to_string()
}

/// One TenantService per row of an ISTAT CSV (`istat,name,province,...`): a Comune with a
/// `prod` environment and one hostname, class `standard`.
pub fn comune_tenants(csv: &str) -> Vec<Value> {
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(',');
            let istat = fields.next()?.trim();
            let name = fields.next()?.trim();
            let province = fields.next()?.trim();
            let slug = slug(name);
            // The ISTAT code keeps names unique across Italy (several Comuni share a name).
            let mut tenant = format!("c{istat}-{slug}");
            tenant.truncate(40);
            let tenant = tenant.trim_end_matches('-').to_string();
            Some(json!({
                "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
                "kind": "TenantService",
                "metadata": {"name": tenant},
                "spec": {
                    "entity": {"type": "Comune", "displayName": format!("Comune di {name}"), "istatCode": istat, "ipaCode": format!("c_{istat}"), "province": province},
                    "dataClassification": "ordinario",
                    "class": "standard",
                    "environments": [{"name": "prod"}],
                    "tls": {"hostnames": [format!("servizi.{tenant}.example.it")]},
                    "access": {"adminGroups": [format!("{tenant}-admins")]}
                }
            }))
        })
        .collect()
}

/// The TenantClasses the benchmark installs.
pub fn default_classes() -> Vec<Value> {
    vec![json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "TenantClass",
        "metadata": {"name": "standard"},
        "spec": {
            "quota": {
                "environmentDefault": {"cpu": "2", "memory": "8Gi", "storage": "50Gi", "pods": 50, "services": 10, "persistentVolumeClaims": 10, "loadBalancers": 0},
                "environmentMax": {"cpu": "16", "memory": "32Gi", "storage": "200Gi", "pods": 200, "services": 50, "persistentVolumeClaims": 50, "loadBalancers": 0},
                "tenantMax": {"cpu": "64", "memory": "128Gi", "storage": "800Gi", "pods": 800, "services": 200, "persistentVolumeClaims": 200, "loadBalancers": 0}
            },
            "limitRange": {"defaultRequestCpu": "100m", "defaultRequestMemory": "128Mi", "defaultLimitCpu": "500m", "defaultLimitMemory": "512Mi", "maxCpu": "4", "maxMemory": "8Gi"},
            "allowedDataClassifications": ["ordinario", "critico"]
        }
    })]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dns_labels() {
        assert_eq!(slug("Sant'Agata di Puglia"), "sant-agata-di-puglia");
        assert_eq!(slug("Agliè"), "aglie");
    }

    #[test]
    fn every_comune_of_italy_gets_a_unique_valid_name() {
        let csv = include_str!("../../controller/data/italia-comuni.csv");
        let tenants = comune_tenants(csv);
        assert_eq!(tenants.len(), 7896);
        let names: std::collections::BTreeSet<_> = tenants
            .iter()
            .map(|t| t["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names.len(), 7896);
        assert!(names.iter().all(|n| n.len() <= 40 && !n.ends_with('-')));
    }
}
