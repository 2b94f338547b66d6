//! The matrix-product sketch: workgroup tile BM x BN, register tile TM x TN per invocation written out as
//! named locals, reduction in steps of BK with UNROLL steps straight-line, optional workgroup-memory staging,
//! 4-wide loads, split-K with a reduction pass, and grouped rasterisation. Double-buffered staging keeps two
//! copies of each staged tile: the next tile is copied into one while the other is read, so one barrier per
//! reduction step suffices where single buffering needs two.
//!
//! Invocation (x, y) of a workgroup owns rows `row0 .. row0 + TM` and columns `col0 .. col0 + TN`, or with
//! interleaved columns one column (one vec4 along n) in each of TN stretches of the tile: register column
//! `j` is `col0 + col_offset(j)` either way.
//! With `vector = 4` and B stored `k x n`, accumulators are `vec4` along n (`acc_i_j` holds columns
//! `4j .. 4j + 3`); with B stored `n x k`, A and B are both read 4-wide along k and combined with `dot`.
//!
//! With an A broadcast across subgroups of V (`a_broadcast`), the workgroup is one-dimensional and
//! invocation (x, y) is `lidx = y * BN/TN + x`, so the V lanes of a subgroup share their rows and need the
//! same A values: each loads every V-th of a step's `TM * UNROLL / vector` values and `subgroupBroadcast`
//! hands them round. A workgroup whose subgroups are not V consecutive invocations (the probe in
//! [`crate::wgsl::subgroup_probe`]) loads as without the broadcast.

use crate::wgsl::{
    bind_epilogue, epilogue_expr, grid, subgroup_decls, subgroup_probe, Bindings, MATH, SUBGROUP_BUILTINS,
};
use crate::{Dispatch, LaunchPlan};
use litecoop_ir::program::{BufferDecl, BufferRole, Elem, GemmEpilogue, GemmSpec, OperandA};
use litecoop_ir::schedule::GemmDecisions;
use std::fmt::Write;

/// Emits the product (and, with split-K, its reduction pass) into the plan.
pub fn emit(plan: &mut LaunchPlan, name: &str, header: &str, s: &GemmSpec, d: &GemmDecisions) {
    let split = d.split_k > 1;
    let partials = split.then(|| {
        plan.buffers.push(BufferDecl {
            name: format!("{name}.partials"),
            len: d.split_k as usize * s.batch * s.m * s.n,
            elem: Elem::F32,
            role: BufferRole::Scratch,
        });
        plan.buffers.len() - 1
    });
    let g = Gen { s, d };
    let mut bindings = Bindings::default();
    let vec = d.vector == 4;
    bindings.add("a_buf", s.a.buf(), if vec { "vec4<f32>" } else { "f32" }, true);
    bindings.add("b_buf", s.b.buf, if vec { "vec4<f32>" } else { "f32" }, true);
    if let OperandA::Gathered { rows, .. } = s.a {
        bindings.add("rows_buf", rows, "u32", true);
    }
    if !split {
        bind_epilogue(&mut bindings, &s.epilogue);
    }
    bindings.add("out_buf", partials.unwrap_or(s.out), "f32", false);

    let mut w = String::new();
    w.push_str(header);
    w.push_str(&g.guard_note());
    w.push_str(&bindings.decls);
    if d.a_broadcast > 0 {
        w.push_str(&subgroup_decls(d.a_broadcast));
    }
    w.push_str(&g.constants());
    w.push_str(MATH);
    w.push_str(&g.operand_functions());
    w.push_str(&g.shared_decls());
    w.push_str(&g.main());

    let tiles = (s.m.div_ceil(d.bm as usize) as u32, s.n.div_ceil(d.bn as usize) as u32);
    let z = (s.batch * d.split_k as usize) as u32;
    let workgroups = if d.swizzle > 0 { [tiles.0 * tiles.1, 1, z] } else { [tiles.1, tiles.0, z] };
    plan.dispatches.push(Dispatch {
        kernel: name.to_string(),
        label: name.to_string(),
        wgsl: w,
        bindings: bindings.into_plan(),
        workgroup_size: d.workgroup_size(),
        workgroups,
    });
    if let Some(partials) = partials {
        emit_reduce(plan, name, header, s, d, partials);
    }
}

