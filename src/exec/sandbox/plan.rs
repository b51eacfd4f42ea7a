//! The sandbox [`Plan`], built in the parent where allocating is allowed:
//! the Landlock ruleset fd, a detached copy of the home's mount, the mount
//! plan as `CString`s, the resource limits and the uid to run as.
//! `child.rs` only executes it.
//!
//! The home comes from the jail as a descriptor ([`Jail::home_dir_fd`]),
//! never as a host path: `open_tree(OPEN_TREE_CLONE)` copies its mount from
//! that descriptor, the child attaches the copy inside its own mount
//! namespace with `move_mount` and enters it with `fchdir`, and the
//! Landlock rule for the home is made from the same descriptor.
//!
//! Landlock (hard requirement ABI 6, best effort up to ABI 10): read and
//! execute beneath the system directories a program needs; read, write and
//! truncate on three device nodes; everything on the home except Execute,
//! making devices, FIFOs and sockets, and device ioctls (read-only homes:
//! read only); no TCP (no port rule); signals and abstract sockets scoped
//! to the sandbox. Rules bind inodes, so they hold after the bind mounts.

use std::ffi::CString;
use std::io::{PipeReader, PipeWriter};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope, path_beneath_rules,
};
use rustix::mount::OpenTreeFlags;

use super::cgroup::{AccountCgroup, ProgramLimits};
use crate::exec::ExecContext;
#[cfg(doc)]
use crate::jail::Jail;

/// Where the new root is assembled, inside the child's private mount
/// namespace only (the host's `/tmp` is not touched; the home is attached
/// from its copied mount, not by path, so a home under `/tmp` still works).
const STAGE_DIR: &str = "/tmp";

/// Size of the tmpfs root: it holds only empty directories, empty files
/// and symlinks, and is read-only once assembled.
const TMPFS_DATA: &str = "size=64k,nr_inodes=64,mode=0755";

/// System directories bound read-only (and given read+execute) when they
/// are real directories; when they are symlinks (merged /usr), the same
/// symlink is made in the new root.
const SYSTEM_DIRS: [&str; 7] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Files and directories of `/etc` a dynamically linked program needs.
const ETC_PATHS: [&str; 2] = ["/etc/ld.so.cache", "/etc/alternatives"];

/// Device nodes offered, read-write.
const DEVICES: [&str; 5] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// The unprivileged uid and gid a root server drops to (`nobody`).
pub(super) const SANDBOX_ID: u32 = 65534;

/// Resource limits of the program (`u64::MAX`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// `RLIMIT_FSIZE`: the quota left when the command starts.
    pub file_size_bytes: u64,
    /// `RLIMIT_CPU` soft limit (the hard limit is one second more).
    pub cpu_seconds: u64,
    /// `RLIMIT_AS`.
    pub address_space_bytes: u64,
    /// `RLIMIT_NPROC`; counted per real uid, so shared by all sandboxes
    /// running as the same uid.
    pub processes: u64,
    /// `RLIMIT_NOFILE`.
    pub open_files: u64,
}

impl Limits {
    /// `RLIMIT_FSIZE` = `file_size_bytes`; processes from the account's
    /// limits, and its memory as each process's address space unless a
    /// cgroup bounds the memory (`in_cgroup`).
    pub(super) fn for_account(
        file_size_bytes: u64,
        account: &ProgramLimits,
        in_cgroup: bool,
    ) -> Limits {
        Limits {
            file_size_bytes,
            cpu_seconds: 60,
            address_space_bytes: if in_cgroup {
                u64::MAX
            } else {
                account.memory_bytes
            },
            processes: account.processes,
            open_files: 256,
        }
    }
}

/// The id maps of a user namespace, as written to `/proc/self/*_map`.
pub(super) struct UserMaps {
    /// `uid_map`: the server's uid, mapped to itself.
    pub uid_map: CString,
    /// `gid_map`: the server's gid, mapped to itself.
    pub gid_map: CString,
}

