//! The CPU time a set of processes used, from `/proc/<pid>/stat` (Linux): user plus system
//! time, in clock ticks. Throughput on a shared 2-core machine swings with whatever else runs;
//! the server's own CPU time per delivery swings much less, so it tells two builds apart when
//! throughput cannot. (`/proc/<pid>/schedstat` is finer but, on kernels that account interrupt
//! time apart, leaves out the loopback network work done on the server's behalf: a third to a
//! half of a REST server's time here.)

use crate::Result;

/// Clock ticks per second of `/proc` times: Linux's `USER_HZ`, 100 on every architecture that
/// tokio runs on.
const TICKS_PER_SEC: u64 = 100;

/// CPU nanoseconds (10 ms resolution) used by the processes in `pids` so far.
pub(crate) fn cpu_ns(pids: &[u32]) -> Result<u64> {
    pids.iter()
        .map(|&pid| process_ticks(pid))
        .sum::<Result<u64>>()
        .map(|ticks| ticks * 1_000_000_000 / TICKS_PER_SEC)
}

fn process_ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15; `fields` starts at field 3.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    match (field(14), field(15)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => Err(format!("{path} has no utime/stime fields").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_cpu_time_grows_with_work() {
        let me = [std::process::id()];
        let before = cpu_ns(&me).unwrap();
        let mut x = 0u64;
        // Well over one clock tick of work.
        for i in 0..200_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(cpu_ns(&me).unwrap() > before, "{x}");
        assert!(cpu_ns(&[u32::MAX]).is_err());
    }
}
