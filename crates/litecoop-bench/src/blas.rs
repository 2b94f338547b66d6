//! A native-BLAS reference for matrix-product workloads: the same computation in numpy (whose matrix
//! product is the BLAS it was built with, OpenBLAS in the PyPI wheels), timed on the host CPU in the same
//! bench run, so a kernel's speed can be read as a fraction of what a tuned CPU library gets.

use litecoop_ir::op::{Epilogue, Op};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One reference time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlasReference {
    /// Median time of one evaluation of the operator, ms.
    pub latency_ms: f64,
    /// The operator's FLOPs over that time.
    pub gflops: f64,
    /// numpy's version and its BLAS, e.g. `numpy 2.4.6 (scipy-openblas 0.3.30)`.
    pub library: String,
    /// Timed evaluations behind the median (summed over measurements).
    pub runs: usize,
    /// Independent measurements averaged into this one (several when shards each measured it).
    pub measurements: usize,
}

impl BlasReference {
    /// The mean of several measurements of the same workload.
    ///
    /// # Panics
    /// If `refs` is empty (callers only merge what they found).
    pub fn mean(refs: &[BlasReference]) -> BlasReference {
        let n = refs.len() as f64;
        let mut out = refs[0].clone();
        out.latency_ms = refs.iter().map(|r| r.latency_ms).sum::<f64>() / n;
        out.gflops = refs.iter().map(|r| r.gflops).sum::<f64>() / n;
        out.runs = refs.iter().map(|r| r.runs).sum();
        out.measurements = refs.iter().map(|r| r.measurements).sum();
        out
    }
}

/// Whether a workload is a matrix product numpy can run as BLAS calls.
pub fn applies(op: &Op) -> bool {
    matches!(op, Op::Matmul(_) | Op::SwigluMlp(_))
}

/// The numpy program: builds seeded f32 operands, runs the operator once to warm up, then times repeated
/// runs until both the window and the count are reached; prints one JSON line.
const SCRIPT: &str = r#"
import json, sys, time
try:
    import numpy as np
except ImportError:
    print(json.dumps({"error": "numpy is not installed"})); sys.exit(0)
spec = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
def rand(*shape):
    return rng.standard_normal(shape, dtype=np.float32)
def silu(x):
    x *= 1.0 / (1.0 + np.exp(-x))
if spec["kind"] == "matmul":
    b, m, n, k = spec["batch"], spec["m"], spec["n"], spec["k"]
    a = rand(b, m, k)
    w = rand(b, n, k).transpose(0, 2, 1) if spec["transpose_b"] else rand(b, k, n)
    bias, out, ep = rand(n), np.empty((b, m, n), np.float32), spec["epilogue"]
    def run():
        np.matmul(a, w, out=out)
        if ep == "bias": np.add(out, bias, out=out)
        elif ep == "scale": np.multiply(out, np.float32(spec["factor"]), out=out)
        elif ep == "silu": silu(out)
        elif ep == "gelu":
            out[...] = 0.5 * out * (1.0 + np.tanh(np.float32(0.7978845608) * (out + np.float32(0.044715) * out ** 3)))
else:
    t, h, i = spec["tokens"], spec["hidden"], spec["intermediate"]
    x, wg, wu, wd = rand(t, h), rand(h, i), rand(h, i), rand(i, h)
    def run():
        g = x @ wg
        silu(g)
        g *= x @ wu
        return g @ wd
run()
times, start = [], time.perf_counter()
while len(times) < spec["min_reps"] or time.perf_counter() - start < spec["min_window_s"]:
    t0 = time.perf_counter(); run(); times.append(time.perf_counter() - t0)
times.sort()
lib = "numpy " + np.__version__
try:
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    lib += " (" + blas.get("name", "?") + " " + str(blas.get("version", "")) + ")"
except Exception:
    pass
print(json.dumps({"seconds": times[len(times) // 2], "runs": len(times), "library": lib.replace(" )", ")")}))
"#;

/// Times `op` with numpy (median of at least 10 runs filling at least a second, or `min_window_ms`); `Err`
/// says why there is no reference (no python3, no numpy, not a matrix product,
/// the script failed or ran past `limit`).
pub fn measure(op: &Op, min_window_ms: u64, min_reps: usize, limit: Duration) -> Result<BlasReference, String> {
    let mut spec = match *op {
        Op::Matmul(o) => {
            let (epilogue, factor) = match o.epilogue {
                Epilogue::None => ("none", 1.0),
                Epilogue::Bias => ("bias", 1.0),
                Epilogue::Scale { factor } => ("scale", factor),
                Epilogue::Silu => ("silu", 1.0),
                Epilogue::Gelu => ("gelu", 1.0),
            };
            serde_json::json!({"kind": "matmul", "batch": o.batch, "m": o.m, "n": o.n, "k": o.k,
                "transpose_b": o.transpose_b, "epilogue": epilogue, "factor": factor})
        }
        Op::SwigluMlp(o) => {
            serde_json::json!({"kind": "swiglu_mlp", "tokens": o.tokens, "hidden": o.hidden,
                "intermediate": o.intermediate})
        }
        _ => return Err("not a matrix product".into()),
    };
    // At least 10 runs and one second: one reference per workload, so its median may as well be steady.
    spec["min_reps"] = min_reps.max(10).into();
    spec["min_window_s"] = (min_window_ms.max(1000) as f64 / 1000.0).into();
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT, &spec.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3 could not be started ({e})"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("numpy ran past {} s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for python3: {e}")),
        }
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    if !status.success() {
        let last = err.lines().last().unwrap_or("no message");
        return Err(format!("the numpy reference failed: {last}"));
    }
    let answer: serde_json::Value =
        serde_json::from_str(out.trim()).map_err(|e| format!("the numpy reference printed no result ({e})"))?;
    if let Some(e) = answer.get("error").and_then(|e| e.as_str()) {
        return Err(e.to_string());
    }
    let seconds = answer["seconds"].as_f64().filter(|s| *s > 0.0).ok_or("the numpy reference printed no time")?;
    Ok(BlasReference {
        latency_ms: seconds * 1e3,
        gflops: op.flops() / seconds / 1e9,
        library: answer["library"].as_str().unwrap_or("numpy").to_string(),
        runs: answer["runs"].as_u64().unwrap_or(0) as usize,
        measurements: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use litecoop_ir::op::{MatmulOp, SoftmaxOp};

    #[test]
    fn only_matrix_products_have_a_reference() {
        let softmax = Op::Softmax(SoftmaxOp { rows: 4, cols: 4, queries: 4, causal: false, scale: 1.0 });
        assert!(!applies(&softmax));
        assert_eq!(measure(&softmax, 10, 3, Duration::from_secs(5)).unwrap_err(), "not a matrix product");
    }

    /// Where numpy is installed the reference is a plausible time; elsewhere the reason names what is missing.
    #[test]
    fn a_small_product_is_timed_or_skipped_with_a_reason() {
        let op = Op::Matmul(MatmulOp { batch: 2, m: 64, n: 32, k: 48, transpose_b: true, epilogue: Epilogue::Gelu });
        match measure(&op, 10, 3, Duration::from_secs(60)) {
            Ok(r) => {
                assert!(r.latency_ms > 0.0 && r.latency_ms < 1000.0, "{r:?}");
                assert!(r.runs >= 10 && r.library.starts_with("numpy"), "{r:?}");
                assert!((r.gflops - op.flops() / r.latency_ms / 1e6).abs() < 1e-9 * r.gflops.max(1.0));
            }
            Err(why) => assert!(why.contains("numpy") || why.contains("python3"), "{why}"),
        }
    }
}
