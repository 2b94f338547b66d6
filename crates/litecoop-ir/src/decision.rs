//! The schedule decisions, each declared once.
//!
//! Every sketch (kernel template) has a table of [`Decision`] rows, one per decision: the words of its
//! transformation (`tile m`), its label in schedule descriptions and WGSL headers (`BM`), the values it may
//! take, its legality rule (as code and as one line of text) and what it means to a reader. Everything else
//! is derived from these tables:
//! - legality ([`crate::legality`]): a value outside the row's values, or a broken rule, is illegal;
//! - the transformations ([`crate::transform`]): one edit per row and value, printed and parsed by the row;
//! - the sampler ([`crate::space`]): draws the rows in order, each among the values its rule allows;
//! - the schedule's one-line description ([`crate::schedule::describe_decisions`]);
//! - the prompt vocabulary an LLM reads ([`vocabulary`]).
//!
//! A row's rule may read only its own decision and the rows above it (plus the kernel's shapes and the
//! device), so the sampler can draw any legal value of every decision in one pass. What depends on the
//! whole kernel (invocations per workgroup, workgroup memory, dispatch size) is the sketch's
//! [`Sketch::fits`]. Adding a decision is one field in the sketch's struct and one row here.

use crate::legality::{fold_grid, DeviceLimits, GRID_DIM};
use crate::program::{GemmSpec, MapSpec, SoftmaxSpec};
use crate::schedule::{GemmDecisions, MapDecisions, SoftmaxDecisions};

/// One decision of a sketch whose decisions are `D` and whose fixed facts are `S`.
pub struct Decision<D: 'static, S: 'static> {
    /// The words of its transformation before the value (`tile m`); unique over all sketches.
    pub name: &'static str,
    /// Its label in schedule descriptions and WGSL headers (`BM`).
    pub label: &'static str,
    /// The values it may take, ascending (on/off decisions: 0 and 1).
    pub values: &'static [u32],
    /// For on/off decisions, the words of 0 and 1 in transformations (`global`, `shared`).
    pub words: Option<[&'static str; 2]>,
    /// What it decides, for people and prompts.
    pub meaning: &'static str,
    /// Its legality rule in words (empty when any listed value is legal).
    pub rule_text: &'static str,
    /// Its legality rule: may read this decision and the rows above it, never the rows below.
    pub rule: fn(&S, &D, &DeviceLimits) -> Result<(), String>,
    /// Reads the decision.
    pub get: fn(&D) -> u32,
    /// Sets the decision.
    pub set: fn(&mut D, u32),
}

impl<D, S> Decision<D, S> {
    /// The value as written in a transformation (`64`, `shared`).
    pub fn word(&self, value: u32) -> String {
        match self.words {
            Some(words) if value <= 1 => words[value as usize].to_string(),
            _ => value.to_string(),
        }
    }

    /// The value as written in a description (`64`, `true`).
    pub fn describe(&self, value: u32) -> String {
        match self.words {
            Some(_) => (value == 1).to_string(),
            None => value.to_string(),
        }
    }

    /// Parses a value written as in a transformation.
    pub fn parse_value(&self, word: &str) -> Result<u32, String> {
        match self.words {
            Some(words) => words
                .iter()
                .position(|w| *w == word)
                .map(|i| i as u32)
                .ok_or_else(|| format!("`{word}` is not {} or {}", words[0], words[1])),
            None => word.parse::<u32>().map_err(|_| format!("`{word}` is not a non-negative integer")),
        }
    }