/// The split-K reduction: `out[i] = epilogue(sum over splits of partials[split][i])`.
fn emit_reduce(plan: &mut LaunchPlan, name: &str, header: &str, s: &GemmSpec, d: &GemmDecisions, partials: usize) {
    let total = s.batch * s.m * s.n;
    let mut bindings = Bindings::default();
    bindings.add("partials", partials, "f32", true);
    bind_epilogue(&mut bindings, &s.epilogue);
    bindings.add("out_buf", s.out, "f32", false);
    let mut w = String::new();
    w.push_str(header);
    w.push_str("// split-K reduction pass\n");
    w.push_str(&bindings.decls);
    let _ = writeln!(w, "const TOTAL: u32 = {total}u;\nconst N: u32 = {}u;", s.n);
    w.push_str(MATH);
    let workgroups = grid(total.div_ceil(64) as u64);
    w.push_str("@compute @workgroup_size(64)\nfn main(@builtin(global_invocation_id) gid: vec3<u32>) {\n");
    match workgroups[1] {
        1 => w.push_str("    let i = gid.x;\n"),
        _ => drop(writeln!(w, "    let i = gid.y * {}u + gid.x;", workgroups[0] * 64)),
    }
    w.push_str("    if (i >= TOTAL) { return; }\n    var sum = 0.0;\n");
    for split in 0..d.split_k {
        let _ = writeln!(w, "    sum = sum + partials[{split}u * TOTAL + i];");
    }
    let _ = writeln!(w, "    out_buf[i] = {};\n}}", epilogue_expr(&s.epilogue, "sum", "i", "(i % N)"));
    plan.dispatches.push(Dispatch {
        kernel: name.to_string(),
        label: format!("{name}.reduce"),
        wgsl: w,
        bindings: bindings.into_plan(),
        workgroup_size: [64, 1, 1],
        workgroups,
    });
}

struct Gen<'a> {
    s: &'a GemmSpec,
    d: &'a GemmDecisions,
}

/// The extents a kernel's tiles do not divide: its loads along them read 0 past the edge and its stores
/// along them are masked. Tiles that divide every extent keep unguarded code.
#[derive(Clone, Copy)]
struct Guards {
    m: bool,
    n: bool,
    k: bool,
}