/// One mount-plan step, paths absolute in the host's view (under the stage).
pub(super) enum Step {
    /// `mkdir(path, 0755)`.
    MakeDir(CString),
    /// An empty file, the mount point of a bound file.
    MakeFile(CString),
    /// `symlink(target, link)`.
    Symlink {
        /// What the link points to, as on the host.
        target: CString,
        /// The link in the new root.
        link: CString,
    },
    /// Bind `source` on `target`, then remount it with `flags`.
    Bind {
        /// The host path (or `/proc/self/fd/N`).
        source: CString,
        /// The mount point in the new root.
        target: CString,
        /// `MS_RDONLY`, `MS_NOSUID`, ... for the remount.
        flags: libc::c_ulong,
    },
    /// Attach the copy of the home's mount ([`Plan::home`]) on `target`,
    /// make it private, then remount it with `flags`.
    AttachHome {
        /// The mount point in the new root.
        target: CString,
        /// `MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC` and, for read-only
        /// accounts, `MS_RDONLY`.
        flags: libc::c_ulong,
    },
}

/// Everything the child needs, prepared in the parent.
pub(super) struct Plan {
    /// The Landlock ruleset to restrict the program with.
    pub ruleset: OwnedFd,
    /// A detached copy of the home's mount (`open_tree` with
    /// `OPEN_TREE_CLONE`, close-on-exec): the child attaches it in its own
    /// mount namespace and then `fchdir`s into it.
    pub home: OwnedFd,
    /// Where the tmpfs root is mounted before `pivot_root`.
    pub stage: CString,
    /// tmpfs mount options.
    pub tmpfs_data: CString,
    /// The mount plan, in order.
    pub steps: Vec<Step>,
    /// The home's path inside the new root: where it is attached, and the
    /// program's `HOME`.
    pub home_inside: CString,
    /// Resource limits.
    pub limits: Limits,
    /// `(uid, gid)` to switch to, `None` when not running as root.
    pub ids: Option<(u32, u32)>,
    /// `cgroup.procs` of the account's cgroup in each hierarchy: the child
    /// writes itself there first. Empty without cgroups.
    pub cgroup_procs: Vec<OwnedFd>,
    /// A user namespace to make first, on a server that is not root.
    pub user_ns: Option<UserMaps>,
    /// A failing step writes its number here.
    pub report: PipeWriter,
    /// Read end of the kill switch: when the parent closes the write end,
    /// the supervisor kills the program (see `child::supervise`).
    pub kill_switch: PipeReader,
}

impl Plan {
    /// One line per mount step, for refusal messages.
    pub(super) fn describe_steps(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|step| match step {
                Step::MakeDir(path) => format!("mkdir {}", path.to_string_lossy()),
                Step::MakeFile(path) => format!("create {}", path.to_string_lossy()),
                Step::Symlink { link, .. } => format!("symlink {}", link.to_string_lossy()),
                Step::Bind { source, target, .. } => {
                    format!(
                        "bind {} on {}",
                        source.to_string_lossy(),
                        target.to_string_lossy()
                    )
                }
                Step::AttachHome { target, .. } => {
                    format!("attach the home on {}", target.to_string_lossy())
                }
            })
            .collect()
    }
}

