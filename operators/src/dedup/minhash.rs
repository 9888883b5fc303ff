//! Shingles and MinHash signatures.
//!
//! Signatures use one-permutation hashing: every shingle is hashed once and
//! falls into one of `num_perm` bins, each bin keeping its minimum. Empty
//! bins borrow from another bin chosen by a fixed pseudo-random sequence
//! (optimal densification, Shrivastava 2017), so that two documents with
//! the same shingles always agree. The share of equal bins estimates the
//! Jaccard similarity like classic MinHash does, at the cost of one hash per
//! shingle instead of `num_perm`.

use crate::lang::is_cjk;

/// How a text is cut into shingles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShingleKind {
    /// Word n-grams (space-separated languages).
    Word,
    /// Character n-grams over letters and digits (Chinese, Japanese).
    Char,
}

/// A 64-bit mix of two words (the folded 128-bit product).
#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

/// Hashes a token incrementally, eight bytes at a time.
#[derive(Clone, Copy)]
struct TokenHasher {
    h: u64,
    word: u64,
    filled: u32,
    len: u32,
}

impl TokenHasher {
    #[inline]
    fn new(seed: u64) -> Self {
        Self { h: seed ^ P0, word: 0, filled: 0, len: 0 }
    }

    #[inline]
    fn push(&mut self, byte: u8) {
        self.word |= u64::from(byte) << (self.filled * 8);
        self.filled += 1;
        self.len += 1;
        if self.filled == 8 {
            self.h = mum(self.h ^ self.word, P1);
            self.word = 0;
            self.filled = 0;
        }
    }

    #[inline]
    fn finish(self) -> u64 {
        mum(self.h ^ self.word ^ u64::from(self.len), P2)
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Combines the token hashes of one shingle; rotations keep it order-sensitive.
#[inline]
fn shingle_hash(window: &[u64]) -> u64 {
    let mut h = 0u64;
    for (i, t) in window.iter().enumerate() {
        h ^= t.rotate_left((i as u32 * 13) & 63);
    }
    h
}

/// Whether each ASCII byte belongs to a word.
const WORD_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 128 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    table
};

/// Word tokens of ASCII text, hashed eight bytes at a time. Lower-casing an
/// ASCII letter or digit is setting bit 0x20, so a whole word of eight bytes
/// is lower-cased at once.
fn ascii_word_tokens(bytes: &[u8], seed: u64, tokens: &mut Vec<u64>) {
    let mut i = 0;
    let n = bytes.len();
    while i < n {
        while i < n && !WORD_BYTE[bytes[i] as usize] {
            i += 1;
        }
        let start = i;
        while i < n && WORD_BYTE[bytes[i] as usize] {
            i += 1;
        }
        if start == i {
            break;
        }
        let word = &bytes[start..i];
        let mut h = seed ^ P0;
        let mut chunks = word.chunks_exact(8);
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            h = mum(h ^ (u64::from_le_bytes(w) | 0x2020_2020_2020_2020), P1);
        }
        let rest = chunks.remainder();
        let mut w = 0u64;
        for (k, &b) in rest.iter().enumerate() {
            w |= u64::from(b | 0x20) << (k * 8);
        }
        tokens.push(mum(h ^ w ^ word.len() as u64, P2));
    }
}

/// The hash of every shingle of `text`, pushed into `out` (cleared first).
/// Tokens are lower-cased runs of letters and digits; for `Char` shingles
/// every letter or digit is a token.
pub fn shingles(text: &str, kind: ShingleKind, n: usize, seed: u64, out: &mut Vec<u64>, tokens: &mut Vec<u64>) {
    tokenize(text, kind, seed, tokens);
    shingles_of(tokens, n, out);
}

