//! Finding duplicate clusters: exact hashes, LSH banding over MinHash
//! signatures, candidate verification, and union-find in which the earliest
//! document of a cluster is its root (and the one kept).

use crate::hashing::PreHashedMap;

use super::minhash::similarity;

/// Union-find over document positions; the root is always the smallest position.
#[derive(Debug, Default, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    pub fn push(&mut self) -> u32 {
        let id = self.parent.len() as u32;
        self.parent.push(id);
        id
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// Joins the clusters of `a` and `b`; returns false when already joined.
    pub fn union(&mut self, a: u32, b: u32) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[high as usize] = low;
        true
    }

    pub fn len(&self) -> usize {
        self.parent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }
}

/// Settings of the near-duplicate index.
#[derive(Debug, Clone, Copy)]
pub struct Banding {
    pub bands: usize,
    pub rows: usize,
    /// Estimated Jaccard similarity a candidate pair needs.
    pub threshold: f64,
    /// Candidates checked per band bucket for each new document; bounds the
    /// work on buckets that many documents share.
    pub max_candidates: usize,
}

/// How a document relates to the rest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Unique,
    /// An exact copy (same normalised text) of the document at `of`.
    Exact {
        of: u32,
    },
    /// Similar enough (estimated Jaccard `similarity`) to the document at `of`.
    Near {
        of: u32,
        similarity: f64,
    },
}

/// The streaming duplicate index: feed documents in order, then ask who is
/// a duplicate of whom.
#[derive(Debug)]
pub struct DuplicateIndex {
    banding: Banding,
    bins: usize,
    /// The low 16 bits of every signature value: enough to compare (two
    /// different values collide with probability 1/65536) at half the memory.
    signatures: Vec<u16>,
    exact: PreHashedMap<[u8; 16], u32>,
    exact_hashes: Vec<Option<[u8; 16]>>,
    /// Per band: bucket key → the latest document in it.
    buckets: Vec<PreHashedMap<u32, u32>>,
    /// Per band: document → the previous document in its bucket.
    chains: Vec<Vec<u32>>,
    clusters: UnionFind,
    candidates: Vec<u32>,
    pub candidate_pairs: u64,
    pub verified_pairs: u64,
}

const NONE: u32 = u32::MAX;

/// A band's bucket key. 32 bits suffice: a chance collision only adds a
/// candidate, which verification then rejects.
fn band_key(values: &[u32]) -> u32 {
    let h = values.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, v| {
        let x = (h ^ u64::from(*v)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^ (x >> 29)
    });
    (h ^ (h >> 32)) as u32
}

