//! cgroup v2: a root server's subtree under the hierarchy's root, a
//! delegated one's under the cgroup it was started in (after moving itself
//! into a leaf), and an account's limits as `memory.max`,
//! `memory.swap.max`, `pids.max` and `cpu.weight`.

use std::path::Path;

use super::{Mount, ProgramLimits, Tree, cgroup_dir, is_writable, subtree, write};

/// The leaf a delegated v2 server moves itself into.
const SERVER_LEAF: &str = "sftpbox-server";

/// The server's subtree in the v2 hierarchy, made with `memory`, `pids`
/// (and `cpu`, where there is one) enabled for the account cgroups in it.
pub(super) fn make(mounts: &[Mount], own: &[(String, String)]) -> Result<Tree, String> {
    let mount = mounts
        .iter()
        .find(|m| m.fstype == "cgroup2")
        .ok_or("cgroup v2: not mounted")?;
    let own_path = own
        .iter()
        .find(|(controllers, _)| controllers.is_empty())
        .map(|(_, path)| path.as_str())
        .ok_or("cgroup v2: this process is in none")?;
    let is_root = rustix::process::geteuid().is_root();
    // A root server works under the hierarchy's root; any other under the
    // cgroup delegated to it (less the leaf it may have moved itself to).
    let parent = if is_root {
        mount.point.clone()
    } else {
        let path = own_path
            .strip_suffix(&format!("/{SERVER_LEAF}"))
            .unwrap_or(own_path);
        cgroup_dir(mount, path)
    };
    let controllers = std::fs::read_to_string(parent.join("cgroup.controllers"))
        .map_err(|err| format!("cgroup v2 at {}: {err}", parent.display()))?;
    let has = |name: &str| controllers.split_whitespace().any(|c| c == name);
    if !(has("memory") && has("pids")) {
        return Err(format!(
            "cgroup v2 at {}: no memory and pids controllers (they may be bound to v1)",
            parent.display()
        ));
    }
    let cpu = has("cpu");
    if !is_root {
        if !is_writable(&parent.join("cgroup.subtree_control"))
            || !is_writable(&parent.join("cgroup.procs"))
        {
            return Err(format!(
                "cgroup v2 at {}: not delegated to this user (systemd: Delegate=yes)",
                parent.display()
            ));
        }
        // No process may sit beside cgroups with controllers: move this
        // one (all its threads) into a leaf first.
        let leaf = parent.join(SERVER_LEAF);
        match std::fs::create_dir(&leaf) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(format!("cgroup v2 at {}: {err}", leaf.display())),
        }
        write(&leaf, "cgroup.procs", &std::process::id().to_string())?;
    }
    let enable = if cpu {
        "+memory +pids +cpu"
    } else {
        "+memory +pids"
    };
    write(&parent, "cgroup.subtree_control", enable)?;
    subtree::remove_stale(&parent);
    let dir = parent.join(subtree::new_name());
    std::fs::create_dir(&dir).map_err(|err| format!("cgroup v2 at {}: {err}", dir.display()))?;
    if let Err(why) = write(&dir, "cgroup.subtree_control", enable) {
        let _ = std::fs::remove_dir(&dir);
        return Err(why);
    }
    Ok(Tree::V2 { dir, cpu })
}

/// Writes `limits` into the account cgroup at `dir`; `cpu.weight` when
/// the `cpu` controller is enabled.
pub(super) fn apply(dir: &Path, cpu: bool, limits: &ProgramLimits) -> Result<(), String> {
    write(dir, "memory.max", &limits.memory_bytes.to_string())?;
    // Absent without swap support; where present, none.
    let _ = write(dir, "memory.swap.max", "0");
    write(dir, "pids.max", &limits.processes.to_string())?;
    if cpu {
        write(dir, "cpu.weight", &limits.cpu_weight.to_string())?;
    }
    Ok(())
}