    /// The allowed values in words: a run of powers of two shortened (`1, 2, 4, ..., 256`), any other list
    /// in full.
    pub fn values_text(&self) -> String {
        let words: Vec<String> = self.values.iter().map(|v| self.word(*v)).collect();
        if words.len() > 5 && self.values.windows(2).all(|w| w[1] == 2 * w[0]) {
            format!("{}, {}, {}, ..., {}", words[0], words[1], words[2], words[words.len() - 1])
        } else {
            words.join(", ")
        }
    }
}

/// The sketches: kernel templates whose decisions are tabled here.
pub trait Sketch: Copy + PartialEq + Sized + 'static {
    /// The kernel's fixed facts (shapes and buffers).
    type Spec: 'static;
    /// The decision table, in the order rules may read (and the sampler draws) them.
    fn decisions() -> &'static [Decision<Self, Self::Spec>];
    /// Whether the whole kernel fits the device: invocations, workgroup memory, dispatch size.
    fn fits(spec: &Self::Spec, d: &Self, limits: &DeviceLimits) -> Result<(), String>;
}

/// A tile of `value` along an extent of `size`: at most the size rounded up to a power of two (a tile that
/// does not divide its extent is bounds-guarded; a larger one would only compute padding).
fn within(label: &str, value: u32, extent: &str, size: usize) -> Result<(), String> {
    let most = size.next_power_of_two();
    require(value as usize <= most, || {
        format!("{label}={value} exceeds {extent}={size} rounded up to a power of two ({most})")
    })
}

fn ok() -> Result<(), String> {
    Ok(())
}

fn require(condition: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(why())
    }
}

const POW2_TO_256: &[u32] = &[1, 2, 4, 8, 16, 32, 64, 128, 256];
/// Workgroup tiles: powers of two and three times powers of two, so an extent like 333 finds a tile that
/// wastes little (48: 7 tiles cover 336) where the powers of two waste more (32: 352, 64: 384).
const TILE_SIZES: &[u32] = &[1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256];
const POW2_TO_64: &[u32] = &[1, 2, 4, 8, 16, 32, 64];
const POW2_TO_16: &[u32] = &[1, 2, 4, 8, 16];
const OFF_ON: &[u32] = &[0, 1];
/// Subgroup sizes a decision may assume (0: none); the device's own sizes are its rule's business.
const SUBGROUP_SIZES: &[u32] = &[0, 4, 8, 16, 32, 64, 128];
const STAGE_WORDS: Option<[&str; 2]> = Some(["global", "shared"]);

