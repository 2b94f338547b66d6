//! The comparison matrix: which workloads, strategies and seeds, its cells, and how cells are split into
//! shards.

use litecoop_search::cost::CostModelKind;
use litecoop_search::strategy::tree::NodeValues;
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

/// One strategy of the matrix, with the models and cost model it needs. Written
/// `NAME[:MODELS][:COST_MODEL][:predicted]`: `evolutionary:mlp`, `mcts:knn:predicted`,
/// `litecoop:smollm2-135m+gemma3-270m:mlp`.
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
    /// MCTS expanded by random transformations: `mcts`, `mcts:COST_MODEL` or `mcts:COST_MODEL:predicted`.
    Mcts {
        /// The cost model; `None` for `litecoop tune`'s default.
        cost_model: Option<CostModelSpec>,
        /// Where node values come from (`:predicted`: the published systems' setting).
        values: NodeValues,
    },
    /// MCTS expanded by one model (Reasoning Compiler): `llm-mcts:MODEL[:COST_MODEL][:predicted]`.
    LlmMcts {
        /// The model.
        model: String,
        /// The cost model that screens the model's menu with its priors; `None`: none.
        cost_model: Option<CostModelSpec>,
        /// Where node values come from.
        values: NodeValues,
    },
    /// A bucket of models on one tree: `litecoop:M1+M2[:COST_MODEL][:predicted]`.
    Litecoop {
        /// The bucket.
        models: Vec<String>,
        /// The cost model that screens the models' menus with their priors; `None`: none.
        cost_model: Option<CostModelSpec>,
        /// Where node values come from.
        values: NodeValues,
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

    /// The cost model a spec segment names, if it names one.
    fn parse(segment: &str) -> Option<CostModelSpec> {
        Some(match segment {
            "none" => CostModelSpec::None,
            "knn" => CostModelSpec::Knn,
            "mlp" => CostModelSpec::Mlp,
            "tvm" => CostModelSpec::Tvm,
            _ => return None,
        })
    }
}

/// The segment that asks for predicted node values.
const PREDICTED: &str = "predicted";

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
            StrategySpec::LlmMcts { model, .. } => vec![model.clone()],
            StrategySpec::Litecoop { models, .. } => models.clone(),
            _ => Vec::new(),
        }
    }

    /// The cost model as written in the spec (`None`: not written).
    pub fn written_cost_model(&self) -> Option<CostModelSpec> {
        match self {
            StrategySpec::Random { cost_model }
            | StrategySpec::Evolutionary { cost_model }
            | StrategySpec::Mcts { cost_model, .. }
            | StrategySpec::LlmMcts { cost_model, .. }
            | StrategySpec::Litecoop { cost_model, .. } => *cost_model,
        }
    }

    /// Where its tree's node values come from (measured for the strategies without a tree).
    pub fn values(&self) -> NodeValues {
        match self {
            StrategySpec::Mcts { values, .. }
            | StrategySpec::LlmMcts { values, .. }
            | StrategySpec::Litecoop { values, .. } => *values,
            _ => NodeValues::Measured,
        }
    }

    /// The cost model its runs use: `None` when the spec leaves it to `litecoop tune` (auto for the classic
    /// strategies, mlp with predicted values; the LLM strategies take none unless one is written).
    pub fn cost_model(&self) -> Option<CostModelKind> {
        match self.written_cost_model() {
            Some(spec) => Some(spec.kind()),
            None if !self.models().is_empty() && self.values().is_measured() => Some(CostModelKind::None),
            None => None,
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
        f.write_str(self.name())?;
        let models = self.models();
        if !models.is_empty() {
            write!(f, ":{}", models.join("+"))?;
        }
        if let Some(spec) = self.written_cost_model() {
            write!(f, ":{}", spec.name())?;
        }
        if !self.values().is_measured() {
            write!(f, ":{PREDICTED}")?;
        }
        Ok(())
    }
}

