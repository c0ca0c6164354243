//! # Glob-style pattern matching, as `KEYS`, `SCAN … MATCH` and `PSUBSCRIBE` use it
//!
//! [`glob_match`] gives the answers of Redis's `stringmatchlen` (`util.c`):
//!
//! | pattern   | matches                                                        |
//! |-----------|----------------------------------------------------------------|
//! | `*`       | any run of bytes, including none                               |
//! | `?`       | exactly one byte                                               |
//! | `[abc]`   | one byte from the set; `[^abc]` one byte *not* in it           |
//! | `[a-z]`   | one byte in the range; a reversed range `[z-a]` means `[a-z]`  |
//! | `\x`      | the byte `x` itself, so `\*` matches only `*`                  |
//!
//! Redis's corner cases are copied on purpose, because clients' patterns must select the
//! same keys here as there: inside brackets `\` escapes the next byte (and compares it
//! case-sensitively even when matching without case); `]` right after `[` (or `[^`) closes
//! an empty set, which matches nothing; `-` forms a range whenever two more pattern bytes
//! follow it, even if the second is the closing `]` (`[a-]` is the range from `]` to `a`);
//! a `[` that is never closed takes the rest of the pattern as its set (`[abc` matches one
//! of `a`, `b`, `c`; `[` alone matches nothing; `[^` matches any one byte); a trailing lone
//! `\` matches a `\`.
//!
//! ## Design choices, and the alternatives rejected
//!
//! - **No recursion, no exponential time.** The obvious matcher tries every way a `*` can
//!   match by recursing, and `a*a*a*a*a*a*a*b` against a long run of `a`s then takes
//!   exponential time — Redis shipped exactly that until CVE-2022-36021. Here every element
//!   other than `*` matches exactly one byte, so a classic result applies: on a mismatch it
//!   is enough to retry from the **most recent** `*`, letting it swallow one more byte.
//!   Earlier stars never need revisiting (anything they could absorb, the later star can
//!   absorb instead). Each retry advances the text position where the latest star stops, so
//!   the worst case is O(len(pattern) × len(text)) steps and no memory.
//! - **Bytes, not characters.** Keys are binary; "no case" folds ASCII letters only, like
//!   C's `tolower` in the "C" locale Redis runs in.
//!
//! ## Where this differs from Redis
//!
//! - An empty text matches a pattern of stars only (`*` matches the empty key). Redis's loop
//!   never runs on an empty string and answers "no", but its `KEYS *` and `SCAN` special-case
//!   the pattern `*`, so clients see an empty key listed either way.
//! - Bytes are compared as unsigned. Redis compares range bounds as C `char`, which is
//!   signed on x86, so ranges with bytes ≥ 0x80 behave differently there (and differently
//!   again on ARM).
//! - Redis gives up (answers "no match") past 1000 nested stars; here there is no recursion
//!   to bound, so such patterns simply match or not.

/// Whether `text` matches the glob `pattern` (see the module doc for the syntax);
/// `nocase` folds ASCII letters, as `PSUBSCRIBE`-style matching without case does.
///
/// Runs in O(len(pattern) × len(text)) time at worst, whatever the pattern.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // After the most recent `*`: where the rest of the pattern starts, and the text
    // position that rest was last tried at. `None` until a `*` is seen.
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            // A run of stars is one star.
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            if p == pattern.len() {
                return true; // a trailing star swallows the rest of the text
            }
            retry = Some((p, t));
            continue;
        }
        if p < pattern.len() {
            let (matched, next) = match_one(pattern, p, text[t], nocase);
            if matched {
                p = next;
                t += 1;
                continue;
            }
        }
        // Mismatch (or pattern exhausted with text left): let the latest star take one
        // more byte and try the rest of the pattern again from there.
        match retry {
            Some((after_star, tried_at)) => {
                p = after_star;
                t = tried_at + 1;
                retry = Some((after_star, t));
            }
            None => return false,
        }
    }
    // The text is used up: what is left of the pattern must be able to match nothing.
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Matches the single-byte element (`?`, `[…]`, `\x` or a literal) starting at
/// `pattern[p]` against `byte`; returns whether it matched and where the next element
/// starts.
fn match_one(pattern: &[u8], p: usize, byte: u8, nocase: bool) -> (bool, usize) {
    match pattern[p] {
        b'?' => (true, p + 1),
        b'[' => match_set(pattern, p + 1, byte, nocase),
        b'\\' if p + 1 < pattern.len() => (same(pattern[p + 1], byte, nocase), p + 2),
        literal => (same(literal, byte, nocase), p + 1),
    }
}

