//! The sandbox [`Plan`], built in the parent where allocating is allowed:
//! the Landlock ruleset fd, the mount plan as `CString`s, the resource
//! limits and the uid to run as. `child.rs` only executes it.
//!
//! Landlock (hard requirement ABI 6, best effort up to ABI 10): read and
//! execute beneath the system directories a program needs; read, write and
//! truncate on three device nodes; everything on the home except Execute,
//! making devices, FIFOs and sockets, and device ioctls (read-only homes:
//! read only); no TCP (no port rule); signals and abstract sockets scoped
//! to the sandbox. Rules bind inodes, so they hold after the bind mounts.

use std::ffi::CString;
use std::io::{PipeReader, PipeWriter};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope, path_beneath_rules,
};

use crate::exec::ExecContext;

/// Where the new root is assembled, inside the child's private mount
/// namespace only (the host's `/tmp` is not touched; the home is bound
/// through its fd, so a home under `/tmp` still works).
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
    /// The defaults, with `RLIMIT_FSIZE` = `file_size_bytes`.
    pub(super) fn with_file_size(file_size_bytes: u64) -> Limits {
        Limits {
            file_size_bytes,
            cpu_seconds: 60,
            address_space_bytes: 1 << 30,
            processes: 64,
            open_files: 256,
        }
    }
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
}

/// Everything the child needs, prepared in the parent.
pub(super) struct Plan {
    /// The Landlock ruleset to restrict the program with.
    pub ruleset: OwnedFd,
    /// The home, open: its fd number N is reserved for the child, which
    /// reopens the home there inside its own mount namespace and binds it
    /// through `/proc/self/fd/N` even when the stage hides its host path.
    pub home: OwnedFd,
    /// The home's host path, for that reopening.
    pub home_path: CString,
    /// Where the tmpfs root is mounted before `pivot_root`.
    pub stage: CString,
    /// tmpfs mount options.
    pub tmpfs_data: CString,
    /// The mount plan, in order.
    pub steps: Vec<Step>,
    /// The home's path inside the new root: the program's cwd and `HOME`.
    pub home_inside: CString,
    /// Resource limits.
    pub limits: Limits,
    /// `(uid, gid)` to switch to, `None` when not running as root.
    pub ids: Option<(u32, u32)>,
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
            })
            .collect()
    }
}

/// Builds the plan for `ctx`; `Err` says which layer cannot be set up.
pub(super) fn build(
    ctx: &ExecContext,
    report: PipeWriter,
    kill_switch: PipeReader,
) -> Result<Plan, String> {
    if !rustix::process::geteuid().is_root() {
        return Err(
            "the namespace sandbox needs root (user namespaces are not implemented)".into(),
        );
    }
    let host_home = ctx.jail.host_path();
    let readonly = ctx.jail.is_readonly();
    let home = std::fs::File::open(host_home)
        .map(OwnedFd::from)
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
    let home_source = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&home));
    steps.push(Step::Bind {
        source: cstring(&home_source)?,
        target: staged(&home_inside)?,
        flags: home_flags,
    });

    let ruleset = landlock_ruleset(
        &system,
        &devices,
        host_home,
        readonly,
        REQUIRED_LANDLOCK_ABI,
    )
    .map_err(|err| format!("landlock: {err}"))?;
    let remaining = match ctx.jail.quota().limit_bytes() {
        Some(limit) => limit.saturating_sub(ctx.jail.quota().used_bytes()),
        None => u64::MAX,
    };
    Ok(Plan {
        ruleset,
        home,
        home_path: path_cstring(host_home)?,
        stage: cstring(STAGE_DIR)?,
        tmpfs_data: cstring(TMPFS_DATA)?,
        steps,
        home_inside: cstring(&home_inside)?,
        limits: Limits::with_file_size(remaining),
        ids: Some(run_as(host_home)),
        report,
        kill_switch,
    })
}

/// The home's owner when it is not root (a per-account uid), else `nobody`.
fn run_as(host_home: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(host_home) {
        Ok(meta) if meta.uid() != 0 => (
            meta.uid(),
            if meta.gid() != 0 {
                meta.gid()
            } else {
                SANDBOX_ID
            },
        ),
        _ => (SANDBOX_ID, SANDBOX_ID),
    }
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
    home: &Path,
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
        .add_rules(path_beneath_rules([home], home_access))
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
        let home = tempfile::tempdir().unwrap();
        // Ask for the newest ABI the crate knows: a kernel that lacks it
        // must make the build fail, never quietly hand back less.
        let built = landlock_ruleset(&[], &[], home.path(), false, ABI::V10);
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
        assert!(landlock_ruleset(&[], &[], home.path(), false, REQUIRED_LANDLOCK_ABI).is_ok());
    }
}
