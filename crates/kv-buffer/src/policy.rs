//! Replacement policies: which frame to reuse when a block must be loaded and none is free.

use std::fmt;

// ANCHOR: policy
/// Chooses the frame to evict. The pool tells it what happens to frames; it answers one
/// question, [`victim`](Self::victim).
///
/// Every method is called with the pool's page-table lock held, so a policy needs no locking
/// of its own — and must be quick: it runs on every hit.
pub trait ReplacementPolicy: Send + fmt::Debug {
    /// A short name for reports ("clock", "lru").
    fn name(&self) -> &'static str;

    /// `frame` now holds a newly loaded block.
    fn on_load(&mut self, frame: usize);

    /// `frame` was pinned again while holding the same block (a hit).
    fn on_access(&mut self, frame: usize);

    /// `frame` no longer holds a block (its load failed); it will be reused first.
    fn on_free(&mut self, frame: usize) {
        let _ = frame;
    }

    /// The frame to evict among those for which `evictable` is true (loaded and unpinned), or
    /// `None` if there is none. Must never return a frame that is not evictable.
    fn victim(&mut self, evictable: &dyn Fn(usize) -> bool) -> Option<usize>;
}
// ANCHOR_END: policy

/// The policies that ship, by name, for options and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyKind {
    /// The first unpinned frame: the textbook's first attempt.
    Naive,
    /// The frame loaded longest ago.
    Fifo,
    /// The frame used longest ago.
    Lru,
    /// Second chance: LRU's approximation with one bit per frame (the default).
    #[default]
    Clock,
}

impl PolicyKind {
    /// Every shipped policy, for tables that compare them.
    pub const ALL: [PolicyKind; 4] = [Self::Naive, Self::Fifo, Self::Lru, Self::Clock];

    /// A fresh policy of this kind for `frames` frames.
    pub fn build(self, frames: usize) -> Box<dyn ReplacementPolicy> {
        match self {
            Self::Naive => Box::new(Naive(frames)),
            Self::Fifo => Box::new(Fifo(FrameList::new(frames))),
            Self::Lru => Box::new(Lru(FrameList::new(frames))),
            Self::Clock => Box::new(Clock::new(frames)),
        }
    }
}

/// Evicts the lowest-numbered evictable frame. Simple, and bad: it keeps evicting the same
/// few frames, however hot they are. Holds the number of frames.
#[derive(Debug, Default)]
pub struct Naive(pub usize);

impl ReplacementPolicy for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }
    fn on_load(&mut self, _: usize) {}
    fn on_access(&mut self, _: usize) {}
    fn victim(&mut self, evictable: &dyn Fn(usize) -> bool) -> Option<usize> {
        (0..self.0).find(|&f| evictable(f))
    }
}

/// An intrusive doubly linked list of frame numbers: O(1) move-to-back and removal, the
/// order FIFO and LRU need without allocating on the hit path.
#[derive(Debug)]
struct FrameList {
    prev: Vec<usize>,
    next: Vec<usize>,
    linked: Vec<bool>,
    /// The sentinel's index (`frames`): `next[head]` is the oldest, `prev[head]` the newest.
    head: usize,
}

impl FrameList {
    fn new(frames: usize) -> Self {
        let head = frames;
        Self {
            prev: vec![head; frames + 1],
            next: vec![head; frames + 1],
            linked: vec![false; frames],
            head,
        }
    }

    fn unlink(&mut self, f: usize) {
        if self.linked.get(f).copied().unwrap_or(false) {
            let (p, n) = (self.prev[f], self.next[f]);
            self.next[p] = n;
            self.prev[n] = p;
            self.linked[f] = false;
        }
    }

    fn push_back(&mut self, f: usize) {
        if f >= self.linked.len() {
            return; // not a frame of this pool
        }
        self.unlink(f);
        let last = self.prev[self.head];
        self.next[last] = f;
        self.prev[f] = last;
        self.next[f] = self.head;
        self.prev[self.head] = f;
        self.linked[f] = true;
    }

    /// The oldest linked frame that is evictable.
    fn first(&self, evictable: &dyn Fn(usize) -> bool) -> Option<usize> {
        let mut f = self.next[self.head];
        while f != self.head {
            if evictable(f) {
                return Some(f);
            }
            f = self.next[f];
        }
        None
    }
}

/// Evicts the frame whose block was loaded longest ago, however often it is used.
#[derive(Debug)]
pub struct Fifo(FrameList);

