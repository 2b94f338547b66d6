//! Operators with concrete dimensions: what a workload computes at one size.

use serde::{Deserialize, Serialize};

/// An elementwise function applied to the result of a matrix product.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Epilogue {
    /// Store the product as it is.
    None,
    /// Add a per-column bias vector (`bias[n]`).
    Bias,
    /// Multiply by a constant.
    Scale {
        /// The factor.
        factor: f32,
    },
    /// `x * sigmoid(x)`.
    Silu,
    /// GELU, tanh approximation.
    Gelu,
}

/// `C[b] = epilogue(A[b] x B[b])`, A is `m x k`, B is `k x n` (or `n x k` when transposed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatmulOp {
    /// Independent products (1 for a plain matrix product).
    pub batch: usize,
    /// Rows of A and C.
    pub m: usize,
    /// Columns of B and C.
    pub n: usize,
    /// Reduction length.
    pub k: usize,
    /// B is stored `n x k` (as in `x W^T`).
    pub transpose_b: bool,
    /// Function applied to each output element.
    pub epilogue: Epilogue,
}

/// Softmax over each row of a `rows x cols` matrix, optionally scaled and causally masked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxOp {
    /// Number of rows.
    pub rows: usize,
    /// Row length.
    pub cols: usize,
    /// Rows form blocks of `queries` query positions (one block per head); with `causal`, query `q` of a
    /// block sees columns `0..=q + cols - queries` (the queries are the last positions of the keys).
    pub queries: usize,
    /// Mask future positions.
    pub causal: bool,
    /// Multiplier applied before the exponential.
    pub scale: f32,
}

/// `softmax(Q K^T * scale) V` per head, with grouped-query heads sharing K and V.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AttentionOp {
    /// Independent sequences.
    pub batch: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads; `heads` must be a multiple (GQA group = heads / kv_heads).
    pub kv_heads: usize,
    /// Query positions.
    pub seq_q: usize,
    /// Key/value positions (the last `seq_q` of them align with the queries when causal).
    pub seq_kv: usize,
    /// Head dimension.
    pub head_dim: usize,
    /// Mask future positions.
    pub causal: bool,
}

impl AttentionOp {
    /// Query heads per key/value head.
    pub fn group(&self) -> usize {
        self.heads / self.kv_heads
    }
    /// The softmax scale, `1 / sqrt(head_dim)`.
    pub fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
}

/// NHWC 2-D convolution, 3x3 kernel, stride 1, zero padding 1; weights stored HWIO.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Conv2dOp {
    /// Images.
    pub batch: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
}

/// Gated MLP: `down(silu(x W_gate) * (x W_up))`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MlpOp {
    /// Rows of x.
    pub tokens: usize,
    /// Model width.
    pub hidden: usize,
    /// Width of the gated layer.
    pub intermediate: usize,
}

/// Routed mixture of experts: each token goes to `top_k` experts, each a SwiGLU MLP; outputs are
/// combined with the routing weights. Routing is deterministic and round-robin (an input, not learned):
/// experts receive equal loads when `tokens * top_k` divides by `experts`, else loads one apart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MoeOp {
    /// Tokens routed.
    pub tokens: usize,
    /// Model width.
    pub hidden: usize,
    /// Width of each expert's gated layer.
    pub ffn: usize,
    /// Experts held.
    pub experts: usize,
    /// Experts per token.
    pub top_k: usize,
}

impl MoeOp {
    /// Slots per expert: the most tokens any expert receives. An expert that receives fewer has padding
    /// slots at the end, which read token 0 and whose outputs no route reads (the padded capacity of MoE
    /// serving kernels).
    pub fn capacity(&self) -> usize {
        (self.tokens * self.top_k).div_ceil(self.experts)
    }
    /// The expert of the `j`-th route of token `t`: consecutive routes land on distinct experts (as long
    /// as `top_k <= experts`) and every expert receives [`MoeOp::capacity`] tokens or one fewer.
    pub fn expert_of(&self, t: usize, j: usize) -> usize {
        (t * self.top_k + j) % self.experts
    }

    /// One of the routing tables: route `j` of token `t` goes to expert [`MoeOp::expert_of`], taking that
    /// expert's next free slot. Computed from the operator wherever it is needed, so the tables have one
    /// owner (the workload) and never travel with programs, launch plans or worker requests.
    pub fn table(&self, which: IndexTable) -> Vec<u32> {
        let cap = self.capacity();
        let mut expert_rows = vec![0u32; self.experts * cap];
        let mut route_rows = vec![0u32; self.tokens * self.top_k];
        let mut filled = vec![0usize; self.experts];
        for tok in 0..self.tokens {
            for j in 0..self.top_k {
                let ex = self.expert_of(tok, j);
                let slot = filled[ex];
                filled[ex] += 1;
                expert_rows[ex * cap + slot] = tok as u32;
                route_rows[tok * self.top_k + j] = (ex * cap + slot) as u32;
            }
        }
        match which {
            IndexTable::ExpertRows => expert_rows,
            IndexTable::RouteRows => route_rows,
        }
    }
}

