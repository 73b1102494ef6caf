//! Where the machine's CPU went during a run: the gateway, PostgreSQL, RabbitMQ and the load
//! generator itself (its HTTP client and the fake mall), read from `/proc` before and after.
//!
//! The targets are ratios to ceilings measured on the same shared cores, so "what limits" is a
//! question of who spends the cores: a webhook's CPU time per process says which side a change
//! must make cheaper, and the idle share says whether the box had any left to give. Only
//! processes alive at the second reading are counted: one that started in between (PostgreSQL's
//! backends for the gateway's pool open as the load comes) counts whole, one that ended in
//! between is missed, so the named shares are floors.

use std::collections::HashMap;
use std::time::Instant;

/// Clock ticks per second for `/proc/*/stat` (USER_HZ is 100 on every Linux we run on).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of every process's CPU time and of the machine's.
pub struct CpuReading {
    at: Instant,
    /// pid → (group, ticks of user + system time).
    processes: HashMap<u32, (&'static str, u64)>,
    /// The machine's (busy, total) ticks over every core, from `/proc/stat`.
    machine: (u64, u64),
}

impl CpuReading {
    /// Read now; the gateway's process is named by its pid, the others by their command name.
    pub fn take(gateway_pid: u32) -> CpuReading {
        let own = std::process::id();
        let mut processes = HashMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Some((command, ticks)) = process_ticks(pid) else {
                continue;
            };
            let group = if pid == gateway_pid {
                "gateway"
            } else if pid == own {
                "load generator + fake mall"
            } else if command == "postgres" {
                "PostgreSQL"
            } else if command == "beam.smp" || command.starts_with("erl_") {
                "RabbitMQ"
            } else {
                "other"
            };
            processes.insert(pid, (group, ticks));
        }
        CpuReading {
            at: Instant::now(),
            processes,
            machine: machine_ticks().unwrap_or((0, 0)),
        }
    }

    /// The report: CPU per group between two readings, per webhook and as a share of the box.
    pub fn report(&self, later: &CpuReading, webhooks: u64) -> Vec<String> {
        let mut groups: HashMap<&str, u64> = HashMap::new();
        for (pid, (group, ticks)) in &later.processes {
            // A process new since the first reading started during the run: all of its time
            // is the run's (the gateway's pool opens PostgreSQL backends as the load comes).
            let before = self.processes.get(pid).map_or(0, |(_, ticks)| *ticks);
            *groups.entry(group).or_default() += ticks.saturating_sub(before);
        }
        let wall = later.at.duration_since(self.at).as_secs_f64();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let capacity = wall * cores;
        let (busy, total) = (
            later.machine.0.saturating_sub(self.machine.0),
            later.machine.1.saturating_sub(self.machine.1),
        );
        let mut lines = vec![format!(
            "CPU over the run ({wall:.1} s × {cores:.0} cores): the machine {:.0} % busy",
            100.0 * busy as f64 / total.max(1) as f64
        )];
        let mut ordered: Vec<_> = groups.into_iter().collect();
        ordered.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        for (group, ticks) in ordered {
            let seconds = ticks as f64 / TICKS_PER_SECOND;
            lines.push(format!(
                "  {group}: {seconds:.1} CPU s, {:.0} % of the box, {:.0} µs per webhook",
                100.0 * seconds / capacity,
                1e6 * seconds / webhooks.max(1) as f64
            ));
        }
        lines
    }
}

/// A process's command name and its user + system ticks (all its threads).
fn process_ticks(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command sits in parentheses and may hold spaces: the fields follow the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let command = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    // After the command: state(0) … utime(11) stime(12).
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((command, user + system))
}

/// The machine's busy and total ticks, summed over every core.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle and iowait are the 4th and 5th.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}
