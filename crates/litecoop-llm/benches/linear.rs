//! Per-layer speed of the engine's linear layers on this CPU: the figures behind `WeightFormat::Hybrid`'s
//! prompt copy (`layers.rs`) and the Q4_1 decode kernel (`q4_1.rs`).
//!
//! `cargo bench -p litecoop-llm --bench linear`. Throughput is reported in elements/s where one element is one
//! floating-point operation (2 per multiply-add), so "Gelem/s" reads as GFLOP/s.
//! - `prompt/*`: 450 rows through layers of SmolLM2's (576 wide) and Gemma 3's (640 wide) shapes, f32 GEMM
//!   (`F32`) against the hybrid prompt copy (8-bit weights, zero-padded to width 768, through Candle's
//!   AVX-512 VNNI kernels; f32 again on CPUs without them).
//! - `decode/*`: one row through a 3072 x 576 Q4_1 matrix (SmolLM2's fused gate/up): our kernel (`FastQuant`)
//!   against Candle on a Q8_0 copy (what `FastQuant` used before).

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Module, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use litecoop_llm::layers::{Linear, WeightFormat};
use std::hint::black_box;
use std::time::Duration;

fn layer(n: usize, k: usize, dtype: GgmlDType, format: WeightFormat) -> Linear {
    let w = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu).expect("random weights");
    Linear::from_qtensor(QTensor::quantize(&w, dtype).expect("quantize"), format).expect("layer")
}

fn prompt(c: &mut Criterion) {
    let rows = 450;
    let mut g = c.benchmark_group("prompt");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for (name, n, k) in [("smollm2-gate-up-3072x576", 3072, 576), ("gemma3-gate-up-4096x640", 4096, 640)] {
        let x = Tensor::randn(0f32, 1.0, (1, rows, k), &Device::Cpu).expect("input");
        g.throughput(Throughput::Elements((2 * rows * n * k) as u64));
        for (label, format) in [("f32", WeightFormat::F32), ("hybrid", WeightFormat::Hybrid)] {
            let l = layer(n, k, GgmlDType::Q8_0, format);
            l.forward(&x).expect("warm-up (Candle repacks on first use)");
            g.bench_function(format!("{name}/{label}"), |b| b.iter(|| black_box(l.forward(&x).expect("forward"))));
        }
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let (n, k) = (3072, 576);
    let mut g = c.benchmark_group("decode");
    g.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements((2 * n * k) as u64));
    let x = Tensor::randn(0f32, 1.0, (1, 1, k), &Device::Cpu).expect("input");
    for (label, dtype) in [("q4_1-kernel", GgmlDType::Q4_1), ("candle-q8_0", GgmlDType::Q8_0)] {
        let l = layer(n, k, dtype, WeightFormat::FastQuant);
        g.bench_function(format!("{n}x{k}/{label}"), |b| b.iter(|| black_box(l.forward(&x).expect("forward"))));
    }
    g.finish();
}

criterion_group!(benches, prompt, decode);
criterion_main!(benches);
