//! Immutable key/value caches: a sequence's state is a list of shared blocks, so forking a sequence copies
//! nothing and appending never touches a parent's tensors.

use candle_core::{Result, Tensor};
use std::sync::Arc;

/// Keys and values of every layer for a span of consecutive positions.
#[derive(Debug)]
pub struct KvBlock {
    /// Per layer `(k, v)`, each `[1, kv_heads, len, head_dim]`.
    pub layers: Vec<(Tensor, Tensor)>,
    /// Positions covered.
    pub len: usize,
}

impl KvBlock {
    /// Bytes held by the block's tensors (views of a shared tensor count their own extent).
    pub fn bytes(&self) -> usize {
        self.layers.iter().map(|(k, v)| (k.elem_count() + v.elem_count()) * k.dtype().size_in_bytes()).sum()
    }

    /// The same positions in tensors of their own: a view keeps its whole parent tensor alive, a detached
    /// block holds exactly its [`bytes`](KvBlock::bytes).
    pub fn detached(&self) -> Result<KvBlock> {
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| Ok((k.force_contiguous()?, v.force_contiguous()?)))
            .collect::<Result<_>>()?;
        Ok(KvBlock { layers, len: self.len })
    }

    /// Positions `start .. start + len` of this block, as views (no copy).
    pub fn slice(&self, start: usize, len: usize) -> Result<KvBlock> {
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| Ok((k.narrow(2, start, len)?, v.narrow(2, start, len)?)))
            .collect::<Result<_>>()?;
        Ok(KvBlock { layers, len })
    }
}

/// The cached positions `0..len` of one sequence. Cloning is cheap and is a safe fork.
#[derive(Debug, Clone, Default)]
pub struct KvState {
    blocks: Vec<Arc<KvBlock>>,
    len: usize,
}

/// Above this many blocks a state is compacted into one block when it is extended.
const MAX_BLOCKS: usize = 16;

impl KvState {
    /// An empty sequence.
    pub fn new() -> KvState {
        KvState::default()
    }

    /// A state made of these blocks, in order.
    pub fn from_blocks(blocks: Vec<Arc<KvBlock>>) -> KvState {
        let len = blocks.iter().map(|b| b.len).sum();
        KvState { blocks, len }
    }

    /// Cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The blocks, in order.
    pub fn blocks(&self) -> &[Arc<KvBlock>] {
        &self.blocks
    }

    /// A new state with `block` appended; `self` is unchanged.
    pub fn extended(&self, block: Arc<KvBlock>) -> Result<KvState> {
        let mut blocks = self.blocks.clone();
        blocks.push(block);
        let state = KvState::from_blocks(blocks);
        if state.blocks.len() > MAX_BLOCKS {
            // Merge into one fresh block; the old blocks stay valid for whoever else holds them.
            return Ok(KvState::from_blocks(vec![Arc::new(state.merged()?)]));
        }
        Ok(state)
    }

    /// All positions of layer `layer` as contiguous `(k, v)`, or `None` when empty.
    pub fn layer(&self, layer: usize) -> Result<Option<(Tensor, Tensor)>> {
        match self.blocks.len() {
            0 => Ok(None),
            1 => Ok(Some(self.blocks[0].layers[layer].clone())),
            _ => {
                let ks: Vec<&Tensor> = self.blocks.iter().map(|b| &b.layers[layer].0).collect();
                let vs: Vec<&Tensor> = self.blocks.iter().map(|b| &b.layers[layer].1).collect();
                Ok(Some((Tensor::cat(&ks, 2)?, Tensor::cat(&vs, 2)?)))
            }
        }
    }

    /// Layer `layer`'s cached keys and values followed by `k` and `v` (the new positions), each
    /// concatenated in one copy.
    pub fn layer_with(&self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        if self.blocks.is_empty() {
            return Ok((k.clone(), v.clone()));
        }
        let mut ks: Vec<&Tensor> = self.blocks.iter().map(|b| &b.layers[layer].0).collect();
        let mut vs: Vec<&Tensor> = self.blocks.iter().map(|b| &b.layers[layer].1).collect();
        ks.push(k);
        vs.push(v);
        Ok((Tensor::cat(&ks, 2)?, Tensor::cat(&vs, 2)?))
    }

    fn merged(&self) -> Result<KvBlock> {
        let n_layers = self.blocks[0].layers.len();
        let mut layers = Vec::with_capacity(n_layers);
        for l in 0..n_layers {
            layers.push(self.layer(l)?.expect("non-empty"));
        }
        Ok(KvBlock { layers, len: self.len })
    }
}

impl KvState {
    /// Positions `start .. start + len` as one block (views when they lie in one block, else a copy).
    pub fn slice(&self, start: usize, len: usize) -> Result<KvBlock> {
        let mut pieces: Vec<KvBlock> = Vec::new();
        let mut offset = 0;
        for b in &self.blocks {
            let (lo, hi) = (start.max(offset), (start + len).min(offset + b.len));
            if lo < hi {
                pieces.push(b.slice(lo - offset, hi - lo)?);
            }
            offset += b.len;
        }
        match pieces.len() {
            0 => candle_core::bail!("positions {start}..{} are not in a state of {} positions", start + len, self.len),
            1 => Ok(pieces.pop().expect("one piece")),
            _ => {
                let n_layers = pieces[0].layers.len();
                let mut layers = Vec::with_capacity(n_layers);
                for l in 0..n_layers {
                    let ks: Vec<&Tensor> = pieces.iter().map(|p| &p.layers[l].0).collect();
                    let vs: Vec<&Tensor> = pieces.iter().map(|p| &p.layers[l].1).collect();
                    layers.push((Tensor::cat(&ks, 2)?, Tensor::cat(&vs, 2)?));
                }
                Ok(KvBlock { layers, len })
            }
        }
    }
}