/// The token hashes of `text` (cleared first): lower-cased runs of letters
/// and digits for `Word`, single letters and digits for `Char`.
pub fn tokenize(text: &str, kind: ShingleKind, seed: u64, tokens: &mut Vec<u64>) {
    tokens.clear();
    match kind {
        ShingleKind::Word if text.is_ascii() => ascii_word_tokens(text.as_bytes(), seed, tokens),
        ShingleKind::Word => {
            let mut token = TokenHasher::new(seed);
            for c in text.chars() {
                if c.is_alphanumeric() {
                    for lower in c.to_lowercase() {
                        let mut buf = [0u8; 4];
                        for &byte in lower.encode_utf8(&mut buf).as_bytes() {
                            token.push(byte);
                        }
                    }
                } else if !token.is_empty() {
                    tokens.push(token.finish());
                    token = TokenHasher::new(seed);
                }
            }
            if !token.is_empty() {
                tokens.push(token.finish());
            }
        }
        ShingleKind::Char => {
            for c in text.chars() {
                if c.is_alphanumeric() {
                    let lower = c.to_lowercase().next().unwrap_or(c);
                    tokens.push(mum(u64::from(lower as u32) ^ seed, P2));
                }
            }
        }
    }
}

/// The hash of every n-token shingle (cleared first).
pub fn shingles_of(tokens: &[u64], n: usize, out: &mut Vec<u64>) {
    out.clear();
    let n = n.max(1);
    if tokens.is_empty() {
        return;
    }
    if tokens.len() < n {
        // A text shorter than one shingle is one shingle.
        out.push(shingle_hash(tokens));
        return;
    }
    out.extend(tokens.windows(n).map(shingle_hash));
}

/// A 128-bit hash of a token sequence: the text's identity once case,
/// punctuation and spacing are set aside.
pub fn sequence_hash(tokens: &[u64]) -> [u8; 16] {
    let (mut a, mut b) = (0x243f_6a88_85a3_08d3_u64, 0x1319_8a2e_0370_7344_u64);
    for &t in tokens {
        a = mum(a ^ t, P0);
        b = mum(b ^ t.rotate_left(17), P1);
    }
    a = mum(a ^ tokens.len() as u64, P2);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_le_bytes());
    out[8..].copy_from_slice(&b.to_le_bytes());
    out
}

/// Chooses `Char` shingles when CJK characters dominate a text.
pub fn auto_kind(text: &str) -> ShingleKind {
    if text.is_ascii() {
        return ShingleKind::Word;
    }
    let mut cjk = 0usize;
    let mut other = 0usize;
    for c in text.chars().take(4000) {
        if is_cjk(c) {
            cjk += 1;
        } else if c.is_alphanumeric() {
            other += 1;
        }
    }
    if cjk * 10 > (cjk + other) * 3 { ShingleKind::Char } else { ShingleKind::Word }
}

const EMPTY: u32 = u32::MAX;

/// Builds signatures of a fixed size.
#[derive(Debug, Clone)]
pub struct Signer {
    bins: usize,
    seed: u64,
    /// For each bin, the bins it borrows from when empty, in order.
    donors: Vec<Vec<u16>>,
}

