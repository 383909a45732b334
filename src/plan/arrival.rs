//! How requests arrive: the open-loop processes (constant, Poisson, on/off
//! bursts, a two-state Markov-modulated Poisson process, a replayed file)
//! and closed loop (docs/scenario.md, Arrivals).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::TraceEnd;

/// How requests arrive.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum Arrival {
    /// Evenly spaced at `rate_hz`.
    #[default]
    Constant,
    /// A Poisson process at `rate_hz`: exponential gaps, seeded.
    Poisson,
    /// Each device keeps `concurrency` requests outstanding, `think` after each settles.
    Closed,
    /// Bursts: evenly spaced at `rate_hz` while on, nothing while off.
    OnOff(OnOff),
    /// A Poisson process whose rate switches between two states.
    Mmpp(Mmpp),
    /// The request times of a file.
    Replay(Box<ArrivalTrace>),
}

impl Arrival {
    pub fn as_str(&self) -> &'static str {
        match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
            Arrival::Closed => "closed",
            Arrival::OnOff(_) => "onoff",
            Arrival::Mmpp(_) => "mmpp",
            Arrival::Replay(_) => "replay",
        }
    }

    /// `onoff (2 s on, 6 s off, fixed)`: the process with its parameters.
    pub fn describe(&self) -> String {
        match self {
            Arrival::OnOff(o) => format!(
                "onoff ({} s on, {} s off, {})",
                o.on.as_secs_f64(),
                o.off.as_secs_f64(),
                if o.exponential { "exponential periods" } else { "fixed periods" }
            ),
            Arrival::Mmpp(m) => format!(
                "mmpp ({:.3}/s for {} s, {:.3}/s for {} s on average)",
                m.rates_hz[0],
                m.stay[0].as_secs_f64(),
                m.rates_hz[1],
                m.stay[1].as_secs_f64()
            ),
            Arrival::Replay(r) => format!("replay of {r}"),
            other => other.as_str().to_string(),
        }
    }
}

/// `arrival: onoff`: the process starts on; each period lasts `on` and `off`
/// (or, with `exponential`, draws of those means); while on, requests are
/// evenly spaced at the load's rate from the period's start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OnOff {
    pub on: Duration,
    pub off: Duration,
    pub exponential: bool,
}

impl OnOff {
    /// The share of time the process is on.
    pub fn duty_cycle(&self) -> f64 {
        let (on, off) = (self.on.as_secs_f64(), self.off.as_secs_f64());
        on / (on + off)
    }
}

/// `arrival: mmpp`: two states, each with its Poisson rate and an
/// exponential stay of its mean; the first state is drawn from the
/// stationary shares (stay over the sum of stays).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mmpp {
    pub rates_hz: [f64; 2],
    pub stay: [Duration; 2],
}

impl Mmpp {
    /// The long-run mean rate: each state's rate weighted by its share of time.
    pub fn mean_hz(&self) -> f64 {
        let [a, b] = self.stay.map(|d| d.as_secs_f64());
        (self.rates_hz[0] * a + self.rates_hz[1] * b) / (a + b)
    }
}

/// One row of an arrival file: `count` requests spread evenly over
/// `[at, at + width)` (a timestamp is one request and no width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrivalRow {
    pub at_ns: u64,
    pub width_ns: u64,
    pub count: u32,
}

impl ArrivalRow {
    /// The offset of the `i`-th of the row's requests.
    pub fn offset_ns(&self, i: u32) -> u64 {
        self.at_ns + (u128::from(self.width_ns) * u128::from(i) / u128::from(self.count.max(1))) as u64
    }
}

/// The request times of a file (`load.file`), one period of them, with
/// what follows its end, replayed `speed` times faster than written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArrivalTrace {
    /// The path as the scenario gave it.
    pub path: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// `loop`: the file again from its start once `period` has passed;
    /// `hold`: a counts file's last rate goes on, a timestamps file stops.
    pub end: TraceEnd,
    /// True for a file of per-interval counts, false for one timestamp a line.
    pub counts: bool,
    /// One period of the file as written (before `speed`).
    pub period: Duration,
    /// Time in the file passes `speed` times faster than in the run.
    pub speed: f64,
    /// Shared by every point's copy: read once per run.
    pub rows: Arc<[ArrivalRow]>,
}

impl PartialEq for ArrivalTrace {
    fn eq(&self, other: &Self) -> bool {
        self.sha256 == other.sha256 && self.end == other.end && self.speed == other.speed
    }
}

impl ArrivalTrace {
    /// Requests in one period of the file.
    pub fn requests(&self) -> u64 {
        self.rows.iter().map(|r| u64::from(r.count)).sum()
    }

    /// The mean rate over one period, as replayed.
    pub fn mean_hz(&self) -> f64 {
        self.requests() as f64 / self.period.as_secs_f64() * self.speed
    }

    /// The highest rate, as replayed: a counts file's busiest row, or the
    /// most timestamps in any one second.
    pub fn peak_hz(&self) -> f64 {
        let written = if self.counts {
            self.rows
                .iter()
                .filter(|r| r.width_ns > 0)
                .map(|r| f64::from(r.count) / (r.width_ns as f64 / 1e9))
                .fold(0.0, f64::max)
        } else {
            let times: Vec<u64> = self.rows.iter().map(|r| r.at_ns).collect();
            let second = (1e9 / self.speed) as u64;
            let mut most = 0usize;
            let mut start = 0usize;
            for (end, &t) in times.iter().enumerate() {
                while t - times[start] >= second {
                    start += 1;
                }
                most = most.max(end + 1 - start);
            }
            return most as f64;
        };
        written * self.speed
    }

    /// The rate that goes on after a held counts file's last row.
    pub fn held_hz(&self) -> Option<f64> {
        let last = self.rows.last()?;
        (self.end == TraceEnd::Hold && self.counts && last.width_ns > 0)
            .then(|| f64::from(last.count) / (last.width_ns as f64 / 1e9) * self.speed)
    }
}

/// `traces/azure.csv (counts, loop, 3600 s, ×60)`.
impl fmt::Display for ArrivalTrace {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} ({}, {}, {} s",
            self.path,
            if self.counts { "counts" } else { "timestamps" },
            self.end.as_str(),
            self.period.as_secs_f64()
        )?;
        if self.speed != 1.0 {
            write!(f, ", ×{}", self.speed)?;
        }
        f.write_str(")")
    }
}

/// The offered load of an open-loop process: its long-run mean rate and
/// its highest rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Offered {
    pub mean_hz: f64,
    pub peak_hz: f64,
}
