//! Workload files: a named operator with size presets, read from TOML (format in `kernels/README.md`).

use crate::op::{AttentionOp, Conv2dOp, Epilogue, MatmulOp, MlpOp, MoeOp, Op, SoftmaxOp};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a workload could not be loaded. Every variant names the file and, where one is at fault, the field.
#[derive(Debug, Error)]
pub enum WorkloadError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{file}: not valid TOML: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A field is missing, unknown or holds the wrong thing.
    #[error("{file}: field `{field}`: expected {expected}, found {found}")]
    Field {
        /// The file.
        file: String,
        /// Dotted path of the field.
        field: String,
        /// What would have been accepted.
        expected: String,
        /// What was there.
        found: String,
    },
    /// The workload has no such size preset.
    #[error("workload `{workload}` has no size `{size}`; it has: {available}")]
    NoSuchSize {
        /// The workload.
        workload: String,
        /// The size asked for.
        size: String,
        /// The sizes it has.
        available: String,
    },
}

/// A named operator with its size presets (`small` for CPU adapters, `paper` for real GPUs, others allowed).
#[derive(Debug, Clone)]
pub struct Workload {
    /// Unique name, e.g. `matmul-512`.
    pub name: String,
    /// One line saying what it is and where the dimensions come from.
    pub description: String,
    /// Where it was read from (a path, or `builtin:NAME`).
    pub source: String,
    /// Each size preset, already checked.
    pub sizes: BTreeMap<String, Op>,
}

impl Workload {
    /// Reads and checks a workload file.
    pub fn from_file(path: &Path) -> Result<Workload, WorkloadError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::Io { file: file.clone(), source })?;
        Workload::from_toml(&text, &file)
    }

    /// Parses and checks workload TOML; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Workload, WorkloadError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| WorkloadError::Syntax {
            file: source.to_string(),
            message: e.to_string().trim().to_string(),
        })?;
        let p = Parser { file: source };
        p.allow_keys(&table, "", &["name", "description", "op", "dtype", "options", "sizes"])?;
        if let Some(dtype) = table.get("dtype") {
            if dtype.as_str() != Some("f32") {
                return Err(p.err("dtype", "\"f32\" (the only element type so far)", &describe(dtype)));
            }
        }
        let name = p.string(&table, "name")?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(p.err("name", "a non-empty name of letters, digits, '-' and '_'", &name));
        }
        let description = match table.get("description") {
            Some(_) => p.string(&table, "description")?,
            None => String::new(),
        };
        let kind = p.string(&table, "op")?;
        let empty = toml::Table::new();
        let options = match table.get("options") {
            None => &empty,
            Some(toml::Value::Table(t)) => t,
            Some(v) => return Err(p.err("options", "a table", &describe(v))),
        };
        let sizes_table = match table.get("sizes") {
            Some(toml::Value::Table(t)) if !t.is_empty() => t,
            Some(v) => return Err(p.err("sizes", "a table of size presets, e.g. [sizes.small]", &describe(v))),
            None => return Err(p.err("sizes", "a table of size presets, e.g. [sizes.small]", "nothing")),
        };
        let mut sizes = BTreeMap::new();
        for (size, dims) in sizes_table {
            let field = format!("sizes.{size}");
            let dims = match dims {
                toml::Value::Table(t) => t,
                v => return Err(p.err(&field, "a table of dimensions", &describe(v))),
            };
            let op = p.op(&kind, options, dims, &field)?;
            sizes.insert(size.clone(), op);
        }
        Ok(Workload { name, description, source: source.to_string(), sizes })
    }

    /// The operator at the named size.
    pub fn op(&self, size: &str) -> Result<Op, WorkloadError> {
        self.sizes.get(size).copied().ok_or_else(|| WorkloadError::NoSuchSize {
            workload: self.name.clone(),
            size: size.to_string(),
            available: self.sizes.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// The operator kind (`matmul`, `attention`, ...).
    pub fn kind(&self) -> &'static str {
        self.sizes.values().next().map(Op::kind).unwrap_or("unknown")
    }
}

/// Loads every `*.toml` workload in a directory, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Workload>, WorkloadError> {
    let entries =
        std::fs::read_dir(dir).map_err(|source| WorkloadError::Io { file: dir.display().to_string(), source })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| Workload::from_file(p)).collect()
}

fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("\"{s}\""),
        toml::Value::Table(_) => "a table".into(),
        toml::Value::Array(_) => "an array".into(),
        other => other.to_string(),
    }
}

struct Parser<'a> {
    file: &'a str,
}