/// Matches a bracket set whose contents start at `pattern[i]` (just after the `[`);
/// returns whether `byte` is selected and where the next element starts. Follows
/// `stringmatchlen` step by step, unterminated sets included.
fn match_set(pattern: &[u8], mut i: usize, byte: u8, nocase: bool) -> (bool, usize) {
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let next = loop {
        let left = pattern.len() - i;
        if left == 0 {
            break pattern.len(); // never closed: the set is the rest of the pattern
        }
        if left >= 2 && pattern[i] == b'\\' {
            i += 1;
            matched |= pattern[i] == byte; // case-sensitive even with nocase, as in Redis
        } else if pattern[i] == b']' {
            break i + 1;
        } else if left >= 3 && pattern[i + 1] == b'-' {
            let (mut low, mut high) = (pattern[i], pattern[i + 2]);
            if low > high {
                std::mem::swap(&mut low, &mut high);
            }
            let mut b = byte;
            if nocase {
                // Folded after ordering, as Redis does: `[Z-a]` folds to the empty `z..=a`.
                low = low.to_ascii_lowercase();
                high = high.to_ascii_lowercase();
                b = b.to_ascii_lowercase();
            }
            matched |= (low..=high).contains(&b);
            i += 2;
        } else {
            matched |= same(pattern[i], byte, nocase);
        }
        i += 1;
    };
    (matched != negate, next)
}

