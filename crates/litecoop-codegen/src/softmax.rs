//! The row-softmax sketch: THREADS_PER_ROW invocations share a row (strided over its columns, combined by a
//! tree reduction in workgroup memory, or by subgroup shuffles), ROWS_PER_WORKGROUP rows per workgroup.
//! Three passes over the row: maximum, sum of exponentials, normalised write.
//!
//! Subgroup reductions assume subgroups of SUBGROUP consecutive invocations, the first a multiple of
//! SUBGROUP. WGSL promises neither (a device may pick another size or split invocations otherwise), so each
//! workgroup checks its subgroups once and takes the tree reduction when any differs: the kernel is correct
//! on every device and fast where the assumption holds.

use crate::wgsl::{float, grid, subgroup_decls, subgroup_probe, Bindings, SUBGROUP_BUILTINS};
use crate::{Dispatch, LaunchPlan};
use litecoop_ir::program::SoftmaxSpec;
use litecoop_ir::schedule::SoftmaxDecisions;
use std::fmt::Write;

/// Emits the softmax dispatch into the plan.
pub fn emit(plan: &mut LaunchPlan, name: &str, header: &str, s: &SoftmaxSpec, d: &SoftmaxDecisions) {
    let mut bindings = Bindings::default();
    bindings.add("x", s.input, "f32", true);
    bindings.add("y", s.output, "f32", false);
    let threads = d.threads_per_row * d.rows_per_workgroup;
    let subgroup = d.subgroup;
    let mut w = String::new();
    w.push_str(header);
    w.push_str(&bindings.decls);
    let _ = writeln!(
        w,
        "const COLS: u32 = {}u;\nconst QUERIES: u32 = {}u;\nconst SCALE: f32 = {};\nconst THREADS_PER_ROW: u32 = {}u;\nconst ROWS_PER_WORKGROUP: u32 = {}u;",
        s.cols,
        s.queries,
        float(s.scale),
        d.threads_per_row,
        d.rows_per_workgroup
    );
    let shared = d.threads_per_row > 1;
    if shared {
        let _ = writeln!(w, "var<workgroup> red: array<f32, {threads}>;");
    }
    if subgroup > 0 {
        w.push_str(&subgroup_decls(subgroup));
    }
    let groups = s.rows.div_ceil(d.rows_per_workgroup as usize);
    // Rows past the end (ROWS_PER_WORKGROUP does not divide the rows) see no columns and write nothing;
    // they still take part in the workgroup's barriers.
    let guarded = s.rows % d.rows_per_workgroup as usize != 0;
    let live = |expr: &str| if guarded { format!("select(0u, {expr}, live)") } else { expr.to_string() };
    if guarded {
        let _ = writeln!(
            w,
            "// bounds-guarded: ROWS_PER_WORKGROUP does not divide the rows\nconst ROWS: u32 = {}u;",
            s.rows
        );
    }
    let workgroups = grid(groups as u64);
    // A folded grid numbers its workgroups row-major; surplus ones leave before any barrier (uniformly:
    // the test reads the workgroup id alone).
    let group = match workgroups[1] {
        1 => "wid.x".to_string(),
        _ => {
            let _ = writeln!(w, "const GROUPS: u32 = {groups}u;");
            "group".to_string()
        }
    };
    let subgroup_builtins = if subgroup > 0 { SUBGROUP_BUILTINS } else { "" };
    let _ = writeln!(
        w,
        "@compute @workgroup_size({threads})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>{subgroup_builtins}) {{
    let lane = lid.x % THREADS_PER_ROW;"
    );
    if workgroups[1] > 1 {
        let _ =
            writeln!(w, "    let group = wid.y * {}u + wid.x;\n    if (group >= GROUPS) {{ return; }}", workgroups[0]);
    }
    let _ = writeln!(
        w,
        "    let row = {group} * ROWS_PER_WORKGROUP + lid.x / THREADS_PER_ROW;\n    let base = row * COLS;"
    );
    if guarded {
        w.push_str("    let live = row < ROWS;\n");
    }
    if subgroup > 0 {
        w.push_str(&subgroup_probe("lid.x"));
    }
    if s.causal {
        let _ = writeln!(
            w,
            "    let visible = {}; // causal: keys up to the query's position",
            live("row % QUERIES + COLS - QUERIES + 1u")
        );
    } else {
        let _ = writeln!(w, "    let visible = {};", live("COLS"));
    }
    w.push_str("    var row_max = -3.0e38;\n");
    w.push_str("    for (var c = lane; c < visible; c = c + THREADS_PER_ROW) { row_max = max(row_max, x[base + c] * SCALE); }\n");
    w.push_str(&reduce(d.threads_per_row, subgroup, "row_max", "max"));
    w.push_str("    var row_sum = 0.0;\n");
    w.push_str("    for (var c = lane; c < visible; c = c + THREADS_PER_ROW) { row_sum = row_sum + exp(x[base + c] * SCALE - row_max); }\n");
    w.push_str(&reduce(d.threads_per_row, subgroup, "row_sum", "sum"));
    w.push_str("    let inv = 1.0 / row_sum;\n");
    let _ = writeln!(w, "    for (var c = lane; c < {}; c = c + THREADS_PER_ROW) {{", live("COLS"));
    w.push_str("        y[base + c] = select(0.0, exp(x[base + c] * SCALE - row_max) * inv, c < visible);\n    }\n}\n");
    plan.dispatches.push(Dispatch {
        kernel: name.to_string(),
        label: name.to_string(),
        wgsl: w,
        bindings: bindings.into_plan(),
        workgroup_size: [threads, 1, 1],
        workgroups,
    });
}