impl DuplicateIndex {
    pub fn new(banding: Banding, bins: usize) -> Self {
        Self {
            buckets: (0..banding.bands).map(|_| PreHashedMap::default()).collect(),
            chains: (0..banding.bands).map(|_| Vec::new()).collect(),
            banding,
            bins,
            signatures: Vec::new(),
            exact: PreHashedMap::default(),
            exact_hashes: Vec::new(),
            clusters: UnionFind::default(),
            candidates: Vec::new(),
            candidate_pairs: 0,
            verified_pairs: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    fn signature(&self, doc: u32) -> &[u16] {
        let start = doc as usize * self.bins;
        &self.signatures[start..start + self.bins]
    }

    /// Adds the next document with its exact-text hash and, when near
    /// duplicates are wanted, its signature.
    pub fn push(&mut self, exact_hash: Option<[u8; 16]>, signature: Option<&[u32]>) -> u32 {
        let doc = self.clusters.push();
        let exact_of = exact_hash.and_then(|h| match self.exact.get(&h) {
            Some(&first) => Some(first),
            None => {
                self.exact.insert(h, doc);
                None
            }
        });
        self.exact_hashes.push(exact_hash);
        if let Some(first) = exact_of {
            self.clusters.union(first, doc);
        }
        match signature {
            Some(signature) if signature.len() == self.bins => {
                self.signatures.extend(signature.iter().map(|v| *v as u16));
                let keys = self.band_keys(signature);
                // An exact copy shares every bucket with its original: no need to look.
                if exact_of.is_none() {
                    self.link(doc, &keys);
                }
                self.index(doc, &keys);
            }
            _ => {
                self.signatures.extend(std::iter::repeat_n(u16::MAX, self.bins));
                for chain in &mut self.chains {
                    chain.push(NONE);
                }
            }
        }
        doc
    }

    fn band_keys(&self, signature: &[u32]) -> Vec<u32> {
        let rows = self.banding.rows;
        (0..self.banding.bands).map(|band| band_key(&signature[band * rows..(band + 1) * rows])).collect()
    }

    fn index(&mut self, doc: u32, keys: &[u32]) {
        for (band, key) in keys.iter().enumerate() {
            let previous = self.buckets[band].insert(*key, doc).unwrap_or(NONE);
            self.chains[band].push(previous);
        }
    }

    fn link(&mut self, doc: u32, keys: &[u32]) {
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        for (band, key) in keys.iter().enumerate() {
            // Walk the bucket from its most recent member: earlier members
            // have usually been joined into a cluster already.
            let mut member = self.buckets[band].get(key).copied().unwrap_or(NONE);
            let mut taken = 0;
            while member != NONE && taken < self.banding.max_candidates {
                candidates.push(member);
                member = self.chains[band][member as usize];
                taken += 1;
            }
        }
        if candidates.is_empty() {
            self.candidates = candidates;
            return;
        }
        candidates.sort_unstable();
        candidates.dedup();
        self.candidate_pairs += candidates.len() as u64;
        for &other in &candidates {
            if self.clusters.find(other) == self.clusters.find(doc) {
                continue;
            }
            self.verified_pairs += 1;
            if similarity(self.signature(doc), self.signature(other)) >= self.banding.threshold {
                self.clusters.union(doc, other);
            }
        }
        self.candidates = candidates;
    }

    /// Bytes held per document by the index (signatures, bucket chains,
    /// hashes, clusters), for memory reports.
    pub fn bytes_per_document(&self) -> usize {
        self.bins * 2 + self.banding.bands * (4 + 8) + 16 + 4
    }

    /// The verdict of every document, in input order: a duplicate points at
    /// the earliest document of its cluster, which is kept.
    pub fn verdicts(&mut self) -> Vec<Verdict> {
        self.verdicts_keeping(&[])
    }

    /// The verdicts when each cluster keeps its document of highest
    /// `scores` (equal scores: the earliest); a document without a score
    /// scores lowest.
    pub fn verdicts_keeping(&mut self, scores: &[[u64; 3]]) -> Vec<Verdict> {
        let count = self.clusters.len() as u32;
        let score = |doc: u32| scores.get(doc as usize).copied().unwrap_or_default();
        let roots: Vec<u32> = (0..count).map(|doc| self.clusters.find(doc)).collect();
        // Root → the member that stays.
        let mut keeper: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
        for doc in 0..count {
            let entry = keeper.entry(roots[doc as usize]).or_insert(doc);
            if score(doc) > score(*entry) {
                *entry = doc;
            }
        }
        (0..count)
            .map(|doc| {
                let kept = keeper[&roots[doc as usize]];
                if kept == doc {
                    return Verdict::Unique;
                }
                let hashes = (self.exact_hashes[doc as usize], self.exact_hashes[kept as usize]);
                let same_text = matches!(hashes, (Some(a), Some(b)) if a == b);
                if same_text {
                    Verdict::Exact { of: kept }
                } else {
                    Verdict::Near { of: kept, similarity: similarity(self.signature(doc), self.signature(kept)) }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banding() -> Banding {
        Banding { bands: 4, rows: 2, threshold: 0.5, max_candidates: 16 }
    }

    #[test]
    fn a_cluster_keeps_its_highest_scoring_member() {
        let mut index = DuplicateIndex::new(banding(), 8);
        let a = [1, 2, 3, 4, 5, 6, 7, 8];
        let near = [1, 2, 3, 4, 5, 6, 9, 9];
        index.push(Some([1; 16]), Some(&a));
        index.push(Some([3; 16]), Some(&near));
        let verdicts = index.verdicts_keeping(&[[0, 0, 0], [1, 0, 0]]);
        assert!(matches!(verdicts[0], Verdict::Near { of: 1, .. }), "{verdicts:?}");
        assert_eq!(verdicts[1], Verdict::Unique);
    }

    #[test]
    fn union_find_keeps_the_smallest_root() {
        let mut uf = UnionFind::default();
        for _ in 0..5 {
            uf.push();
        }
        uf.union(3, 4);
        uf.union(4, 1);
        assert_eq!(uf.find(3), 1);
        assert!(!uf.union(1, 3));
    }

    #[test]
    fn exact_and_near_duplicates_point_at_the_first_document() {
        let mut index = DuplicateIndex::new(banding(), 8);
        let a = [1, 2, 3, 4, 5, 6, 7, 8];
        let near = [1, 2, 3, 4, 5, 6, 9, 9];
        let other = [10, 11, 12, 13, 14, 15, 16, 17];
        index.push(Some([1; 16]), Some(&a));
        index.push(Some([2; 16]), Some(&other));
        index.push(Some([1; 16]), Some(&a));
        index.push(Some([3; 16]), Some(&near));
        let verdicts = index.verdicts();
        assert_eq!(verdicts[0], Verdict::Unique);
        assert_eq!(verdicts[1], Verdict::Unique);
        assert_eq!(verdicts[2], Verdict::Exact { of: 0 });
        assert_eq!(verdicts[3], Verdict::Near { of: 0, similarity: 0.75 });
    }

    #[test]
    fn clusters_chain_transitively() {
        let mut index = DuplicateIndex::new(banding(), 8);
        // b is near a, c is near b but not near a: union-find puts all three together.
        index.push(None, Some(&[1, 2, 3, 4, 5, 6, 7, 8]));
        index.push(None, Some(&[1, 2, 3, 4, 5, 6, 0, 0]));
        index.push(None, Some(&[9, 9, 3, 4, 5, 6, 0, 0]));
        let verdicts = index.verdicts();
        assert!(matches!(verdicts[1], Verdict::Near { of: 0, .. }));
        assert!(matches!(verdicts[2], Verdict::Near { of: 0, .. }));
    }
}
