//! A conformance test every [`ReplacementPolicy`] must pass — the shipped ones, and the ones
//! you write for the chapter's exercises (LRU-K, 2Q, ARC, SIEVE, ...).
//!
//! ```
//! kv_buffer::conformance::check(|frames| kv_buffer::PolicyKind::Clock.build(frames));
//! ```
//!
//! It panics, naming the rule broken and the sequence of events that broke it.

use crate::ReplacementPolicy;

// ANCHOR: conformance
/// Runs every rule against policies made by `make(frames)` for several pool sizes.
///
/// 1. A victim is always evictable, and there is a victim whenever any frame is evictable.
/// 2. Taking victims one by one (each then unevictable) yields every frame exactly once.
/// 3. Frames freed with `on_free` and loaded again take part as before.
pub fn check(make: impl Fn(usize) -> Box<dyn ReplacementPolicy>) {
    for frames in [1, 2, 3, 7, 64] {
        random_events_respect_evictability(&make, frames);
        every_frame_is_eventually_chosen(&make, frames);
        freed_frames_come_back(&make, frames);
    }
}
// ANCHOR_END: conformance

fn random_events_respect_evictability(
    make: &impl Fn(usize) -> Box<dyn ReplacementPolicy>,
    n: usize,
) {
    let mut policy = make(n);
    let name = policy.name();
    let mut rng = 0x1234_5678_u64 ^ n as u64;
    let mut loaded = vec![false; n];
    let mut history = Vec::new();
    for step in 0..2000 {
        let f = (next(&mut rng) % n as u64) as usize;
        match next(&mut rng) % 4 {
            0 => {
                policy.on_load(f);
                loaded[f] = true;
                history.push(format!("load {f}"));
            }
            1 if loaded[f] => {
                policy.on_access(f);
                history.push(format!("access {f}"));
            }
            2 if loaded[f] => {
                policy.on_free(f);
                loaded[f] = false;
                history.push(format!("free {f}"));
            }
            _ => {
                let mask: Vec<bool> = (0..n)
                    .map(|g| loaded[g] && next(&mut rng).is_multiple_of(2))
                    .collect();
                let got = policy.victim(&|g| mask.get(g).copied().unwrap_or(false));
                let tail = history
                    .iter()
                    .rev()
                    .take(8)
                    .rev()
                    .cloned()
                    .collect::<Vec<_>>();
                match got {
                    Some(v) => assert!(
                        v < n && mask[v],
                        "{name}: step {step}: victim {v} is not evictable (evictable: {mask:?}; last events {tail:?})"
                    ),
                    None => assert!(
                        !mask.contains(&true),
                        "{name}: step {step}: no victim although {mask:?} are evictable (last events {tail:?})"
                    ),
                }
                history.push(format!("victim -> {got:?}"));
            }
        }
    }
}

fn every_frame_is_eventually_chosen(make: &impl Fn(usize) -> Box<dyn ReplacementPolicy>, n: usize) {
    let mut policy = make(n);
    let name = policy.name();
    (0..n).for_each(|f| policy.on_load(f));
    (0..n).step_by(2).for_each(|f| policy.on_access(f));
    let mut taken = vec![false; n];
    for i in 0..n {
        let v = policy
            .victim(&|f| !taken[f])
            .unwrap_or_else(|| panic!("{name}: no victim after {i} of {n} frames were taken"));
        assert!(!taken[v], "{name}: frame {v} chosen twice");
        taken[v] = true;
    }
    assert_eq!(
        policy.victim(&|f| !taken[f]),
        None,
        "{name}: a victim from nothing"
    );
}

fn freed_frames_come_back(make: &impl Fn(usize) -> Box<dyn ReplacementPolicy>, n: usize) {
    let mut policy = make(n);
    let name = policy.name();
    (0..n).for_each(|f| policy.on_load(f));
    policy.on_free(0);
    policy.on_load(0);
    let mut taken = vec![false; n];
    for _ in 0..n {
        let v = policy
            .victim(&|f| !taken[f])
            .unwrap_or_else(|| panic!("{name}: a frame freed and loaded again was lost"));
        taken[v] = true;
    }
    assert!(
        taken.iter().all(|&t| t),
        "{name}: not every frame came back"
    );
}

/// SplitMix64: a tiny deterministic generator, so a failure replays exactly.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PolicyKind;

    #[test]
    fn every_shipped_policy_conforms() {
        for kind in PolicyKind::ALL {
            check(|frames| kind.build(frames));
        }
    }

    #[derive(Debug)]
    struct Broken;
    impl ReplacementPolicy for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn on_load(&mut self, _: usize) {}
        fn on_access(&mut self, _: usize) {}
        fn victim(&mut self, _: &dyn Fn(usize) -> bool) -> Option<usize> {
            Some(0) // ignores pins
        }
    }

    #[test]
    #[should_panic(expected = "is not evictable")]
    fn a_policy_that_ignores_pins_fails() {
        check(|_| Box::new(Broken));
    }
}
