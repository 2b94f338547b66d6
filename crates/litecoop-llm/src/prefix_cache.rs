//! A radix tree over token ids whose edges hold the KV of their tokens: a prompt reuses its longest cached
//! prefix and only the rest is prefilled.
//!
//! Edges are immutable [`KvBlock`]s shared through `Arc`, so nothing a caller holds ever changes. Every edge
//! holds tensors of its own (copied out of the prompt's state when stored, and each half copied when an edge
//! is split): a view would keep its whole parent tensor alive (the full prompt's KV behind a short suffix),
//! and the bytes counted against the budget would understate the memory held. Entries can be pinned
//! (run-wide instructions); under the byte budget the least recently used unpinned leaves are evicted.

use crate::kv::{KvBlock, KvState};
use candle_core::Result;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Counters of a cache's use.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CacheStats {
    /// Lookups that reused at least one token.
    pub hits: u64,
    /// Lookups that reused nothing.
    pub misses: u64,
    /// Tokens served from the cache.
    pub tokens_reused: u64,
    /// Tokens the callers had to prefill.
    pub tokens_prefilled: u64,
    /// Leaves evicted.
    pub evictions: u64,
    /// Bytes of KV held now.
    pub bytes_held: usize,
}

struct Node {
    tokens: Vec<u32>,
    kv: Option<Arc<KvBlock>>,
    children: HashMap<u32, usize>,
    parent: usize,
    last_used: u64,
    pinned: bool,
}

/// The prefix cache of one model.
pub struct PrefixCache {
    nodes: Vec<Option<Node>>,
    free: Vec<usize>,
    budget_bytes: usize,
    clock: u64,
    stats: CacheStats,
}

const ROOT: usize = 0;

impl PrefixCache {
    /// An empty cache that keeps at most `budget_bytes` of unpinned KV.
    pub fn new(budget_bytes: usize) -> PrefixCache {
        let root =
            Node { tokens: Vec::new(), kv: None, children: HashMap::new(), parent: ROOT, last_used: 0, pinned: true };
        PrefixCache { nodes: vec![Some(root)], free: Vec::new(), budget_bytes, clock: 0, stats: CacheStats::default() }
    }

