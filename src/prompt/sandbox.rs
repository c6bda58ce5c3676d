//! Rendering prompts in child processes bounded in memory and time, for templates written by
//! someone other than whoever pays for the render: the server renders stored versions.
//!
//! Fuel bounds the instructions a render executes, not the bytes they build: `replace` or `~`
//! can make a gigabyte string in a handful of instructions, and minijinja has no hook to stop
//! them. A worker process with a data-size limit dies when it overreaches, and one past its
//! deadline is killed; either way the caller gets a clear error and a fresh worker takes over.

use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;

use super::load::{LoadedPrompt, PartialSet};
use super::name::PromptName;
use super::render::{
    RenderError, RenderedPrompt, TemplateFailure, Vars, assemble, environment_with, failed, resolve_vars, slots,
};
use crate::error::{Diagnostic, ErrorClass};

/// The signal a process that failed to allocate aborts with.
const SIGABRT: i32 = 6;

/// How many workers render at once, how long one render may take and how much memory a worker
/// may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Workers (renders at once; more wait their turn).
    pub workers: usize,
    /// Longest one render may take, the worker's round trip included.
    pub timeout: Duration,
    /// The most data (heap) a worker may hold, in bytes.
    pub memory: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self { workers: 2, timeout: Duration::from_secs(2), memory: 512 << 20 }
    }
}

/// The program that runs [`serve_worker`] and its arguments (the `promptops` binary itself).
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments, before the memory limit the sandbox appends.
    pub args: Vec<OsString>,
}

/// A render the sandbox could not finish.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The prompt or its variables are wrong, as in a render in this process.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The render outlived its deadline and its worker was killed.
    #[error("rendering prompt `{prompt}` took longer than {limit:?} and was stopped")]
    TimedOut {
        /// The prompt.
        prompt: PromptName,
        /// The deadline.
        limit: Duration,
    },
    /// The render's worker reached its memory limit and died.
    #[error("rendering prompt `{prompt}` needed more than {limit_mib} MiB and was stopped")]
    OutOfMemory {
        /// The prompt.
        prompt: PromptName,
        /// The limit, in MiB.
        limit_mib: u64,
    },
    /// A worker could not be started or spoke out of turn.
    #[error("the render worker failed: {0}")]
    Worker(#[source] io::Error),
}

impl Diagnostic for SandboxError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Render(err) => err.class(),
            Self::TimedOut { .. } | Self::OutOfMemory { .. } => ErrorClass::Config,
            Self::Worker(_) => ErrorClass::Internal,
        }
    }
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Render(err) => err.hints(),
            Self::TimedOut { .. } | Self::OutOfMemory { .. } => vec![
                "the prompt's template builds too much text (a string grown in a loop, a `replace` that multiplies it): simplify it and publish a new version".to_owned(),
            ],
            Self::Worker(_) => Vec::new(),
        }
    }
}

/// Child processes that render prompts, each reused until it fails.
#[derive(Debug)]
pub struct RenderSandbox {
    command: WorkerCommand,
    limits: SandboxLimits,
    idle: Mutex<Vec<Worker>>,
    turns: Semaphore,
}

impl RenderSandbox {
    /// A sandbox whose workers start on first use.
    pub fn new(command: WorkerCommand, limits: SandboxLimits) -> Self {
        let workers = limits.workers.max(1);
        Self {
            command,
            limits: SandboxLimits { workers, ..limits },
            idle: Mutex::new(Vec::new()),
            turns: Semaphore::new(workers),
        }
    }

    /// The limits it renders under.
    pub fn limits(&self) -> SandboxLimits {
        self.limits
    }

    /// [`super::render`] in a worker: the same result and errors, or the bound it crossed.
    pub async fn render(&self, prompt: &LoadedPrompt, vars: &Vars) -> Result<RenderedPrompt, SandboxError> {
        let context = resolve_vars(prompt, vars)?;
        let slots = slots(prompt);
        let request = Request {
            partials: &prompt.partials,
            templates: slots.iter().map(|slot| slot.text).collect(),
            context: &context,
        };
        let line = serde_json::to_string(&request).map_err(|err| SandboxError::Worker(err.into()))?;
        match self.exchange(&line, &prompt.name).await? {
            Reply::Rendered(outputs) if outputs.len() == slots.len() => {
                Ok(assemble(prompt, &context, outputs, prompt.hash())?)
            }
            Reply::Failed { index, failure } if index < slots.len() => {
                Err(failed(prompt, &slots[index], &failure).into())
            }
            _ => Err(SandboxError::Worker(io::Error::other("the worker's reply does not match the request"))),
        }
    }

