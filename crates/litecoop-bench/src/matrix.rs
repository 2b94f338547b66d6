//! The comparison matrix: which workloads, strategies and seeds, its cells, and how cells are split into
//! shards.

use litecoop_search::cost::CostModelKind;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A matrix argument that cannot be used.
#[derive(Debug, Error, PartialEq)]
pub enum MatrixError {
    /// A strategy spec that names no strategy, or misses its models.
    #[error("strategy `{spec}`: {why}")]
    Strategy {
        /// What was given.
        spec: String,
        /// What is wrong and what would be right.
        why: String,
    },
    /// A `--shard` that is not `I/N` with `1 <= I <= N`.
    #[error("shard `{0}`: expected I/N with 1 <= I <= N, e.g. 2/8")]
    Shard(String),
    /// An empty dimension.
    #[error("the matrix has no {0}")]
    Empty(&'static str),
}

/// One strategy of the matrix, with the models it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum StrategySpec {
    /// Independent random legal schedules: `random` or `random:COST_MODEL`.
    Random {
        /// The cost model (`none`, `knn`, `mlp`, `tvm`); `None` for `litecoop tune`'s default (auto, which
        /// in a bench cell, started cold, is none).
        cost_model: Option<CostModelSpec>,
    },
    /// TVM MetaSchedule-style evolutionary search (the baseline of sample efficiency): `evolutionary` or
    /// `evolutionary:COST_MODEL`.
    Evolutionary {
        /// The cost model; `None` for `litecoop tune`'s default.
        cost_model: Option<CostModelSpec>,
    },
    /// MCTS expanded by random transformations: `mcts` or `mcts:COST_MODEL`.
    Mcts {
        /// The cost model; `None` for `litecoop tune`'s default.
        cost_model: Option<CostModelSpec>,
    },
    /// MCTS expanded by one model (Reasoning Compiler): `llm-mcts:MODEL`.
    LlmMcts {
        /// The model.
        model: String,
    },
    /// A bucket of models on one tree: `litecoop:M1+M2`.
    Litecoop {
        /// The bucket.
        models: Vec<String>,
    },
}

/// A cost model as a bench strategy names it after `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostModelSpec {
    /// No model: every proposal measured.
    None,
    /// k nearest neighbours.
    Knn,
    /// The perceptron.
    Mlp,
    /// TVM MetaSchedule's setting: the perceptron, scoring at random until 100 candidates were measured.
    Tvm,
}

impl CostModelSpec {
    /// The regressor.
    pub fn kind(self) -> CostModelKind {
        match self {
            CostModelSpec::None => CostModelKind::None,
            CostModelSpec::Knn => CostModelKind::Knn,
            CostModelSpec::Mlp | CostModelSpec::Tvm => CostModelKind::Mlp,
        }
    }

    /// Candidates measured before the model's scores count.
    pub fn warmup(self) -> usize {
        if self == CostModelSpec::Tvm {
            100
        } else {
            0
        }
    }

    /// The name after `:`.
    pub fn name(self) -> &'static str {
        match self {
            CostModelSpec::Tvm => "tvm",
            other => other.kind().name(),
        }
    }
}

impl StrategySpec {
    /// The strategy's name as `litecoop tune --strategy` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            StrategySpec::Random { .. } => "random",
            StrategySpec::Evolutionary { .. } => "evolutionary",
            StrategySpec::Mcts { .. } => "mcts",
            StrategySpec::LlmMcts { .. } => "llm-mcts",
            StrategySpec::Litecoop { .. } => "litecoop",
        }
    }

    /// The models it runs (none for the classic strategies).
    pub fn models(&self) -> Vec<String> {
        match self {
            StrategySpec::LlmMcts { model } => vec![model.clone()],
            StrategySpec::Litecoop { models } => models.clone(),
            _ => Vec::new(),
        }
    }

    /// The cost model as written in the spec (`None`: `litecoop tune`'s default; always `None` for the LLM
    /// strategies).
    pub fn written_cost_model(&self) -> Option<CostModelSpec> {
        match self {
            StrategySpec::Random { cost_model }
            | StrategySpec::Evolutionary { cost_model }
            | StrategySpec::Mcts { cost_model } => *cost_model,
            _ => None,
        }
    }

    /// The cost model its runs use: `None` when the spec leaves it to `litecoop tune` (auto).
    pub fn cost_model(&self) -> Option<CostModelKind> {
        match self {
            StrategySpec::LlmMcts { .. } | StrategySpec::Litecoop { .. } => Some(CostModelKind::None),
            _ => self.written_cost_model().map(CostModelSpec::kind),
        }
    }

    /// Candidates its cost model scores at random first (`tvm`: 100).
    pub fn warmup(&self) -> usize {
        self.written_cost_model().map_or(0, CostModelSpec::warmup)
    }

    /// A form of the label that is safe in a directory name.
    pub fn file_label(&self) -> String {
        self.to_string()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "-_.+".contains(c) { c } else { '-' })
            .collect()
    }
}

