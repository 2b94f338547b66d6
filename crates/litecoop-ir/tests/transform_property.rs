//! Property: from any legal schedule of any built-in workload, every listed transformation yields a legal
//! schedule, the listing is complete (no unlisted edit is legal), and hashing is canonical.

use litecoop_ir::legality::{check, DeviceLimits};
use litecoop_ir::rng::Rng;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::space::random_schedule;
use litecoop_ir::transform::{legal_transformations, Transformation};
use litecoop_ir::workload::{load_dir, Workload};
use std::path::Path;

fn workloads() -> Vec<Workload> {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels")).unwrap()
}

fn limits() -> [DeviceLimits; 2] {
    // The WebGPU minimum (every adapter meets it) and lavapipe's larger limits.
    [DeviceLimits::webgpu_default(), DeviceLimits::lavapipe()]
}

#[test]
fn listed_transformations_are_legal_along_random_walks() {
    let mut rng = Rng::new(7);
    let mut applied = 0;
    for w in &workloads() {
        for size in ["small", "paper"] {
            let Ok(op) = w.op(size) else { continue };
            for limits in limits() {
                let starts = [Schedule::naive(&op), random_schedule(&op, &limits, &mut rng)];
                if check(&op, &starts[0], &limits).is_err() {
                    // The buffers do not fit this device whatever the schedule: nothing is legal.
                    assert!(legal_transformations(&op, &starts[0], &limits).is_empty());
                    continue;
                }
                for start in starts {
                    let mut schedule = start;
                    for _ in 0..12 {
                        let legal = legal_transformations(&op, &schedule, &limits);
                        assert!(!legal.is_empty(), "{}: no move from {}", w.name, schedule.describe());
                        for t in &legal {
                            let next = t.apply(&op, &schedule).unwrap();
                            if let Err(e) = check(&op, &next, &limits) {
                                panic!("{} {size}: `{t}` from {} is illegal: {e}", w.name, schedule.describe());
                            }
                            assert_ne!(next.fingerprint(), schedule.fingerprint(), "`{t}` changed nothing");
                            applied += 1;
                        }
                        let t = &legal[rng.below(legal.len())];
                        schedule = t.apply(&op, &schedule).unwrap();
                    }
                }
            }
        }
    }
    assert!(applied > 5000, "only {applied} transformations checked");
}

#[test]
fn the_listing_is_complete() {
    // Every single-edit schedule that is legal and different appears in the list.
    let limits = DeviceLimits::webgpu_default();
    let mut rng = Rng::new(3);
    let edits = [
        "tile m 1",
        "tile m 8",
        "tile m 64",
        "tile n 4",
        "tile n 128",
        "tile k 2",
        "tile k 32",
        "thread_tile m 4",
        "thread_tile n 8",
        "stage a shared",
        "stage b shared",
        "stage a global",
        "pad 1",
        "vectorize 4",
        "vectorize 1",
        "unroll k 4",
        "split_k 2",
        "swizzle 4",
        "row_threads 16",
        "rows 2",
        "workgroup 128",
        "items 2",
    ];
    for w in &workloads() {
        let op = w.op("small").unwrap();
        for _ in 0..4 {
            let schedule = random_schedule(&op, &limits, &mut rng);
            let legal = legal_transformations(&op, &schedule, &limits);
            for name in schedule.kernels.keys() {
                for edit in edits {
                    let t: Transformation = format!("{name}: {edit}").parse().unwrap();
                    let Ok(next) = t.apply(&op, &schedule) else { continue };
                    if next != schedule && check(&op, &next, &limits).is_ok() {
                        assert!(legal.contains(&t), "{}: `{t}` is legal but not listed", w.name);
                    }
                }
            }
        }
    }
}

#[test]
fn the_same_schedule_reached_by_two_paths_hashes_the_same() {
    let w = workloads().into_iter().find(|w| w.name == "matmul-512").unwrap();
    let op = w.op("small").unwrap();
    let limits = DeviceLimits::webgpu_default();
    let walk = |lines: &[&str]| {
        lines.iter().fold(Schedule::naive(&op), |s, line| {
            line.parse::<Transformation>().unwrap().apply_checked(&op, &s, &limits).unwrap()
        })
    };
    let one = walk(&["matmul: thread_tile m 4", "matmul: tile m 32", "matmul: tile k 4"]);
    let two = walk(&["matmul: tile k 4", "matmul: thread_tile m 4", "matmul: tile m 32"]);
    assert_eq!(one.fingerprint(), two.fingerprint());
    let other = walk(&["matmul: tile k 8", "matmul: thread_tile m 4", "matmul: tile m 32"]);
    assert_ne!(one.fingerprint(), other.fingerprint());
    assert_eq!(one.fingerprint().len(), 16);
}
