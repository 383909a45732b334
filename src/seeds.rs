//! Every random stream simrun draws from, derived in one place from the
//! scenario's `seed` and where the draw happens.
//!
//! The promise: the same scenario and seed give, at each point and
//! repetition, the same request schedule (`load.arrival: poisson`), the same
//! feature vectors from each device and the same delay draws on each link
//! connection, on any host. What the host does with them (when a request
//! actually leaves, how long a round trip takes) is measured, not promised.
//! Changing a derivation here changes every past run's streams: say so in
//! the CHANGELOG.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The seed of one point execution's schedule.
pub fn execution(seed: u64, point: usize, repetition: u32) -> u64 {
    seed.wrapping_add(u64::from(repetition)) ^ (point as u64).rotate_left(32)
}

/// `placement: split`'s draw for request `seq` of an execution (`execution`'s
/// seed): uniform in [0, 1), the same on every host and in every run.
pub fn split_draw(execution: u64, seq: u64) -> f64 {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(execution ^ 0x5b11_7d2a);
    rng.set_stream(seq);
    rng.gen::<f64>()
}

/// Device group `group`'s draws of an execution (`execution`'s seed): the
/// first group's are the execution's own, so a scenario with one devices
/// block keeps its schedule.
pub fn group(execution: u64, group: u16) -> u64 {
    match group {
        0 => execution,
        g => execution ^ (u64::from(g) << 48 | 0x0067_7270),
    }
}

/// The Poisson gaps of an execution's schedule (`execution`'s seed).
pub fn schedule_gaps(execution: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(execution ^ 0x9015_5011)
}

/// One device's feature vectors at one point execution: one stream per
/// (point, device) of a generator seeded by the seed and the repetition.
pub fn features(seed: u64, point: usize, repetition: u32, device: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(u64::from(repetition)));
    rng.set_stream(((point as u64) << 32) | u64::from(device));
    rng
}

/// The order in which a point execution replays a data file's rows.
pub fn rows(seed: u64, point: usize, repetition: u32) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(execution(seed, point, repetition) ^ 0x0da7_a0de)
}

/// One link of a point execution: `link` 0 for the devices', 1 + i for the
/// i-th tier's.
pub fn link(seed: u64, point: usize, repetition: u32, link: u64) -> u64 {
    seed.wrapping_add(u64::from(repetition))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add((point as u64) << 8 | link)
}

/// One direction of one connection through a link (`link`'s seed), in the
/// order the link accepted its connections.
pub fn link_connection(link: u64, connection: u64, upward: bool) -> u64 {
    let d = if upward { 0x9e37_79b9_7f4a_7c15u64 } else { 0xc2b2_ae3d_27d4_eb4fu64 };
    link.wrapping_mul(0x0100_0000_01b3).wrapping_add(connection.wrapping_mul(0xff51_afd7_ed55_8ccd)) ^ d
}

/// The draws that describe a configured delay distribution in the report.
pub const CONFIGURED_DELAYS: u64 = 0x5eed;

/// The random inputs of the edge/cloud parity check.
pub const PARITY_INPUTS: u64 = 7;

/// The bootstrap of one row of a comparison: the aligned points, the tier
/// and the metric's place in the row order.
pub fn bootstrap(baseline_point: usize, candidate_point: usize, tier: u64, metric: usize) -> u64 {
    (baseline_point as u64) << 16 | (candidate_point as u64) << 8 | tier << 4 | metric as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_depend_on_what_they_name_and_nothing_else() {
        assert_eq!(execution(11, 2, 1), execution(11, 2, 1));
        assert_ne!(execution(11, 2, 1), execution(11, 2, 0));
        assert_ne!(execution(11, 2, 1), execution(11, 1, 1));
        let draw = |mut r: ChaCha8Rng| -> u64 { r.gen() };
        assert_eq!(draw(features(7, 1, 0, 3)), draw(features(7, 1, 0, 3)));
        assert_ne!(draw(features(7, 1, 0, 3)), draw(features(7, 1, 0, 4)));
        assert_ne!(draw(features(7, 1, 0, 3)), draw(features(7, 1, 1, 3)));
        assert_ne!(link(7, 0, 0, 0), link(7, 0, 0, 1));
        assert_ne!(link_connection(5, 0, true), link_connection(5, 0, false));
        assert_ne!(link_connection(5, 0, true), link_connection(5, 1, true));
    }

    #[test]
    fn the_derivations_stay_what_past_runs_used() {
        // Pinned: a change here changes every past run's streams.
        assert_eq!(execution(7, 1, 2), 9 ^ (1u64 << 32));
        assert_eq!(link(7, 1, 0, 2), 7u64.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(258));
        assert_eq!(bootstrap(1, 2, 1, 3), (1 << 16) | (2 << 8) | (1 << 4) | 3);
    }
}