/// The matrix-product sketch's decisions.
pub static GEMM: [Decision<GemmDecisions, GemmSpec>; 15] = [
    Decision {
        name: "tile m",
        label: "BM",
        values: TILE_SIZES,
        words: None,
        meaning: "workgroup tile of output rows",
        rule_text: "at most M rounded up to a power of two",
        rule: |s, d, _| within("BM", d.bm, "M", s.m),
        get: |d| d.bm,
        set: |d, v| d.bm = v,
    },
    Decision {
        name: "tile n",
        label: "BN",
        values: TILE_SIZES,
        words: None,
        meaning: "workgroup tile of output columns",
        rule_text: "at most N rounded up to a power of two",
        rule: |s, d, _| within("BN", d.bn, "N", s.n),
        get: |d| d.bn,
        set: |d, v| d.bn = v,
    },
    Decision {
        name: "thread_tile m",
        label: "TM",
        values: POW2_TO_16,
        words: None,
        meaning: "output rows computed by each invocation (register tile)",
        rule_text: "divides BM",
        rule: |_, d, _| require(d.bm % d.tm == 0, || format!("TM={} must divide BM={}", d.tm, d.bm)),
        get: |d| d.tm,
        set: |d, v| d.tm = v,
    },
    Decision {
        name: "thread_tile n",
        label: "TN",
        values: POW2_TO_16,
        words: None,
        meaning: "output columns computed by each invocation (register tile)",
        rule_text: "divides BN; TM*TN <= 128",
        rule: |_, d, _| {
            require(d.bn % d.tn == 0, || format!("TN={} must divide BN={}", d.tn, d.bn))?;
            require(d.tm * d.tn <= 128, || format!("register tile TM*TN={} exceeds 128 accumulators", d.tm * d.tn))
        },
        get: |d| d.tn,
        set: |d, v| d.tn = v,
    },
    Decision {
        name: "tile k",
        label: "BK",
        values: POW2_TO_64,
        words: None,
        meaning: "reduction steps per outer iteration (the depth of a staged tile)",
        rule_text: "at most K rounded up to a power of two",
        rule: |s, d, _| within("BK", d.bk, "K", s.k),
        get: |d| d.bk,
        set: |d, v| d.bk = v,
    },
    Decision {
        name: "unroll k",
        label: "unroll",
        values: POW2_TO_64,
        words: None,
        meaning: "reduction steps written out straight-line",
        rule_text: "divides BK",
        rule: |_, d, _| require(d.bk % d.unroll == 0, || format!("unroll={} must divide BK={}", d.unroll, d.bk)),
        get: |d| d.unroll,
        set: |d, v| d.unroll = v,
    },
    Decision {
        name: "vectorize",
        label: "vector",
        values: &[1, 4],
        words: None,
        meaning: "load width along each operand's contiguous dimension",
        rule_text: "4 needs unroll, TN and the operands' contiguous sizes to be multiples of 4",
        rule: |s, d, _| {
            if d.vector != 4 {
                return ok();
            }
            require(d.unroll % 4 == 0, || {
                format!("vector=4 needs unroll to be a multiple of 4 (unroll={})", d.unroll)
            })?;
            require(s.a.k_vectorizable(s.k), || "operand A cannot be read 4-wide along K".into())?;
            if s.b.transposed {
                require(s.k % 4 == 0 && s.b.batch_stride % 4 == 0, || "operand B cannot be read 4-wide along K".into())
            } else {
                require(d.tn % 4 == 0 && s.b.batch_stride % 4 == 0, || {
                    format!("vector=4 needs TN to be a multiple of 4 (TN={})", d.tn)
                })?;
                require(s.n % 4 == 0, || format!("operand B cannot be read 4-wide along N={}", s.n))
            }
        },
        get: |d| d.vector,
        set: |d, v| d.vector = v,
    },
    Decision {
        name: "stage a",
        label: "stage_a",
        values: OFF_ON,
        words: STAGE_WORDS,
        meaning: "keep the A tile in workgroup memory (shared) or read it from global memory",
        rule_text: "",
        rule: |_, _, _| ok(),
        get: |d| d.stage_a as u32,
        set: |d, v| d.stage_a = v == 1,
    },
    Decision {
        name: "stage b",
        label: "stage_b",
        values: OFF_ON,
        words: STAGE_WORDS,
        meaning: "keep the B tile in workgroup memory (shared) or read it from global memory",
        rule_text: "",
        rule: |_, _, _| ok(),
        get: |d| d.stage_b as u32,
        set: |d, v| d.stage_b = v == 1,
    },
    Decision {
        name: "pad",
        label: "pad",
        values: &[0, 1, 2, 4],
        words: None,
        meaning: "floats of padding per staged row (against bank conflicts)",
        rule_text: "only with a staged operand",
        rule: |_, d, _| {
            require(d.pad == 0 || d.stage_a || d.stage_b, || format!("pad={} only applies to staged operands", d.pad))
        },
        get: |d| d.pad,
        set: |d, v| d.pad = v,
    },
    Decision {
        name: "split_k",
        label: "split_k",
        values: POW2_TO_16,
        words: None,
        meaning: "split the reduction across workgroups, summed by a second pass (1 = off)",
        rule_text: "at most K/BK rounded up",
        rule: |s, d, limits| {
            let steps = s.k.div_ceil(d.bk as usize);
            require(d.split_k as usize <= steps, || {
                format!("split_k={} exceeds the {steps} BK steps of K={}", d.split_k, s.k)
            })?;
            if d.split_k == 1 {
                return ok();
            }
            let partial = d.split_k as u64 * s.batch as u64 * s.m as u64 * s.n as u64 * 4;
            require(partial <= limits.max_storage_buffer_binding_size, || {
                format!(
                    "split-K partials need {partial} bytes, the device binds at most {}",
                    limits.max_storage_buffer_binding_size
                )
            })?;
            let reduce_groups = (s.batch as u64 * s.m as u64 * s.n as u64).div_ceil(64);
            dispatch_fits(reduce_groups, limits).map_err(|why| format!("the split-K reduction: {why}"))
        },
        get: |d| d.split_k,
        set: |d, v| d.split_k = v,
    },
    Decision {
        name: "swizzle",
        label: "swizzle",
        values: &[0, 2, 4, 8, 16],
        words: None,
        meaning: "workgroup order in groups of V tile rows walked column-first (0 = row-major)",
        rule_text: "0 or divides the tile rows M/BM (rounded up)",
        rule: |s, d, _| {
            let rows = s.m.div_ceil(d.bm as usize);
            require(d.swizzle == 0 || rows % d.swizzle as usize == 0, || {
                format!("swizzle={} does not divide the {rows} tile rows", d.swizzle)
            })
        },
        get: |d| d.swizzle,
        set: |d, v| d.swizzle = v,
    },
    Decision {
        name: "columns",
        label: "interleave",
        values: OFF_ON,
        words: Some(["contiguous", "interleaved"]),
        meaning: "an invocation's TN output columns: contiguous, or one (one vec4 when vectorized along n) per \
                  stretch of the workgroup tile so neighbouring invocations touch neighbouring addresses",
        rule_text: "interleaved needs more than one column (vec4) per invocation",
        rule: |s, d, _| {
            let grain = if d.vector == 4 && !s.b.transposed { 4 } else { 1 };
            require(!d.interleave || d.tn > grain, || format!("interleaved columns need TN > {grain} (TN={})", d.tn))
        },
        get: |d| d.interleave as u32,
        set: |d, v| d.interleave = v == 1,
    },
    Decision {
        name: "staging",
        label: "double_buffer",
        values: OFF_ON,
        words: Some(["single", "double"]),
        meaning: "one copy of each staged tile, or two: the next tile is copied into one while the other is read \
                  (one barrier per reduction step instead of two, twice the workgroup memory)",
        rule_text: "double only with a staged operand",
        rule: |_, d, _| {
            require(!d.double_buffer || d.stage_a || d.stage_b, || "double buffering needs a staged operand".into())
        },
        get: |d| d.double_buffer as u32,
        set: |d, v| d.double_buffer = v == 1,
    },
    Decision {
        name: "broadcast a",
        label: "a_broadcast",
        values: SUBGROUP_SIZES,
        words: None,
        meaning: "A read from global memory once per subgroup: the V invocations of a subgroup share their rows, \
                  each loads a different one of the step's A values and subgroup broadcasts hand them round \
                  (0 = every invocation loads all of its own; a workgroup whose subgroups differ does that)",
        rule_text: "0, or a subgroup size of the device with A read from global memory, BN/TN a multiple of V and \
                    at least two A loads per invocation and step (TM*unroll/vector >= 2)",
        rule: |_, d, limits| {
            if d.a_broadcast == 0 {
                return ok();
            }
            subgroup_size_fits("a_broadcast", d.a_broadcast, limits)?;
            require(!d.stage_a, || "broadcasting A needs A read from global memory (stage a global)".into())?;
            require((d.bn / d.tn) % d.a_broadcast == 0, || {
                format!(
                    "the {} invocations along a tile row are not a multiple of a_broadcast={}",
                    d.bn / d.tn,
                    d.a_broadcast
                )
            })?;
            require(d.a_loads_per_step() >= 2, || {
                format!("a_broadcast needs at least two A loads per step (TM*unroll/vector={})", d.a_loads_per_step())
            })
        },
        get: |d| d.a_broadcast,
        set: |d, v| d.a_broadcast = v,
    },
];

