//! Constrained choice: the model answers with exactly one of a set of allowed strings, decoded over a
//! token trie, so an answer is valid by construction. `score` gives every option's exact log-probability.

use crate::engine::{CallStats, Engine};
use crate::error::LlmError;
use crate::kv::KvState;
use crate::layers::log_normalizer;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// How the next token is picked among the allowed ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 = greedy; otherwise softmax temperature over the allowed tokens.
    pub temperature: f32,
    /// Seed of the sampler.
    pub seed: u64,
}

impl Sampling {
    /// Always the most likely allowed token.
    pub fn greedy() -> Sampling {
        Sampling { temperature: 0.0, seed: 0 }
    }
}

/// The answer of a constrained call.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// Index into the options.
    pub index: usize,
    /// The option.
    pub text: String,
    /// Log-probability the model gave the chosen tokens (unconstrained distribution).
    pub logprob: f32,
    /// The model's probability of each option read from the first decoding step (no extra forward pass):
    /// its first token's probability among the options' first tokens, shared evenly by the options that
    /// begin with that token. Exact when every option is one token (menu letters).
    pub prior: Vec<f32>,
    /// What the call cost.
    pub stats: CallStats,
}

#[derive(Default)]
struct TrieNode {
    children: BTreeMap<u32, usize>,
    option: Option<usize>,
    /// The option, when exactly one lies at or below this node.
    only: Option<usize>,
}

/// Token sequences of the options as a trie.
struct Trie {
    nodes: Vec<TrieNode>,
}

impl Trie {
    fn build(options: &[Vec<u32>]) -> Result<Trie, String> {
        let mut nodes = vec![TrieNode::default()];
        for (i, tokens) in options.iter().enumerate() {
            if tokens.is_empty() {
                return Err(format!("option {i} has no tokens"));
            }
            let mut at = 0;
            for &t in tokens {
                let next = match nodes[at].children.get(&t) {
                    Some(&n) => n,
                    None => {
                        nodes.push(TrieNode::default());
                        let n = nodes.len() - 1;
                        nodes[at].children.insert(t, n);
                        n
                    }
                };
                if nodes[next].option.is_some() {
                    return Err(format!(
                        "an option is a prefix of option {i}; end options with a delimiter such as a newline"
                    ));
                }
                at = next;
            }
            if !nodes[at].children.is_empty() || nodes[at].option.is_some() {
                return Err(format!(
                    "option {i} is a prefix of another option (or repeated); end options with a delimiter"
                ));
            }
            nodes[at].option = Some(i);
        }
        // Children are created after their parents, so reverse creation order visits children first.
        let mut count = vec![0usize; nodes.len()];
        for n in (0..nodes.len()).rev() {
            count[n] =
                usize::from(nodes[n].option.is_some()) + nodes[n].children.values().map(|c| count[*c]).sum::<usize>();
            nodes[n].only = match (count[n], nodes[n].option) {
                (1, Some(o)) => Some(o),
                (1, None) => nodes[n].children.values().find_map(|c| nodes[*c].only),
                _ => None,
            };
        }
        Ok(Trie { nodes })
    }
}

impl Trie {
    /// For each of `n` options: its first token and how many options begin with it.
    fn first_tokens(&self, n: usize) -> Vec<(u32, usize)> {
        let mut out = vec![(0u32, 0usize); n];
        for (&token, &child) in &self.nodes[0].children {
            let mut below = Vec::new();
            let mut stack = vec![child];
            while let Some(at) = stack.pop() {
                below.extend(self.nodes[at].option);
                stack.extend(self.nodes[at].children.values());
            }
            for &i in &below {
                out[i] = (token, below.len());
            }
        }
        out
    }
}

struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Engine {
    fn tokenize_options(&self, options: &[String]) -> Result<Trie, LlmError> {
        let bad = |message: String| LlmError::Run { name: self.model.name.clone(), message };
        let seqs = options
            .iter()
            .map(|o| {
                self.model
                    .tokenizer
                    .tokenizer
                    .encode(o.as_str(), false)
                    .map(|e| e.get_ids().to_vec())
                    .map_err(|e| bad(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Trie::build(&seqs).map_err(bad)
    }

    /// Decodes one of `options` after `prompt` (token ids), reusing cached prompt prefixes.
    pub fn choose(&mut self, prompt: &[u32], options: &[String], sampling: Sampling) -> Result<Choice, LlmError> {
        self.decode(prompt, options, sampling, false)
    }

    /// Like [`Engine::choose`], but stops as soon as only one option can follow the tokens decoded so far:
    /// the same choice (forced tokens draw nothing from the sampler) for fewer forward passes, and
    /// `logprob` covers only the tokens decoded.
    pub fn decide(&mut self, prompt: &[u32], options: &[String], sampling: Sampling) -> Result<Choice, LlmError> {
        self.decode(prompt, options, sampling, true)
    }

    fn decode(
        &mut self,
        prompt: &[u32],
        options: &[String],
        sampling: Sampling,
        stop_when_determined: bool,
    ) -> Result<Choice, LlmError> {
        let start = Instant::now();
        let trie = self.tokenize_options(options)?;
        let pre = self.prefill(prompt, false)?;
        let mut stats = pre.stats;
        let (mut logits, mut state) = (pre.logits, pre.state);
        let mut rng = SplitMix(sampling.seed);
        let (mut at, mut logprob, mut mask_seconds) = (0usize, 0f32, 0f64);
        let mut prior = Vec::new();
        loop {
            let t0 = Instant::now();
            let node = &trie.nodes[at];
            let allowed: Vec<u32> = node.children.keys().copied().collect();
            let norm = log_normalizer(&logits);
            let lp = |t: u32| logits[t as usize] - norm;
            if at == 0 {
                let best = allowed.iter().map(|&t| lp(t)).fold(f32::NEG_INFINITY, f32::max);
                let total: f32 = allowed.iter().map(|&t| (lp(t) - best).exp()).sum();
                prior = trie
                    .first_tokens(options.len())
                    .into_iter()
                    .map(|(t, sharing)| (lp(t) - best).exp() / total / sharing.max(1) as f32)
                    .collect();
            }
            let token = if allowed.len() == 1 || sampling.temperature <= 0.0 {
                *allowed.iter().max_by(|a, b| lp(**a).total_cmp(&lp(**b))).expect("a trie node has children")
            } else {
                // Relative to the best allowed token, so no weight underflows to zero.
                let best = allowed.iter().map(|&t| lp(t)).fold(f32::NEG_INFINITY, f32::max);
                let weights: Vec<f64> =
                    allowed.iter().map(|&t| (((lp(t) - best) / sampling.temperature) as f64).exp()).collect();
                let mut r = rng.next_f64() * weights.iter().sum::<f64>();
                let mut pick = allowed[allowed.len() - 1];
                for (t, w) in allowed.iter().zip(&weights) {
                    if r < *w {
                        pick = *t;
                        break;
                    }
                    r -= w;
                }
                pick
            };
            logprob += lp(token);
            at = node.children[&token];
            mask_seconds += t0.elapsed().as_secs_f64();
            let determined = if stop_when_determined { trie.nodes[at].only } else { trie.nodes[at].option };
            if let Some(index) = determined {
                stats.mask_seconds = mask_seconds;
                stats.flops += 2.0 * self.model.parameters as f64 * stats.decoded_tokens as f64;
                stats.seconds = start.elapsed().as_secs_f64();
                return Ok(Choice { index, text: options[index].clone(), logprob, prior, stats });
            }
            (logits, state) = self.model.forward(&[token], &state)?;
            stats.decoded_tokens += 1;
        }
    }

    /// Exact log-probability of every option after `prompt`, sharing the prompt's KV and every common
    /// prefix of the options (one forward pass per branching trie node).
    pub fn score(&mut self, prompt: &[u32], options: &[String]) -> Result<(Vec<f32>, CallStats), LlmError> {
        let start = Instant::now();
        let trie = self.tokenize_options(options)?;
        let pre = self.prefill(prompt, false)?;
        let mut stats = pre.stats;
        let mut out = vec![f32::NEG_INFINITY; options.len()];
        // Depth-first: (node, logits after reaching it, state, log-probability so far).
        let mut stack: Vec<(usize, Vec<f32>, KvState, f32)> = vec![(0, pre.logits, pre.state, 0.0)];
        while let Some((at, logits, state, lp_so_far)) = stack.pop() {
            let norm = log_normalizer(&logits);
            for (&token, &child) in &trie.nodes[at].children {
                let lp_child = lp_so_far + logits[token as usize] - norm;
                if let Some(i) = trie.nodes[child].option {
                    out[i] = lp_child;
                } else {
                    let (l, s) = self.model.forward(&[token], &state)?;
                    stats.decoded_tokens += 1;
                    stack.push((child, l, s, lp_child));
                }
            }
        }
        stats.flops += 2.0 * self.model.parameters as f64 * stats.decoded_tokens as f64;
        stats.seconds = start.elapsed().as_secs_f64();
        Ok((out, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::Trie;

    #[test]
    fn trie_refuses_options_that_are_prefixes_of_others() {
        assert!(Trie::build(&[vec![1, 2], vec![1, 3], vec![4]]).is_ok());
        assert!(Trie::build(&[vec![1, 2], vec![1, 2, 3]]).is_err());
        assert!(Trie::build(&[vec![1, 2, 3], vec![1, 2]]).is_err());
        assert!(Trie::build(&[vec![1], vec![1]]).is_err());
        assert!(Trie::build(&[vec![]]).is_err());
    }

    #[test]
    fn options_know_their_first_token_and_who_shares_it() {
        let t = Trie::build(&[vec![1, 2, 3], vec![1, 4, 5], vec![6, 7]]).unwrap();
        assert_eq!(t.first_tokens(3), vec![(1, 2), (1, 2), (6, 1)]);
    }

    #[test]
    fn a_node_knows_when_one_option_is_left_below_it() {
        let t = Trie::build(&[vec![1, 2, 3], vec![1, 4, 5], vec![6, 7]]).unwrap();
        let child = |n: usize, tok: u32| t.nodes[n].children[&tok];
        assert_eq!(t.nodes[0].only, None);
        assert_eq!(t.nodes[child(0, 1)].only, None);
        assert_eq!(t.nodes[child(child(0, 1), 2)].only, Some(0));
        assert_eq!(t.nodes[child(child(0, 1), 4)].only, Some(1));
        assert_eq!(t.nodes[child(0, 6)].only, Some(2));
    }
}
