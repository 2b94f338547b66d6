//! The elementwise sketch: WORKGROUP_SIZE invocations, each handling ITEMS elements written out
//! straight-line, with a bounds guard on each: ITEMS consecutive elements, or (strided) one in each stretch of
//! WORKGROUP_SIZE elements of its workgroup's ITEMS stretches, so neighbouring invocations touch neighbouring
//! addresses.

use crate::wgsl::{bind_epilogue, epilogue_expr, grid, Bindings, MATH};
use crate::{Dispatch, LaunchPlan};
use litecoop_ir::program::{MapKind, MapSpec};
use litecoop_ir::schedule::MapDecisions;
use std::fmt::Write;

/// Emits the elementwise dispatch into the plan.
pub fn emit(plan: &mut LaunchPlan, name: &str, header: &str, s: &MapSpec, d: &MapDecisions) {
    let mut bindings = Bindings::default();
    let mut consts = format!("const LEN: u32 = {}u;\n", s.len);
    let body = match s.kind {
        MapKind::Epilogue { buf, epilogue, cols } => {
            bind_epilogue(&mut bindings, &epilogue);
            bindings.add("data", buf, "f32", false);
            let _ = writeln!(consts, "const COLS: u32 = {cols}u;");
            format!("data[i] = {};", epilogue_expr(&epilogue, "data[i]", "i", "(i % COLS)"))
        }
        MapKind::SwiGlu { gate, up, out } => {
            bindings.add("gate", gate, "f32", true);
            bindings.add("up", up, "f32", true);
            bindings.add("out_buf", out, "f32", false);
            "out_buf[i] = silu(gate[i]) * up[i];".to_string()
        }
        MapKind::MoeCombine { y, rows, weights, out, top_k, hidden } => {
            bindings.add("y", y, "f32", true);
            bindings.add("route_rows", rows, "u32", true);
            bindings.add("route_weights", weights, "f32", true);
            bindings.add("out_buf", out, "f32", false);
            let _ = writeln!(consts, "const TOP_K: u32 = {top_k}u;\nconst HIDDEN: u32 = {hidden}u;");
            "let t = i / HIDDEN;
            let h = i % HIDDEN;
            var sum = 0.0;
            for (var j = 0u; j < TOP_K; j = j + 1u) {
                sum = sum + route_weights[t * TOP_K + j] * y[route_rows[t * TOP_K + j] * HIDDEN + h];
            }
            out_buf[i] = sum;"
                .to_string()
        }
    };
    let mut w = String::new();
    w.push_str(header);
    w.push_str(&bindings.decls);
    w.push_str(&consts);
    w.push_str(MATH);
    let per_group = d.workgroup_size as usize * d.items as usize;
    let workgroups = grid(s.len.div_ceil(per_group) as u64);
    let invocation = match workgroups[1] {
        1 => "gid.x".to_string(),
        _ => format!("gid.y * {}u + gid.x", workgroups[0] * d.workgroup_size),
    };
    let _ = writeln!(
        w,
        "@compute @workgroup_size({})\nfn main(@builtin(global_invocation_id) gid: vec3<u32>) {{",
        d.workgroup_size
    );
    // The element of item k: first + k * step.
    let step = if d.strided {
        let (size, items) = (d.workgroup_size, d.items);
        let _ = writeln!(
            w,
            "    let invocation = {invocation};\n    let first = invocation / {size}u * {}u + invocation % {size}u;",
            size * items
        );
        size
    } else {
        let _ = writeln!(w, "    let first = ({invocation}) * {}u;", d.items);
        1
    };
    for item in 0..d.items {
        let _ = writeln!(
            w,
            "    {{\n        let i = first + {}u;\n        if (i < LEN) {{\n            {body}\n        }}\n    }}",
            item * step
        );
    }
    w.push_str("}\n");
    plan.dispatches.push(Dispatch {
        kernel: name.to_string(),
        label: name.to_string(),
        wgsl: w,
        bindings: bindings.into_plan(),
        workgroup_size: [d.workgroup_size, 1, 1],
        workgroups,
    });
}
