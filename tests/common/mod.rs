//! Helpers shared by the end-to-end tests: run the built binary, read its output, make scratch directories.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `litecoop` with `args` from the repository root.
pub fn litecoop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_litecoop"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// Standard output and error together.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A fresh, empty directory for this test process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("litecoop-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The schedule hash of every line of a run's log (`run/candidates.jsonl`); empty when there is none yet.
pub fn logged_hashes(run: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(run.join("candidates.jsonl")).unwrap_or_default();
    log.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["hash"].as_str().unwrap().to_string())
        .collect()
}

/// Starts `litecoop` with `args`, waits until the run in `run` has logged `lines` lines, then kills it with
/// SIGKILL (no chance to clean up) and returns the hashes logged by then.
pub fn kill_after_logged(args: &[&str], run: &Path, lines: usize) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_litecoop"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while logged_hashes(run).len() < lines {
        assert!(start.elapsed() < Duration::from_secs(300), "the run made no progress");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    logged_hashes(run)
}

/// How many times each (schedule, device) pair of the tuning database `db` was measured, most first.
pub fn measurement_counts(db: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt =
        conn.prepare("SELECT COUNT(*) AS n FROM measurements GROUP BY schedule_id, device_id ORDER BY n DESC").unwrap();
    let counts = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    counts
}