impl Sketch for GemmDecisions {
    type Spec = GemmSpec;

    fn decisions() -> &'static [Decision<GemmDecisions, GemmSpec>] {
        &GEMM
    }

    fn fits(s: &GemmSpec, d: &GemmDecisions, limits: &DeviceLimits) -> Result<(), String> {
        let [wx, wy, _] = d.workgroup_size();
        workgroup_fits(wx, wy, limits)?;
        memory_fits(d.workgroup_memory_bytes(s), limits)?;
        let tiles = (s.m.div_ceil(d.bm as usize) as u64, s.n.div_ceil(d.bn as usize) as u64);
        let grid = if d.swizzle > 0 { [tiles.0 * tiles.1, 1] } else { [tiles.1, tiles.0] };
        let z = s.batch as u64 * d.split_k as u64;
        let max = limits.max_workgroups_per_dimension as u64;
        require(grid[0] <= max && grid[1] <= max && z <= max, || {
            format!("dispatch {}x{}x{z} exceeds {max} workgroups per dimension", grid[0], grid[1])
        })
    }
}

/// The row-softmax sketch's decisions.
pub static SOFTMAX: [Decision<SoftmaxDecisions, SoftmaxSpec>; 3] = [
    Decision {
        name: "row_threads",
        label: "threads_per_row",
        values: POW2_TO_256,
        words: None,
        meaning: "softmax invocations sharing one row",
        rule_text: "at most the row length",
        rule: |s, d, _| {
            require(d.threads_per_row as usize <= s.cols, || {
                format!("threads_per_row={} exceeds the row length {}", d.threads_per_row, s.cols)
            })
        },
        get: |d| d.threads_per_row,
        set: |d, v| d.threads_per_row = v,
    },
    Decision {
        name: "rows",
        label: "rows_per_workgroup",
        values: POW2_TO_256,
        words: None,
        meaning: "softmax rows per workgroup",
        rule_text: "at most the rows rounded up to a power of two",
        rule: |s, d, _| within("rows_per_workgroup", d.rows_per_workgroup, "rows", s.rows),
        get: |d| d.rows_per_workgroup,
        set: |d, v| d.rows_per_workgroup = v,
    },
    Decision {
        name: "row reduce",
        label: "subgroup",
        values: SUBGROUP_SIZES,
        words: None,
        meaning: "how a softmax row's invocations combine their partial results: 0 = a tree in workgroup memory; \
                  V = subgroup shuffles assuming V-invocation subgroups (a workgroup whose subgroups differ takes \
                  the tree)",
        rule_text: "0, or a subgroup size of the device with threads_per_row > 1 and the workgroup a multiple of V",
        rule: |_, d, limits| {
            if d.subgroup == 0 {
                return ok();
            }
            subgroup_size_fits("subgroup", d.subgroup, limits)?;
            require(d.threads_per_row > 1, || "subgroup reductions need threads_per_row > 1".into())?;
            let invocations = d.threads_per_row * d.rows_per_workgroup;
            require(invocations % d.subgroup == 0, || {
                format!("the workgroup's {invocations} invocations are not a multiple of subgroup={}", d.subgroup)
            })
        },
        get: |d| d.subgroup,
        set: |d, v| d.subgroup = v,
    },
];