/// Whether two bytes are equal, ignoring ASCII case if `nocase`.
fn same(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn m(pattern: &str, text: &str) -> bool {
        glob_match(pattern.as_bytes(), text.as_bytes(), false)
    }

    fn mi(pattern: &str, text: &str) -> bool {
        glob_match(pattern.as_bytes(), text.as_bytes(), true)
    }

    #[test]
    fn literals_and_question_marks() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("a", ""));
        assert!(m("hello", "hello"));
        assert!(!m("hello", "hellO"));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(!m("?", ""));
    }

    #[test]
    fn stars() {
        assert!(m("*", "anything"));
        assert!(m("*", ""));
        assert!(m("**", ""));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("*llo", "hello"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(m("a*b*c", "abbbcbc"));
        assert!(!m("a*b*c", "abbbcb"));
        assert!(m("a**", "a"));
        assert!(!m("*?", ""));
        assert!(m("*?", "x"));
        assert!(m("user:*:name", "user:42:name"));
        assert!(!m("user:*:name", "user:42:names"));
    }

    #[test]
    fn sets_and_ranges() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[z-a]", "q"), "a reversed range is the same range");
        assert!(m("[*?]", "*"));
        assert!(!m("[*?]", "x"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(!m("[ab]", "ab"));
    }

    #[test]
    fn redis_corner_cases() {
        // Unterminated sets take the rest of the pattern.
        assert!(m("[abc", "b"));
        assert!(!m("[abc", "["));
        assert!(!m("[", "["));
        assert!(!m("[", ""));
        assert!(m("[^", "x"));
        assert!(m("x[^", "xy"));
        // `]` first closes an empty set, which matches nothing.
        assert!(!m("[]a]", "]a]"));
        assert!(!m("[]a]", "a]"));
        assert!(m("[^]a]", "xa]"));
        // `[a-]` is the range from `]` (93) to `a` (97), unterminated.
        assert!(m("[a-]", "_"));
        assert!(m("[a-]", "]"));
        assert!(!m("[a-]", "-"));
        // Escapes.
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("a\\", "a\\"));
        assert!(m("\\?\\[", "?["));
    }

    #[test]
    fn without_case() {
        assert!(mi("HeLLo", "hello"));
        assert!(mi("h[A-Z]llo", "hello"));
        assert!(mi("[^A]", "b"));
        assert!(!mi("[^A]", "a"));
        assert!(mi("\\H*", "hat"));
        assert!(
            !mi("[\\A]", "a"),
            "escapes in sets compare with case, as in Redis"
        );
        assert!(!mi("[Z-a]", "z"), "ranges fold after ordering, as in Redis");
        assert!(!m("HeLLo", "hello"));
    }

    #[test]
    fn binary_bytes() {
        assert!(glob_match(b"\xff*\x00", b"\xff\x01\x02\x00", false));
        assert!(glob_match(b"[\x80-\xff]", b"\x90", false));
        assert!(!glob_match(b"[\x80-\xff]", b"\x7f", false));
    }

    /// A line-by-line port of Redis 7's recursive `stringmatchlen_impl` (util.c), the
    /// reference the fast matcher is checked against. Out-of-range reads return 0, as the
    /// NUL terminator of Redis's C strings does.
    fn redis_stringmatchlen(pat: &[u8], st: &[u8], nocase: bool, skip: &mut bool) -> bool {
        let at = |i: usize| pat.get(i).copied().unwrap_or(0);
        let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
        let (mut p, mut s) = (0, 0);
        while p < pat.len() && s < st.len() {
            match pat[p] {
                b'*' => {
                    while p < pat.len() && at(p + 1) == b'*' {
                        p += 1;
                    }
                    if pat.len() - p == 1 {
                        return true;
                    }
                    while s < st.len() {
                        if redis_stringmatchlen(&pat[p + 1..], &st[s..], nocase, skip) {
                            return true;
                        }
                        if *skip {
                            return false;
                        }
                        s += 1;
                    }
                    *skip = true;
                    return false;
                }
                b'?' => s += 1,
                b'[' => {
                    p += 1;
                    let not = at(p) == b'^';
                    if not {
                        p += 1;
                    }
                    let mut matched = false;
                    loop {
                        let left = pat.len() - p;
                        if at(p) == b'\\' && left >= 2 {
                            p += 1;
                            matched |= pat[p] == st[s];
                        } else if at(p) == b']' {
                            break;
                        } else if left == 0 {
                            p -= 1;
                            break;
                        } else if left >= 3 && pat[p + 1] == b'-' {
                            let (mut lo, mut hi) = (pat[p], pat[p + 2]);
                            if lo > hi {
                                std::mem::swap(&mut lo, &mut hi);
                            }
                            matched |= (fold(lo)..=fold(hi)).contains(&fold(st[s]));
                            p += 2;
                        } else {
                            matched |= fold(pat[p]) == fold(st[s]);
                        }
                        p += 1;
                    }
                    if matched == not {
                        return false;
                    }
                    s += 1;
                }
                mut c => {
                    if c == b'\\' && pat.len() - p >= 2 {
                        p += 1;
                        c = pat[p];
                    }
                    if fold(c) != fold(st[s]) {
                        return false;
                    }
                    s += 1;
                }
            }
            p += 1;
            if s == st.len() {
                while at(p) == b'*' {
                    p += 1;
                }
                break;
            }
        }
        p == pat.len() && s == st.len()
    }

    /// Checks one case against the reference port.
    fn agrees_with_redis(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
        let ours = glob_match(pattern, text, nocase);
        if text.is_empty() {
            // The one deliberate difference: stars match the empty text here.
            let redis = redis_stringmatchlen(pattern, text, nocase, &mut false);
            return redis == pattern.is_empty() && ours == pattern.iter().all(|&b| b == b'*');
        }
        ours == redis_stringmatchlen(pattern, text, nocase, &mut false)
    }

    /// Every string of up to `max_len` bytes from `alphabet`.
    fn all_strings(alphabet: &[u8], max_len: usize) -> Vec<Vec<u8>> {
        let mut all = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..max_len {
            last = last
                .iter()
                .flat_map(|s: &Vec<u8>| alphabet.iter().map(move |&b| [&s[..], &[b]].concat()))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn same_answers_as_redis_for_every_short_pattern() {
        // Every pattern of up to 4 bytes of glob syntax, against every text of up to 3
        // bytes, both with and without case: about 4 million cases, all corners included.
        let patterns = all_strings(b"aZ*?[]^-\\", 4);
        let texts = all_strings(b"azZ]-\\", 3);
        for pattern in &patterns {
            for text in &texts {
                for nocase in [false, true] {
                    assert!(
                        agrees_with_redis(pattern, text, nocase),
                        "pattern {:?} text {:?} nocase {nocase}",
                        pattern.escape_ascii().to_string(),
                        text.escape_ascii().to_string(),
                    );
                }
            }
        }
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn same_answers_as_redis_for_longer_patterns(
            pattern in proptest::collection::vec(
                proptest::sample::select(&b"ab*?[]^-\\"[..]), 0..16),
            text in proptest::collection::vec(proptest::sample::select(&b"ab]-^"[..]), 0..16),
            nocase in any::<bool>(),
        ) {
            prop_assert!(agrees_with_redis(&pattern, &text, nocase));
        }
    }

    #[test]
    fn pathological_patterns_finish_fast() {
        let text = vec![b'a'; 100_000];
        let start = Instant::now();
        assert!(!glob_match(b"a*a*a*a*a*a*a*a*a*a*a*a*b", &text, false));
        assert!(!glob_match(b"*a*a*a*a*a*a*a*a*a*a*a*a*b*", &text, false));
        assert!(glob_match(b"a*a*a*a*a*a*a*a*a*a*a*a*", &text, false));
        let mut long_pattern = b"a*".repeat(2000);
        long_pattern.push(b'b');
        assert!(!glob_match(&long_pattern, &text[..5000], false));
        // Exponential matching would take longer than the universe has existed; linear-ish
        // takes milliseconds. The bound is generous for slow CI machines.
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
