//! Commitments: per-layer output hashes, a Merkle root over them, proofs that open one
//! layer, and the one-layer re-execution that settles a dispute.
//!
//! A job's commitment has `L + 1` leaves: leaf 0 is the hash of the job input, leaf `i + 1`
//! the hash of layer `i`'s output. To dispute layer `i`, a party opens leaf `i` (the layer's
//! input activation, with its proof) and leaf `i + 1` (the claimed output hash, with its
//! proof); the chain re-executes that single layer and compares hashes.
//!
//! Merkle tree: `node = blake3(0x01 || left || right)`; at each level an unpaired last node
//! is promoted unchanged. Leaves are activation hashes (domain-separated, never 65 bytes
//! starting with 0x01).
use alloc::format;
use alloc::vec::Vec;

use parity_scale_codec::{Decode, Encode};

use crate::engine::{run_layer, ActData, Activation, Gemm};
use crate::error::Error;
use crate::model::Model;

/// A 32-byte blake3 hash.
pub type Hash = [u8; 32];

/// Hash of an activation: domain tag, kind, sequence lengths, width and little-endian data.
pub fn activation_hash(a: &Activation) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"menara/gpu-verify/activation/v1");
    let kind: u8 = match &a.data {
        ActData::Tokens(_) => 1,
        ActData::I8(_) => 2,
        ActData::I16(_) => 3,
    };
    h.update(&[kind]);
    h.update(&(a.lens.len() as u32).to_le_bytes());
    for l in &a.lens {
        h.update(&l.to_le_bytes());
    }
    h.update(&a.cols.to_le_bytes());
    match &a.data {
        ActData::Tokens(v) => {
            for x in v {
                h.update(&x.to_le_bytes());
            }
        }
        ActData::I8(v) => {
            let bytes: Vec<u8> = v.iter().map(|&x| x as u8).collect();
            h.update(&bytes);
        }
        ActData::I16(v) => {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            h.update(&bytes);
        }
    }
    *h.finalize().as_bytes()
}

fn node(l: &Hash, r: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[1u8]);
    h.update(l);
    h.update(r);
    *h.finalize().as_bytes()
}

/// Merkle root over `leaves` (an empty list has the hash of a fixed tag).
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return *blake3::hash(b"menara/gpu-verify/merkle/empty").as_bytes();
    }
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|c| {
                if c.len() == 2 {
                    node(&c[0], &c[1])
                } else {
                    c[0]
                }
            })
            .collect();
    }
    level[0]
}

/// A proof that a leaf sits at `index` in a tree of `leaf_count` leaves (SCALE-encodable
/// for the chain).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct MerkleProof {
    /// Leaf position.
    pub index: u32,
    /// Number of leaves in the tree.
    pub leaf_count: u32,
    /// Sibling hashes from the leaf upwards (levels where the node was promoted have none).
    pub siblings: Vec<Hash>,
}

/// Builds the proof for leaf `index`.
pub fn merkle_proof(leaves: &[Hash], index: usize) -> Result<MerkleProof, Error> {
    if index >= leaves.len() {
        return Err(Error::Proof(format!(
            "leaf {index} out of range ({} leaves)",
            leaves.len()
        )));
    }
    let mut siblings = Vec::new();
    let mut level: Vec<Hash> = leaves.to_vec();
    let mut idx = index;
    while level.len() > 1 {
        let sib = idx ^ 1;
        if sib < level.len() {
            siblings.push(level[sib]);
        }
        level = level
            .chunks(2)
            .map(|c| {
                if c.len() == 2 {
                    node(&c[0], &c[1])
                } else {
                    c[0]
                }
            })
            .collect();
        idx /= 2;
    }
    Ok(MerkleProof {
        index: index as u32,
        leaf_count: leaves.len() as u32,
        siblings,
    })
}

impl MerkleProof {
    /// Recomputes the root from `leaf`; errors if the proof's shape is inconsistent.
    pub fn root_from(&self, leaf: &Hash) -> Result<Hash, Error> {
        let (mut idx, mut n) = (self.index as u64, self.leaf_count as u64);
        if n == 0 || idx >= n {
            return Err(Error::Proof("index out of range".into()));
        }
        let mut acc = *leaf;
        let mut sibs = self.siblings.iter();
        while n > 1 {
            if idx % 2 == 1 {
                let s = sibs
                    .next()
                    .ok_or_else(|| Error::Proof("proof too short".into()))?;
                acc = node(s, &acc);
            } else if idx + 1 < n {
                let s = sibs
                    .next()
                    .ok_or_else(|| Error::Proof("proof too short".into()))?;
                acc = node(&acc, s);
            }
            idx /= 2;
            n = n.div_ceil(2);
        }
        if sibs.next().is_some() {
            return Err(Error::Proof("proof too long".into()));
        }
        Ok(acc)
    }

    /// Whether the proof opens `leaf` under `root`.
    pub fn verify(&self, root: &Hash, leaf: &Hash) -> bool {
        matches!(self.root_from(leaf), Ok(r) if &r == root)
    }
}

/// A job commitment: the input hash and one hash per layer output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    /// Leaf 0 = input hash; leaf `i + 1` = output hash of layer `i`.
    pub leaves: Vec<Hash>,
}

impl Commitment {
    /// The Merkle root the provider publishes.
    pub fn root(&self) -> Hash {
        merkle_root(&self.leaves)
    }

    /// Proof for leaf `i`.
    pub fn proof(&self, i: usize) -> Result<MerkleProof, Error> {
        merkle_proof(&self.leaves, i)
    }