    /// The counters.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().expect("live node")
    }

    fn node_mut(&mut self, i: usize) -> &mut Node {
        self.nodes[i].as_mut().expect("live node")
    }

    /// Walks the longest cached prefix of `tokens`: the nodes fully matched and, if the walk ends inside an
    /// edge, that node and how many of its tokens matched.
    fn walk(&self, tokens: &[u32]) -> (Vec<usize>, Option<(usize, usize)>, usize) {
        let (mut at, mut pos, mut path) = (ROOT, 0, Vec::new());
        while pos < tokens.len() {
            let Some(&child) = self.node(at).children.get(&tokens[pos]) else { break };
            let edge = &self.node(child).tokens;
            let common = edge.iter().zip(&tokens[pos..]).take_while(|(a, b)| a == b).count();
            if common < edge.len() {
                return (path, Some((child, common)), pos + common);
            }
            path.push(child);
            pos += common;
            at = child;
        }
        (path, None, pos)
    }

    /// The KV of the longest cached prefix of `tokens`, leaving at least one token to run (the caller needs
    /// the last position's logits). Counts a hit or a miss.
    pub fn lookup(&mut self, tokens: &[u32]) -> Result<KvState> {
        let usable = &tokens[..tokens.len().saturating_sub(1)];
        let (path, partial, matched) = self.walk(usable);
        self.clock += 1;
        let mut blocks: Vec<Arc<KvBlock>> = Vec::new();
        for &n in &path {
            let clock = self.clock;
            let node = self.node_mut(n);
            node.last_used = clock;
            blocks.push(node.kv.clone().expect("non-root nodes hold KV"));
        }
        if let Some((n, common)) = partial {
            if common > 0 {
                let kv = self.node(n).kv.clone().expect("non-root nodes hold KV");
                blocks.push(Arc::new(kv.slice(0, common)?));
                let clock = self.clock;
                self.node_mut(n).last_used = clock;
            }
        }
        if matched > 0 {
            self.stats.hits += 1
        } else {
            self.stats.misses += 1
        }
        self.stats.tokens_reused += matched as u64;
        self.stats.tokens_prefilled += (tokens.len() - matched) as u64;
        Ok(KvState::from_blocks(blocks))
    }

    /// Stores the KV of `tokens[..state.len()]` (what `state` covers), sharing what is already cached.
    pub fn insert(&mut self, tokens: &[u32], state: &KvState) -> Result<()> {
        let tokens = &tokens[..state.len().min(tokens.len())];
        let (path, partial, matched) = self.walk(tokens);
        let mut at = path.last().copied().unwrap_or(ROOT);
        if let Some((n, common)) = partial {
            at = self.split(n, common)?;
        }
        self.clock += 1;
        if matched < tokens.len() {
            let kv = Arc::new(state.slice(matched, tokens.len() - matched)?.detached()?);
            self.stats.bytes_held += kv.bytes();
            let node = Node {
                tokens: tokens[matched..].to_vec(),
                kv: Some(kv),
                children: HashMap::new(),
                parent: at,
                last_used: self.clock,
                pinned: false,
            };
            let id = self.alloc(node);
            self.node_mut(at).children.insert(tokens[matched], id);
        }
        self.evict();
        Ok(())
    }

    /// Inserts and pins `tokens`: the path is never evicted.
    pub fn pin(&mut self, tokens: &[u32], state: &KvState) -> Result<()> {
        self.insert(tokens, state)?;
        let (path, _, _) = self.walk(&tokens[..state.len().min(tokens.len())]);
        for n in path {
            self.node_mut(n).pinned = true;
        }
        Ok(())
    }

    /// Splits node `n` after `at` of its tokens; returns the new upper node.
    fn split(&mut self, n: usize, at: usize) -> Result<usize> {
        let (parent, tokens, kv) = {
            let node = self.node(n);
            (node.parent, node.tokens.clone(), node.kv.clone().expect("non-root nodes hold KV"))
        };
        let upper_kv = Arc::new(kv.slice(0, at)?.detached()?);
        let lower_kv = Arc::new(kv.slice(at, tokens.len() - at)?.detached()?);
        let clock = self.clock;
        let upper = self.alloc(Node {
            tokens: tokens[..at].to_vec(),
            kv: Some(upper_kv),
            children: HashMap::from([(tokens[at], n)]),
            parent,
            last_used: clock,
            pinned: self.node(n).pinned,
        });
        self.node_mut(parent).children.insert(tokens[0], upper);
        let node = self.node_mut(n);
        node.tokens = tokens[at..].to_vec();
        node.kv = Some(lower_kv);
        node.parent = upper;
        Ok(upper)
    }

    fn alloc(&mut self, node: Node) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i] = Some(node);
                i
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        }
    }

    /// Evicts least recently used unpinned leaves until the bytes held fit the budget.
    fn evict(&mut self) {
        while self.stats.bytes_held > self.budget_bytes {
            let victim = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
                .filter(|(i, n)| *i != ROOT && !n.pinned && n.children.is_empty())
                .min_by_key(|(_, n)| n.last_used)
                .map(|(i, _)| i);
            let Some(v) = victim else { break };
            let node = self.nodes[v].take().expect("live node");
            self.free.push(v);
            self.stats.bytes_held -= node.kv.as_ref().map_or(0, |kv| kv.bytes());
            self.stats.evictions += 1;
            self.node_mut(node.parent).children.remove(&node.tokens[0]);
        }
    }

    /// Nodes in the tree (excluding the root).
    pub fn len(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_some()).count() - 1
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// A fake 2-layer KV for `tokens` at positions `start..`: every value is `token * 1000 + position`,
    /// so whatever the cache returns can be checked against what a real run would have produced.
    fn fake_block(tokens: &[u32], start: usize) -> KvBlock {
        let vals: Vec<f32> = tokens.iter().enumerate().map(|(i, t)| (*t as usize * 1000 + start + i) as f32).collect();
        let t = Tensor::from_vec(vals, (1, 1, tokens.len(), 1), &Device::Cpu).unwrap();
        KvBlock { layers: vec![(t.clone(), t.clone()), (t.clone(), t)], len: tokens.len() }
    }

    fn run(cache: &mut PrefixCache, tokens: &[u32]) -> KvState {
        let past = cache.lookup(tokens).unwrap();
        // Check the reused part is exactly what a fresh run would give.
        if let Some((k, _)) = past.layer(1).unwrap() {
            let got: Vec<f32> = k.flatten_all().unwrap().to_vec1().unwrap();
            let want: Vec<f32> =
                tokens[..past.len()].iter().enumerate().map(|(i, t)| (*t as usize * 1000 + i) as f32).collect();
            assert_eq!(got, want);
        }
        let state = past.extended(Arc::new(fake_block(&tokens[past.len()..], past.len()))).unwrap();
        cache.insert(tokens, &state).unwrap();
        state
    }

    #[test]
    fn reuses_the_longest_prefix_and_splits_edges() {
        let mut c = PrefixCache::new(usize::MAX);
        run(&mut c, &[1, 2, 3, 4, 5]);
        assert_eq!(c.lookup(&[1, 2, 3, 9, 9]).unwrap().len(), 3);
        run(&mut c, &[1, 2, 3, 9, 9]); // splits the first edge after 3 tokens
        assert_eq!(c.len(), 3);
        assert_eq!(c.lookup(&[1, 2, 3, 4, 5, 6]).unwrap().len(), 5);
        assert_eq!(c.lookup(&[1, 2, 3, 4, 5]).unwrap().len(), 4, "at least one token is left to run");
        assert_eq!(c.lookup(&[7, 1]).unwrap().len(), 0);
        let s = c.stats();
        assert!(s.hits >= 3 && s.misses >= 2 && s.tokens_reused > 0);
    }

    #[test]
    fn every_edge_holds_tensors_of_its_own_not_views_of_the_prompt() {
        let mut c = PrefixCache::new(usize::MAX);
        // One block for the whole prompt, as after a prefill; the cache keeps only the part after the prefix.
        run(&mut c, &[1, 2, 3]);
        let whole = Arc::new(fake_block(&[1, 2, 3, 4, 5, 6], 0));
        c.insert(&[1, 2, 3, 4, 5, 6], &KvState::from_blocks(vec![whole])).unwrap();
        run(&mut c, &[1, 2, 8]); // and a split
        for node in c.nodes.iter().flatten() {
            for (k, v) in node.kv.iter().flat_map(|kv| kv.layers.iter()) {
                for t in [k, v] {
                    assert!(t.is_contiguous() && t.layout().start_offset() == 0, "a view: {:?}", t.layout());
                    assert_eq!(t.dims()[2], node.tokens.len());
                }
            }
        }
    }

    #[test]
    fn holds_its_byte_budget_and_keeps_pinned_entries() {
        let one_token = fake_block(&[1], 0).bytes();
        let budget = 40 * one_token;
        let mut c = PrefixCache::new(budget);
        let system: Vec<u32> = (100..110).collect();
        let past = KvState::new().extended(Arc::new(fake_block(&system, 0))).unwrap();
        c.pin(&system, &past).unwrap();
        let mut seed = 7u64;
        for _ in 0..300 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut prompt = system.clone();
            prompt.extend((0..(seed >> 60) + 1).map(|i| ((seed >> (8 * (i % 4))) % 5) as u32));
            run(&mut c, &prompt);
            assert!(
                c.stats().bytes_held <= budget.max(system.len() * one_token),
                "{} > {budget}",
                c.stats().bytes_held
            );
            assert_eq!(
                c.lookup(&[system.clone(), vec![0]].concat()).unwrap().len(),
                system.len(),
                "pinned prefix evicted"
            );
        }
        assert!(c.stats().evictions > 0);
    }

    #[test]
    fn forks_never_change_what_a_caller_holds() {
        let mut c = PrefixCache::new(usize::MAX);
        let a = run(&mut c, &[1, 2, 3, 4]);
        let before: Vec<f32> = a.layer(0).unwrap().unwrap().0.flatten_all().unwrap().to_vec1().unwrap();
        run(&mut c, &[1, 2, 8, 8]); // splits the edge that `a` came from
        let b = a.extended(Arc::new(fake_block(&[5], 4))).unwrap();
        assert_eq!(a.len(), 4);
        assert_eq!(b.len(), 5);
        let after: Vec<f32> = a.layer(0).unwrap().unwrap().0.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(before, after);
    }
}