    /// Sends one request line to an idle worker and reads its reply within the deadline.
    async fn exchange(&self, line: &str, prompt: &PromptName) -> Result<Reply, SandboxError> {
        let _turn = self.turns.acquire().await.expect("invariant: the semaphore is never closed");
        let mut worker = match self.take_idle() {
            Some(worker) => worker,
            None => Worker::spawn(&self.command, self.limits.memory).map_err(SandboxError::Worker)?,
        };
        match tokio::time::timeout(self.limits.timeout, worker.ask(line)).await {
            Ok(Ok(reply)) => {
                self.idle.lock().expect("invariant: never poisoned").push(worker);
                Ok(reply)
            }
            Ok(Err(err)) => Err(self.ended(worker, err, prompt).await),
            Err(_) => {
                // Killed, not returned to the pool; waiting reaps it.
                let _ = worker.child.kill().await;
                Err(SandboxError::TimedOut { prompt: prompt.clone(), limit: self.limits.timeout })
            }
        }
    }

    /// The error for a worker that stopped answering: a worker that aborted ran out of memory
    /// (an allocation the data limit refused aborts the process); anything else is a fault.
    async fn ended(&self, mut worker: Worker, err: io::Error, prompt: &PromptName) -> SandboxError {
        // A worker that closed its output has ended; killing its zombie keeps its status.
        let _ = worker.child.start_kill();
        match worker.child.wait().await {
            Ok(status) if status.signal() == Some(SIGABRT) => {
                SandboxError::OutOfMemory { prompt: prompt.clone(), limit_mib: self.limits.memory >> 20 }
            }
            Ok(status) => SandboxError::Worker(io::Error::other(format!("{err} (the worker ended: {status})"))),
            Err(wait) => SandboxError::Worker(wait),
        }
    }

    /// An idle worker that is still alive.
    fn take_idle(&self) -> Option<Worker> {
        let mut idle = self.idle.lock().expect("invariant: never poisoned");
        while let Some(mut worker) = idle.pop() {
            if matches!(worker.child.try_wait(), Ok(None)) {
                return Some(worker);
            }
        }
        None
    }
}

/// One worker process and its pipes.
#[derive(Debug)]
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    fn spawn(command: &WorkerCommand, memory: u64) -> io::Result<Self> {
        let mut child = Command::new(&command.program)
            .args(&command.args)
            .arg(memory.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().expect("invariant: stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("invariant: stdout is piped"));
        Ok(Self { child, stdin, stdout })
    }

    async fn ask(&mut self, line: &str) -> io::Result<Reply> {
        self.stdin.write_all(line.as_bytes()).await?;
        self.stdin.write_all(b"\n").await?;
        self.stdin.flush().await?;
        let mut reply = String::new();
        if self.stdout.read_line(&mut reply).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the worker closed its output"));
        }
        serde_json::from_str(&reply).map_err(io::Error::other)
    }
}

/// What the server sends a worker: one line of JSON.
#[derive(Debug, Serialize)]
struct Request<'a> {
    partials: &'a PartialSet,
    templates: Vec<&'a str>,
    context: &'a Vars,
}

/// What a worker reads.
#[derive(Debug, Deserialize)]
struct OwnedRequest {
    partials: PartialSet,
    templates: Vec<String>,
    context: Vars,
}

/// What a worker answers: every template's output, or the first that failed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Rendered(Vec<String>),
    Failed { index: usize, failure: TemplateFailure },
}

/// The worker's side: limits its own data size to `memory` bytes, asks to die with its parent,
/// then renders one request per line of standard input until it closes.
pub fn serve_worker(memory: u64) -> io::Result<()> {
    let limit = rustix::process::Rlimit { current: Some(memory), maximum: Some(memory) };
    rustix::process::setrlimit(rustix::process::Resource::Data, limit)?;
    #[cfg(target_os = "linux")]
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    let mut out = io::stdout().lock();
    for line in io::stdin().lock().lines() {
        let request: OwnedRequest = serde_json::from_str(&line?).map_err(io::Error::other)?;
        serde_json::to_writer(&mut out, &answer(request)).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    Ok(())
}

fn answer(request: OwnedRequest) -> Reply {
    let env = environment_with(request.partials);
    let mut outputs = Vec::with_capacity(request.templates.len());
    for (index, text) in request.templates.iter().enumerate() {
        let output = env.template_from_str(text).and_then(|t| crate::template::render(&t, &request.context));
        match output {
            Ok(output) => outputs.push(output),
            Err(err) => return Reply::Failed { index, failure: TemplateFailure::from(&err) },
        }
    }
    Reply::Rendered(outputs)
}
