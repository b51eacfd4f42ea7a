//! cgroup v1 (the hybrid layout): the server's subtree under its own
//! cgroup in the `memory`, `pids` and `cpu` hierarchies, and an account's
//! limits as `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes`),
//! `pids.max` and `cpu.shares`.

use std::path::{Path, PathBuf};

use super::{Mount, ProgramLimits, Tree, cgroup_dir, is_writable, subtree, write};

/// The server's subtree in each v1 hierarchy it may write to: `memory`
/// and `pids` needed, `cpu` where there is one.
pub(super) fn make(mounts: &[Mount], own: &[(String, String)]) -> Result<Tree, String> {
    let hierarchy = |controller: &str| -> Result<PathBuf, String> {
        let mount = mounts
            .iter()
            .find(|m| m.fstype == "cgroup" && m.options.iter().any(|o| o == controller))
            .ok_or_else(|| format!("cgroup v1: no {controller} hierarchy"))?;
        let path = own
            .iter()
            .find(|(controllers, _)| controllers.split(',').any(|c| c == controller))
            .map_or("/", |(_, path)| path.as_str());
        let parent = cgroup_dir(mount, path);
        if !is_writable(&parent) {
            return Err(format!(
                "cgroup v1 at {}: not writable by this user",
                parent.display()
            ));
        }
        Ok(parent)
    };
    let memory = hierarchy("memory")?;
    let pids = hierarchy("pids")?;
    let cpu = hierarchy("cpu").ok();
    let name = subtree::new_name();
    let mut made = Vec::new();
    for parent in std::iter::once(&memory)
        .chain(std::iter::once(&pids))
        .chain(cpu.iter())
    {
        subtree::remove_stale(parent);
        let dir = parent.join(&name);
        if let Err(err) = std::fs::create_dir(&dir) {
            for dir in made {
                let _ = std::fs::remove_dir(dir);
            }
            return Err(format!("cgroup v1 at {}: {err}", dir.display()));
        }
        made.push(dir);
    }
    Ok(Tree::V1 {
        memory: memory.join(&name),
        pids: pids.join(&name),
        cpu: cpu.map(|cpu| cpu.join(&name)),
    })
}

/// Writes `limits` into the account cgroup of each hierarchy: `memory`,
/// `pids` and, where there is one, `cpu`.
pub(super) fn apply(
    memory: &Path,
    pids: &Path,
    cpu: Option<&Path>,
    limits: &ProgramLimits,
) -> Result<(), String> {
    let bytes = limits.memory_bytes.to_string();
    // memsw (memory + swap) may never be below the memory limit: lowering
    // writes the memory limit first, raising memsw first; trying both
    // orders covers either.
    let first = write(memory, "memory.limit_in_bytes", &bytes);
    if memory.join("memory.memsw.limit_in_bytes").exists() {
        write(memory, "memory.memsw.limit_in_bytes", &bytes)?;
    }
    if first.is_err() {
        write(memory, "memory.limit_in_bytes", &bytes)?;
    }
    write(pids, "pids.max", &limits.processes.to_string())?;
    if let Some(cpu) = cpu {
        let shares = (u64::from(limits.cpu_weight) * 1024 / 100).max(2);
        write(cpu, "cpu.shares", &shares.to_string())?;
    }
    Ok(())
}
