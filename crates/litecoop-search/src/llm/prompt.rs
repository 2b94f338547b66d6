//! The proposer's prompt, laid out for KV reuse (the prefix cache reuses the longest shared prefix):
//!
//! 1. instructions: the task, the workload, the device, the transformation vocabulary and (LiteCoOp) the
//!    models — identical for the whole run, pinned in each model's cache;
//! 2. the path from the root, one segment per step (transformation, who proposed it, measured speedup) —
//!    shared by a node and all its descendants;
//! 3. the node's own schedule, speedup and legal transformations;
//! 4. last, the fast-changing statistics (calls, hit rate, errors per model, largest-model share) and, for a
//!    course alteration, what went wrong.
//!
//! Every segment ends with a newline and is tokenized on its own, so a prefix of segments always has the
//! same tokens, whatever follows it.

use super::ledger::LlmReport;
use super::Prompt;
use crate::proposer::Step;
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::op::Op;
use litecoop_ir::rng::Rng;
use litecoop_ir::schedule::Schedule;

/// What stays the same for the whole run.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// Workload name.
    pub workload: String,
    /// The operator.
    pub op: Op,
    /// Adapter name and backend.
    pub device: String,
    /// The device limits.
    pub limits: DeviceLimits,
    /// The models of the bucket (name, parameters); one for `llm-mcts`.
    pub models: Vec<(String, u64)>,
    /// The answer also names the model that expands the new schedule (LiteCoOp).
    pub choose_next_model: bool,
    /// What the tree's root is called in prompts (`naive`, `hand-written default`).
    pub root: String,
}

impl RunFacts {
    /// The facts of a run; the strategy fills in the models when it is built.
    pub fn new(workload: &str, op: Op, device: String, limits: DeviceLimits) -> RunFacts {
        RunFacts {
            workload: workload.to_string(),
            op,
            device,
            limits,
            models: Vec::new(),
            choose_next_model: false,
            root: "naive".into(),
        }
    }
}

/// The label before each transformation decision of an answer.
pub const TRANSFORMATION_LABEL: &str = "transformation: ";
/// What introduces the menu of a further step of the same answer.
pub const NEXT_STEP: &str = "Legal transformations now (answer with one letter):\n";
/// The label before the next-model decision.
pub const NEXT_MODEL_LABEL: &str = "next model: ";
/// The option that ends a multi-step answer early.
pub const DONE: &str = "done";

/// Advice printed after the vocabulary (the vocabulary itself comes from the decision tables).
const ADVICE: &str = "\
What usually helps a matrix product: workgroup tiles of 32-64 outputs per side, register tiles of 4-8, both
operands staged in shared memory with a reduction tile of 8-32, vectorize 4; split_k only when the output is
small and the reduction long. Softmax: more invocations per row for long rows.
";

/// The run-wide instructions.
pub fn instructions(facts: &RunFacts) -> String {
    let op = serde_json::to_string(&facts.op).unwrap_or_else(|_| facts.op.kind().to_string());
    let l = &facts.limits;
    let mut s = format!(
        "You are an expert GPU kernel engineer tuning a WGSL compute kernel step by step. Each step applies one \
         schedule transformation; every result is compiled, checked and timed, and a higher speedup over the \
         naive schedule is better.\n\
         Workload: {} ({:.3} GFLOP): {op}\n\
         Device: {}; at most {} invocations and {} bytes of workgroup memory per workgroup; {}.\n\
         Transformations (each sets one decision of one kernel; the list at each schedule has only legal ones):\n\
         {}{ADVICE}",
        facts.workload,
        facts.op.flops() / 1e9,
        facts.device,
        l.max_invocations_per_workgroup,
        l.max_workgroup_storage_bytes,
        l.subgroups_text(),
        litecoop_ir::decision::vocabulary(),
    );
    if facts.choose_next_model {
        let names: Vec<String> =
            facts.models.iter().map(|(n, p)| format!("{n} ({:.0}M parameters)", *p as f64 / 1e6)).collect();
        let largest = super::ledger::largest(&facts.models).unwrap_or_default();
        s.push_str(&format!(
            "Models sharing this search: {}. After the transformation, name the model that should expand the new \
             schedule next: small models are cheaper, the largest is better at recovering from slow steps. \
             Give the largest model ({largest}) at least 20% of the calls.\n",
            names.join(", ")
        ));
    }
    s.push_str("Answer with the letter of one transformation from the list of the current schedule.\n");
    s.push_str(&format!("Path from the {} schedule:\n", facts.root));
    s
}

/// One step of the path.
pub fn step_line(number: usize, step: &Step) -> String {
    let what: Vec<String> = step.transformations.iter().map(|t| t.to_string()).collect();
    let result = match step.speedup {
        Some(s) => format!("{s:.2}x"),
        None => "failed".into(),
    };
    format!("{number}. {} (by {}) -> {result}\n", what.join(", then "), step.proposer)
}

/// Labels of menu entries: one character each, a single token in the tokenizers we ship (checked by the
/// end-to-end test with the real models).
pub const LABELS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A menu of options: which option each label stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Menu {
    /// Option index per label, in label order.
    pub order: Vec<usize>,
}