/// A table of indices that a workload defines (the routing of a mixture of experts). Its serde name is the
/// name of the buffer that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexTable {
    /// For each expert, the token in each of its [`MoeOp::capacity`] slots (`experts x capacity`).
    ExpertRows,
    /// For each (token, route), the row of the expert outputs that holds it (`tokens x top_k`).
    RouteRows,
}

impl IndexTable {
    /// The name of the buffer that holds the table.
    pub fn name(self) -> &'static str {
        match self {
            IndexTable::ExpertRows => "expert_rows",
            IndexTable::RouteRows => "route_rows",
        }
    }
}

/// One operator at concrete dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Op {
    /// Matrix product, optionally batched.
    Matmul(MatmulOp),
    /// Row softmax.
    Softmax(SoftmaxOp),
    /// Multi-head attention.
    Attention(AttentionOp),
    /// 3x3 convolution.
    Conv2d(Conv2dOp),
    /// SwiGLU MLP.
    SwigluMlp(MlpOp),
    /// Mixture of experts.
    Moe(MoeOp),
}

impl Op {
    /// The contents of an index table of this operator; `None` when it has no such table (only a mixture of
    /// experts has routing tables).
    pub fn index_table(&self, which: IndexTable) -> Option<Vec<u32>> {
        match self {
            Op::Moe(o) => Some(o.table(which)),
            _ => None,
        }
    }

    /// Floating-point operations of the computation (multiply-add = 2), the basis of GFLOP/s.
    pub fn flops(&self) -> f64 {
        let f = |x: usize| x as f64;
        match *self {
            Op::Matmul(o) => 2.0 * f(o.batch) * f(o.m) * f(o.n) * f(o.k),
            Op::Softmax(o) => 5.0 * f(o.rows) * f(o.cols),
            Op::Attention(o) => {
                let bh = f(o.batch) * f(o.heads);
                4.0 * bh * f(o.seq_q) * f(o.seq_kv) * f(o.head_dim) + 5.0 * bh * f(o.seq_q) * f(o.seq_kv)
            }
            Op::Conv2d(o) => 2.0 * f(o.batch) * f(o.height) * f(o.width) * f(o.out_channels) * 9.0 * f(o.in_channels),
            Op::SwigluMlp(o) => 6.0 * f(o.tokens) * f(o.hidden) * f(o.intermediate),
            Op::Moe(o) => 6.0 * f(o.tokens) * f(o.top_k) * f(o.hidden) * f(o.ffn),
        }
    }

    /// The longest reduction in the computation; tolerances scale with it.
    pub fn reduction_len(&self) -> usize {
        match *self {
            Op::Matmul(o) => o.k,
            Op::Softmax(o) => o.cols,
            Op::Attention(o) => o.head_dim.max(o.seq_kv),
            Op::Conv2d(o) => 9 * o.in_channels,
            Op::SwigluMlp(o) => o.hidden.max(o.intermediate),
            Op::Moe(o) => o.hidden.max(o.ffn),
        }
    }

    /// Short name of the operator kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Matmul(_) => "matmul",
            Op::Softmax(_) => "softmax",
            Op::Attention(_) => "attention",
            Op::Conv2d(_) => "conv2d",
            Op::SwigluMlp(_) => "swiglu_mlp",
            Op::Moe(_) => "moe",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three tokens, two routes each, three experts of capacity two, worked by hand: token 0 goes to experts
    /// 0 and 1, token 1 to 2 and 0, token 2 to 1 and 2.
    #[test]
    fn routing_tables_worked_by_hand() {
        let o = MoeOp { tokens: 3, hidden: 4, ffn: 4, experts: 3, top_k: 2 };
        let experts = o.table(IndexTable::ExpertRows);
        let routes = o.table(IndexTable::RouteRows);
        assert_eq!(experts, [0, 1, 0, 2, 1, 2]);
        assert_eq!(routes, [0, 2, 4, 1, 3, 5]);
        for t in 0..3 {
            for j in 0..2 {
                assert_eq!(experts[routes[t * 2 + j] as usize], t as u32, "route {j} of token {t} finds its token");
            }
        }
        assert_eq!(Op::Moe(o).index_table(IndexTable::RouteRows), Some(routes));
        assert_eq!(
            Op::SwigluMlp(MlpOp { tokens: 2, hidden: 4, intermediate: 8 }).index_table(IndexTable::ExpertRows),
            None
        );
        assert_eq!(
            serde_json::to_string(&IndexTable::ExpertRows).unwrap(),
            format!("\"{}\"", IndexTable::ExpertRows.name())
        );
    }
    /// Three tokens, one route each, two experts: expert 0 gets tokens 0 and 2, expert 1 gets token 1 and a
    /// padding slot (token 0, read by no route).
    #[test]
    fn uneven_loads_pad_the_lighter_experts() {
        let o = MoeOp { tokens: 3, hidden: 4, ffn: 4, experts: 2, top_k: 1 };
        assert_eq!(o.capacity(), 2);
        assert_eq!(o.table(IndexTable::ExpertRows), [0, 2, 1, 0]);
        assert_eq!(o.table(IndexTable::RouteRows), [0, 2, 1]);
    }
}