impl Sketch for SoftmaxDecisions {
    type Spec = SoftmaxSpec;

    fn decisions() -> &'static [Decision<SoftmaxDecisions, SoftmaxSpec>] {
        &SOFTMAX
    }

    fn fits(s: &SoftmaxSpec, d: &SoftmaxDecisions, limits: &DeviceLimits) -> Result<(), String> {
        let invocations = d.threads_per_row * d.rows_per_workgroup;
        workgroup_fits(invocations, 1, limits)?;
        memory_fits(invocations * 4, limits)?;
        dispatch_fits(s.rows.div_ceil(d.rows_per_workgroup as usize) as u64, limits)
    }
}

/// The elementwise sketch's decisions.
pub static MAP: [Decision<MapDecisions, MapSpec>; 3] = [
    Decision {
        name: "workgroup",
        label: "workgroup_size",
        values: &[32, 64, 128, 256],
        words: None,
        meaning: "elementwise invocations per workgroup",
        rule_text: "",
        rule: |_, _, _| ok(),
        get: |d| d.workgroup_size,
        set: |d, v| d.workgroup_size = v,
    },
    Decision {
        name: "items",
        label: "items",
        values: &[1, 2, 4, 8],
        words: None,
        meaning: "elements per elementwise invocation",
        rule_text: "",
        rule: |_, _, _| ok(),
        get: |d| d.items,
        set: |d, v| d.items = v,
    },
    Decision {
        name: "item order",
        label: "strided",
        values: OFF_ON,
        words: Some(["consecutive", "strided"]),
        meaning: "an elementwise invocation's items: consecutive elements, or one per workgroup-wide stretch so \
                  neighbouring invocations touch neighbouring addresses",
        rule_text: "strided only with more than one item",
        rule: |_, d, _| require(!d.strided || d.items > 1, || "strided needs items > 1".to_string()),
        get: |d| d.strided as u32,
        set: |d, v| d.strided = v == 1,
    },
];