impl FromStr for StrategySpec {
    type Err = MatrixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| MatrixError::Strategy { spec: s.to_string(), why: why.to_string() };
        let mut parts: Vec<&str> = s.trim().split(':').map(str::trim).collect();
        let name = parts.remove(0);
        let llm = matches!(name, "llm-mcts" | "litecoop");
        // From the end: `predicted`, then a cost model (model names may themselves hold `:`).
        let values = if parts.last() == Some(&PREDICTED) {
            parts.pop();
            NodeValues::Predicted
        } else {
            NodeValues::Measured
        };
        let cost_model = match parts.last().and_then(|p| CostModelSpec::parse(p)) {
            Some(spec) if !llm || parts.len() > 1 => {
                parts.pop();
                Some(spec)
            }
            _ => None,
        };
        let rest = parts.join(":");
        if values == NodeValues::Predicted {
            if !matches!(name, "mcts" | "llm-mcts" | "litecoop") {
                return Err(err("`:predicted` applies to the tree strategies: mcts, llm-mcts, litecoop"));
            }
            if cost_model == Some(CostModelSpec::None) {
                return Err(err("predicted node values need a cost model: knn, mlp or tvm"));
            }
        }
        let models: Vec<String> = rest.split('+').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
        match name {
            "random" | "evolutionary" | "mcts" => {
                if !rest.is_empty() {
                    return Err(err("after `:` name one cost model: none, knn, mlp or tvm"));
                }
                Ok(match name {
                    "random" => StrategySpec::Random { cost_model },
                    "evolutionary" => StrategySpec::Evolutionary { cost_model },
                    _ => StrategySpec::Mcts { cost_model, values },
                })
            }
            "llm-mcts" if models.len() == 1 => {
                Ok(StrategySpec::LlmMcts { model: models[0].clone(), cost_model, values })
            }
            "llm-mcts" => Err(err("name exactly one model, e.g. llm-mcts:gemma3-270m")),
            "litecoop" if !models.is_empty() => {
                let mut seen = std::collections::HashSet::new();
                if let Some(twice) = models.iter().find(|x| !seen.insert(x.as_str())) {
                    return Err(err(&format!("model `{twice}` is named twice")));
                }
                Ok(StrategySpec::Litecoop { models, cost_model, values })
            }
            "litecoop" => Err(err("name its bucket, e.g. litecoop:smollm2-135m+gemma3-270m")),
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
        strategies: paper_strategies(),
        seeds: (0..10).collect(),
        budget: PAPER_BUDGET,
    }
}

/// The strategies that answer the research question with the shipped models: evolutionary search measuring
/// every candidate and screening with the cost model, MCTS screening with it, the largest model alone
/// (Reasoning Compiler) and the whole bucket (LiteCoOp). `litecoop bench`'s default.
pub fn research_strategies() -> Vec<StrategySpec> {
    vec![
        StrategySpec::Evolutionary { cost_model: Some(CostModelSpec::None) },
        StrategySpec::Evolutionary { cost_model: Some(CostModelSpec::Mlp) },
        StrategySpec::Mcts { cost_model: Some(CostModelSpec::Mlp), values: NodeValues::Measured },
        StrategySpec::LlmMcts { model: "gemma3-270m".into(), cost_model: None, values: NodeValues::Measured },
        StrategySpec::Litecoop {
            models: vec!["smollm2-135m".into(), "gemma3-270m".into()],
            cost_model: None,
            values: NodeValues::Measured,
        },
    ]
}