impl Menu {
    /// `count` options in an order shuffled by `seed`; beyond [`LABELS`] a seeded random subset. Tiny models
    /// lean toward particular positions and words; a menu answered by one label makes each decision one
    /// token over the options (no option family wins by sharing a first word), and the shuffle turns position
    /// preference into noise rather than a preference for whatever is listed first.
    pub fn shuffled(count: usize, seed: u64) -> Menu {
        let mut order: Vec<usize> = (0..count).collect();
        let mut rng = Rng::new(seed);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        order.truncate(LABELS.len());
        Menu { order }
    }

    /// The label of the `i`-th entry.
    pub fn label(i: usize) -> String {
        char::from(LABELS[i]).to_string()
    }

    /// What the model chooses among: one label per entry.
    pub fn labels(&self) -> Vec<String> {
        (0..self.order.len()).map(Menu::label).collect()
    }

    /// `A: text` lines.
    pub fn listing(&self, texts: &[String]) -> String {
        self.order.iter().enumerate().map(|(i, &o)| format!("{}: {}\n", Menu::label(i), texts[o])).collect()
    }
}

/// The node's own part: schedule, speedup, and the menu of its legal transformations.
pub fn node_part(schedule: &Schedule, speedup: Option<f64>, listing: &str) -> String {
    let speed = speedup.map_or("unmeasured".to_string(), |s| format!("{s:.2}x over naive"));
    format!(
        "Current schedule ({speed}): {}\nLegal transformations here (answer with one letter):\n{listing}",
        schedule.describe()
    )
}

/// The statistics part (last: it changes with every call).
pub fn statistics_part(report: &LlmReport, multi_model: bool) -> String {
    let mut lines = Vec::new();
    for (name, m) in &report.models {
        lines.push(format!(
            "{name}: {} calls, {} of {} children faster than their parent, {} errors",
            m.calls, m.hits, m.children, m.errors
        ));
    }
    let mut s = format!("Statistics so far: {}.\n", lines.join("; "));
    if multi_model {
        s.push_str(&format!("Largest-model share of calls: {:.0}%.\n", report.largest_share * 100.0));
    }
    s
}

/// What a correction prompt adds: the regression it is asked to do better than.
pub fn correction_part(regression: &Step, parent_speedup: Option<f64>) -> String {
    let what: Vec<String> = regression.transformations.iter().map(|t| t.to_string()).collect();
    let result = regression.speedup.map_or("failed".to_string(), |s| format!("gave {s:.2}x"));
    let before = parent_speedup.map_or(String::new(), |s| format!(" (this schedule is at {s:.2}x)"));
    format!(
        "Correction: {} proposed {} here and it {result}{before}, slower than this schedule. Propose a better \
         transformation for this schedule.\n",
        regression.proposer,
        what.join(", then ")
    )
}

/// A prompt from its parts.
/// `root` names the tree's root as the instructions do (`naive`).
pub fn assemble(instructions: &str, root: &str, path: &[Step], node: String, statistics: String) -> Prompt {
    let mut context: Vec<String> = path.iter().enumerate().map(|(i, s)| step_line(i + 1, s)).collect();
    if path.is_empty() {
        context.push(format!("(none yet: this is the {root} schedule)\n"));
    }
    context.push(node);
    context.push(statistics);
    Prompt { instructions: instructions.to_string(), context, answer: vec![TRANSFORMATION_LABEL.to_string()] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_menu_lists_every_option_once_under_its_own_label_in_a_seeded_order() {
        let texts: Vec<String> = (0..30).map(|i| format!("option {i}")).collect();
        let menu = Menu::shuffled(texts.len(), 1);
        let mut seen = menu.order.clone();
        seen.sort();
        assert_eq!(seen, (0..30).collect::<Vec<_>>());
        assert_eq!(menu, Menu::shuffled(30, 1));
        assert_ne!(menu, Menu::shuffled(30, 2));
        let listing = menu.listing(&texts);
        assert_eq!(listing.lines().count(), 30);
        assert!(listing.starts_with(&format!("A: {}\n", texts[menu.order[0]])));
        let labels = menu.labels();
        assert_eq!(labels.len(), 30);
        assert_eq!(labels.iter().collect::<std::collections::HashSet<_>>().len(), 30);
        // More options than labels: a subset, still distinct.
        let big = Menu::shuffled(200, 3);
        assert_eq!(big.order.len(), LABELS.len());
        assert_eq!(big.order.iter().collect::<std::collections::HashSet<_>>().len(), LABELS.len());
    }

    #[test]
    fn a_child_prompt_extends_its_parents_segments() {
        let step = |p: &str, s| Step {
            transformations: vec!["matmul: tile m 32".parse().unwrap()],
            proposer: p.into(),
            speedup: Some(s),
        };
        let parent = assemble("i\n", "naive", &[step("a", 1.5)], "n\n".into(), "s\n".into());
        let child = assemble("i\n", "naive", &[step("a", 1.5), step("b", 2.0)], "n2\n".into(), "s\n".into());
        assert_eq!(parent.context[0], child.context[0]);
        assert!(child.context[1].starts_with("2. matmul: tile m 32 (by b) -> 2.00x"));
        assert!(parent.context.iter().chain(&child.context).all(|s| s.ends_with('\n')));
    }
}
