//! Access traces for hit-ratio comparisons: uniform, Zipfian and scan-polluted.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

/// A named sequence of block numbers in `0..blocks`.
pub struct Trace {
    pub name: &'static str,
    pub blocks: u64,
    pub accesses: Vec<u64>,
}

/// Every block equally likely: no policy can beat frames / blocks.
pub fn uniform(blocks: u64, len: usize, seed: u64) -> Trace {
    let mut rng = StdRng::seed_from_u64(seed);
    Trace {
        name: "uniform",
        blocks,
        accesses: (0..len).map(|_| rng.random_range(0..blocks)).collect(),
    }
}

/// Zipfian with exponent `theta` (0.99: a few blocks get most accesses), hot blocks
/// scattered over the file rather than all at its start.
pub fn zipf(blocks: u64, len: usize, theta: f64, seed: u64) -> Trace {
    let mut rng = StdRng::seed_from_u64(seed);
    let dist = Zipf::new(blocks as f64, theta).expect("valid zipf parameters");
    let scatter = |rank: u64| (rank.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7) % blocks;
    Trace {
        name: "zipf 0.99",
        blocks,
        accesses: (0..len)
            .map(|_| scatter(dist.sample(&mut rng) as u64 - 1))
            .collect(),
    }
}

/// The Zipfian trace with a sequential scan of cold blocks (`blocks..2*blocks`) inserted
/// every `every` accesses: the pattern that ruins LRU.
pub fn scan_polluted(blocks: u64, len: usize, scan_len: u64, every: usize, seed: u64) -> Trace {
    let hot = zipf(blocks, len, 0.99, seed);
    let mut accesses = Vec::with_capacity(len * 2);
    let mut next_cold = 0;
    for (i, &b) in hot.accesses.iter().enumerate() {
        accesses.push(b);
        if i % every == every - 1 {
            for _ in 0..scan_len {
                accesses.push(blocks + next_cold % blocks);
                next_cold += 1;
            }
        }
    }
    Trace {
        name: "zipf + scans",
        blocks: 2 * blocks,
        accesses,
    }
}
