//! A process's resident memory, read from `/proc/<pid>/status` (Linux).

use crate::Result;

/// The `VmRSS` of process `pid`, in KiB.
pub(crate) fn vm_rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("{path} has no VmRSS line").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_rss() {
        assert!(vm_rss_kib(std::process::id()).unwrap() > 0);
        assert!(vm_rss_kib(u32::MAX).is_err());
    }
}
