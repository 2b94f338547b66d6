//! Lowering an operator to a program: the buffers it touches and the kernels that run in order.
//!
//! Each kernel is one of three sketches: a (batched, gathered, implicit-GEMM) matrix product, a row softmax,
//! or an elementwise map. The program depends on one program-level decision, whether epilogues are fused
//! into the producing matrix product or run as their own elementwise kernel.

use crate::op::{Epilogue, IndexTable, Op};
use serde::{Deserialize, Serialize};

/// Index of a buffer in [`Program::buffers`].
pub type BufferId = usize;

/// Element type of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Elem {
    /// 32-bit float.
    F32,
    /// 32-bit unsigned index.
    U32,
}

/// What a buffer holds and who writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferRole {
    /// Uniform random floats in [-1, 1), fresh for each seed.
    RandomInput,
    /// Random floats in [0.05, 1), used as routing weights.
    PositiveInput,
    /// Fixed indices that the workload defines (MoE routing tables), made from the operator with the other
    /// inputs ([`Op::index_table`]).
    IndexInput(IndexTable),
    /// Written by one kernel, read by a later one; poisoned before a run.
    Scratch,
    /// A result checked against the reference; poisoned before a run.
    Output,
}

/// One buffer of a program.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BufferDecl {
    /// Name, shared with the CPU reference (`a`, `b`, `q`, `out`, ...).
    pub name: String,
    /// Number of elements.
    pub len: usize,
    /// Element type.
    pub elem: Elem,
    /// Contents and writer.
    pub role: BufferRole,
}

impl BufferDecl {
    /// True for buffers whose contents come from the host.
    pub fn is_input(&self) -> bool {
        matches!(self.role, BufferRole::RandomInput | BufferRole::PositiveInput | BufferRole::IndexInput(_))
    }
}

/// How row `m`, column `k` of operand A of a matrix product is found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "layout")]
pub enum OperandA {
    /// `buf[b * batch_stride + m * K + k]`.
    Dense {
        /// The buffer.
        buf: BufferId,
        /// Elements between batches.
        batch_stride: usize,
    },
    /// `buf[rows[b * M + m] * K + k]`: rows gathered through an index buffer (MoE tokens of an expert).
    Gathered {
        /// The buffer of all rows.
        buf: BufferId,
        /// The index buffer.
        rows: BufferId,
    },
    /// Implicit GEMM of a 3x3, stride 1, pad 1 NHWC convolution: `m = (img, y, x)`, `k = (ky, kx, c)`.
    Im2col {
        /// The NHWC image buffer.
        buf: BufferId,
        /// Image height.
        height: usize,
        /// Image width.
        width: usize,
        /// Channels.
        channels: usize,
    },
}

impl OperandA {
    /// The buffer holding the values.
    pub fn buf(&self) -> BufferId {
        match *self {
            OperandA::Dense { buf, .. } | OperandA::Gathered { buf, .. } | OperandA::Im2col { buf, .. } => buf,
        }
    }
    /// True when four consecutive `k` of one row are four consecutive, 16-byte aligned elements.
    pub fn k_vectorizable(&self, k: usize) -> bool {
        match *self {
            OperandA::Dense { batch_stride, .. } => k % 4 == 0 && batch_stride % 4 == 0,
            OperandA::Gathered { .. } => k % 4 == 0,
            OperandA::Im2col { channels, .. } => channels % 4 == 0,
        }
    }
}

/// How row `k`, column `n` of operand B is found; batch `b` reads matrix `b / batch_div` (GQA sharing).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperandB {
    /// The buffer.
    pub buf: BufferId,
    /// Elements between matrices.
    pub batch_stride: usize,
    /// Consecutive batches that share one matrix.
    pub batch_div: usize,
    /// Stored `n x k` (`buf[.. + n * K + k]`) instead of `k x n` (`buf[.. + k * N + n]`).
    pub transposed: bool,
}

/// The function a matrix product applies before storing, with the buffers it reads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum GemmEpilogue {
    /// Store as it is.
    None,
    /// `+ bias[n]`.
    Bias {
        /// The bias buffer.
        buf: BufferId,
    },
    /// `* factor`.
    Scale {
        /// The factor.
        factor: f32,
    },
    /// `silu(x)`.
    Silu,
    /// `gelu_tanh(x)`.
    Gelu,
    /// `silu(gate[i]) * x`: the SwiGLU combine fused into the up projection.
    MulSiluOf {
        /// The gate buffer, same shape as the output.
        gate: BufferId,
    },
}