impl Sketch for MapDecisions {
    type Spec = MapSpec;

    fn decisions() -> &'static [Decision<MapDecisions, MapSpec>] {
        &MAP
    }

    fn fits(s: &MapSpec, d: &MapDecisions, limits: &DeviceLimits) -> Result<(), String> {
        workgroup_fits(d.workgroup_size, 1, limits)?;
        dispatch_fits((s.len as u64).div_ceil(d.workgroup_size as u64 * d.items as u64), limits)
    }
}

fn workgroup_fits(x: u32, y: u32, limits: &DeviceLimits) -> Result<(), String> {
    require(x * y <= limits.max_invocations_per_workgroup, || {
        format!("{} invocations per workgroup, the device allows {}", x * y, limits.max_invocations_per_workgroup)
    })?;
    require(x <= limits.max_workgroup_size_x && y <= limits.max_workgroup_size_y, || {
        format!(
            "workgroup {x}x{y} exceeds the device's {}x{}",
            limits.max_workgroup_size_x, limits.max_workgroup_size_y
        )
    })
}

/// A decision `label` that assumes subgroups of `size` invocations: the device must have subgroup
/// operations and `size` among its subgroup sizes.
fn subgroup_size_fits(label: &str, size: u32, limits: &DeviceLimits) -> Result<(), String> {
    let (least, most) = (limits.min_subgroup_size, limits.max_subgroup_size);
    require(most > 0, || format!("{label}={size} needs a device with subgroup operations"))?;
    require(least <= size && size <= most, || {
        format!("{label}={size} is outside the device's subgroup sizes {least}..{most}")
    })
}

fn memory_fits(bytes: u32, limits: &DeviceLimits) -> Result<(), String> {
    require(bytes <= limits.max_workgroup_storage_bytes, || {
        format!("{bytes} bytes of workgroup memory, the device allows {}", limits.max_workgroup_storage_bytes)
    })
}

/// A one-dimensional dispatch of `groups` workgroups, folded into two dimensions when one does not hold it.
fn dispatch_fits(groups: u64, limits: &DeviceLimits) -> Result<(), String> {
    let grid = fold_grid(groups);
    require(grid.is_some_and(|g| g.iter().all(|&n| n <= limits.max_workgroups_per_dimension)), || {
        format!("{groups} workgroups exceed a {0} x {0} grid", GRID_DIM.min(limits.max_workgroups_per_dimension as u64))
    })
}

/// Checks every decision of one kernel: each value among its row's values, each row's rule, then the fit.
pub fn check_decisions<D: Sketch>(spec: &D::Spec, d: &D, limits: &DeviceLimits) -> Result<(), String> {
    for row in D::decisions() {
        let value = (row.get)(d);
        require(row.values.contains(&value), || {
            format!("{}={} must be one of {}", row.label, row.describe(value), row.values_text())
        })?;
        (row.rule)(spec, d, limits)?;
    }
    D::fits(spec, d, limits)
}

