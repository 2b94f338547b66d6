//! Workload files compiled into the binary, so `litecoop` works from any directory.

/// (name, TOML text) of every workload shipped in `kernels/`.
pub const BUILTIN_WORKLOADS: &[(&str, &str)] = &[
    ("clip-text-attention", include_str!("../kernels/clip-text-attention.toml")),
    ("deepseek-r1-moe", include_str!("../kernels/deepseek-r1-moe.toml")),
    ("flux-attention", include_str!("../kernels/flux-attention.toml")),
    ("flux-conv", include_str!("../kernels/flux-conv.toml")),
    ("gpt2-lm-head", include_str!("../kernels/gpt2-lm-head.toml")),
    ("llama3-8b-attention", include_str!("../kernels/llama3-8b-attention.toml")),
    ("llama4-scout-mlp", include_str!("../kernels/llama4-scout-mlp.toml")),
    ("matmul-1024", include_str!("../kernels/matmul-1024.toml")),
    ("matmul-256", include_str!("../kernels/matmul-256.toml")),
    ("matmul-512", include_str!("../kernels/matmul-512.toml")),
    ("matmul-bias", include_str!("../kernels/matmul-bias.toml")),
    ("matmul-gelu", include_str!("../kernels/matmul-gelu.toml")),
    ("softmax-causal", include_str!("../kernels/softmax-causal.toml")),
];
