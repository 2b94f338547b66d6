//! End-to-end tests of the `litecoop` binary on the real pipeline (lavapipe or whatever adapter is present).

mod common;

use common::{litecoop, scratch, text};

#[test]
fn run_json_has_the_documented_keys_and_a_correct_kernel() {
    let o = litecoop(&["run", "--workload", "matmul-256", "--json", "--min-window-ms", "50"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in
        ["workload", "correct", "max_rel_err", "latency_ms", "spread_pct", "timing_method", "gflops", "compile_ms"]
    {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["workload"], "matmul-256");
    assert_eq!(v["correct"], true);
    assert!(v["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(["timestamps", "host"].contains(&v["timing_method"].as_str().unwrap()));
}

#[test]
fn run_isolated_measures_in_a_worker_process_with_the_same_verdict() {
    let o = litecoop(&["run", "-w", "flux-conv", "--isolated", "--json", "--min-window-ms", "20"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["correct"], true);
    assert!(v["latency_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn run_prints_a_readable_report_for_a_program_of_several_kernels() {
    let o = litecoop(&["run", "-w", "llama3-8b-attention", "--schedule", "naive", "--min-window-ms", "10"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("correct   yes") && out.contains("GFLOP/s") && out.contains("3 dispatches"), "{out}");
}

#[test]
fn emit_wgsl_writes_every_dispatch_with_its_schedule_header() {
    let dir = scratch("emit");
    let o = litecoop(&["run", "-w", "llama4-scout-mlp", "--check-only", "--emit-wgsl", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    for kernel in ["gate", "up", "down"] {
        let wgsl = std::fs::read_to_string(dir.join(format!("{kernel}.wgsl"))).unwrap();
        assert!(
            wgsl.starts_with(&format!("// litecoop kernel `{kernel}`")) && wgsl.contains("// schedule: BM="),
            "{wgsl}"
        );
    }
    let schedule = std::fs::read_to_string(dir.join("schedule.json")).unwrap();
    // The emitted schedule runs again from its file.
    let file = dir.join("schedule.json");
    let o = litecoop(&["run", "-w", "llama4-scout-mlp", "--check-only", "--schedule", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}\n{schedule}", text(&o));
}

#[test]
fn malformed_workload_files_get_a_clear_error_not_a_panic() {
    let dir = scratch("bad");
    let cases = [
        ("syntax.toml", "name = [", "not valid TOML"),
        ("missing.toml", "name = \"x\"\nop = \"matmul\"\n[sizes.small]\nm = 8\nn = 8\n", "sizes.small.k"),
        ("negative.toml", "name = \"x\"\nop = \"matmul\"\n[sizes.small]\nm = -8\nn = 8\nk = 8\n", "sizes.small.m"),
        ("op.toml", "name = \"x\"\nop = \"fft\"\n[sizes.small]\nn = 8\n", "field `op`"),
    ];
    for (file, body, needle) in cases {
        let path = dir.join(file);
        std::fs::write(&path, body).unwrap();
        let o = litecoop(&["run", "-w", path.to_str().unwrap(), "--check-only"]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{out}");
        assert!(out.contains(needle) && out.contains(file) && !out.contains("panicked"), "{file}: {out}");
    }
}

#[test]
fn bad_arguments_are_explained() {
    let o = litecoop(&["run", "-w", "no-such-workload"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("unknown workload `no-such-workload`") && text(&o).contains("matmul-512"));
    let o = litecoop(&["run", "-w", "matmul-256", "--size", "huge"]);
    assert!(text(&o).contains("no size `huge`"), "{}", text(&o));
    let o = litecoop(&["run", "-w", "matmul-256", "--adapter", "no-such-gpu"]);
    assert!(text(&o).contains("no adapter matches"), "{}", text(&o));
    let dir = scratch("schedule");
    let path = dir.join("s.json");
    std::fs::write(&path, "{\"fuse_epilogue\": true, \"kernels\": {\"matmul\": {\"sketch\": \"gemm\", \"bm\": 40, \"bn\": 16, \"tm\": 1, \"tn\": 1, \"bk\": 1, \"unroll\": 1, \"vector\": 1, \"stage_a\": false, \"stage_b\": false, \"pad\": 0, \"split_k\": 1, \"swizzle\": 0}}}").unwrap();
    let o = litecoop(&["run", "-w", "matmul-256", "--schedule", path.to_str().unwrap()]);
    assert!(text(&o).contains("illegal schedule for kernel `matmul`: BM=40"), "{}", text(&o));
}

#[test]
fn devices_and_workloads_list() {
    let o = litecoop(&["devices", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!v["adapters"].as_array().unwrap().is_empty());
    let o = litecoop(&["workloads", "list"]);
    let out = text(&o);
    for name in
        ["llama3-8b-attention", "deepseek-r1-moe", "flux-attention", "flux-conv", "llama4-scout-mlp", "matmul-1024"]
    {
        assert!(out.contains(name), "{out}");
    }
    let o = litecoop(&["workloads", "show", "deepseek-r1-moe"]);
    assert!(o.status.success() && text(&o).contains("combine"), "{}", text(&o));
}