/// A batched matrix product `out[b][m][n] = epilogue(sum_k A(b, m, k) * B(b, k, n))`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GemmSpec {
    /// Independent products.
    pub batch: usize,
    /// Output rows.
    pub m: usize,
    /// Output columns.
    pub n: usize,
    /// Reduction length.
    pub k: usize,
    /// Left operand.
    pub a: OperandA,
    /// Right operand.
    pub b: OperandB,
    /// Output buffer, dense `batch x m x n`.
    pub out: BufferId,
    /// Applied to every element before it is stored.
    pub epilogue: GemmEpilogue,
}

/// Softmax of each row of `input` (`rows x cols`), scaled and optionally causal, into `output`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxSpec {
    /// Rows.
    pub rows: usize,
    /// Row length.
    pub cols: usize,
    /// Rows per causal block (query positions per head).
    pub queries: usize,
    /// Mask keys after the query position.
    pub causal: bool,
    /// Applied to the logits before the exponential.
    pub scale: f32,
    /// Logits.
    pub input: BufferId,
    /// Probabilities.
    pub output: BufferId,
}

/// The function of an elementwise kernel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MapKind {
    /// Apply a matrix product's epilogue in place; `cols` gives the column of element `i` (`i % cols`).
    Epilogue {
        /// The matrix, read and written.
        buf: BufferId,
        /// The function.
        epilogue: GemmEpilogue,
        /// Row length.
        cols: usize,
    },
    /// `out[i] = silu(gate[i]) * up[i]`.
    SwiGlu {
        /// Gate projection.
        gate: BufferId,
        /// Up projection.
        up: BufferId,
        /// Result.
        out: BufferId,
    },
    /// `out[t][h] = sum_j weights[t][j] * y[rows[t][j]][h]`: the weighted combine of routed expert outputs.
    MoeCombine {
        /// Expert outputs, one row per routed token.
        y: BufferId,
        /// Row of `y` for each (token, route).
        rows: BufferId,
        /// Weight of each (token, route).
        weights: BufferId,
        /// Result, `tokens x hidden`.
        out: BufferId,
        /// Routes per token.
        top_k: usize,
        /// Row length.
        hidden: usize,
    },
}

/// An elementwise kernel over `len` output elements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MapSpec {
    /// Output elements.
    pub len: usize,
    /// What each element computes.
    pub kind: MapKind,
}

/// The sketch of one kernel with its fixed facts (shapes and buffers).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "sketch")]
pub enum KernelSpec {
    /// Matrix product.
    Gemm(GemmSpec),
    /// Row softmax.
    Softmax(SoftmaxSpec),
    /// Elementwise.
    Map(MapSpec),
}

/// A named kernel of a program.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kernel {
    /// Stable name, the key of its decisions in a schedule (`matmul`, `scores`, `gate`, ...).
    pub name: String,
    /// Its sketch and facts.
    pub spec: KernelSpec,
}

/// The buffers and kernels (run in order) that compute an operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Program {
    /// Every buffer.
    pub buffers: Vec<BufferDecl>,
    /// Kernels in execution order.
    pub kernels: Vec<Kernel>,
}