impl Signer {
    pub fn new(bins: usize, seed: u64) -> Self {
        let bins = bins.clamp(1, 4096);
        // A fixed donor order per bin: same for every document, so densified
        // bins stay comparable.
        let donors = (0..bins)
            .map(|bin| {
                (0..64u64)
                    .map(|attempt| {
                        (mum(seed ^ (bin as u64).wrapping_mul(P0), attempt.wrapping_add(P1)) % bins as u64) as u16
                    })
                    .collect()
            })
            .collect();
        Self { bins, seed, donors }
    }

    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Writes the signature of `shingles` into `signature` (resized).
    pub fn sign(&self, shingles: &[u64], signature: &mut Vec<u32>) {
        signature.clear();
        signature.resize(self.bins, EMPTY);
        let bins = self.bins as u64;
        for &s in shingles {
            let h = mum(s ^ self.seed, P0);
            let bin = (((h >> 32) * bins) >> 32) as usize;
            // The low bits are the value; EMPTY is never a real value.
            let value = (h as u32).min(EMPTY - 1);
            if value < signature[bin] {
                signature[bin] = value;
            }
        }
        if shingles.is_empty() {
            return;
        }
        let mut filled = [0u64; 64];
        for (bin, v) in signature.iter().enumerate() {
            if *v != EMPTY {
                filled[bin / 64] |= 1 << (bin % 64);
            }
        }
        let is_filled = |bin: usize| filled[bin / 64] & (1 << (bin % 64)) != 0;
        for bin in 0..self.bins {
            if is_filled(bin) {
                continue;
            }
            let donor = self.donors[bin].iter().map(|d| usize::from(*d)).find(|d| is_filled(*d));
            let donor = donor.or_else(|| (0..self.bins).map(|k| (bin + k) % self.bins).find(|k| is_filled(*k)));
            if let Some(donor) = donor {
                // Salt with the bin so a borrowed value differs from its source bin's.
                signature[bin] = (mum(u64::from(signature[donor]), P1 ^ bin as u64) as u32).min(EMPTY - 1);
            }
        }
    }
}

/// The share of equal positions: the MinHash estimate of Jaccard similarity.
pub fn similarity<T: PartialEq>(a: &[T], b: &[T]) -> f64 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count();
    equal as f64 / a.len() as f64
}

/// Jaccard similarity of two shingle sets, exactly (for tests and evaluation).
pub fn exact_jaccard(a: &[u64], b: &[u64]) -> f64 {
    let a: std::collections::HashSet<&u64> = a.iter().collect();
    let b: std::collections::HashSet<&u64> = b.iter().collect();
    let union = a.union(&b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(text: &str, signer: &Signer) -> (Vec<u64>, Vec<u32>) {
        let (mut out, mut tokens, mut sig) = (Vec::new(), Vec::new(), Vec::new());
        shingles(text, auto_kind(text), 5, 7, &mut out, &mut tokens);
        signer.sign(&out, &mut sig);
        (out, sig)
    }

    fn words(n: usize, salt: usize) -> String {
        (0..n).map(|i| format!("w{}", (i * 7919 + salt * 104_729) % 100_003)).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn word_shingles_ignore_case_and_punctuation() {
        let (mut a, mut b, mut t) = (Vec::new(), Vec::new(), Vec::new());
        shingles("The Airplane, must: comply.", ShingleKind::Word, 2, 1, &mut a, &mut t);
        shingles("the airplane must comply", ShingleKind::Word, 2, 1, &mut b, &mut t);
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn chinese_uses_character_shingles() {
        assert_eq!(auto_kind("第23.2005条 正常类飞机审定，申请人必须表明符合要求。"), ShingleKind::Char);
        assert_eq!(auto_kind("Each applicant must show compliance."), ShingleKind::Word);
    }

    #[test]
    fn estimates_track_exact_jaccard() {
        let signer = Signer::new(256, 42);
        let base = words(400, 1);
        let mut edited: Vec<String> = base.split(' ').map(str::to_owned).collect();
        for i in (0..edited.len()).step_by(25) {
            edited[i] = format!("edit{i}");
        }
        let edited = edited.join(" ");
        let (sa, a) = signature(&base, &signer);
        let (sb, b) = signature(&edited, &signer);
        let exact = exact_jaccard(&sa, &sb);
        let estimate = similarity(&a, &b);
        assert!((exact - estimate).abs() < 0.1, "exact {exact} estimate {estimate}");
        let (_, c) = signature(&words(400, 2), &signer);
        assert!(similarity(&a, &c) < 0.1);
        assert_eq!(similarity(&a, &a), 1.0);
    }

    #[test]
    fn short_texts_are_densified_consistently() {
        let signer = Signer::new(128, 3);
        let (_, a) = signature("one two three four five six seven", &signer);
        let (_, b) = signature("one two three four five six seven", &signer);
        assert!(a.iter().all(|v| *v != EMPTY));
        assert_eq!(a, b);
    }
}
