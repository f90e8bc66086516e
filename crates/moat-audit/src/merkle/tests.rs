//! Roots and proofs against an in-memory reference and the independent `ct-merkle` crate;
//! property tests over random trees, including single flipped bits.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

/// A tree held entirely in memory: every complete node by id, as a store would hold them.
struct MemoryTree {
    frontier: Frontier,
    nodes: HashMap<NodeId, Hash>,
}

impl MemoryTree {
    fn with_leaves(n: u64) -> MemoryTree {
        let mut tree = MemoryTree {
            frontier: Frontier::new(),
            nodes: HashMap::new(),
        };
        for i in 0..n {
            for (id, hash) in tree.frontier.push(leaf_hash(&leaf_data(i))) {
                tree.nodes.insert(id, hash);
            }
        }
        tree
    }

    fn inclusion(&self, index: u64, size: u64) -> Vec<Hash> {
        resolve(&inclusion_plan(index, size).unwrap(), |id| {
            self.nodes.get(&id).copied()
        })
        .unwrap()
    }

    fn consistency(&self, old: u64, new: u64) -> Vec<Hash> {
        resolve(&consistency_plan(old, new).unwrap(), |id| {
            self.nodes.get(&id).copied()
        })
        .unwrap()
    }

    fn root_at(&self, size: u64) -> Hash {
        let hashes: Vec<Hash> = frontier_nodes(size)
            .iter()
            .map(|id| self.nodes[id])
            .collect();
        fold(&hashes).unwrap_or_else(empty_root)
    }
}

fn leaf_data(i: u64) -> Vec<u8> {
    format!("event {i}").into_bytes()
}

/// The independent implementation, over the same leaf data.
fn reference(n: u64) -> ct_merkle::mem_backed_tree::MemoryBackedTree<sha2_011::Sha256, Vec<u8>> {
    let mut tree = ct_merkle::mem_backed_tree::MemoryBackedTree::new();
    for i in 0..n {
        tree.push(leaf_data(i));
    }
    tree
}

#[test]
fn the_empty_tree_has_the_rfc_6962_root() {
    assert_eq!(
        hex::encode(Frontier::new().root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn roots_match_ct_merkle_for_every_size_up_to_70() {
    for n in 1..=70u64 {
        let ours = MemoryTree::with_leaves(n);
        let theirs = reference(n);
        assert_eq!(
            ours.frontier.root()[..],
            theirs.root().as_bytes()[..],
            "size {n}"
        );
        assert_eq!(
            ours.root_at(n),
            ours.frontier.root(),
            "stored nodes give the root at {n}"
        );
    }
}

#[test]
fn inclusion_proofs_match_ct_merkle() {
    for n in [1u64, 2, 3, 5, 8, 13, 31, 32, 33, 64, 100] {
        let ours = MemoryTree::with_leaves(n);
        let theirs = reference(n);
        for index in 0..n {
            let proof: Vec<u8> = ours.inclusion(index, n).concat();
            assert_eq!(
                proof,
                theirs.prove_inclusion(index as usize).as_bytes(),
                "index {index} of {n}"
            );
        }
    }
}

#[test]
fn consistency_proofs_match_ct_merkle() {
    for new in [1u64, 2, 3, 7, 8, 9, 16, 17, 50] {
        let ours = MemoryTree::with_leaves(new);
        let theirs = reference(new);
        for old in 1..=new {
            let expected = theirs.prove_consistency((new - old) as usize);
            assert_eq!(
                ours.consistency(old, new).concat(),
                expected.as_bytes(),
                "{old} -> {new}"
            );
        }
    }
}

#[test]
fn node_keys_round_trip() {
    for id in [
        NodeId { level: 0, index: 0 },
        NodeId {
            level: 23,
            index: 9_999_999,
        },
    ] {
        assert_eq!(NodeId::from_key(id.key()), id);
    }
}

#[test]
fn frontier_rebuilds_from_stored_nodes() {
    let tree = MemoryTree::with_leaves(45);
    let roots: Vec<Hash> = frontier_nodes(45).iter().map(|id| tree.nodes[id]).collect();
    let mut rebuilt = Frontier::from_parts(45, roots).unwrap();
    let mut original = tree.frontier.clone();
    assert_eq!(
        rebuilt.push(leaf_hash(b"x")),
        original.push(leaf_hash(b"x"))
    );
    assert_eq!(rebuilt.root(), original.root());
}

proptest! {
    #[test]
    fn random_inclusion_proofs_verify_and_any_flipped_bit_fails(size in 1u64..300, seed in any::<u64>(), bit in 0usize..256) {
        let tree = MemoryTree::with_leaves(size);
        let index = seed % size;
        let root = tree.frontier.root();
        let leaf = leaf_hash(&leaf_data(index));
        let proof = tree.inclusion(index, size);
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root));
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let which = (seed as usize / 7) % bad.len();
            bad[which][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!verify_inclusion(&leaf, index, size, &bad, &root));
        }
        let mut bad_root = root;
        bad_root[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify_inclusion(&leaf, index, size, &proof, &bad_root));
        prop_assert!(!verify_inclusion(&leaf, (index + 1) % size.max(2), size.max(2), &proof, &root) || size == 1);
    }

    #[test]
    fn random_consistency_proofs_verify_and_any_flipped_bit_fails(new in 1u64..300, seed in any::<u64>(), bit in 0usize..256) {
        let tree = MemoryTree::with_leaves(new);
        let old = 1 + seed % new;
        let (old_root, new_root) = (tree.root_at(old), tree.root_at(new));
        let proof = tree.consistency(old, new);
        prop_assert!(verify_consistency(old, new, &proof, &old_root, &new_root));
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let which = (seed as usize / 11) % bad.len();
            bad[which][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!verify_consistency(old, new, &bad, &old_root, &new_root));
        }
        let mut bad_old = old_root;
        bad_old[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify_consistency(old, new, &proof, &bad_old, &new_root));
    }
}