impl Program {
    /// Lowers an operator; `fuse_epilogue` folds elementwise epilogues into the producing matrix product.
    pub fn lower(op: &Op, fuse_epilogue: bool) -> Program {
        let mut p = Builder::default();
        match *op {
            Op::Matmul(o) => {
                let a = p.buf("a", o.batch * o.m * o.k, BufferRole::RandomInput);
                let b = p.buf("b", o.batch * o.k * o.n, BufferRole::RandomInput);
                let epilogue = match o.epilogue {
                    Epilogue::None => GemmEpilogue::None,
                    Epilogue::Bias => GemmEpilogue::Bias { buf: p.buf("bias", o.n, BufferRole::RandomInput) },
                    Epilogue::Scale { factor } => GemmEpilogue::Scale { factor },
                    Epilogue::Silu => GemmEpilogue::Silu,
                    Epilogue::Gelu => GemmEpilogue::Gelu,
                };
                let c = p.buf("c", o.batch * o.m * o.n, BufferRole::Output);
                let fused = fuse_epilogue || epilogue == GemmEpilogue::None;
                p.gemm(
                    "matmul",
                    GemmSpec {
                        batch: o.batch,
                        m: o.m,
                        n: o.n,
                        k: o.k,
                        a: OperandA::Dense { buf: a, batch_stride: o.m * o.k },
                        b: OperandB { buf: b, batch_stride: o.k * o.n, batch_div: 1, transposed: o.transpose_b },
                        out: c,
                        epilogue: if fused { epilogue } else { GemmEpilogue::None },
                    },
                );
                if !fused {
                    p.map("epilogue", o.batch * o.m * o.n, MapKind::Epilogue { buf: c, epilogue, cols: o.n });
                }
            }
            Op::Softmax(o) => {
                let x = p.buf("x", o.rows * o.cols, BufferRole::RandomInput);
                let y = p.buf("y", o.rows * o.cols, BufferRole::Output);
                p.softmax("softmax", o.rows, o.cols, o.queries, o.causal, o.scale, x, y);
            }
            Op::Attention(o) => {
                let bh = o.batch * o.heads;
                let bkv = o.batch * o.kv_heads;
                let q = p.buf("q", bh * o.seq_q * o.head_dim, BufferRole::RandomInput);
                let k = p.buf("k", bkv * o.seq_kv * o.head_dim, BufferRole::RandomInput);
                let v = p.buf("v", bkv * o.seq_kv * o.head_dim, BufferRole::RandomInput);
                let s = p.buf("scores", bh * o.seq_q * o.seq_kv, BufferRole::Scratch);
                let pr = p.buf("probs", bh * o.seq_q * o.seq_kv, BufferRole::Scratch);
                let out = p.buf("o", bh * o.seq_q * o.head_dim, BufferRole::Output);
                p.gemm(
                    "scores",
                    GemmSpec {
                        batch: bh,
                        m: o.seq_q,
                        n: o.seq_kv,
                        k: o.head_dim,
                        a: OperandA::Dense { buf: q, batch_stride: o.seq_q * o.head_dim },
                        b: OperandB {
                            buf: k,
                            batch_stride: o.seq_kv * o.head_dim,
                            batch_div: o.group(),
                            transposed: true,
                        },
                        out: s,
                        epilogue: GemmEpilogue::None,
                    },
                );
                p.softmax("softmax", bh * o.seq_q, o.seq_kv, o.seq_q, o.causal, o.scale(), s, pr);
                p.gemm(
                    "context",
                    GemmSpec {
                        batch: bh,
                        m: o.seq_q,
                        n: o.head_dim,
                        k: o.seq_kv,
                        a: OperandA::Dense { buf: pr, batch_stride: o.seq_q * o.seq_kv },
                        b: OperandB {
                            buf: v,
                            batch_stride: o.seq_kv * o.head_dim,
                            batch_div: o.group(),
                            transposed: false,
                        },
                        out,
                        epilogue: GemmEpilogue::None,
                    },
                );
            }
            Op::Conv2d(o) => {
                let x = p.buf("x", o.batch * o.height * o.width * o.in_channels, BufferRole::RandomInput);
                let w = p.buf("w", 9 * o.in_channels * o.out_channels, BufferRole::RandomInput);
                let y = p.buf("y", o.batch * o.height * o.width * o.out_channels, BufferRole::Output);
                p.gemm(
                    "conv",
                    GemmSpec {
                        batch: 1,
                        m: o.batch * o.height * o.width,
                        n: o.out_channels,
                        k: 9 * o.in_channels,
                        a: OperandA::Im2col { buf: x, height: o.height, width: o.width, channels: o.in_channels },
                        b: OperandB { buf: w, batch_stride: 0, batch_div: 1, transposed: false },
                        out: y,
                        epilogue: GemmEpilogue::None,
                    },
                );
            }
            Op::SwigluMlp(o) => {
                let (t, h, i) = (o.tokens, o.hidden, o.intermediate);
                let x = p.buf("x", t * h, BufferRole::RandomInput);
                let wg = p.buf("w_gate", h * i, BufferRole::RandomInput);
                let wu = p.buf("w_up", h * i, BufferRole::RandomInput);
                let wd = p.buf("w_down", i * h, BufferRole::RandomInput);
                let a_x = OperandA::Dense { buf: x, batch_stride: 0 };
                let b = |buf| OperandB { buf, batch_stride: 0, batch_div: 1, transposed: false };
                p.swiglu_and_down(fuse_epilogue, 1, t, h, i, a_x, b(wg), b(wu), b(wd), "out");
            }
            Op::Moe(o) => {
                let (t, h, f, e, cap) = (o.tokens, o.hidden, o.ffn, o.experts, o.capacity());
                let x = p.buf("x", t * h, BufferRole::RandomInput);
                let rows = p.index_buf(IndexTable::ExpertRows, e * cap);
                let wg = p.buf("w_gate", e * h * f, BufferRole::RandomInput);
                let wu = p.buf("w_up", e * h * f, BufferRole::RandomInput);
                let wd = p.buf("w_down", e * f * h, BufferRole::RandomInput);
                let route = p.index_buf(IndexTable::RouteRows, t * o.top_k);
                let weights = p.buf("route_weights", t * o.top_k, BufferRole::PositiveInput);
                let a_x = OperandA::Gathered { buf: x, rows };
                let b = |buf| OperandB { buf, batch_stride: h * f, batch_div: 1, transposed: false };
                let y = p.swiglu_and_down(fuse_epilogue, e, cap, h, f, a_x, b(wg), b(wu), b(wd), "expert_out");
                let out = p.buf("out", t * h, BufferRole::Output);
                p.map(
                    "combine",
                    t * h,
                    MapKind::MoeCombine { y, rows: route, weights, out, top_k: o.top_k, hidden: h },
                );
            }
        }
        Program { buffers: p.buffers, kernels: p.kernels }
    }

