//! The RFC 6962 / RFC 9162 Merkle tree: hashing, the incremental frontier, and inclusion
//! and consistency proofs.
//!
//! Storage-agnostic by construction: a tree is addressed by its complete subtrees
//! ([`NodeId`]: level and index). Appending a leaf with [`Frontier::push`] yields exactly
//! the nodes it completes, which the caller stores. A proof is first *planned* as the list
//! of complete nodes each proof hash folds ([`inclusion_plan`], [`consistency_plan`]), so
//! a store can fetch them all in one query, then resolved with [`resolve`].

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A complete subtree: leaves `[index << level, (index + 1) << level)`. Level 0 is a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    /// A single integer key for storage: level in the top byte, index below.
    pub fn key(self) -> u64 {
        (u64::from(self.level) << 56) | self.index
    }

    pub fn from_key(key: u64) -> NodeId {
        NodeId {
            level: (key >> 56) as u8,
            index: key & ((1 << 56) - 1),
        }
    }
}

/// The right edge of a tree: the roots of the complete subtrees that make up its leaves,
/// largest first. Enough to append and to compute the root, in O(log n) memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    roots: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds a frontier from the hashes of [`frontier_nodes`]`(size)`, in that order.
    pub fn from_parts(size: u64, roots: Vec<Hash>) -> Option<Frontier> {
        (roots.len() == frontier_nodes(size).len()).then_some(Frontier { size, roots })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; returns the nodes it completes, the leaf itself first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        let mut completed = vec![(
            NodeId {
                level: 0,
                index: self.size,
            },
            leaf,
        )];
        let mut hash = leaf;
        let mut level = 0u8;
        let mut remaining = self.size;
        while remaining & 1 == 1 {
            let Some(left) = self.roots.pop() else { break };
            hash = node_hash(&left, &hash);
            level += 1;
            remaining >>= 1;
            let index = ((self.size + 1) >> level) - 1;
            completed.push((NodeId { level, index }, hash));
        }
        self.roots.push(hash);
        self.size += 1;
        completed
    }

    /// The tree head: `MTH` of all leaves so far.
    pub fn root(&self) -> Hash {
        fold(&self.roots).unwrap_or_else(empty_root)
    }
}

/// Folds subtree roots, left to right in the tree, into the hash of their union, the way
/// RFC 6962 combines an incomplete right edge: `H(a, H(b, c))`.
pub fn fold(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(
        rest.iter()
            .rev()
            .fold(*last, |acc, left| node_hash(left, &acc)),
    )
}

/// The complete subtrees whose union is `[start, end)`, largest first. For the ranges
/// proofs use (start aligned to the largest power of two not above the range's size, or
/// a suffix of the tree), folding their hashes gives `MTH(D[start:end])`.
pub fn range_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    let mut at = start;
    while at < end {
        let mut level = if at == 0 {
            63
        } else {
            at.trailing_zeros() as u8
        };
        while level > 0 && (level >= 64 || at + (1u64 << level) > end) {
            level -= 1;
        }
        nodes.push(NodeId {
            level,
            index: at >> level,
        });
        at += 1u64 << level;
    }
    nodes
}

/// The nodes a [`Frontier`] of `size` leaves holds, largest first.
pub fn frontier_nodes(size: u64) -> Vec<NodeId> {
    range_nodes(0, size)
}

/// Largest power of two strictly less than `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Plan of an inclusion proof for leaf `index` in a tree of `size` leaves: for each proof
/// hash, bottom-up, the complete nodes to fold. `None` if `index >= size`.
pub fn inclusion_plan(index: u64, size: u64) -> Option<Vec<Vec<NodeId>>> {
    if index >= size {
        return None;
    }
    let mut plan = Vec::new();
    let (mut start, mut end) = (0u64, size);
    while end - start > 1 {
        let k = split_point(end - start);
        if index < start + k {
            plan.push(range_nodes(start + k, end));
            end = start + k;
        } else {
            plan.push(range_nodes(start, start + k));
            start += k;
        }
    }
    plan.reverse();
    Some(plan)
}

/// Plan of a consistency proof from a tree of `old` leaves to one of `new` leaves
/// (RFC 6962 SUBPROOF). `None` unless `0 < old <= new`.
pub fn consistency_plan(old: u64, new: u64) -> Option<Vec<Vec<NodeId>>> {
    if old == 0 || old > new {
        return None;
    }
    let mut plan = Vec::new();
    let (mut m, mut start, mut end, mut complete) = (old, 0u64, new, true);
    loop {
        let n = end - start;
        if m == n {
            if !complete {
                plan.push(range_nodes(start, end));
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            plan.push(range_nodes(start + k, end));
            end = start + k;
        } else {
            plan.push(range_nodes(start, start + k));
            m -= k;
            start += k;
            complete = false;
        }
    }
    plan.reverse();
    Some(plan)
}

/// Turns a plan into proof hashes with `lookup`; `None` if a node is unknown.
pub fn resolve(
    plan: &[Vec<NodeId>],
    mut lookup: impl FnMut(NodeId) -> Option<Hash>,
) -> Option<Vec<Hash>> {
    plan.iter()
        .map(|nodes| {
            let hashes: Option<Vec<Hash>> = nodes.iter().map(|id| lookup(*id)).collect();
            fold(&hashes?)
        })
        .collect()
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == root
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &fr == old_root && &sr == new_root
}

#[cfg(test)]
mod tests;