impl Parser<'_> {
    fn err(&self, field: &str, expected: &str, found: &str) -> WorkloadError {
        WorkloadError::Field {
            file: self.file.to_string(),
            field: field.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    fn allow_keys(&self, t: &toml::Table, prefix: &str, allowed: &[&str]) -> Result<(), WorkloadError> {
        for key in t.keys() {
            if !allowed.contains(&key.as_str()) {
                let field = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                return Err(self.err(&field, &format!("one of: {}", allowed.join(", ")), "an unknown key"));
            }
        }
        Ok(())
    }

    fn string(&self, t: &toml::Table, key: &str) -> Result<String, WorkloadError> {
        match t.get(key) {
            Some(toml::Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(self.err(key, "a string", &describe(v))),
            None => Err(self.err(key, "a string", "nothing")),
        }
    }

    fn dim(&self, t: &toml::Table, prefix: &str, key: &str, default: Option<usize>) -> Result<usize, WorkloadError> {
        let field = format!("{prefix}.{key}");
        match t.get(key) {
            Some(toml::Value::Integer(i)) if *i >= 1 && *i <= (1 << 31) => Ok(*i as usize),
            Some(v) => Err(self.err(&field, "a positive integer below 2^31", &describe(v))),
            None => default.ok_or_else(|| self.err(&field, "a positive integer", "nothing")),
        }
    }

    fn flag(&self, t: &toml::Table, key: &str) -> Result<bool, WorkloadError> {
        match t.get(key) {
            None => Ok(false),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(v) => Err(self.err(&format!("options.{key}"), "true or false", &describe(v))),
        }
    }

    fn number(&self, t: &toml::Table, key: &str, default: f32) -> Result<f32, WorkloadError> {
        match t.get(key) {
            None => Ok(default),
            Some(toml::Value::Float(f)) if f.is_finite() => Ok(*f as f32),
            Some(toml::Value::Integer(i)) => Ok(*i as f32),
            Some(v) => Err(self.err(&format!("options.{key}"), "a finite number", &describe(v))),
        }
    }

    fn epilogue(&self, options: &toml::Table) -> Result<Epilogue, WorkloadError> {
        let name = match options.get("epilogue") {
            None => "none".to_string(),
            Some(toml::Value::String(s)) => s.clone(),
            Some(v) => return Err(self.err("options.epilogue", "a string", &describe(v))),
        };
        Ok(match name.as_str() {
            "none" => Epilogue::None,
            "bias" => Epilogue::Bias,
            "silu" => Epilogue::Silu,
            "gelu" => Epilogue::Gelu,
            "scale" => Epilogue::Scale { factor: self.number(options, "scale", 1.0)? },
            other => {
                return Err(self.err(
                    "options.epilogue",
                    "one of: none, bias, scale, silu, gelu",
                    &format!("\"{other}\""),
                ))
            }
        })
    }

    fn op(&self, kind: &str, options: &toml::Table, dims: &toml::Table, prefix: &str) -> Result<Op, WorkloadError> {
        let d = |key: &str| self.dim(dims, prefix, key, None);
        let d_or = |key: &str, default: usize| self.dim(dims, prefix, key, Some(default));
        let check = |ok: bool, field: &str, expected: &str, found: String| {
            if ok {
                Ok(())
            } else {
                Err(self.err(&format!("{prefix}.{field}"), expected, &found))
            }
        };
        let op = match kind {
            "matmul" => {
                self.allow_keys(options, "options", &["transpose_b", "epilogue", "scale"])?;
                self.allow_keys(dims, prefix, &["batch", "m", "n", "k"])?;
                Op::Matmul(MatmulOp {
                    batch: d_or("batch", 1)?,
                    m: d("m")?,
                    n: d("n")?,
                    k: d("k")?,
                    transpose_b: self.flag(options, "transpose_b")?,
                    epilogue: self.epilogue(options)?,
                })
            }
            "softmax" => {
                self.allow_keys(options, "options", &["causal", "scale"])?;
                self.allow_keys(dims, prefix, &["rows", "cols", "queries"])?;
                let cols = d("cols")?;
                let o = SoftmaxOp {
                    rows: d("rows")?,
                    cols,
                    queries: d_or("queries", cols)?,
                    causal: self.flag(options, "causal")?,
                    scale: self.number(options, "scale", 1.0)?,
                };
                check(o.queries <= o.cols, "queries", "at most `cols`", o.queries.to_string())?;
                check(o.rows % o.queries == 0, "rows", "a multiple of `queries`", o.rows.to_string())?;
                Op::Softmax(o)
            }
            "attention" => {
                self.allow_keys(options, "options", &["causal"])?;
                self.allow_keys(dims, prefix, &["batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim"])?;
                let heads = d("heads")?;
                let seq_q = d("seq_q")?;
                let o = AttentionOp {
                    batch: d_or("batch", 1)?,
                    heads,
                    kv_heads: d_or("kv_heads", heads)?,
                    seq_q,
                    seq_kv: d_or("seq_kv", seq_q)?,
                    head_dim: d("head_dim")?,
                    causal: self.flag(options, "causal")?,
                };
                check(o.heads % o.kv_heads == 0, "kv_heads", "a divisor of `heads`", o.kv_heads.to_string())?;
                check(o.seq_q <= o.seq_kv, "seq_q", "at most `seq_kv`", o.seq_q.to_string())?;
                Op::Attention(o)
            }
            "conv2d" => {
                self.allow_keys(options, "options", &[])?;
                self.allow_keys(dims, prefix, &["batch", "height", "width", "in_channels", "out_channels"])?;
                Op::Conv2d(Conv2dOp {
                    batch: d_or("batch", 1)?,
                    height: d("height")?,
                    width: d("width")?,
                    in_channels: d("in_channels")?,
                    out_channels: d("out_channels")?,
                })
            }
            "swiglu_mlp" => {
                self.allow_keys(options, "options", &[])?;
                self.allow_keys(dims, prefix, &["tokens", "hidden", "intermediate"])?;
                Op::SwigluMlp(MlpOp { tokens: d("tokens")?, hidden: d("hidden")?, intermediate: d("intermediate")? })
            }
            "moe" => {
                self.allow_keys(options, "options", &[])?;
                self.allow_keys(dims, prefix, &["tokens", "hidden", "ffn", "experts", "top_k"])?;
                let o = MoeOp {
                    tokens: d("tokens")?,
                    hidden: d("hidden")?,
                    ffn: d("ffn")?,
                    experts: d("experts")?,
                    top_k: d("top_k")?,
                };
                check(o.top_k <= o.experts, "top_k", "at most `experts`", o.top_k.to_string())?;
                Op::Moe(o)
            }
            other => {
                return Err(self.err(
                    "op",
                    "one of: matmul, softmax, attention, conv2d, swiglu_mlp, moe",
                    &format!("\"{other}\""),
                ))
            }
        };
        let elements = match op {
            Op::Matmul(o) => o.batch * (o.m * o.k + o.k * o.n + o.m * o.n),
            Op::Softmax(o) => o.rows * o.cols,
            Op::Attention(o) => o.batch * o.heads * o.seq_q * o.seq_kv,
            Op::Conv2d(o) => o.batch * o.height * o.width * o.in_channels.max(o.out_channels),
            Op::SwigluMlp(o) => o.hidden * o.intermediate,
            Op::Moe(o) => o.experts * o.hidden * o.ffn,
        };
        check(
            elements < (1usize << 32),
            "",
            "a size whose largest buffer holds fewer than 2^32 elements",
            elements.to_string(),
        )?;
        Ok(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "mm"
op = "matmul"
[options]
epilogue = "bias"
[sizes.small]
m = 64
n = 32
k = 16
"#;

    #[test]
    fn parses_a_matmul() {
        let w = Workload::from_toml(GOOD, "t.toml").unwrap();
        let Op::Matmul(m) = w.op("small").unwrap() else { panic!("not a matmul") };
        assert_eq!((m.batch, m.m, m.n, m.k), (1, 64, 32, 16));
        assert_eq!(m.epilogue, Epilogue::Bias);
    }

    fn error_of(text: &str) -> String {
        Workload::from_toml(text, "bad.toml").unwrap_err().to_string()
    }

    #[test]
    fn malformed_files_name_file_and_field() {
        let e = error_of("name = \"x\"\nop = \"matmul\"\n[sizes.small]\nm = 4\nn = 4\n");
        assert!(e.contains("bad.toml") && e.contains("sizes.small.k"), "{e}");
        let e = error_of(&GOOD.replace("m = 64", "m = -3"));
        assert!(e.contains("sizes.small.m") && e.contains("positive"), "{e}");
        let e = error_of(&GOOD.replace("m = 64", "m = \"big\""));
        assert!(e.contains("\"big\""), "{e}");
        let e = error_of(&GOOD.replace("\"bias\"", "\"relu\""));
        assert!(e.contains("options.epilogue") && e.contains("relu"), "{e}");
        let e = error_of(&GOOD.replace("matmul", "fft"));
        assert!(e.contains("`op`"), "{e}");
        let e = error_of(&GOOD.replace("k = 16", "k = 16\nq = 2"));
        assert!(e.contains("sizes.small.q"), "{e}");
        let e = error_of(&format!("dtype = \"f16\"\n{GOOD}"));
        assert!(e.contains("`dtype`") && e.contains("f16"), "{e}");
        assert!(Workload::from_toml(&format!("dtype = \"f32\"\n{GOOD}"), "t.toml").is_ok());
        let e = error_of("name = [1");
        assert!(e.contains("not valid TOML"), "{e}");
        let e = error_of("name = \"x\"\nop = \"matmul\"\n");
        assert!(e.contains("`sizes`"), "{e}");
        let e =
            error_of("name = \"a\"\nop = \"attention\"\n[sizes.s]\nheads = 6\nkv_heads = 4\nseq_q = 8\nhead_dim = 8\n");
        assert!(e.contains("kv_heads"), "{e}");
        let e = error_of(
            "name = \"a\"\nop = \"moe\"\n[sizes.s]\ntokens = 3\nhidden = 8\nffn = 8\nexperts = 2\ntop_k = 3\n",
        );
        assert!(e.contains("top_k"), "{e}");
    }

    #[test]
    fn unknown_size_lists_the_known_ones() {
        let w = Workload::from_toml(GOOD, "t.toml").unwrap();
        let e = w.op("huge").unwrap_err().to_string();
        assert!(e.contains("huge") && e.contains("small"), "{e}");
    }
}