/// Reduction of `var` across the THREADS_PER_ROW lanes of a row; every lane ends with the result. With
/// `subgroup` > 0: XOR-shuffle butterflies within each subgroup (lanes of a row that share one), then a pass
/// over the subgroups' results in workgroup memory when a row spans several; the tree when the probe failed.
fn reduce(threads_per_row: u32, subgroup: u32, var: &str, how: &str) -> String {
    if subgroup == 0 {
        return tree(threads_per_row, var, how);
    }
    let combine = |a: &str, b: &str| if how == "max" { format!("max({a}, {b})") } else { format!("{a} + {b}") };
    let mut w = String::from("    if (subgroups) {\n");
    let mut offset = threads_per_row.min(subgroup) / 2;
    while offset >= 1 {
        let _ = writeln!(w, "        {var} = {};", combine(var, &format!("subgroupShuffleXor({var}, {offset}u)")));
        offset /= 2;
    }
    if threads_per_row > subgroup {
        let _ = writeln!(
            w,
            "        red[lid.x] = {var};
        workgroupBarrier();
        {var} = red[lid.x - lane];
        for (var k = SUBGROUP; k < THREADS_PER_ROW; k = k + SUBGROUP) {{ {var} = {}; }}
        workgroupBarrier();",
            combine(var, "red[lid.x - lane + k]")
        );
    }
    w.push_str("    } else {\n");
    for line in tree(threads_per_row, var, how).lines() {
        let _ = writeln!(w, "    {line}");
    }
    w.push_str("    }\n");
    w
}

/// Tree reduction of `var` across the THREADS_PER_ROW lanes of a row in workgroup memory; every lane ends
/// with the result.
fn tree(threads_per_row: u32, var: &str, how: &str) -> String {
    if threads_per_row == 1 {
        return String::new();
    }
    let combine = |a: &str, b: &str| if how == "max" { format!("max({a}, {b})") } else { format!("{a} + {b}") };
    let mut w = String::new();
    let _ = writeln!(w, "    red[lid.x] = {var};\n    workgroupBarrier();");
    let mut step = threads_per_row / 2;
    while step >= 1 {
        let _ = writeln!(
            w,
            "    if (lane < {step}u) {{ red[lid.x] = {}; }}\n    workgroupBarrier();",
            combine("red[lid.x]", &format!("red[lid.x + {step}u]"))
        );
        step /= 2;
    }
    let _ = writeln!(w, "    {var} = red[lid.x - lane];\n    workgroupBarrier();");
    w
}
