-- The tuning database's tables (see the module documentation of `db`).
CREATE TABLE IF NOT EXISTS devices (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    driver TEXT NOT NULL,
    backend TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workloads (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    size TEXT NOT NULL,
    op_hash TEXT NOT NULL UNIQUE,
    op_json TEXT NOT NULL,
    flops REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS schedules (
    id INTEGER PRIMARY KEY,
    workload_id INTEGER NOT NULL REFERENCES workloads(id),
    hash TEXT NOT NULL,
    json TEXT NOT NULL,
    UNIQUE (workload_id, hash)
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    workload_id INTEGER NOT NULL REFERENCES workloads(id),
    device_id INTEGER NOT NULL REFERENCES devices(id),
    strategy TEXT NOT NULL,
    seed INTEGER NOT NULL,
    budget INTEGER NOT NULL,
    dir TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    baseline_latency_ms REAL,
    best_latency_ms REAL,
    samples INTEGER
);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY,
    schedule_id INTEGER NOT NULL REFERENCES schedules(id),
    device_id INTEGER NOT NULL REFERENCES devices(id),
    run_id TEXT REFERENCES runs(id),
    latency_ms REAL,
    spread_pct REAL,
    timing_method TEXT,
    timing_samples INTEGER,
    max_rel_err REAL,
    failure_kind TEXT,
    failure TEXT,
    wgsl_hash TEXT,
    codegen_ms REAL NOT NULL,
    compile_ms REAL NOT NULL,
    measure_ms REAL NOT NULL,
    input_seed INTEGER NOT NULL,
    settings TEXT
);
CREATE TABLE IF NOT EXISTS run_models (
    run_id TEXT NOT NULL REFERENCES runs(id),
    model TEXT NOT NULL,
    parameters INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    correction_calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    prefilled_tokens INTEGER NOT NULL,
    decoded_tokens INTEGER NOT NULL,
    seconds REAL NOT NULL,
    flops REAL NOT NULL,
    children INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    PRIMARY KEY (run_id, model)
);
CREATE INDEX IF NOT EXISTS measurements_by_schedule ON measurements (schedule_id, device_id);