impl ReplacementPolicy for Fifo {
    fn name(&self) -> &'static str {
        "fifo"
    }
    fn on_load(&mut self, frame: usize) {
        self.0.push_back(frame);
    }
    fn on_access(&mut self, _: usize) {}
    fn on_free(&mut self, frame: usize) {
        self.0.unlink(frame);
    }
    fn victim(&mut self, evictable: &dyn Fn(usize) -> bool) -> Option<usize> {
        self.0.first(evictable)
    }
}

/// Evicts the frame used longest ago: good for skewed access, ruined by one large scan.
#[derive(Debug)]
pub struct Lru(FrameList);

impl ReplacementPolicy for Lru {
    fn name(&self) -> &'static str {
        "lru"
    }
    fn on_load(&mut self, frame: usize) {
        self.0.push_back(frame);
    }
    fn on_access(&mut self, frame: usize) {
        self.0.push_back(frame);
    }
    fn on_free(&mut self, frame: usize) {
        self.0.unlink(frame);
    }
    fn victim(&mut self, evictable: &dyn Fn(usize) -> bool) -> Option<usize> {
        self.0.first(evictable)
    }
}

// ANCHOR: clock
/// Second chance: a hand sweeps the frames in a circle; a frame used since the hand last
/// passed has its bit cleared and is spared once, a frame not used since is the victim.
/// LRU's hit ratio on most workloads for one bit per frame and no list to update on a hit.
#[derive(Debug)]
pub struct Clock {
    referenced: Vec<bool>,
    hand: usize,
}

impl Clock {
    /// A clock over `frames` frames.
    pub fn new(frames: usize) -> Self {
        Self {
            referenced: vec![false; frames],
            hand: 0,
        }
    }
}

impl ReplacementPolicy for Clock {
    fn name(&self) -> &'static str {
        "clock"
    }
    fn on_load(&mut self, frame: usize) {
        if let Some(r) = self.referenced.get_mut(frame) {
            *r = true;
        }
    }
    fn on_access(&mut self, frame: usize) {
        self.on_load(frame);
    }
    fn victim(&mut self, evictable: &dyn Fn(usize) -> bool) -> Option<usize> {
        let n = self.referenced.len();
        // Two turns: the first may only clear bits; a third would find nothing new.
        for _ in 0..2 * n {
            let f = self.hand;
            self.hand = (self.hand + 1) % n;
            if evictable(f) {
                if self.referenced[f] {
                    self.referenced[f] = false;
                } else {
                    return Some(f);
                }
            }
        }
        None
    }
}
// ANCHOR_END: clock

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads frames 0..n in order, then plays `accesses`, then asks for victims one by one
    /// (each victim becomes unevictable, as if reloaded and pinned).
    fn evictions(kind: PolicyKind, n: usize, accesses: &[usize], count: usize) -> Vec<usize> {
        let mut p = kind.build(n);
        (0..n).for_each(|f| p.on_load(f));
        accesses.iter().for_each(|&f| p.on_access(f));
        let mut taken = vec![false; n];
        (0..count)
            .map(|_| {
                let v = p.victim(&|f| !taken[f]).expect("a victim");
                taken[v] = true;
                v
            })
            .collect()
    }

    #[test]
    fn eviction_order_of_each_policy() {
        // Frames 0..4 loaded in order; then 0 and 2 are used again.
        let cases = [
            (PolicyKind::Naive, vec![0, 1, 2, 3]),
            (PolicyKind::Fifo, vec![0, 1, 2, 3]),
            (PolicyKind::Lru, vec![1, 3, 0, 2]),
            // Every bit is set (by the loads and the uses), so the hand's first turn clears
            // them all and it then evicts in hand order: one bit cannot rank recency.
            (PolicyKind::Clock, vec![0, 1, 2, 3]),
        ];
        for (kind, expected) in cases {
            assert_eq!(evictions(kind, 4, &[0, 2], 4), expected, "{kind:?}");
        }
    }

    #[test]
    fn clock_spares_a_frame_used_since_the_hand_passed() {
        let mut c = Clock::new(3);
        (0..3).for_each(|f| c.on_load(f));
        assert_eq!(c.victim(&|_| true), Some(0)); // first turn clears all bits
        c.on_access(1);
        assert_eq!(c.victim(&|f| f != 0), Some(2), "1 gets its second chance");
    }

    #[test]
    fn no_victim_when_nothing_is_evictable() {
        for kind in PolicyKind::ALL {
            let mut p = kind.build(3);
            (0..3).for_each(|f| p.on_load(f));
            assert_eq!(p.victim(&|_| false), None, "{kind:?}");
        }
    }
}
