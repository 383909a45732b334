//! The load generator: simulated devices publishing on an absolute schedule.
//!
//! Request `k` (over all devices) is due at `t0 + k / rate` and goes from device
//! `k mod count`. The schedule never waits for responses, and latency is
//! measured from the due time, so a stall cannot hide itself (coordinated
//! omission).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rumqttc::AsyncClient;

use super::collector::{micros_since, Sent};
use super::timer::PreciseTimer;
use crate::sample::Phase;
use crate::wire::{self, Request};

/// When each request of one point execution is due.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub t0: Instant,
    pub rate_hz: f64,
    /// Requests before this sequence number are warmup.
    pub warmup: u64,
    pub total: u64,
    pub devices: u32,
}

impl Schedule {
    pub fn due(&self, seq: u64) -> Instant {
        self.t0 + Duration::from_secs_f64(seq as f64 / self.rate_hz)
    }

    pub fn phase(&self, seq: u64) -> Phase {
        if seq < self.warmup {
            Phase::Warmup
        } else {
            Phase::Measure
        }
    }

    /// The sequence numbers that `device` sends, in order.
    pub fn device_seqs(&self, device: u32) -> impl Iterator<Item = u64> {
        (u64::from(device)..self.total).step_by(self.devices as usize)
    }

    /// When the last request is due.
    pub fn last_due(&self) -> Instant {
        self.due(self.total.saturating_sub(1))
    }
}

/// The random source of one device's feature vectors: the same seed, point,
/// repetition and device always give the same vectors.
pub fn feature_rng(seed: u64, point: usize, device: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((point as u64) << 32) | u64::from(device));
    rng
}

/// One simulated device.
pub struct Device {
    pub index: u32,
    pub client: AsyncClient,
    /// Request topics of the tiers this request goes to.
    pub topics: Vec<String>,
    pub qos: rumqttc::QoS,
    pub features: usize,
    /// `<run-id>/<point>.<rep>/`
    pub id_prefix: String,
    pub rng: ChaCha8Rng,
}

impl Device {
    /// Sends this device's share of the schedule; returns what it sent.
    pub async fn run(
        mut self,
        schedule: Schedule,
        epoch: Instant,
        timer: PreciseTimer,
        sent_count: Arc<AtomicU64>,
    ) -> Vec<Sent> {
        let name = format!("dev-{:03}", self.index);
        let mut out = Vec::new();
        for seq in schedule.device_seqs(self.index) {
            let features: Vec<f32> = (0..self.features).map(|_| self.rng.gen_range(-2.0f32..2.0)).collect();
            let request =
                Request { v: wire::VERSION, id: format!("{}{seq}", self.id_prefix), device: name.clone(), features };
            let payload = serde_json::to_vec(&request).unwrap_or_default();
            let due = schedule.due(seq);
            timer.sleep_until(due).await;
            let sent_at = Instant::now();
            let mut publish_error = None;
            for topic in &self.topics {
                if let Err(e) = self.client.publish(topic.clone(), self.qos, false, payload.clone()).await {
                    publish_error = Some(e.to_string());
                }
            }
            out.push(Sent {
                seq,
                device: self.index,
                phase: schedule.phase(seq),
                intended_us: micros_since(epoch, due),
                sent_us: micros_since(epoch, sent_at),
                publish_error,
            });
            sent_count.fetch_add(1, Ordering::Relaxed);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_evenly_spaced_and_split_round_robin() {
        let t0 = Instant::now();
        let s = Schedule { t0, rate_hz: 200.0, warmup: 3, total: 10, devices: 4 };
        assert_eq!(s.due(0), t0);
        assert_eq!(s.due(200) - t0, Duration::from_secs(1));
        assert_eq!(s.device_seqs(1).collect::<Vec<_>>(), [1, 5, 9]);
        let all: usize = (0..4).map(|d| s.device_seqs(d).count()).sum();
        assert_eq!(all, 10);
        assert_eq!((s.phase(2), s.phase(3)), (Phase::Warmup, Phase::Measure));
    }

    #[test]
    fn feature_streams_are_seeded() {
        let a: Vec<u32> = (0..4).map(|_| feature_rng(42, 1, 2).gen()).collect();
        let b: Vec<u32> = (0..4).map(|_| feature_rng(42, 1, 2).gen()).collect();
        assert_eq!(a, b);
        let c: u32 = feature_rng(42, 1, 3).gen();
        let d: u32 = feature_rng(43, 1, 2).gen();
        assert_ne!(a[0], c);
        assert_ne!(a[0], d);
    }
}