impl Gen<'_> {
    fn guards(&self) -> Guards {
        let (s, d) = (self.s, self.d);
        Guards { m: s.m % d.bm as usize != 0, n: s.n % d.bn as usize != 0, k: s.k % (d.bk * d.split_k) as usize != 0 }
    }

    /// Reduction steps of one split, padded to whole BK tiles.
    fn k_per_split(&self) -> usize {
        let (s, d) = (self.s, self.d);
        s.k.div_ceil((d.bk * d.split_k) as usize) * d.bk as usize
    }

    /// A header line naming the guarded extents, or nothing when every tile divides its extent.
    fn guard_note(&self) -> String {
        let g = self.guards();
        let names: Vec<&str> = [(g.m, "M (BM)"), (g.n, "N (BN)"), (g.k, "K (BK*split_k)")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if names.is_empty() {
            return String::new();
        }
        format!("// bounds-guarded: the tiles do not divide {}\n", names.join(", "))
    }

    /// `m < M && k < K` for the guarded extents among `m`, `k` (A) or `k`, `n` (B); `None` when unguarded.
    fn inside(&self, conditions: &[(bool, &str)]) -> Option<String> {
        let parts: Vec<&str> = conditions.iter().filter_map(|(on, c)| on.then_some(*c)).collect();
        (!parts.is_empty()).then(|| parts.join(" && "))
    }

    fn vec(&self) -> bool {
        self.d.vector == 4
    }

    /// Columns stored together in one accumulator: 4 with vec4 accumulators along n, else 1.
    fn grain(&self) -> u32 {
        if self.vec() && !self.nt() {
            4
        } else {
            1
        }
    }

    /// Where an invocation's first column lies in the workgroup tile: `lid.x * TN` (contiguous) or
    /// `lid.x * grain` (interleaved).
    fn lane_cols(&self) -> String {
        if self.d.interleave {
            format!("lid.x * {}u", self.grain())
        } else {
            "lid.x * TN".to_string()
        }
    }

    /// Register column `j`'s distance from the invocation's first column: `j`, or interleaved, grain-wide
    /// pieces one stretch (the workgroup's `BN / TN` invocations times the grain) apart.
    fn col_offset(&self, j: u32) -> u32 {
        if !self.d.interleave {
            return j;
        }
        let g = self.grain();
        (j / g) * (self.d.bn / self.d.tn) * g + j % g
    }

    /// B stored `n x k`: both operands are read along k and combined with `dot` when vectorised.
    fn nt(&self) -> bool {
        self.s.b.transposed
    }

    /// Accumulator columns per invocation: TN scalars, or TN/4 vec4 along n.
    fn acc_cols(&self) -> u32 {
        self.d.tn / self.grain()
    }

    /// The type of one accumulator: a vec4 along n when the grain is 4.
    fn acc_type(&self) -> &'static str {
        if self.grain() == 4 {
            "vec4<f32>"
        } else {
            "f32"
        }
    }

    fn constants(&self) -> String {
        let (s, d) = (self.s, self.d);
        let mut w = String::new();
        let _ = writeln!(w, "const M: u32 = {}u;\nconst N: u32 = {}u;\nconst K: u32 = {}u;", s.m, s.n, s.k);
        let _ = writeln!(
            w,
            "const BM: u32 = {}u;\nconst BN: u32 = {}u;\nconst TM: u32 = {}u;\nconst TN: u32 = {}u;",
            d.bm, d.bn, d.tm, d.tn
        );
        let _ =
            writeln!(w, "const BK: u32 = {}u;\nconst UNROLL: u32 = {}u;\nconst PAD: u32 = {}u;", d.bk, d.unroll, d.pad);
        let _ = writeln!(
            w,
            "const SPLIT_K: u32 = {}u;\nconst K_PER_SPLIT: u32 = {}u;\nconst BATCH: u32 = {}u;",
            d.split_k,
            self.k_per_split(),
            s.batch
        );
        let _ = writeln!(w, "const THREADS: u32 = {}u;", (d.bm / d.tm) * (d.bn / d.tn));
        if let OperandA::Dense { batch_stride, .. } = s.a {
            let _ = writeln!(w, "const A_BATCH_STRIDE: u32 = {batch_stride}u;");
        }
        if let OperandA::Im2col { height, width, channels, .. } = s.a {
            let _ = writeln!(
                w,
                "const IMG_H: u32 = {height}u;\nconst IMG_W: u32 = {width}u;\nconst IMG_C: u32 = {channels}u;"
            );
        }
        let _ = writeln!(
            w,
            "const B_BATCH_STRIDE: u32 = {}u;\nconst B_BATCH_DIV: u32 = {}u;",
            s.b.batch_stride, s.b.batch_div
        );
        w
    }

    /// `a_at`/`a4_at` and `b_at`/`b4_at`: where operand elements live in global memory.
    fn operand_functions(&self) -> String {
        let mut w = String::new();
        let (ty, div, suffix) = if self.vec() { ("vec4<f32>", " / 4u", "4") } else { ("f32", "", "") };
        let zero = if self.vec() { "vec4<f32>(0.0)" } else { "0.0" };
        let g = self.guards();
        let a_inside = self.inside(&[(g.m, "m < M"), (g.k, "k < K")]);
        let b_inside = self.inside(&[(g.k, "k < K"), (g.n, "n < N")]);
        // Past a guarded edge the index is 0 (always in bounds) and the value 0.
        let guarded = |inside: &Option<String>, buf: &str, index: &str| match inside {
            None => format!("return {buf}[{index}];"),
            Some(c) => {
                format!("let inside = {c};\n    return select({zero}, {buf}[select(0u, {index}, inside)], inside);")
            }
        };
        match (self.s.a, &a_inside) {
            (OperandA::Dense { .. }, _) => {
                let body = guarded(&a_inside, "a_buf", &format!("(b * A_BATCH_STRIDE + m * K + k){div}"));
                let _ = writeln!(w, "fn a{suffix}_at(b: u32, m: u32, k: u32) -> {ty} {{ {body} }}");
            }
            (OperandA::Gathered { .. }, None) => {
                let _ = writeln!(w, "fn a{suffix}_at(b: u32, m: u32, k: u32) -> {ty} {{ return a_buf[(rows_buf[b * M + m] * K + k){div}]; }}");
            }
            (OperandA::Gathered { .. }, Some(c)) => {
                let _ = writeln!(
                    w,
                    "fn a{suffix}_at(b: u32, m: u32, k: u32) -> {ty} {{
    let inside = {c};
    let row = rows_buf[select(0u, b * M + m, inside)];
    return select({zero}, a_buf[select(0u, (row * K + k){div}, inside)], inside);
}}"
                );
            }
            (OperandA::Im2col { .. }, _) => {
                let edge = a_inside.as_ref().map_or(String::new(), |c| format!(" && {c}"));
                let _ = writeln!(
                    w,
                    "fn a{suffix}_at(b: u32, m: u32, k: u32) -> {ty} {{
    // m = (image, y, x), k = (ky, kx, channel); zero padding of 1.
    let img = m / (IMG_H * IMG_W);
    let y = i32((m / IMG_W) % IMG_H);
    let x = i32(m % IMG_W);
    let tap = k / IMG_C;
    let sy = y + i32(tap / 3u) - 1;
    let sx = x + i32(tap % 3u) - 1;
    let inside = sy >= 0 && sy < i32(IMG_H) && sx >= 0 && sx < i32(IMG_W){edge};
    let idx = select(0u, ((img * IMG_H + u32(sy)) * IMG_W + u32(sx)) * IMG_C + k % IMG_C, inside);
    return select({zero}, a_buf[idx{div}], inside);
}}"
                );
            }
        }
        let b_index = if self.nt() { "n * K + k" } else { "k * N + n" };
        let body = guarded(&b_inside, "b_buf", &format!("((b / B_BATCH_DIV) * B_BATCH_STRIDE + {b_index}){div}"));
        let _ = writeln!(w, "fn b{suffix}_at(b: u32, k: u32, n: u32) -> {ty} {{ {body} }}");
        w
    }

    /// The offset of the slot a reduction step reads (`slot * A_TILE + `) with double buffering, else nothing.
    fn read_slot(&self, tile: &str) -> String {
        slot_base(if self.d.double_buffer { "slot" } else { "" }, tile)
    }

    fn a_row_stride(&self) -> u32 {
        self.d.bk + self.d.pad
    }

    /// Row stride of the staged B tile: `BN + PAD` (k-major) or `BK + PAD` (n-major, transposed B).
    fn b_row_stride(&self) -> u32 {
        if self.nt() {
            self.d.bk + self.d.pad
        } else {
            self.d.bn + self.d.pad
        }
    }

    fn shared_decls(&self) -> String {
        let d = self.d;
        let mut w = String::new();
        let (slots, times) = if d.double_buffer { (2, "2 x ") } else { (1, "") };
        let (a_size, b_size) = d.staged_tile_floats(self.s);
        if d.stage_a {
            let size = a_size;
            if d.double_buffer {
                let _ = writeln!(w, "const A_TILE: u32 = {size}u;");
            }
            let _ = writeln!(w, "var<workgroup> a_tile: array<f32, {}>; // {times}BM x (BK + PAD)", slots * size);
        }
        if d.stage_b {
            let shape = if self.nt() { "BN x (BK + PAD)" } else { "BK x (BN + PAD)" };
            let size = b_size;
            if d.double_buffer {
                let _ = writeln!(w, "const B_TILE: u32 = {size}u;");
            }
            let _ = writeln!(w, "var<workgroup> b_tile: array<f32, {}>; // {times}{shape}", slots * size);
        }
        w
    }

    fn main(&self) -> String {
        let d = self.d;
        let mut w = String::new();
        let [x, y, _] = d.workgroup_size();
        let broadcast = d.a_broadcast > 0;
        let params = if broadcast {
            format!(
                "@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32{SUBGROUP_BUILTINS}"
            )
        } else {
            "@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32".to_string()
        };
        let _ = writeln!(w, "@compute @workgroup_size({x}, {y}, 1)\nfn main({params}) {{");
        if broadcast {
            w.push_str(
                "    // one-dimensional workgroup (subgroups are runs of consecutive invocations): tile invocation (x, y) is
    // lidx = y * BN / TN + x, so a subgroup's invocations share their rows
    let lid = vec3<u32>(lidx % (BN / TN), lidx / (BN / TN), 0u);
",
            );
            w.push_str(&subgroup_probe("lidx"));
        }
        if d.swizzle > 0 {
            let _ = writeln!(
                w,
                "    // grouped rasterisation: {g} tile rows at a time, walked column by column
    let tiles_n = {tiles_n};
    let group = wid.x / ({g}u * tiles_n);
    let in_group = wid.x % ({g}u * tiles_n);
    let tile_m = group * {g}u + in_group % {g}u;
    let tile_n = in_group / {g}u;",
                g = d.swizzle,
                tiles_n = if self.guards().n { "(N + BN - 1u) / BN" } else { "N / BN" }
            );
        } else {
            w.push_str("    let tile_m = wid.y;\n    let tile_n = wid.x;\n");
        }
        w.push_str(
            "    let batch = wid.z / SPLIT_K;
    let split = wid.z % SPLIT_K;
    let row0 = tile_m * BM + lid.y * TM;
",
        );
        let _ = writeln!(
            w,
            "    let col0 = tile_n * BN + {};{}",
            self.lane_cols(),
            if d.interleave { " // interleaved columns: neighbouring invocations, neighbouring columns" } else { "" }
        );
        w.push_str("    let k_begin = split * K_PER_SPLIT;\n");
        for i in 0..d.tm {
            for j in 0..self.acc_cols() {
                let _ = writeln!(w, "    var acc_{i}_{j}: {} = {}(0.0);", self.acc_type(), self.acc_type());
            }
        }
        let staged = d.stage_a || d.stage_b;
        if d.double_buffer {
            w.push_str(
                "    // double-buffered staging: the tile of step k0 + BK is copied into the other slot while\n",
            );
            w.push_str("    // step k0 reads its own, so one barrier per step keeps writers and readers apart\n");
            w.push_str("    {\n");
            w.push_str(&self.stage_loads("k_begin", "0u"));
            w.push_str("    }\n    workgroupBarrier();\n");
        }
        w.push_str("    for (var k0 = k_begin; k0 < k_begin + K_PER_SPLIT; k0 = k0 + BK) {\n");
        if d.double_buffer {
            w.push_str("        let slot = ((k0 - k_begin) / BK) % 2u;\n");
            w.push_str("        if (k0 + BK < k_begin + K_PER_SPLIT) {\n");
            w.push_str(&self.stage_loads("k0 + BK", "(1u - slot)"));
            w.push_str("        }\n");
        } else if staged {
            w.push_str(&self.stage_loads("k0", ""));
            w.push_str("        workgroupBarrier();\n");
        }
        if d.unroll == d.bk {
            w.push_str("        {\n            let kk = 0u;\n");
        } else {
            w.push_str("        for (var kk = 0u; kk < BK; kk = kk + UNROLL) {\n");
        }
        w.push_str(&self.body());
        w.push_str("        }\n");
        if staged {
            w.push_str("        workgroupBarrier();\n");
        }
        w.push_str("    }\n");
        w.push_str(&self.store());
        w.push_str("}\n");
        w
    }

    /// Cooperative copy of the A and B tiles of reduction step `k` (an expression) into workgroup memory:
    /// into slot `slot` (an expression) of double-buffered tiles, or, with `slot` empty, the single tiles.
    fn stage_loads(&self, k: &str, slot: &str) -> String {
        let d = self.d;
        let mut w = String::new();
        let v = if self.vec() { 4 } else { 1 };
        let copy = |w: &mut String, count: u32, per_row: u32, load: String, store_base: String| {
            let _ = writeln!(w, "        for (var e = lidx; e < {count}u; e = e + THREADS) {{");
            let _ = writeln!(w, "            let r = e / {per_row}u;\n            let c = (e % {per_row}u) * {v}u;");
            let _ = writeln!(w, "            let val = {load};");
            if v == 4 {
                for (q, comp) in ["x", "y", "z", "w"].iter().enumerate() {
                    let _ = writeln!(w, "            {store_base} + {q}u] = val.{comp};");
                }
            } else {
                let _ = writeln!(w, "            {store_base}] = val;");
            }
            w.push_str("        }\n");
        };
        let sfx = if self.vec() { "4" } else { "" };
        if d.stage_a {
            copy(
                &mut w,
                d.bm * d.bk / v,
                d.bk / v,
                format!("a{sfx}_at(batch, tile_m * BM + r, {k} + c)"),
                format!("a_tile[{}r * {} + c", slot_base(slot, "A_TILE"), self.a_row_stride()),
            );
        }
        if d.stage_b {
            if self.nt() {
                copy(
                    &mut w,
                    d.bn * d.bk / v,
                    d.bk / v,
                    format!("b{sfx}_at(batch, {k} + c, tile_n * BN + r)"),
                    format!("b_tile[{}r * {} + c", slot_base(slot, "B_TILE"), self.b_row_stride()),
                );
            } else {
                copy(
                    &mut w,
                    d.bk * d.bn / v,
                    d.bn / v,
                    format!("b{sfx}_at(batch, {k} + r, tile_n * BN + c)"),
                    format!("b_tile[{}r * {} + c", slot_base(slot, "B_TILE"), self.b_row_stride()),
                );
            }
        }
        w
    }

    /// A element (or 4 consecutive k when `four`) of register-tile row `i` at local k offset `kq` (an
    /// expression relative to `kk`).
    fn a_expr(&self, i: u32, kq: u32, four: bool) -> String {
        if self.d.stage_a {
            let base =
                format!("{}(lid.y * TM + {i}u) * {} + kk + {kq}u", self.read_slot("A_TILE"), self.a_row_stride());
            if four {
                format!("vec4<f32>(a_tile[{base}], a_tile[{base} + 1u], a_tile[{base} + 2u], a_tile[{base} + 3u])")
            } else {
                format!("a_tile[{base}]")
            }
        } else if four {
            format!("a4_at(batch, row0 + {i}u, k0 + kk + {kq}u)")
        } else {
            format!("a_at(batch, row0 + {i}u, k0 + kk + {kq}u)")
        }
    }

    /// B element at local k offset `kq`, column `col` of the register tile (4 consecutive n, or with
    /// transposed B 4 consecutive k, when `four`).
    fn b_expr(&self, kq: u32, col: u32, four: bool) -> String {
        let col = self.col_offset(col);
        if self.d.stage_b {
            let stride = self.b_row_stride();
            let slot = self.read_slot("B_TILE");
            let base = if self.nt() {
                format!("{slot}({} + {col}u) * {stride} + kk + {kq}u", self.lane_cols())
            } else {
                format!("{slot}(kk + {kq}u) * {stride} + {} + {col}u", self.lane_cols())
            };
            if four {
                format!("vec4<f32>(b_tile[{base}], b_tile[{base} + 1u], b_tile[{base} + 2u], b_tile[{base} + 3u])")
            } else {
                format!("b_tile[{base}]")
            }
        } else if four {
            format!("b4_at(batch, k0 + kk + {kq}u, col0 + {col}u)")
        } else {
            format!("b_at(batch, k0 + kk + {kq}u, col0 + {col}u)")
        }
    }

    /// Register-tile row `i`'s A value (4 consecutive k when `four`) of unrolled load `q`, at local k
    /// offset `kq`: the value the broadcast prologue gathered, or a load.
    fn a_value(&self, i: u32, q: u32, kq: u32, four: bool) -> String {
        if self.d.a_broadcast > 0 {
            format!("a_{i}_{q}")
        } else {
            self.a_expr(i, kq, four)
        }
    }

    /// With an A broadcast, the step's A values `a_i_q` (row `i`, load `q`) before its arithmetic: where the
    /// probe found the subgroups as assumed, each lane loads every SUBGROUP-th of them (the lanes share
    /// their rows) and broadcasts hand them round; elsewhere every lane loads all of its own.
    fn a_broadcast_prologue(&self) -> String {
        let d = self.d;
        let mut w = String::new();
        let ind = "            ";
        let (ty, sfx, vector) = if self.vec() { ("vec4<f32>", "4", 4) } else { ("f32", "", 1) };
        let loads = d.unroll / vector;
        let total = d.a_loads_per_step();
        for p in 0..total {
            let _ = writeln!(w, "{ind}var a_{}_{}: {ty};", p / loads, p % loads);
        }
        let _ = writeln!(w, "{ind}if (subgroups) {{ // lane l loads values l, l + SUBGROUP, ...");
        for c in 0..total.div_ceil(d.a_broadcast) {
            let _ = writeln!(w, "{ind}    let e{c} = min({c}u * SUBGROUP + sid, {}u);", total - 1);
            let _ = writeln!(
                w,
                "{ind}    let own{c} = a{sfx}_at(batch, row0 + e{c} / {loads}u, k0 + kk + (e{c} % {loads}u) * {vector}u);"
            );
        }
        for p in 0..total {
            let (c, lane) = (p / d.a_broadcast, p % d.a_broadcast);
            let _ = writeln!(w, "{ind}    a_{}_{} = subgroupBroadcast(own{c}, {lane}u);", p / loads, p % loads);
        }
        let _ = writeln!(w, "{ind}}} else {{");
        for p in 0..total {
            let (i, q) = (p / loads, p % loads);
            let _ = writeln!(w, "{ind}    a_{i}_{q} = {};", self.a_expr(i, q * vector, self.vec()));
        }
        let _ = writeln!(w, "{ind}}}");
        w
    }

    /// UNROLL reduction steps, straight-line.
    fn body(&self) -> String {
        let d = self.d;
        let mut w = String::new();
        let ind = "            ";
        if d.a_broadcast > 0 {
            w.push_str(&self.a_broadcast_prologue());
        }
        if !self.vec() {
            for u in 0..d.unroll {
                let _ = writeln!(w, "{ind}{{ // k = kk + {u}");
                for i in 0..d.tm {
                    let _ = writeln!(w, "{ind}    let a{i} = {};", self.a_value(i, u, u, false));
                }
                for j in 0..d.tn {
                    let _ = writeln!(w, "{ind}    let b{j} = {};", self.b_expr(u, j, false));
                }
                for i in 0..d.tm {
                    for j in 0..d.tn {
                        let _ = writeln!(w, "{ind}    acc_{i}_{j} = fma(a{i}, b{j}, acc_{i}_{j});");
                    }
                }
                let _ = writeln!(w, "{ind}}}");
            }
            return w;
        }
        for group in 0..d.unroll / 4 {
            let k4 = group * 4;
            let _ = writeln!(w, "{ind}{{ // k = kk + {k4} .. kk + {}", k4 + 3);
            for i in 0..d.tm {
                let _ = writeln!(w, "{ind}    let a{i} = {};", self.a_value(i, group, k4, true));
            }
            if self.nt() {
                for j in 0..d.tn {
                    let _ = writeln!(w, "{ind}    let b{j} = {};", self.b_expr(k4, j, true));
                }
                for i in 0..d.tm {
                    for j in 0..d.tn {
                        let _ = writeln!(w, "{ind}    acc_{i}_{j} = acc_{i}_{j} + dot(a{i}, b{j});");
                    }
                }
            } else {
                for (q, comp) in ["x", "y", "z", "w"].iter().enumerate() {
                    for j in 0..d.tn / 4 {
                        let _ = writeln!(w, "{ind}    let b{q}_{j} = {};", self.b_expr(k4 + q as u32, j * 4, true));
                    }
                    for i in 0..d.tm {
                        for j in 0..d.tn / 4 {
                            let _ = writeln!(
                                w,
                                "{ind}    acc_{i}_{j} = fma(vec4<f32>(a{i}.{comp}), b{q}_{j}, acc_{i}_{j});"
                            );
                        }
                    }
                }
            }
            let _ = writeln!(w, "{ind}}}");
        }
        w
    }

    /// Writes the register tile: epilogue applied, or raw partial sums with split-K.
    fn store(&self) -> String {
        let d = self.d;
        let mut w = String::new();
        let split = d.split_k > 1;
        let out_base = if split { "(split * BATCH + batch) * M * N" } else { "batch * M * N" };
        let epilogue = if split { GemmEpilogue::None } else { self.s.epilogue };
        for i in 0..d.tm {
            let _ = writeln!(w, "    let out_row{i} = {out_base} + (row0 + {i}u) * N + col0;");
            for j in 0..d.tn {
                let acc = if self.vec() && !self.nt() {
                    format!("acc_{i}_{}.{}", j / 4, ["x", "y", "z", "w"][(j % 4) as usize])
                } else {
                    format!("acc_{i}_{j}")
                };
                let c = self.col_offset(j);
                let idx = format!("batch * M * N + (row0 + {i}u) * N + col0 + {c}u");
                let value = epilogue_expr(&epilogue, &acc, &idx, &format!("(col0 + {c}u)"));
                let store = format!("out_buf[out_row{i} + {c}u] = {value};");
                let g = self.guards();
                match self.inside(&[(g.m, &format!("row0 + {i}u < M")), (g.n, &format!("col0 + {c}u < N"))]) {
                    None => drop(writeln!(w, "    {store}")),
                    Some(c) => drop(writeln!(w, "    if ({c}) {{ {store} }}")),
                }
            }
        }
        w
    }
}

/// `SLOT * TILE + ` for a double-buffered tile's slot expression, nothing for a single tile (`slot` empty).
fn slot_base(slot: &str, tile: &str) -> String {
    if slot.is_empty() {
        String::new()
    } else {
        format!("{slot} * {tile} + ")
    }
}