impl fmt::Display for StrategySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrategySpec::LlmMcts { model } => write!(f, "llm-mcts:{model}"),
            StrategySpec::Litecoop { models } => write!(f, "litecoop:{}", models.join("+")),
            other => match other.written_cost_model() {
                Some(spec) => write!(f, "{}:{}", other.name(), spec.name()),
                None => f.write_str(other.name()),
            },
        }
    }
}

impl FromStr for StrategySpec {
    type Err = MatrixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| MatrixError::Strategy { spec: s.to_string(), why: why.to_string() };
        let (name, models) = match s.trim().split_once(':') {
            Some((n, m)) => (n.trim(), Some(m.trim())),
            None => (s.trim(), None),
        };
        let models: Option<Vec<String>> =
            models.map(|m| m.split('+').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect());
        match (name, models) {
            ("random" | "evolutionary" | "mcts", m) => {
                let cost_model = match m.as_deref() {
                    None => None,
                    Some([kind]) => Some(match kind.as_str() {
                        "none" => CostModelSpec::None,
                        "knn" => CostModelSpec::Knn,
                        "mlp" => CostModelSpec::Mlp,
                        "tvm" => CostModelSpec::Tvm,
                        _ => return Err(err("after `:` name a cost model: none, knn, mlp or tvm")),
                    }),
                    Some(_) => return Err(err("after `:` name one cost model: none, knn, mlp or tvm")),
                };
                Ok(match name {
                    "random" => StrategySpec::Random { cost_model },
                    "evolutionary" => StrategySpec::Evolutionary { cost_model },
                    _ => StrategySpec::Mcts { cost_model },
                })
            }
            ("llm-mcts", Some(m)) if m.len() == 1 => Ok(StrategySpec::LlmMcts { model: m[0].clone() }),
            ("llm-mcts", _) => Err(err("name exactly one model, e.g. llm-mcts:gemma3-270m")),
            ("litecoop", Some(m)) if !m.is_empty() => {
                let mut seen = std::collections::HashSet::new();
                if let Some(twice) = m.iter().find(|x| !seen.insert(x.as_str())) {
                    return Err(err(&format!("model `{twice}` is named twice")));
                }
                Ok(StrategySpec::Litecoop { models: m })
            }
            ("litecoop", _) => Err(err("name its bucket, e.g. litecoop:smollm2-135m+gemma3-270m")),
            _ => Err(err("expected random, evolutionary, mcts, llm-mcts:MODEL or litecoop:M1+M2")),
        }
    }
}

impl TryFrom<String> for StrategySpec {
    type Error = MatrixError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<StrategySpec> for String {
    fn from(s: StrategySpec) -> String {
        s.to_string()
    }
}

/// Workloads x strategies x seeds, each cell one tuning run of `budget` candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// Workload names (or TOML paths).
    pub workloads: Vec<String>,
    /// Size preset of every workload (`small` or `paper`).
    pub size: String,
    /// Strategies.
    pub strategies: Vec<StrategySpec>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Candidates per run.
    pub budget: usize,
}

/// One run of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Workload.
    pub workload: String,
    /// Strategy.
    pub strategy: StrategySpec,
    /// Seed.
    pub seed: u64,
}

impl Cell {
    /// The cell's stable name, also its run directory's name: `<workload>-<size>-<strategy>-s<seed>`.
    pub fn key(&self, size: &str) -> String {
        let workload: String = std::path::Path::new(&self.workload)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.workload.clone());
        format!("{workload}-{size}-{}-s{}", self.strategy.file_label(), self.seed)
    }
}

impl Matrix {
    /// Checks that no dimension is empty and the budget is positive.
    pub fn validate(&self) -> Result<(), MatrixError> {
        if self.workloads.is_empty() {
            return Err(MatrixError::Empty("workloads"));
        }
        if self.strategies.is_empty() {
            return Err(MatrixError::Empty("strategies"));
        }
        if self.seeds.is_empty() {
            return Err(MatrixError::Empty("seeds"));
        }
        if self.budget == 0 {
            return Err(MatrixError::Empty("budget (it must be at least 1 candidate)"));
        }
        Ok(())
    }

    /// Every cell, workload-major, then strategy, then seed.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = Vec::new();
        for workload in &self.workloads {
            for strategy in &self.strategies {
                for &seed in &self.seeds {
                    cells.push(Cell { workload: workload.clone(), strategy: strategy.clone(), seed });
                }
            }
        }
        cells
    }

    /// Every model any strategy runs, each once, in first-seen order.
    pub fn models(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.strategies.iter().flat_map(|s| s.models()) {
            if !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }
}

/// Shard `index` of `count` (1-based): cell number `i` of [`Matrix::cells`] belongs to shard `i % count + 1`,
/// so every shard gets a share of every (workload, strategy) pair when there are at least as many seeds as
/// shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based index.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// The cells of this shard.
    pub fn cells(&self, matrix: &Matrix) -> Vec<Cell> {
        matrix
            .cells()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count + 1 == self.index)
            .map(|(_, c)| c)
            .collect()
    }
}

