//! Which process owns a run, and whether it still lives. A run records its owner (host, boot,
//! pid and the process's start time, so that a reused pid is not mistaken for it); a run left
//! `running` by an owner that is gone (`kill -9`, a crash, a reboot) is shown as `interrupted`,
//! and `--resume` claims a run only from an owner that is gone or stopped.
//!
//! Liveness is known only on the owner's own host (and, on Linux, through `/proc`); anywhere
//! else the owner is taken to be alive, so a run is never resumed twice.

use std::fmt;

use crate::store::{RunRecord, RunStatus};

/// The process that runs (or ran) an eval run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The host name.
    pub host: String,
    /// The host's boot id: a pid from an earlier boot is dead.
    pub boot: String,
    /// The process id.
    pub pid: u32,
    /// When the process started, in clock ticks since boot (`/proc/PID/stat`, field 22).
    pub started: u64,
}

/// Whether an owner still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// It runs (or this cannot be told: another host, no `/proc`).
    Alive,
    /// It is gone: no such process, another process under its pid, or another boot.
    Gone,
}

impl Owner {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self { host: host(), boot: boot(), pid, started: start_time(pid).unwrap_or(0) }
    }

    /// Parses what [`Owner`]'s `Display` wrote; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(' ');
        let (pid, started, boot, host) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let (pid, started) = (pid.strip_prefix("pid=")?.parse().ok()?, started.strip_prefix("start=")?.parse().ok()?);
        let boot = boot.strip_prefix("boot=")?.to_owned();
        let host = host.strip_prefix("host=")?.to_owned();
        Some(Self { host, boot, pid, started })
    }

    /// Whether the owner still runs, as far as this process can tell.
    pub fn liveness(&self) -> Liveness {
        let here = Self::current();
        if self.host != here.host || self.boot.is_empty() || here.boot.is_empty() {
            return Liveness::Alive;
        }
        if self.boot != here.boot {
            return Liveness::Gone;
        }
        match start_time(self.pid) {
            Some(started) if started == self.started => Liveness::Alive,
            Some(_) => Liveness::Gone,
            // No such process, unless there is no `/proc` to tell.
            None if std::path::Path::new("/proc/self/stat").exists() => Liveness::Gone,
            None => Liveness::Alive,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid={} start={} boot={} host={}", self.pid, self.started, self.boot, self.host)
    }
}

/// The liveness of a stored owner. No owner means no process: every run this build starts
/// records one (runs stored before it, and uploads, have none). An owner this build cannot
/// read is taken to be alive.
pub fn liveness(stored: Option<&str>) -> Liveness {
    match stored {
        None => Liveness::Gone,
        Some(text) => Owner::parse(text).map_or(Liveness::Alive, |owner| owner.liveness()),
    }
}

/// A run as it stands: one left `running` by an owner that is gone is `interrupted` (its
/// stored status says what it was doing when its process died).
pub fn settle(mut run: RunRecord) -> RunRecord {
    if run.status == RunStatus::Running && liveness(run.owner.as_deref()) == Liveness::Gone {
        run.status = RunStatus::Interrupted;
    }
    run
}

/// Whether a process other than this one works on `run` now, as far as can be told: a
/// `running` run unless its owner is gone, an `interrupted` one only if its owner provably
/// still runs (a comparison between batches, a Ctrl-C still finishing its cases).
pub fn busy(run: &RunRecord, me: &str) -> bool {
    let owner = run.owner.as_deref();
    if owner == Some(me) {
        return false;
    }
    match run.status {
        RunStatus::Running => liveness(owner) == Liveness::Alive,
        _ => owner.and_then(Owner::parse).is_some_and(|o| o.liveness() == Liveness::Alive),
    }
}

/// How a stored owner is named in messages: `pid 42 on host ci-1`.
pub fn describe(stored: Option<&str>) -> String {
    match stored.map(|text| (text, Owner::parse(text))) {
        Some((_, Some(owner))) => format!("pid {} on host `{}`", owner.pid, owner.host),
        Some((text, None)) => format!("`{text}`"),
        None => "an unknown process".to_owned(),
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map(|text| text.trim().replace(' ', "_")).unwrap_or_default()
}

fn host() -> String {
    let host = read_trimmed("/proc/sys/kernel/hostname");
    if host.is_empty() { std::env::var("HOSTNAME").unwrap_or_default().replace(' ', "_") } else { host }
}

fn boot() -> String {
    read_trimmed("/proc/sys/kernel/random/boot_id")
}

/// Field 22 of `/proc/PID/stat`, counted after the command name (which may hold spaces and
/// parentheses, so the split is at the last `)`).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_reads_back_from_its_text() {
        let owner = Owner { host: "ci-1".into(), boot: "b0".into(), pid: 42, started: 1234 };
        assert_eq!(Owner::parse(&owner.to_string()), Some(owner));
        assert_eq!(Owner::parse("pid=x start=1 boot=b host=h"), None);
        assert_eq!(Owner::parse(""), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_alive_and_an_exited_one_is_gone() {
        let me = Owner::current();
        assert!(me.started > 0, "{me}");
        assert_eq!(me.liveness(), Liveness::Alive);
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        let started = start_time(pid);
        child.wait().expect("wait");
        let gone = Owner { pid, started: started.unwrap_or(1), ..me.clone() };
        assert_eq!(gone.liveness(), Liveness::Gone, "an exited process");
        let reused = Owner { started: me.started + 1, ..me.clone() };
        assert_eq!(reused.liveness(), Liveness::Gone, "a pid now used by another process");
        let rebooted = Owner { boot: "another-boot".into(), ..me.clone() };
        assert_eq!(rebooted.liveness(), Liveness::Gone, "a pid of an earlier boot");
        let elsewhere = Owner { host: "another-host".into(), pid, ..me };
        assert_eq!(elsewhere.liveness(), Liveness::Alive, "another host cannot be told: assumed alive");
    }
}