/// Builds the plan for `ctx`; `Err` says which layer cannot be set up.
pub(super) fn build(
    ctx: &ExecContext,
    report: PipeWriter,
    kill_switch: PipeReader,
    cgroup: Option<&AccountCgroup>,
) -> Result<Plan, String> {
    let is_root = rustix::process::geteuid().is_root();
    let home = ctx.jail.home_dir_fd();
    let readonly = ctx.jail.is_readonly();
    let home_stat = rustix::fs::fstat(home).map_err(|err| format!("home: {err}"))?;
    // A home removed while the session is open would be an empty,
    // unlinked directory; nothing runs in it.
    if home_stat.st_nlink == 0 {
        return Err("home: it has been removed".into());
    }
    // Not a bind from a path in the child: the descriptor names a mount of
    // our namespace, which a bind in the child's namespace refuses; a
    // detached copy can be attached there.
    // Without root there is no copying a mount of our namespace: the
    // child enters the home before it makes its own and binds the copy it
    // then stands in (see `child::enter_user_namespace`).
    let home_tree = if is_root {
        rustix::mount::open_tree(
            home,
            "",
            OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC
                | OpenTreeFlags::AT_EMPTY_PATH,
        )
    } else {
        rustix::io::fcntl_dupfd_cloexec(home, 0)
    }
    .map_err(|err| format!("home: {err}"))?;
    let home_name = if is_plain_name(&ctx.account) {
        ctx.account.as_str()
    } else {
        "user"
    };
    let home_inside = format!("/home/{home_name}");

    let mut system = Vec::new();
    let mut steps = Vec::new();
    let staged = |path: &str| cstring(&format!("{STAGE_DIR}{path}"));
    let ro = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
    for dir in SYSTEM_DIRS {
        match std::fs::symlink_metadata(dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(dir).map_err(|err| format!("{dir}: {err}"))?;
                steps.push(Step::Symlink {
                    target: path_cstring(&target)?,
                    link: staged(dir)?,
                });
            }
            Ok(meta) if meta.is_dir() => {
                steps.push(Step::MakeDir(staged(dir)?));
                steps.push(Step::Bind {
                    source: cstring(dir)?,
                    target: staged(dir)?,
                    flags: ro,
                });
                system.push(PathBuf::from(dir));
            }
            _ => {}
        }
    }
    steps.push(Step::MakeDir(staged("/etc")?));
    for path in ETC_PATHS {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => steps.push(Step::MakeDir(staged(path)?)),
            Ok(_) => steps.push(Step::MakeFile(staged(path)?)),
            Err(_) => continue,
        }
        steps.push(Step::Bind {
            source: cstring(path)?,
            target: staged(path)?,
            flags: ro,
        });
        system.push(PathBuf::from(path));
    }
    steps.push(Step::MakeDir(staged("/dev")?));
    let mut devices = Vec::new();
    for device in DEVICES
        .into_iter()
        .filter(|device| Path::new(device).exists())
    {
        steps.push(Step::MakeFile(staged(device)?));
        let flags = libc::MS_NOSUID | libc::MS_NOEXEC;
        steps.push(Step::Bind {
            source: cstring(device)?,
            target: staged(device)?,
            flags,
        });
        devices.push(PathBuf::from(device));
    }
    steps.push(Step::MakeDir(staged("/home")?));
    steps.push(Step::MakeDir(staged(&home_inside)?));
    let mut home_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    if readonly {
        home_flags |= libc::MS_RDONLY;
    }
    steps.push(Step::AttachHome {
        target: staged(&home_inside)?,
        flags: home_flags,
    });

    let ruleset = landlock_ruleset(&system, &devices, home, readonly, REQUIRED_LANDLOCK_ABI)
        .map_err(|err| format!("landlock: {err}"))?;
    let remaining = match ctx.jail.quota().limit_bytes() {
        Some(limit) => limit.saturating_sub(ctx.jail.quota().used_bytes()),
        None => u64::MAX,
    };
    Ok(Plan {
        ruleset,
        home: home_tree,
        stage: cstring(STAGE_DIR)?,
        tmpfs_data: cstring(TMPFS_DATA)?,
        steps,
        home_inside: cstring(&home_inside)?,
        limits: Limits::for_account(remaining, &ctx.programs.limits, cgroup.is_some()),
        ids: is_root.then(|| run_as(&home_stat, ctx.programs.uid)),
        cgroup_procs: cgroup
            .map(|cgroup| {
                cgroup
                    .procs
                    .iter()
                    .map(|fd| fd.try_clone().map_err(|err| format!("cgroup: {err}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default(),
        user_ns: (!is_root).then(user_maps).transpose()?,
        report,
        kill_switch,
    })
}

/// The account's sandbox uid, unless an administrator gave the home to
/// someone else than root or `nobody` (then that owner, as before uids
/// were per account).
fn run_as(home: &rustix::fs::Stat, account_uid: u32) -> (u32, u32) {
    match (home.st_uid, home.st_gid) {
        (0 | SANDBOX_ID, _) => (account_uid, account_uid),
        (uid, 0) => (uid, account_uid),
        (uid, gid) => (uid, gid),
    }
}

/// The server's own ids, each mapped to itself.
fn user_maps() -> Result<UserMaps, String> {
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    Ok(UserMaps {
        uid_map: cstring(&format!("{uid} {uid} 1\n"))?,
        gid_map: cstring(&format!("{gid} {gid} 1\n"))?,
    })
}

/// The Landlock ABI a kernel must offer in full: 6 brings network and
/// signal/abstract-socket scoping. On an older kernel (or one without
/// Landlock) the ruleset cannot be built and commands are refused.
const REQUIRED_LANDLOCK_ABI: ABI = ABI::V6;

/// The ruleset: `required` in full, newer rights (UDP, pathname unix
/// sockets) added where the kernel has them.
fn landlock_ruleset(
    system: &[PathBuf],
    devices: &[PathBuf],
    home: BorrowedFd<'_>,
    readonly: bool,
    required: ABI,
) -> Result<OwnedFd, String> {
    let home_access: BitFlags<AccessFs> = if readonly {
        AccessFs::ReadFile | AccessFs::ReadDir
    } else {
        AccessFs::from_all(ABI::V6)
            & !(AccessFs::Execute
                | AccessFs::MakeChar
                | AccessFs::MakeBlock
                | AccessFs::MakeFifo
                | AccessFs::MakeSock
                | AccessFs::IoctlDev)
    };
    let text = |err: landlock::RulesetError| err.to_string();
    let created = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(required))
        .map_err(text)?
        .handle_access(AccessNet::from_all(required))
        .map_err(text)?
        .scope(Scope::from_all(required))
        .map_err(text)?
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(ABI::V10))
        .map_err(text)?
        .handle_access(AccessNet::from_all(ABI::V10))
        .map_err(text)?
        .create()
        .map_err(text)?
        .add_rules(path_beneath_rules(system, AccessFs::from_read(ABI::V6)))
        .map_err(text)?
        .add_rules(path_beneath_rules(
            devices,
            AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate,
        ))
        .map_err(text)?
        .add_rule(PathBeneath::new(home, home_access))
        .map_err(text)?;
    Option::<OwnedFd>::from(created).ok_or_else(|| "no ruleset fd".to_owned())
}

/// Whether `name` can be a single path component as it is.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn cstring(text: &str) -> Result<CString, String> {
    CString::new(text).map_err(|_| format!("{text:?}: NUL in path"))
}

fn path_cstring(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{}: NUL in path", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Landlock ABI this kernel offers (0 without Landlock).
    #[allow(unsafe_code)]
    fn kernel_landlock_abi() -> i64 {
        const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
        // SAFETY: with a null attribute pointer, size 0 and the VERSION flag
        // the syscall only returns a number; no memory is read or written.
        let version = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                LANDLOCK_CREATE_RULESET_VERSION,
            )
        };
        version.max(0)
    }

    #[test]
    fn a_kernel_short_of_the_required_abi_gets_no_ruleset() {
        let dir = tempfile::tempdir().unwrap();
        let home = std::fs::File::open(dir.path()).unwrap();
        let home = std::os::fd::AsFd::as_fd(&home);
        // Ask for the newest ABI the crate knows: a kernel that lacks it
        // must make the build fail, never quietly hand back less.
        let built = landlock_ruleset(&[], &[], home, false, ABI::V10);
        if kernel_landlock_abi() < 10 {
            let err = built.expect_err("a ruleset beyond the kernel's ABI was built");
            assert!(!err.is_empty());
        } else {
            assert!(built.is_ok());
        }
        // What the server requires is available on the machines we test on.
        assert!(
            kernel_landlock_abi() >= 6,
            "this kernel lacks Landlock ABI 6"
        );
        assert!(landlock_ruleset(&[], &[], home, false, REQUIRED_LANDLOCK_ABI).is_ok());
    }
}
