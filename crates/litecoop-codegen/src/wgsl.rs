//! Shared pieces of emitted WGSL: headers, binding declarations, epilogue expressions and the subgroup probe.

use litecoop_ir::program::{BufferId, GemmEpilogue, KernelSpec};
use litecoop_ir::schedule::{describe_decisions, KernelDecisions};
use std::fmt::Write;

/// The comment that opens every kernel: what it computes and the schedule it was generated from.
pub fn header(name: &str, spec: &KernelSpec, decisions: &KernelDecisions) -> String {
    let what = match spec {
        KernelSpec::Gemm(s) => format!(
            "gemm batch={} M={} N={} K={} A={} B={} epilogue={}",
            s.batch,
            s.m,
            s.n,
            s.k,
            match s.a {
                litecoop_ir::program::OperandA::Dense { .. } => "dense",
                litecoop_ir::program::OperandA::Gathered { .. } => "gathered",
                litecoop_ir::program::OperandA::Im2col { .. } => "im2col3x3",
            },
            if s.b.transposed { "transposed" } else { "dense" },
            epilogue_name(&s.epilogue)
        ),
        KernelSpec::Softmax(s) => {
            format!("softmax rows={} cols={} causal={} scale={}", s.rows, s.cols, s.causal, s.scale)
        }
        KernelSpec::Map(s) => format!("map len={} {}", s.len, serde_kind(s)),
    };
    format!("// litecoop kernel `{name}`: {what}\n// schedule: {}\n", describe_decisions(decisions))
}

fn serde_kind(s: &litecoop_ir::program::MapSpec) -> &'static str {
    match s.kind {
        litecoop_ir::program::MapKind::Epilogue { .. } => "epilogue",
        litecoop_ir::program::MapKind::SwiGlu { .. } => "swiglu",
        litecoop_ir::program::MapKind::MoeCombine { .. } => "moe_combine",
    }
}

fn epilogue_name(e: &GemmEpilogue) -> &'static str {
    match e {
        GemmEpilogue::None => "none",
        GemmEpilogue::Bias { .. } => "bias",
        GemmEpilogue::Scale { .. } => "scale",
        GemmEpilogue::Silu => "silu",
        GemmEpilogue::Gelu => "gelu",
        GemmEpilogue::MulSiluOf { .. } => "mul_silu_of_gate",
    }
}

/// Collects the bindings of one dispatch as it is written.
#[derive(Default)]
pub struct Bindings {
    /// Declarations, one per line.
    pub decls: String,
    /// (buffer, read_only) in binding order.
    pub list: Vec<(BufferId, bool)>,
}

impl Bindings {
    /// Declares `var<storage, ...> name: array<elem>` for a buffer and returns nothing; names are chosen
    /// by the caller so the WGSL reads like the schedule.
    pub fn add(&mut self, name: &str, buffer: BufferId, elem: &str, read_only: bool) {
        let access = if read_only { "read" } else { "read_write" };
        let index = self.list.len();
        let _ = writeln!(self.decls, "@group(0) @binding({index}) var<storage, {access}> {name}: array<{elem}>;");
        self.list.push((buffer, read_only));
    }

    /// The bindings as the plan records them.
    pub fn into_plan(self) -> Vec<crate::Binding> {
        self.list.into_iter().map(|(buffer, read_only)| crate::Binding { buffer, read_only }).collect()
    }
}

/// WGSL helper functions every kernel may call (unused ones cost nothing).
pub const MATH: &str = "fn silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh(clamp(0.7978845608 * (x + 0.044715 * x * x * x), -15.0, 15.0))); }
";

/// Binds the extra buffer an epilogue reads (bias or gate), under the name `epi_buf`.
pub fn bind_epilogue(bindings: &mut Bindings, e: &GemmEpilogue) {
    match *e {
        GemmEpilogue::Bias { buf } | GemmEpilogue::MulSiluOf { gate: buf } => bindings.add("epi_buf", buf, "f32", true),
        _ => {}
    }
}

/// The WGSL expression applying an epilogue to `v`, for the element at flat index `idx` and column `col`.
pub fn epilogue_expr(e: &GemmEpilogue, v: &str, idx: &str, col: &str) -> String {
    match *e {
        GemmEpilogue::None => v.to_string(),
        GemmEpilogue::Bias { .. } => format!("({v} + epi_buf[{col}])"),
        GemmEpilogue::Scale { factor } => format!("({v} * {})", float(factor)),
        GemmEpilogue::Silu => format!("silu({v})"),
        GemmEpilogue::Gelu => format!("gelu({v})"),
        GemmEpilogue::MulSiluOf { .. } => format!("(silu(epi_buf[{idx}]) * {v})"),
    }
}

/// A WGSL f32 literal.
pub fn float(x: f32) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// The dispatch grid of a one-dimensional count of workgroups (legality has checked that it fits); a
/// folded grid (`[x, y, 1]`, y > 1) makes the kernel number its invocations `gid.y * x * size + gid.x`.
pub fn grid(groups: u64) -> [u32; 3] {
    litecoop_ir::legality::fold_grid(groups).expect("legality refuses a dispatch that no grid holds")
}

/// The note, constant and workgroup variables of a kernel that assumes subgroups of `size` invocations.
/// WGSL's `enable subgroups;` belongs here, but naga (wgpu 30) rejects it and takes the operations without
/// it when the device has the feature.
pub fn subgroup_decls(size: u32) -> String {
    format!(
        "// uses subgroup operations\nconst SUBGROUP: u32 = {size}u;\nvar<workgroup> subgroup_misfits: atomic<u32>;\nvar<workgroup> subgroup_tree: u32;\n"
    )
}

/// The entry point's parameters a subgroup probe reads (appended to its builtins).
pub const SUBGROUP_BUILTINS: &str = ", @builtin(subgroup_invocation_id) sid: u32, @builtin(subgroup_size) sg: u32";

/// Each workgroup learns once whether its subgroups are as the kernel assumes: SUBGROUP invocations, all
/// active, consecutive in `index` (a one-dimensional invocation index) from a multiple of SUBGROUP. The
/// answer, `subgroups`, is made workgroup-uniform (`workgroupUniformLoad`), so the kernel may branch on it
/// around barriers and subgroup operations; where it is false the kernel takes its path without them. Must
/// run in uniform control flow, before any invocation leaves.
pub fn subgroup_probe(index: &str) -> String {
    format!(
        "    // subgroups of SUBGROUP consecutive invocations from a multiple of SUBGROUP, or the path without them
    if ({index} == 0u) {{ atomicStore(&subgroup_misfits, 0u); }}
    workgroupBarrier();
    let first_block = subgroupBroadcastFirst({index} / sg);
    let members = subgroupAdd(1u);
    let tidy = subgroupAll(first_block == {index} / sg && {index} % sg == sid) && members == sg && sg == SUBGROUP;
    if (sid == 0u && !tidy) {{ atomicOr(&subgroup_misfits, 1u); }}
    workgroupBarrier();
    if ({index} == 0u) {{ subgroup_tree = atomicLoad(&subgroup_misfits); }}
    let subgroups = workgroupUniformLoad(&subgroup_tree) == 0u;
"
    )
}