    /// The buffer with this name.
    pub fn buffer(&self, name: &str) -> Option<BufferId> {
        self.buffers.iter().position(|b| b.name == name)
    }

    /// Buffers checked against the reference.
    pub fn outputs(&self) -> impl Iterator<Item = BufferId> + '_ {
        self.buffers.iter().enumerate().filter(|(_, b)| b.role == BufferRole::Output).map(|(i, _)| i)
    }

    /// The kernel with this name.
    pub fn kernel(&self, name: &str) -> Option<&Kernel> {
        self.kernels.iter().find(|k| k.name == name)
    }
}

#[derive(Default)]
struct Builder {
    buffers: Vec<BufferDecl>,
    kernels: Vec<Kernel>,
}

impl Builder {
    fn buf(&mut self, name: &str, len: usize, role: BufferRole) -> BufferId {
        self.buffers.push(BufferDecl { name: name.into(), len, elem: Elem::F32, role });
        self.buffers.len() - 1
    }

    fn index_buf(&mut self, table: IndexTable, len: usize) -> BufferId {
        let (name, role) = (table.name().into(), BufferRole::IndexInput(table));
        self.buffers.push(BufferDecl { name, len, elem: Elem::U32, role });
        self.buffers.len() - 1
    }

    fn gemm(&mut self, name: &str, spec: GemmSpec) {
        self.kernels.push(Kernel { name: name.into(), spec: KernelSpec::Gemm(spec) });
    }

    fn map(&mut self, name: &str, len: usize, kind: MapKind) {
        self.kernels.push(Kernel { name: name.into(), spec: KernelSpec::Map(MapSpec { len, kind }) });
    }

    #[allow(clippy::too_many_arguments)]
    fn softmax(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
        queries: usize,
        causal: bool,
        scale: f32,
        input: BufferId,
        output: BufferId,
    ) {
        let spec = SoftmaxSpec { rows, cols, queries, causal, scale, input, output };
        self.kernels.push(Kernel { name: name.into(), spec: KernelSpec::Softmax(spec) });
    }

    /// gate and up projections of `x` (`batch x rows x hidden`), the SwiGLU combine (fused into `up` or
    /// its own kernel), and the down projection into a new buffer named `out_name`, which it returns.
    #[allow(clippy::too_many_arguments)]
    fn swiglu_and_down(
        &mut self,
        fuse: bool,
        batch: usize,
        rows: usize,
        hidden: usize,
        inner: usize,
        x: OperandA,
        w_gate: OperandB,
        w_up: OperandB,
        w_down: OperandB,
        out_name: &str,
    ) -> BufferId {
        let inner_len = batch * rows * inner;
        let g = self.buf("gate", inner_len, BufferRole::Scratch);
        let u = if fuse { None } else { Some(self.buf("up", inner_len, BufferRole::Scratch)) };
        let hbuf = self.buf("act", inner_len, BufferRole::Scratch);
        let out_role = if out_name == "out" { BufferRole::Output } else { BufferRole::Scratch };
        let out = self.buf(out_name, batch * rows * hidden, out_role);
        let proj =
            |b: OperandB, out, epilogue| GemmSpec { batch, m: rows, n: inner, k: hidden, a: x, b, out, epilogue };
        self.gemm("gate", proj(w_gate, g, GemmEpilogue::None));
        match u {
            None => self.gemm("up", proj(w_up, hbuf, GemmEpilogue::MulSiluOf { gate: g })),
            Some(u) => {
                self.gemm("up", proj(w_up, u, GemmEpilogue::None));
                self.map("swiglu", inner_len, MapKind::SwiGlu { gate: g, up: u, out: hbuf });
            }
        }
        self.gemm(
            "down",
            GemmSpec {
                batch,
                m: rows,
                n: hidden,
                k: inner,
                a: OperandA::Dense { buf: hbuf, batch_stride: rows * inner },
                b: w_down,
                out,
                epilogue: GemmEpilogue::None,
            },
        );
        out
    }
}
