//! Service-level objectives: a metric, a limit, the tiers they hold for.

use serde::{Deserialize, Serialize};

use super::*;

/// What a service-level objective bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SloMetric {
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
    Mean,
    /// Successful responses per second over the measured window: a minimum.
    Throughput,
    /// Timeouts over requests, as a fraction.
    TimeoutRate,
    /// Error replies over requests, as a fraction.
    ErrorRate,
    /// Device energy per answered request, in mJ (docs/energy.md): the mean, p50 and p99.
    EnergyMean,
    EnergyP50,
    EnergyP99,
    /// The cost of a million answered requests, in the price file's currency.
    CostPerMillion,
}

impl SloMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            SloMetric::P50 => "p50",
            SloMetric::P90 => "p90",
            SloMetric::P95 => "p95",
            SloMetric::P99 => "p99",
            SloMetric::P999 => "p999",
            SloMetric::Max => "max",
            SloMetric::Mean => "mean",
            SloMetric::Throughput => "throughput",
            SloMetric::TimeoutRate => "timeout_rate",
            SloMetric::ErrorRate => "error_rate",
            SloMetric::EnergyMean => "energy_mean",
            SloMetric::EnergyP50 => "energy_p50",
            SloMetric::EnergyP99 => "energy_p99",
            SloMetric::CostPerMillion => "cost_per_million",
        }
    }

    /// Latency metrics are in µs; their limits are durations.
    pub fn is_latency(self) -> bool {
        use SloMetric::*;
        matches!(self, P50 | P90 | P95 | P99 | P999 | Max | Mean)
    }

    /// Device energy metrics, in mJ.
    pub fn is_energy(self) -> bool {
        matches!(self, SloMetric::EnergyMean | SloMetric::EnergyP50 | SloMetric::EnergyP99)
    }

    /// Throughput is bounded below; everything else above.
    pub fn is_minimum(self) -> bool {
        self == SloMetric::Throughput
    }

    /// `value` in the metric's unit (µs, requests/s, fraction), for people.
    pub fn format(self, value: f64) -> String {
        if self.is_latency() {
            format!("{:.3} ms", value / 1e3)
        } else if self == SloMetric::Throughput {
            format!("{value:.1}/s")
        } else if self.is_energy() {
            format!("{value:.1} mJ")
        } else if self == SloMetric::CostPerMillion {
            format!("{value:.4}")
        } else {
            format!("{:.3} %", value * 100.0)
        }
    }
}

/// A service-level objective, checked at every sweep point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Slo {
    /// `None`: each tier that ran.
    pub tier: Option<Tier>,
    pub metric: SloMetric,
    /// In the metric's unit: µs for latency, requests/s for throughput, a fraction for rates.
    pub limit: f64,
    /// The limit as the scenario wrote it.
    pub limit_text: String,
    /// With device groups: the group whose own rows it holds for; `None`:
    /// the rows over every device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Slo {
    /// `≥` for a minimum, `≤` for a maximum.
    pub fn operator(&self) -> &'static str {
        if self.metric.is_minimum() {
            "≥"
        } else {
            "≤"
        }
    }

    /// `p99 ≤ 20ms`.
    pub fn objective(&self) -> String {
        let group = self.group.as_ref().map_or(String::new(), |g| format!("{g}: "));
        format!("{group}{} {} {}", self.metric.as_str(), self.operator(), self.limit_text)
    }
}