/// Where a transformation's name (`tile m`) is declared: the sketch and the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Row {
    /// A row of [`GEMM`].
    Gemm(usize),
    /// A row of [`SOFTMAX`].
    Softmax(usize),
    /// A row of [`MAP`].
    Map(usize),
}

impl Row {
    /// The row whose name is `name`.
    pub fn find(name: &str) -> Option<Row> {
        (GEMM.iter().position(|r| r.name == name).map(Row::Gemm))
            .or_else(|| SOFTMAX.iter().position(|r| r.name == name).map(Row::Softmax))
            .or_else(|| MAP.iter().position(|r| r.name == name).map(Row::Map))
    }

    /// The row's name (`tile m`).
    pub fn name(self) -> &'static str {
        match self {
            Row::Gemm(i) => GEMM[i].name,
            Row::Softmax(i) => SOFTMAX[i].name,
            Row::Map(i) => MAP[i].name,
        }
    }

    /// A value in the row's words (`shared`, `64`).
    pub fn word(self, value: u32) -> String {
        match self {
            Row::Gemm(i) => GEMM[i].word(value),
            Row::Softmax(i) => SOFTMAX[i].word(value),
            Row::Map(i) => MAP[i].word(value),
        }
    }

    /// Parses a value written in the row's words.
    pub fn parse_value(self, word: &str) -> Result<u32, String> {
        match self {
            Row::Gemm(i) => GEMM[i].parse_value(word),
            Row::Softmax(i) => SOFTMAX[i].parse_value(word),
            Row::Map(i) => MAP[i].parse_value(word),
        }
    }

    /// Every transformation name, in table order.
    pub fn names() -> Vec<&'static str> {
        GEMM.iter().map(|r| r.name).chain(SOFTMAX.iter().map(|r| r.name)).chain(MAP.iter().map(|r| r.name)).collect()
    }
}