    /// The first layer whose output hash differs from `other`'s (`Ok(None)` if all match).
    /// Errors if the inputs differ or the two commitments have different lengths.
    pub fn first_differing_layer(&self, other: &Commitment) -> Result<Option<usize>, Error> {
        if self.leaves.len() != other.leaves.len() {
            return Err(Error::Proof(format!(
                "commitment has {} leaves, expected {}",
                other.leaves.len(),
                self.leaves.len()
            )));
        }
        if self.leaves.first() != other.leaves.first() {
            return Err(Error::Proof("commitment is for a different input".into()));
        }
        Ok(self
            .leaves
            .iter()
            .zip(&other.leaves)
            .skip(1)
            .position(|(a, b)| a != b))
    }
}

/// What a one-layer re-execution found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The re-executed output hashes to the committed value.
    Matches,
    /// It does not: the committed output is wrong.
    Differs {
        /// Hash of the correct output.
        recomputed: Hash,
    },
}

/// Re-executes exactly layer `layer` on `input` and compares with `claimed_output`.
pub fn check_layer(
    model: &Model,
    layer: usize,
    input: &Activation,
    claimed_output: &Hash,
    gemm: &dyn Gemm,
) -> Result<Verdict, Error> {
    let out = run_layer(model, layer, input, gemm)?;
    let recomputed = activation_hash(&out);
    Ok(if &recomputed == claimed_output {
        Verdict::Matches
    } else {
        Verdict::Differs { recomputed }
    })
}

/// The data a disputing party submits to open one layer of a committed job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerOpening {
    /// Which layer is disputed.
    pub layer: u32,
    /// The layer's committed input activation (leaf `layer`).
    pub input: Activation,
    /// Proof for leaf `layer`.
    pub input_proof: MerkleProof,
    /// The committed output hash (leaf `layer + 1`).
    pub claimed_output: Hash,
    /// Proof for leaf `layer + 1`.
    pub output_proof: MerkleProof,
}

impl LayerOpening {
    /// Builds the opening of `layer` from a full trace (input and all layer outputs).
    pub fn from_trace(
        commitment: &Commitment,
        layer: usize,
        input: Activation,
    ) -> Result<Self, Error> {
        let claimed_output = *commitment
            .leaves
            .get(layer + 1)
            .ok_or_else(|| Error::Proof(format!("no layer {layer} in commitment")))?;
        Ok(LayerOpening {
            layer: layer as u32,
            input,
            input_proof: commitment.proof(layer)?,
            claimed_output,
            output_proof: commitment.proof(layer + 1)?,
        })
    }
}

/// Settles a dispute over one layer against a committed `root`: checks both proofs (wrong
/// proofs are an error, never a verdict), re-executes the layer and compares.
pub fn settle_layer(
    model: &Model,
    root: &Hash,
    opening: &LayerOpening,
    gemm: &dyn Gemm,
) -> Result<Verdict, Error> {
    let n = model.layer_count() as u32 + 1;
    let (ip, op) = (&opening.input_proof, &opening.output_proof);
    if ip.leaf_count != n || op.leaf_count != n {
        return Err(Error::Proof(format!(
            "proofs are for {} leaves, model has {n}",
            ip.leaf_count
        )));
    }
    if ip.index != opening.layer || op.index != opening.layer + 1 {
        return Err(Error::Proof(
            "proof indices do not match the disputed layer".into(),
        ));
    }
    if !ip.verify(root, &activation_hash(&opening.input)) {
        return Err(Error::Proof(
            "input activation is not the committed one".into(),
        ));
    }
    if !op.verify(root, &opening.claimed_output) {
        return Err(Error::Proof("output hash is not the committed one".into()));
    }
    check_layer(
        model,
        opening.layer as usize,
        &opening.input,
        &opening.claimed_output,
        gemm,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| *blake3::hash(&(i as u64).to_le_bytes()).as_bytes())
            .collect()
    }

    #[test]
    fn proofs_open_every_leaf_for_many_sizes() {
        for n in 1..=17 {
            let l = leaves(n);
            let root = merkle_root(&l);
            for i in 0..n {
                let p = merkle_proof(&l, i).unwrap();
                assert!(p.verify(&root, &l[i]), "n={n} i={i}");
                // Wrong leaf, wrong index, tampered sibling, extra sibling: all refused.
                let other = if i + 1 < n { l[i + 1] } else { [9u8; 32] };
                assert!(!p.verify(&root, &other));
                if n > 1 {
                    let mut q = p.clone();
                    q.index = ((i + 1) % n) as u32;
                    assert!(!q.verify(&root, &l[i]));
                    let mut q = p.clone();
                    q.siblings[0][0] ^= 1;
                    assert!(!q.verify(&root, &l[i]));
                    let mut q = p.clone();
                    q.siblings.pop();
                    assert!(!q.verify(&root, &l[i]));
                }
                let mut q = p.clone();
                q.siblings.push([0; 32]);
                assert!(!q.verify(&root, &l[i]));
                let mut q = p.clone();
                q.leaf_count = 0;
                assert!(!q.verify(&root, &l[i]));
            }
            assert!(merkle_proof(&l, n).is_err());
        }
    }

    #[test]
    fn root_depends_on_order_and_count() {
        let l = leaves(4);
        let mut r = l.clone();
        r.swap(1, 2);
        assert_ne!(merkle_root(&l), merkle_root(&r));
        assert_ne!(merkle_root(&l[..3]), merkle_root(&l));
        let c = Commitment { leaves: l.clone() };
        let mut d = c.clone();
        assert_eq!(c.first_differing_layer(&d).unwrap(), None);
        d.leaves[2][5] ^= 1;
        assert_eq!(c.first_differing_layer(&d).unwrap(), Some(1));
    }
}