/// The paper preset's strategies: evolutionary search without and with the cost model, TVM MetaSchedule's
/// setting (`evolutionary:tvm`), MCTS screening with the model, MCTS in the published systems' setting
/// (node values predicted by the model: `mcts:mlp:predicted`), and the largest model alone and the whole
/// bucket, each screening its menu priors with the model.
pub fn paper_strategies() -> Vec<StrategySpec> {
    let mlp = Some(CostModelSpec::Mlp);
    vec![
        StrategySpec::Evolutionary { cost_model: Some(CostModelSpec::None) },
        StrategySpec::Evolutionary { cost_model: mlp },
        StrategySpec::Evolutionary { cost_model: Some(CostModelSpec::Tvm) },
        StrategySpec::Mcts { cost_model: mlp, values: NodeValues::Measured },
        StrategySpec::Mcts { cost_model: mlp, values: NodeValues::Predicted },
        StrategySpec::LlmMcts { model: "gemma3-270m".into(), cost_model: mlp, values: NodeValues::Measured },
        StrategySpec::Litecoop {
            models: vec!["smollm2-135m".into(), "gemma3-270m".into()],
            cost_model: mlp,
            values: NodeValues::Measured,
        },
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
            "mcts:mlp:predicted",
            "mcts:predicted",
            "llm-mcts:gemma3-270m:knn",
            "litecoop:a+b:mlp:predicted",
            "litecoop:a+hf:x/y:z.gguf:tvm",
        ] {
            assert_eq!(s.parse::<StrategySpec>().unwrap().to_string(), s);
        }
        assert_eq!(
            "litecoop: a + b ".parse::<StrategySpec>().unwrap(),
            StrategySpec::Litecoop {
                models: vec!["a".into(), "b".into()],
                cost_model: None,
                values: NodeValues::Measured
            }
        );
        let spec: StrategySpec = "litecoop:a+b:knn:predicted".parse().unwrap();
        assert_eq!(
            (spec.models(), spec.cost_model(), spec.values()),
            (vec!["a".to_string(), "b".to_string()], Some(CostModelKind::Knn), NodeValues::Predicted)
        );
        assert_eq!("llm-mcts:m".parse::<StrategySpec>().unwrap().cost_model(), Some(CostModelKind::None));
        assert_eq!("llm-mcts:m:predicted".parse::<StrategySpec>().unwrap().cost_model(), None, "tune's mlp");
        assert_eq!("llm-mcts:mlp".parse::<StrategySpec>().unwrap().models(), ["mlp"], "a model may be named mlp");
        assert_eq!("mcts".parse::<StrategySpec>().unwrap().cost_model(), None);
        assert_eq!("mcts:knn".parse::<StrategySpec>().unwrap().cost_model(), Some(CostModelKind::Knn));
        assert_eq!("evolutionary:tvm".parse::<StrategySpec>().unwrap().warmup(), 100);
        for bad in [
            "llm-mcts",
            "llm-mcts:a+b",
            "litecoop",
            "litecoop:",
            "litecoop:a+a",
            "mcts:a",
            "mcts:knn+mlp",
            "greedy",
            "evolutionary:mlp:predicted",
            "mcts:none:predicted",
            "llm-mcts:predicted",
        ] {
            assert!(bad.parse::<StrategySpec>().is_err(), "{bad}");
        }
        let spec: StrategySpec = "litecoop:a+hf:x/y:z.gguf".parse().unwrap();
        assert_eq!(spec.file_label(), "litecoop-a+hf-x-y-z.gguf");
        assert_eq!(spec.models(), ["a", "hf:x/y:z.gguf"]);
    }

    #[test]
    fn shards_partition_the_matrix() {
        let m = paper_preset("small");
        assert_eq!(m.cells().len(), 5 * 7 * 10);
        for count in [1, 2, 3, 7, 10, 250] {
            let mut all: Vec<Cell> = (1..=count).flat_map(|i| Shard { index: i, count }.cells(&m)).collect();
            assert_eq!(all.len(), m.cells().len());
            all.sort_by_key(|c| c.key("small"));
            let mut expected = m.cells();
            expected.sort_by_key(|c| c.key("small"));
            assert_eq!(all, expected);
        }
        // Ten shards over ten seeds: each shard holds one seed of every (workload, strategy).
        assert_eq!(Shard { index: 3, count: 10 }.cells(&m).len(), 35);
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
        let c = Cell {
            workload: "my/dir/gemm.toml".into(),
            strategy: StrategySpec::Mcts { cost_model: None, values: NodeValues::Measured },
            seed: 3,
        };
        assert_eq!(c.key("paper"), "gemm-paper-mcts-s3");
        assert_eq!(m.models(), ["gemma3-270m", "smollm2-135m"]);
    }
}
