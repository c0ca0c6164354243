//! Cycle detection for walks along page links that a damaged file could make endless.

/// Brent's cycle detection over the page numbers a walk visits: one page number is
/// remembered at each power-of-two step, and meeting it again means the links run in a
/// cycle — found within three times the length of the cycle and the path into it. One
/// comparison per page, no memory, no lock: unlike a bound taken from the meta page's
/// high-water mark, it holds when that mark is damaged too (2^40 would make a bound useless),
/// and unlike measuring the file it takes no lock a lookup should not.
#[derive(Debug, Clone)]
pub(crate) struct CycleGuard {
    /// The page number remembered (0, the meta page, is never a link target).
    saved: u64,
    /// Pages visited since `saved` was remembered.
    since_saved: u64,
    /// How many visits `saved` is kept for before the next one replaces it.
    power: u64,
}

impl CycleGuard {
    /// A guard for a walk not yet started.
    pub(crate) fn new() -> CycleGuard {
        CycleGuard {
            saved: 0,
            since_saved: 0,
            power: 1,
        }
    }

    /// Notes that the walk visits `number`; whether that closes a cycle.
    pub(crate) fn repeats(&mut self, number: u64) -> bool {
        if number == self.saved {
            return true;
        }
        self.since_saved += 1;
        if self.since_saved == self.power {
            (self.saved, self.since_saved) = (number, 0);
            self.power = self.power.saturating_mul(2);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::CycleGuard;

    /// The walk `path`, then round `cycle` forever: the step at which the guard fires.
    fn detected_after(path: &[u64], cycle: &[u64]) -> usize {
        let mut guard = CycleGuard::new();
        let walk = path.iter().chain(cycle.iter().cycle());
        walk.take(10_000)
            .position(|&n| guard.repeats(n))
            .expect("a cycle is found")
    }

    #[test]
    fn every_cycle_is_found_within_three_times_its_length_and_path() {
        for path_len in 0..20u64 {
            for cycle_len in 1..40u64 {
                let path: Vec<u64> = (1..=path_len).collect();
                let cycle: Vec<u64> = (100..100 + cycle_len).collect();
                let steps = detected_after(&path, &cycle) as u64;
                assert!(
                    steps <= 3 * (path_len + cycle_len),
                    "{path_len}, {cycle_len}: {steps}"
                );
            }
        }
    }

    #[test]
    fn a_walk_without_a_cycle_never_fires() {
        let mut guard = CycleGuard::new();
        assert!((1..100_000).all(|n| !guard.repeats(n)));
    }
}
