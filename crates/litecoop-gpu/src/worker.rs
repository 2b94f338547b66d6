//! Measurements in a worker process the tuner can kill: a driver that hangs or crashes inside a dispatch
//! takes the worker down, never the tuner. The parent ([`IsolatedMeasurer`]) sends one JSON line per
//! candidate and waits for one JSON line back, with a hard time limit; on a timeout it kills the worker, on
//! a crash it notes the exit status, and either way the next candidate starts a fresh worker.

use crate::device::DeviceError;
use crate::measure::{MeasureError, Measurement, Measurer};
use crate::settings::MeasureSettings;
use litecoop_codegen::LaunchPlan;
use litecoop_ir::op::Op;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

/// One candidate to measure.
#[derive(Serialize, Deserialize)]
pub struct Request {
    /// The operator (for the reference).
    pub op: Op,
    /// What to run.
    pub plan: LaunchPlan,
    /// Seed of the inputs.
    pub seed: u64,
    /// Check only, whatever the worker's settings say (a second check on other inputs).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check_only: bool,
}

/// The worker's answer.
pub type Response = Result<Measurement, MeasureError>;

/// Serves requests from `input` until it closes: the body of a worker process. The first line of `input` is
/// the [`MeasureSettings`]; the adapter is chosen by `adapter` as in [`crate::device::choose`].
pub fn serve(adapter: Option<&str>, input: impl BufRead, mut output: impl Write) -> std::io::Result<()> {
    let mut lines = input.lines();
    let config: MeasureSettings = match lines.next() {
        Some(line) => serde_json::from_str(&line?).map_err(std::io::Error::other)?,
        None => return Ok(()),
    };
    let mut measurer = match Measurer::new(adapter, config) {
        Ok(m) => m,
        Err(e) => {
            // Answer every request with the device error so the parent reports it.
            for _ in lines {
                writeln!(
                    output,
                    "{}",
                    serde_json::to_string(&Response::Err(MeasureError::Device(clone_device_error(&e))))?
                )?;
                output.flush()?;
            }
            return Ok(());
        }
    };
    for line in lines {
        let request: Request = serde_json::from_str(&line?).map_err(std::io::Error::other)?;
        let measured = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if request.check_only {
                measurer.check(&request.op, &request.plan, request.seed)
            } else {
                measurer.measure(&request.op, &request.plan, request.seed)
            }
        }));
        let (response, panicked) = match measured {
            Ok(response) => (response, false),
            Err(payload) => (Err(MeasureError::Internal { message: panic_message(payload.as_ref()) }), true),
        };
        writeln!(output, "{}", serde_json::to_string(&response).map_err(std::io::Error::other)?)?;
        output.flush()?;
        if panicked {
            // The measurer's state is unknown after a panic: end, and the parent starts a fresh worker.
            return Ok(());
        }
    }
    Ok(())
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".into(),
    }
}

fn clone_device_error(e: &DeviceError) -> DeviceError {
    serde_json::from_value(serde_json::to_value(e).expect("serialisable")).expect("round trip")
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<std::io::Result<String>>,
}

/// A measurer whose measurements run in a separate process.
pub struct IsolatedMeasurer {
    command: Vec<String>,
    config: MeasureSettings,
    hard_limit: Duration,
    worker: Option<Worker>,
    restarts: usize,
}

impl IsolatedMeasurer {
    /// Runs workers with `command` (program and arguments; the program must call [`serve`]). A measurement
    /// that takes longer than `hard_limit` in all kills its worker.
    pub fn new(command: Vec<String>, config: MeasureSettings, hard_limit: Duration) -> IsolatedMeasurer {
        IsolatedMeasurer { command, config, hard_limit, worker: None, restarts: 0 }
    }

    /// Workers killed or found dead so far (each is replaced by a fresh one on the next measurement).
    pub fn restarts(&self) -> usize {
        self.restarts
    }

    /// The process id of the current worker, if one runs.
    pub fn worker_pid(&self) -> Option<u32> {
        self.worker.as_ref().map(|w| w.child.id())
    }

    fn spawn(&mut self) -> Result<(), MeasureError> {
        let lost = |message: String| MeasureError::DeviceLost { message };
        let (program, args) = self.command.split_first().ok_or_else(|| lost("no worker command".into()))?;
        let mut command = Command::new(PathBuf::from(program));
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        // Its own process group: a Ctrl-C at the terminal reaches the tuner, which lets the measurement in
        // flight finish, instead of killing the worker mid-candidate. The worker still ends with the tuner
        // (its stdin closes).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child =
            command.spawn().map_err(|e| lost(format!("could not start the measurement worker {program}: {e}")))?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let config = serde_json::to_string(&self.config).expect("serialisable");
        writeln!(stdin, "{config}").map_err(|e| lost(format!("the measurement worker did not start: {e}")))?;
        self.worker = Some(Worker { child, stdin, lines: rx });
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut w) = self.worker.take() {
            self.restarts += 1;
            let _ = w.child.kill();
            let _ = w.child.wait();
        }
    }

    /// Measures in the worker (started if none runs). A worker that dies or outlives the hard limit fails
    /// this candidate only.
    pub fn measure(&mut self, op: &Op, plan: &LaunchPlan, seed: u64) -> Result<Measurement, MeasureError> {
        self.ask(Request { op: *op, plan: plan.clone(), seed, check_only: false })
    }

    /// Checks in the worker without timing, as [`IsolatedMeasurer::measure`] otherwise.
    pub fn check(&mut self, op: &Op, plan: &LaunchPlan, seed: u64) -> Result<Measurement, MeasureError> {
        self.ask(Request { op: *op, plan: plan.clone(), seed, check_only: true })
    }

    fn ask(&mut self, request: Request) -> Result<Measurement, MeasureError> {
        let alive = self.worker.as_mut().is_some_and(|w| matches!(w.child.try_wait(), Ok(None)));
        if !alive {
            self.kill();
            self.spawn()?;
        }
        let request = serde_json::to_string(&request).expect("serialisable");
        let worker = self.worker.as_mut().expect("spawned");
        let sent = writeln!(worker.stdin, "{request}").and_then(|_| worker.stdin.flush());
        let answer = match sent {
            Ok(()) => worker.lines.recv_timeout(self.hard_limit),
            Err(e) => Ok(Err(e)),
        };
        match answer {
            Ok(Ok(line)) => {
                let response = serde_json::from_str::<Response>(&line).unwrap_or_else(|e| {
                    Err(MeasureError::DeviceLost { message: format!("unreadable answer from the worker: {e}") })
                });
                if matches!(response, Err(MeasureError::Internal { .. })) {
                    self.kill(); // it ends after a panic; the next candidate gets a fresh one
                }
                response
            }
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                Err(MeasureError::Timeout { seconds: self.hard_limit.as_secs_f64() })
            }
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
                let status = self.worker.as_mut().and_then(|w| w.child.wait().ok());
                self.kill();
                Err(MeasureError::DeviceLost {
                    message: format!(
                        "the measurement worker died ({})",
                        status.map(|s| s.to_string()).unwrap_or_else(|| "unknown status".into())
                    ),
                })
            }
        }
    }
}

impl Drop for IsolatedMeasurer {
    fn drop(&mut self) {
        if let Some(mut w) = self.worker.take() {
            let _ = w.child.kill();
            let _ = w.child.wait();
        }
    }
}
