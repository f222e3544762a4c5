//! Metrics of the regional CA: whether the operator can issue, when the CA expires (leaves
//! never outlive it, so this is when every tenant certificate stops verifying), and how far
//! a rotation has come. The chart's alerts read them (`TenantOperatorCA*`).

use prometheus::{IntGauge, Registry};

use crate::pki::Trust;

/// The CA's gauges, registered in the operator's registry.
pub struct CaMetrics {
    /// 1 while a usable CA can issue, 0 while the CA Secret is missing, unreadable or
    /// invalid (nothing is issued then).
    pub available: IntGauge,
    /// End of validity of the issuing CA (or of its chain), Unix seconds; 0 when no CA is
    /// known.
    pub expiry: IntGauge,
    /// CAs rotated out but still in the trust bundle.
    pub retiring: IntGauge,
    /// Tenant certificates that still chain to a rotated-out CA.
    pub retiring_certificates: IntGauge,
}

impl CaMetrics {
    /// Creates the gauges and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<CaMetrics, prometheus::Error> {
        let metrics = CaMetrics {
            available: IntGauge::new(
                "ca_available",
                "1 while the regional CA can issue certificates, 0 while its Secret is missing, unreadable or invalid",
            )?,
            expiry: IntGauge::new(
                "ca_expiry_timestamp_seconds",
                "End of validity of the issuing regional CA (or its chain), Unix time; no tenant certificate outlives it",
            )?,
            retiring: IntGauge::new(
                "ca_retiring",
                "Rotated-out CAs still in the trust bundle because certificates still chain to them",
            )?,
            retiring_certificates: IntGauge::new(
                "ca_retiring_certificates",
                "Tenant certificates that still chain to a rotated-out CA",
            )?,
        };
        registry.register(Box::new(metrics.available.clone()))?;
        registry.register(Box::new(metrics.expiry.clone()))?;
        registry.register(Box::new(metrics.retiring.clone()))?;
        registry.register(Box::new(metrics.retiring_certificates.clone()))?;
        Ok(metrics)
    }

    /// Sets the gauges from the CA state.
    pub fn observe(&self, trust: &Trust) {
        self.available.set(i64::from(trust.issuing().is_some()));
        self.expiry
            .set(trust.current().map_or(0, |ca| ca.not_after.as_second()));
        self.retiring
            .set(i64::try_from(trust.retiring().len()).unwrap_or(i64::MAX));
        if trust.retiring().is_empty() {
            self.retiring_certificates.set(0);
        }
    }
}
