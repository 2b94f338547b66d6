//! The measurement worker: reads a `MeasureSettings` line, then one request per line on stdin, answers one
//! JSON line each on stdout. `litecoop-measure-worker [ADAPTER]`. Started by `IsolatedMeasurer`.

fn main() -> std::io::Result<()> {
    // As in the CLI: real compile times, and no display probing on headless machines.
    if std::env::var_os("MESA_SHADER_CACHE_DISABLE").is_none() && std::env::var_os("MESA_SHADER_CACHE_DIR").is_none() {
        std::env::set_var("MESA_SHADER_CACHE_DISABLE", "true");
    }
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
    let adapter = std::env::args().nth(1);
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    litecoop_gpu::worker::serve(adapter.as_deref(), stdin.lock(), stdout.lock())
}
