//! A fast keyed hasher for the renderer's per-batch maps (collapsing repeats, grouping
//! tables), which hash every event's text once.
//!
//! The standard `RandomState` (SipHash-1-3) cost about 2,800 instructions an event there;
//! this one mixes 16 bytes per 64×64→128-bit multiply, folded (the construction of
//! `foldhash` and `ahash`'s fallback). It is keyed with a random seed per map, taken from
//! the standard `RandomState`, so that text crafted to collide (log text is often
//! user-controlled) cannot be prepared in advance.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Odd constants of the mix (from the digits of π), combined with the seed.
const K1: u64 = 0x243F_6A88_85A3_08D3;
const K2: u64 = 0x1319_8A2E_0370_7344;

/// The 128-bit product of `a` and `b`, its halves xored.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Builds [`FastHasher`]s with one random seed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastState {
    seed: u64,
}

impl FastState {
    /// A state with a fresh random seed.
    pub(crate) fn new() -> Self {
        FastState {
            seed: RandomState::new().hash_one(K1),
        }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher {
            state: self.seed,
            key: self.seed ^ K2,
        }
    }
}

/// The hasher of [`FastState`].
pub(crate) struct FastHasher {
    state: u64,
    key: u64,
}

impl FastHasher {
    #[inline(always)]
    fn mix(&mut self, a: u64, b: u64) {
        self.state = fold_mul(self.state ^ a ^ K1, b ^ self.key);
    }
}

#[inline(always)]
fn read8(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[inline(always)]
fn read4(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u64::from(u32::from_le_bytes(word))
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let len = bytes.len();
        let mut chunks = bytes.chunks_exact(16);
        for chunk in &mut chunks {
            self.mix(read8(chunk, 0), read8(chunk, 8));
        }
        let rest = chunks.remainder();
        let n = rest.len();
        // The last bytes, read as two (possibly overlapping) words; the length tells apart
        // what the overlap could confuse.
        let (a, b) = if n >= 8 {
            (read8(rest, 0), read8(rest, n - 8))
        } else if n >= 4 {
            (read4(rest, 0), read4(rest, n - 4))
        } else if n > 0 {
            let (x, y, z) = (rest[0], rest[n / 2], rest[n - 1]);
            (u64::from(x) | u64::from(y) << 8 | u64::from(z) << 16, 0)
        } else {
            (0, 0)
        };
        self.mix(a, b ^ (len as u64).rotate_left(32));
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i), 0);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i), 0);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i, 0);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64, 0);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn distinct_texts_hash_apart_and_equal_texts_alike() {
        let state = FastState::new();
        let texts: Vec<String> = (0..10_000)
            .map(|i| format!("user {i} joined guild {}", i % 7))
            .chain((0..40).map(|n| "a".repeat(n)))
            .collect();
        let hashes: HashSet<u64> = texts.iter().map(|t| state.hash_one(t)).collect();
        assert_eq!(hashes.len(), texts.len());
        assert_eq!(state.hash_one("same text"), state.hash_one("same text"));
        // A different seed gives different hashes.
        assert_ne!(FastState::new().hash_one("x"), state.hash_one("x"));
    }
}