/// The transformation vocabulary for people and LLMs, one line per decision, derived from the tables.
pub fn vocabulary() -> String {
    fn lines<D, S>(rows: &[Decision<D, S>], out: &mut String) {
        for r in rows {
            let value = if r.words.is_some() { r.values_text().replace(", ", "|") } else { "V".into() };
            let mut line = format!("- KERNEL: {} {value} - {}", r.name, r.meaning);
            if r.words.is_none() {
                line.push_str(&format!(" (V: {}", r.values_text()));
                if !r.rule_text.is_empty() {
                    line.push_str(&format!("; {}", r.rule_text));
                }
                line.push(')');
            } else if !r.rule_text.is_empty() {
                line.push_str(&format!(" ({})", r.rule_text));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    let mut out = String::new();
    lines(&GEMM, &mut out);
    lines(&SOFTMAX, &mut out);
    lines(&MAP, &mut out);
    out.push_str("- fuse epilogue / unfuse epilogue - fold elementwise work into the matrix product, or not\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let names = Row::names();
        for (i, name) in names.iter().enumerate() {
            assert!(!names[..i].contains(name), "`{name}` twice");
            assert_eq!(Row::find(name).map(Row::name), Some(*name));
        }
        assert_eq!(Row::find("tile q"), None);
    }

    #[test]
    fn values_are_ascending_and_words_parse_back() {
        fn each<D, S>(rows: &[Decision<D, S>]) {
            for r in rows {
                assert!(r.values.windows(2).all(|w| w[0] < w[1]), "{}", r.name);
                for v in r.values {
                    assert_eq!(r.parse_value(&r.word(*v)), Ok(*v), "{}", r.name);
                }
            }
        }
        each(&GEMM);
        each(&SOFTMAX);
        each(&MAP);
    }

    #[test]
    fn subgroup_reductions_need_the_device_s_subgroup_size_shared_rows_and_whole_subgroups() {
        let spec = SoftmaxSpec { rows: 64, cols: 100, queries: 64, causal: false, scale: 1.0, input: 0, output: 1 };
        let d = |threads_per_row, rows_per_workgroup, subgroup| SoftmaxDecisions {
            threads_per_row,
            rows_per_workgroup,
            subgroup,
        };
        let lavapipe = DeviceLimits::lavapipe();
        let check = |d: SoftmaxDecisions, limits: &DeviceLimits| check_decisions(&spec, &d, limits);
        assert_eq!(check(d(4, 2, 8), &lavapipe), Ok(()));
        assert_eq!(check(d(32, 1, 8), &lavapipe), Ok(()));
        assert_eq!(check(d(32, 1, 0), &DeviceLimits::webgpu_default()), Ok(()));
        let refused = [
            (d(32, 1, 8), DeviceLimits::webgpu_default(), "needs a device with subgroup operations"),
            (d(32, 1, 16), lavapipe, "outside the device's subgroup sizes 8..8"),
            (d(1, 64, 8), lavapipe, "need threads_per_row > 1"),
            (d(2, 2, 8), lavapipe, "4 invocations are not a multiple of subgroup=8"),
            (d(32, 1, 12), lavapipe, "subgroup=12 must be one of"),
        ];
        for (d, limits, why) in refused {
            let e = check(d, &limits).unwrap_err();
            assert!(e.contains(why), "{d:?}: {e}");
        }
    }

    #[test]
    fn an_a_broadcast_needs_the_device_s_subgroup_size_global_a_whole_subgroups_per_row_and_two_loads() {
        use crate::op::{Epilogue, MatmulOp, Op};
        let op = Op::Matmul(MatmulOp { batch: 1, m: 64, n: 64, k: 64, transpose_b: false, epilogue: Epilogue::None });
        let program = crate::program::Program::lower(&op, true);
        let crate::program::KernelSpec::Gemm(spec) = program.kernel("matmul").unwrap().spec else { panic!() };
        // 32 x 64 tile, 2 x 4 per invocation: 16 invocations along a row, 8 A values per step.
        let base = GemmDecisions {
            bm: 32,
            bn: 64,
            tm: 2,
            tn: 4,
            bk: 8,
            unroll: 4,
            a_broadcast: 8,
            ..GemmDecisions::naive(&spec)
        };
        let lavapipe = DeviceLimits::lavapipe();
        let check = |d: GemmDecisions, limits: &DeviceLimits| check_decisions(&spec, &d, limits);
        assert_eq!(check(base, &lavapipe), Ok(()));
        assert_eq!(check(GemmDecisions { stage_b: true, tm: 1, unroll: 2, ..base }, &lavapipe), Ok(()));
        assert_eq!(base.workgroup_size(), [256, 1, 1], "one-dimensional");
        assert_eq!(GemmDecisions { a_broadcast: 0, ..base }.workgroup_size(), [16, 16, 1]);
        let refused = [
            (base, DeviceLimits::webgpu_default(), "needs a device with subgroup operations"),
            (GemmDecisions { a_broadcast: 16, ..base }, lavapipe, "outside the device's subgroup sizes 8..8"),
            (GemmDecisions { stage_a: true, ..base }, lavapipe, "needs A read from global memory"),
            (GemmDecisions { bn: 32, tn: 8, ..base }, lavapipe, "4 invocations along a tile row"),
            (GemmDecisions { tm: 1, unroll: 4, vector: 4, ..base }, lavapipe, "at least two A loads"),
        ];
        for (d, limits, why) in refused {
            let e = check(d, &limits).unwrap_err();
            assert!(e.contains(why), "{d:?}: {e}");
        }
    }

    #[test]
    fn the_vocabulary_has_a_line_per_decision() {
        let v = vocabulary();
        assert_eq!(v.lines().count(), GEMM.len() + SOFTMAX.len() + MAP.len() + 1);
        assert!(v.contains(
            "- KERNEL: tile m V - workgroup tile of output rows (V: 1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256; \
             at most M rounded up to a power of two)"
        ));
        assert!(v.contains("- KERNEL: stage a global|shared - "));
    }
}