impl FromStr for Shard {
    type Err = MatrixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = || -> Option<Shard> {
            let (i, n) = s.split_once('/')?;
            let (index, count) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
            (1..=count).contains(&index).then_some(Shard { index, count })
        };
        parse().ok_or_else(|| MatrixError::Shard(s.to_string()))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The paper preset: the five serving layers of the LiteCoOp / Reasoning Compiler evaluation, 10 seeds, the
/// evolutionary and MCTS baselines, the largest model alone (Reasoning Compiler) and the whole bucket
/// (LiteCoOp), 64 candidates per run.
pub fn paper_preset(size: &str) -> Matrix {
    Matrix {
        workloads: ["llama3-8b-attention", "deepseek-r1-moe", "flux-attention", "flux-conv", "llama4-scout-mlp"]
            .map(String::from)
            .to_vec(),
        size: size.to_string(),
        strategies: research_strategies(),
        seeds: (0..10).collect(),
        budget: PAPER_BUDGET,
    }
}

/// The strategies that answer the research question with the shipped models: evolutionary search measuring
/// every candidate and screening with the cost model, MCTS screening with it, the largest model alone
/// (Reasoning Compiler) and the whole bucket (LiteCoOp).
pub fn research_strategies() -> Vec<StrategySpec> {
    vec![
        StrategySpec::Evolutionary { cost_model: Some(CostModelSpec::None) },
        StrategySpec::Evolutionary { cost_model: Some(CostModelSpec::Mlp) },
        StrategySpec::Mcts { cost_model: Some(CostModelSpec::Mlp) },
        StrategySpec::LlmMcts { model: "gemma3-270m".into() },
        StrategySpec::Litecoop { models: vec!["smollm2-135m".into(), "gemma3-270m".into()] },
    ]
}

/// Candidates per run in the paper preset.
pub const PAPER_BUDGET: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_specs_round_trip_and_refuse_what_they_cannot_run() {
        for s in [
            "random",
            "evolutionary",
            "evolutionary:none",
            "mcts:knn",
            "random:mlp",
            "evolutionary:tvm",
            "llm-mcts:gemma3-270m",
            "litecoop:smollm2-135m+gemma3-270m",
        ] {
            assert_eq!(s.parse::<StrategySpec>().unwrap().to_string(), s);
        }
        assert_eq!(
            "litecoop: a + b ".parse::<StrategySpec>().unwrap(),
            StrategySpec::Litecoop { models: vec!["a".into(), "b".into()] }
        );
        assert_eq!("mcts".parse::<StrategySpec>().unwrap().cost_model(), None);
        assert_eq!("mcts:knn".parse::<StrategySpec>().unwrap().cost_model(), Some(CostModelKind::Knn));
        assert_eq!("evolutionary:tvm".parse::<StrategySpec>().unwrap().warmup(), 100);
        for bad in
            ["llm-mcts", "llm-mcts:a+b", "litecoop", "litecoop:", "litecoop:a+a", "mcts:a", "mcts:knn+mlp", "greedy"]
        {
            assert!(bad.parse::<StrategySpec>().is_err(), "{bad}");
        }
        let spec: StrategySpec = "litecoop:a+hf:x/y:z.gguf".parse().unwrap();
        assert_eq!(spec.file_label(), "litecoop-a+hf-x-y-z.gguf");
        assert_eq!(spec.models(), ["a", "hf:x/y:z.gguf"]);
    }

    #[test]
    fn shards_partition_the_matrix() {
        let m = paper_preset("small");
        assert_eq!(m.cells().len(), 5 * 5 * 10);
        for count in [1, 2, 3, 7, 10, 250] {
            let mut all: Vec<Cell> = (1..=count).flat_map(|i| Shard { index: i, count }.cells(&m)).collect();
            assert_eq!(all.len(), m.cells().len());
            all.sort_by_key(|c| c.key("small"));
            let mut expected = m.cells();
            expected.sort_by_key(|c| c.key("small"));
            assert_eq!(all, expected);
        }
        // Ten shards over ten seeds: each shard holds one seed of every (workload, strategy).
        assert_eq!(Shard { index: 3, count: 10 }.cells(&m).len(), 25);
        assert_eq!("2/8".parse::<Shard>().unwrap(), Shard { index: 2, count: 8 });
        for bad in ["0/2", "3/2", "2", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cell_keys_are_distinct_and_name_a_path_workload_by_its_stem() {
        let m = paper_preset("small");
        let keys: std::collections::HashSet<String> = m.cells().iter().map(|c| c.key("small")).collect();
        assert_eq!(keys.len(), m.cells().len());
        let c =
            Cell { workload: "my/dir/gemm.toml".into(), strategy: StrategySpec::Mcts { cost_model: None }, seed: 3 };
        assert_eq!(c.key("paper"), "gemm-paper-mcts-s3");
        assert_eq!(m.models(), ["gemma3-270m", "smollm2-135m"]);
    }
}
