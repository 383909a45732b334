//! The open-loop processes as due times: offsets from a point execution's
//! start, non-decreasing, over warmup + duration, drawn from the
//! execution's seed so every host and every run of a scenario gets the same
//! schedule. Pure; the load generator sends at these times whatever the
//! answers do (no coordinated omission).

use rand::Rng;
use rand_distr::{Distribution as _, Exp};

use crate::plan::{Arrival, ArrivalTrace, LoadConfig, Mmpp, OnOff, TraceEnd};

/// The due offsets (ns) of `load`'s open-loop process over `window_ns`;
/// empty for closed loop.
pub fn offsets(load: &LoadConfig, window_ns: u64, seed: u64) -> Vec<u64> {
    let rate = load.rate_hz;
    match &load.arrival {
        Arrival::Poisson => poisson(rate, window_ns, &mut crate::seeds::schedule_gaps(seed)),
        Arrival::Constant => {
            let (warm, measured) = load.request_counts();
            (0..warm + measured).map(|k| (k as f64 * 1e9 / rate) as u64).collect()
        }
        Arrival::OnOff(o) => on_off(o, rate, window_ns, &mut crate::seeds::schedule_gaps(seed)),
        Arrival::Mmpp(m) => mmpp(m, window_ns, &mut crate::seeds::schedule_gaps(seed)),
        Arrival::Replay(r) => replay(r, window_ns),
        Arrival::Closed => Vec::new(),
    }
}

/// Exponential gaps at `rate` from 0 until `window_ns`.
fn poisson(rate: f64, window_ns: u64, rng: &mut impl Rng) -> Vec<u64> {
    let gaps = Exp::new(rate).expect("validated positive rate");
    let mut t = 0f64;
    let mut out = Vec::with_capacity((rate * window_ns as f64 / 1e9) as usize + 16);
    loop {
        let ns = (t * 1e9) as u64;
        if ns >= window_ns {
            break out;
        }
        out.push(ns);
        t += gaps.sample(rng);
    }
}

/// A duration of mean `mean` s: itself, or an exponential draw.
fn period(mean: f64, exponential: bool, rng: &mut impl Rng) -> f64 {
    if exponential && mean > 0.0 {
        Exp::new(1.0 / mean).expect("positive mean").sample(rng)
    } else {
        mean
    }
}

/// On periods of evenly spaced requests at `rate`, off periods of none.
fn on_off(o: &OnOff, rate: f64, window_ns: u64, rng: &mut impl Rng) -> Vec<u64> {
    let window = window_ns as f64 / 1e9;
    let mut out = Vec::new();
    let mut start = 0f64;
    while start < window {
        let on = period(o.on.as_secs_f64(), o.exponential, rng);
        let end = (start + on).min(window);
        let mut k = 0u64;
        loop {
            let t = start + k as f64 / rate;
            if t >= end {
                break;
            }
            out.push((t * 1e9) as u64);
            k += 1;
        }
        start += on + period(o.off.as_secs_f64(), o.exponential, rng);
    }
    out
}

/// Two states, each a Poisson process at its rate for an exponential stay;
/// the first state drawn from the stationary shares.
fn mmpp(m: &Mmpp, window_ns: u64, rng: &mut impl Rng) -> Vec<u64> {
    let window = window_ns as f64 / 1e9;
    let stays = m.stay.map(|d| d.as_secs_f64());
    let mut state = usize::from(rng.gen::<f64>() >= stays[0] / (stays[0] + stays[1]));
    let mut out = Vec::new();
    let mut start = 0f64;
    while start < window {
        let end = (start + period(stays[state], true, rng)).min(window);
        let rate = m.rates_hz[state];
        if rate > 0.0 {
            let gaps = Exp::new(rate).expect("positive rate");
            let mut t = start + gaps.sample(rng);
            while t < end {
                out.push((t * 1e9) as u64);
                t += gaps.sample(rng);
            }
        }
        start = end;
        state = 1 - state;
    }
    out
}

/// The file's times, `speed` times faster, looped or held to fill the window.
fn replay(r: &ArrivalTrace, window_ns: u64) -> Vec<u64> {
    let scale = |ns: u64| (ns as f64 / r.speed) as u64;
    let period_ns = scale(r.period.as_nanos() as u64);
    let mut out = Vec::new();
    let mut base = 0u64;
    'periods: loop {
        for row in r.rows.iter() {
            for i in 0..row.count {
                let t = base + scale(row.offset_ns(i));
                if t >= window_ns {
                    break 'periods;
                }
                out.push(t);
            }
        }
        if r.end == TraceEnd::Hold || period_ns == 0 {
            break;
        }
        base += period_ns;
    }
    if let (Some(rate), true) = (r.held_hz(), base == 0) {
        let mut t = period_ns as f64;
        while (t as u64) < window_ns {
            out.push(t as u64);
            t += 1e9 / rate;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::ArrivalRow;

    fn load(arrival: Arrival, rate_hz: f64, secs: u64) -> LoadConfig {
        LoadConfig {
            arrival,
            rate_hz,
            duration: Duration::from_secs(secs),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(1),
            concurrency: 1,
            think: Duration::ZERO,
        }
    }

    /// The share of time on, and the rate while on, of offsets from an
    /// on/off process whose on periods are the runs of gaps ≤ `gap_ns`.
    fn on_share_and_rate(offsets: &[u64], gap_ns: u64, window_ns: u64) -> (f64, f64) {
        let mut on_ns = 0u64;
        let mut run_start = offsets[0];
        for w in offsets.windows(2) {
            if w[1] - w[0] > gap_ns {
                on_ns += w[0] - run_start + gap_ns;
                run_start = w[1];
            }
        }
        on_ns += offsets[offsets.len() - 1] - run_start + gap_ns;
        (on_ns as f64 / window_ns as f64, offsets.len() as f64 / (on_ns as f64 / 1e9))
    }

    #[test]
    fn the_schedules_of_constant_and_poisson_are_what_they_were() {
        // Fixed numbers: a change here changes every past run's schedule.
        let constant = offsets(&load(Arrival::Constant, 300.0, 1), 1_000_000_000, 5);
        assert_eq!((constant.len(), constant[1], constant[299]), (300, 3_333_333, 996_666_666));
        let poisson = offsets(&load(Arrival::Poisson, 100.0, 10), 10_000_000_000, 42);
        assert_eq!(poisson[..4], [0, 17_841_863, 23_243_836, 46_196_458]);
        assert_eq!(poisson.len(), 1_006);
    }

    #[test]
    fn on_off_keeps_its_duty_cycle_and_its_rate_while_on() {
        // Exponential periods need many cycles for their means to show: 5,000 here.
        let window = 40_000_000_000_000;
        for exponential in [false, true] {
            let o = OnOff { on: Duration::from_secs(2), off: Duration::from_secs(6), exponential };
            let l = load(Arrival::OnOff(o), 50.0, 40_000);
            let got = offsets(&l, window, 11);
            let (duty, on_rate) = on_share_and_rate(&got, 20_000_000, window);
            assert!((duty / 0.25 - 1.0).abs() < 0.05, "exponential {exponential}: duty cycle {duty}");
            assert!((on_rate / 50.0 - 1.0).abs() < 0.05, "exponential {exponential}: on-rate {on_rate}");
            assert!(got.windows(2).all(|w| w[0] <= w[1]));
            let mean = got.len() as f64 / 40_000.0;
            assert!((mean / l.offered().unwrap().mean_hz - 1.0).abs() < 0.05, "mean {mean}");
        }
        let fixed = offsets(
            &load(
                Arrival::OnOff(OnOff { on: Duration::from_secs(1), off: Duration::from_secs(1), exponential: false }),
                4.0,
                4,
            ),
            4_000_000_000,
            0,
        );
        assert_eq!(
            fixed,
            [0, 250_000_000, 500_000_000, 750_000_000, 2_000_000_000, 2_250_000_000, 2_500_000_000, 2_750_000_000]
        );
    }

    #[test]
    fn mmpp_has_its_long_run_mean_and_is_seeded() {
        let m = Mmpp { rates_hz: [80.0, 5.0], stay: [Duration::from_secs(2), Duration::from_secs(8)] };
        let l = load(Arrival::Mmpp(m), 0.0, 40_000);
        let got = offsets(&l, 40_000_000_000_000, 3);
        let mean = got.len() as f64 / 40_000.0;
        assert!((mean / m.mean_hz() - 1.0).abs() < 0.05, "mean {mean} against {}", m.mean_hz());
        assert_eq!(l.offered().unwrap().peak_hz, 80.0);
        assert_eq!(offsets(&l, 10_000_000_000, 3), offsets(&l, 10_000_000_000, 3));
        assert_ne!(offsets(&l, 10_000_000_000, 3), offsets(&l, 10_000_000_000, 4));
    }

    fn trace(rows: &[(u64, u64, u32)], counts: bool, end: TraceEnd, period_ms: u64) -> ArrivalTrace {
        ArrivalTrace {
            path: "a.csv".into(),
            sha256: String::new(),
            end,
            counts,
            period: Duration::from_millis(period_ms),
            speed: 1.0,
            rows: rows
                .iter()
                .map(|&(at_ms, width_ms, count)| ArrivalRow {
                    at_ns: at_ms * 1_000_000,
                    width_ns: width_ms * 1_000_000,
                    count,
                })
                .collect(),
        }
    }

    #[test]
    fn a_replayed_file_loops_holds_or_stops_and_speeds_up() {
        let ms = |v: &[u64]| v.iter().map(|t| t / 1_000_000).collect::<Vec<_>>();
        let stamps = trace(&[(0, 0, 1), (100, 0, 1), (300, 0, 1)], false, TraceEnd::Loop, 450);
        let l = load(Arrival::Replay(Box::new(stamps.clone())), 0.0, 1);
        assert_eq!(ms(&offsets(&l, 1_000_000_000, 0)), [0, 100, 300, 450, 550, 750, 900]);
        let stop = load(Arrival::Replay(Box::new(ArrivalTrace { end: TraceEnd::Hold, ..stamps.clone() })), 0.0, 1);
        assert_eq!(ms(&offsets(&stop, 1_000_000_000, 0)), [0, 100, 300]);
        let fast = load(Arrival::Replay(Box::new(ArrivalTrace { speed: 2.0, ..stamps })), 0.0, 1);
        assert_eq!(ms(&offsets(&fast, 500_000_000, 0)), [0, 50, 150, 225, 275, 375, 450]);
        let counts = trace(&[(0, 200, 2), (200, 200, 4)], true, TraceEnd::Hold, 400);
        let held = load(Arrival::Replay(Box::new(counts)), 0.0, 1);
        assert_eq!(ms(&offsets(&held, 600_000_000, 0)), [0, 100, 200, 250, 300, 350, 400, 450, 500, 550]);
    }
}
