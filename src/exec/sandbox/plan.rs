//! The sandbox [`Plan`], built in the parent where allocating is allowed:
//! the Landlock ruleset fd, the `/dev/fuse` descriptor and mount options of
//! the view, the mount plan as `CString`s, the resource limits, the
//! account's cgroups and the uid to run as (the account's sandbox uid; the
//! view's mount names the same ids as its `user_id`/`group_id`, and the
//! home's files are theirs). `child.rs` only executes it. Without root the
//! child opens `/dev/fuse` itself, in its user namespace (the only place
//! the kernel takes it from for a mount there), and sends it back on the
//! plan's socket; its ids are then the server's own.
//!
//! The program's root is the view (`view.rs`): the home served through the
//! jail over FUSE. The plan lists the names the view reserves at its root
//! for the system ([`Reserved`]) and what is mounted on them: the system
//! directories bound read-only, small read-only tmpfs scaffolds for `/etc`
//! (the files a dynamic linker reads) and `/dev` (five device nodes, links
//! into `/proc/self/fd`), a private fixed-size `/tmp`, and `/proc` of the
//! program's own pid namespace, mounted by pid 1.
//!
//! Landlock (hard requirement ABI 6, best effort up to ABI 10): read and
//! execute beneath the system directories a program needs; read, write and
//! truncate on the device nodes; beneath the view's root (added by the
//! child once it is mounted) everything except Execute, making devices,
//! FIFOs and sockets, and device ioctls (read-only accounts: read only); no
//! TCP (no port rule); signals and abstract sockets scoped to the sandbox.
//! Rules bind inodes, so they hold after the bind mounts.
//!
//! The home is `noexec` with no Execute right, except for the program that
//! runs a repository's hooks ([`HomeExec`]): there the hooks are the
//! account's own code, and they run under every other layer of this same
//! plan; `nosuid` and `no_new_privs` hold for every program.

use std::ffi::CString;
use std::io::{PipeReader, PipeWriter};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope, path_beneath_rules,
};
use rustix::fs::OFlags;

use super::cgroup::{AccountCgroup, ProgramLimits};
use super::view::Reserved;
use crate::exec::ExecContext;
use crate::jail::{Stat, VirtualPath};

/// Where the new root is assembled, inside the child's private mount
/// namespace only (the host's `/tmp` is not touched: the view is mounted
/// over it there).
const STAGE_DIR: &str = "/tmp";

/// System directories bound read-only (and given read+execute) when they
/// are real directories; when they are symlinks (merged /usr), the view
/// shows the same symlink at its root.
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

/// Links of `/dev` into the program's own `/proc`.
const DEV_LINKS: [(&str, &str); 4] = [
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

/// The tmpfs under `/etc` and `/dev`: mount points and links only,
/// read-only once assembled.
const SCAFFOLD_DATA: &str = "size=16k,nr_inodes=32,mode=0755";

/// The program's private `/tmp`: a fixed size, gone with the program,
/// not counted in the quota.
pub(super) const TMP_DATA: &str = "size=16m,nr_inodes=1024,mode=1777";

/// `/proc` of the program's own pid namespace, its processes only
/// (`subset=pid`: no `/proc/sys`, no host-wide files).
const PROC_DATA: &str = "subset=pid,hidepid=invisible";

/// Whether a program may execute files of the home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HomeExec {
    /// The home is mounted `noexec` and Landlock withholds Execute beneath
    /// it: an uploaded script or binary cannot run, not even through the
    /// dynamic loader.
    Refused,
    /// The home is executable (never setuid) for a program that runs the
    /// repository's hooks, `git-receive-pack`: the hooks, and whatever
    /// they start, run in this same sandbox (view, Landlock, no network,
    /// the account's cgroup, uid and limits). Read-only accounts never get
    /// it.
    Allowed,
}

/// The programs that run a repository's hooks, so get [`HomeExec::Allowed`].
const HOOK_RUNNERS: [&[u8]; 1] = [b"git-receive-pack"];

impl HomeExec {
    /// What the program named `name` gets: argv[0], which the account's
    /// `commands` matched word for word.
    pub(super) fn for_program(name: &[u8]) -> HomeExec {
        if HOOK_RUNNERS.contains(&name) {
            HomeExec::Allowed
        } else {
            HomeExec::Refused
        }
    }
}

/// The unprivileged uid and gid a root server drops to (`nobody`).
pub(super) const SANDBOX_ID: u32 = 65534;

/// Resource limits of the program (`u64::MAX`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
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
    /// Processes from the account's limits, and its memory as each
    /// process's address space unless a cgroup bounds the memory
    /// (`in_cgroup`).
    pub(super) fn for_account(account: &ProgramLimits, in_cgroup: bool) -> Limits {
        Limits {
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
        /// What the link points to.
        target: CString,
        /// The link in the new root.
        link: CString,
    },
    /// Bind `source` on `target`, then remount it with `flags`.
    Bind {
        /// The host path.
        source: CString,
        /// The mount point in the new root.
        target: CString,
        /// `MS_RDONLY`, `MS_NOSUID`, ... for the remount.
        flags: libc::c_ulong,
    },
    /// Mount a tmpfs with `data` and `flags` on `target`.
    Tmpfs {
        /// The mount point in the new root.
        target: CString,
        /// Its size, inodes and mode.
        data: CString,
        /// `MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC`.
        flags: libc::c_ulong,
    },
    /// Change the flags of the mount on `target` (`MS_RDONLY` once a
    /// scaffold is assembled).
    Remount {
        /// The mount point.
        target: CString,
        /// The new flags.
        flags: libc::c_ulong,
    },
}

/// Everything the child needs, prepared in the parent.
pub(super) struct Plan {
    /// The Landlock ruleset to restrict the program with (system folders
    /// and devices; the view's root is added by the child, see
    /// [`Plan::root_access`]).
    pub ruleset: OwnedFd,
    /// The Landlock rights on everything beneath the view's root, which
    /// only exists once the child has mounted it.
    pub root_access: u64,
    /// A copy of the server's `/dev/fuse` descriptor, close-on-exec; its
    /// number is in [`Plan::view_data`]. Without root a placeholder, which
    /// the child replaces (same number) with the `/dev/fuse` it opens in
    /// its user namespace.
    pub device: OwnedFd,
    /// Without root: the child's end of the socket on which it sends that
    /// descriptor to the server.
    pub pass_device: Option<OwnedFd>,
    /// The view's mount options (`fd=N,rootmode=...`).
    pub view_data: CString,
    /// The view's mount flags: `nosuid,nodev,noexec`, and `ro` for
    /// read-only accounts.
    pub view_flags: libc::c_ulong,
    /// One byte here tells the server the view is mounted and it may
    /// start answering.
    pub mounted: PipeWriter,
    /// Where the view is mounted before `pivot_root`.
    pub stage: CString,
    /// The mount plan over the view's reserved names, in order.
    pub steps: Vec<Step>,
    /// Where pid 1 mounts its `/proc`, after `pivot_root`.
    pub proc_target: CString,
    /// `/proc`'s mount options.
    pub proc_data: CString,
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

/// Where the server's `/dev/fuse` comes from.
pub(super) enum Device {
    /// Opened by the server (root).
    Opened(OwnedFd),
    /// To be received on this socket from the child, which opens it in its
    /// user namespace (not root).
    Passed(OwnedFd),
}

/// What the server keeps to serve the view of one run.
pub(super) struct Serving {
    /// `/dev/fuse`, or where it will come from.
    pub device: Device,
    /// Gets a byte once the child has mounted the view.
    pub mounted: PipeReader,
    /// The names at the view's root that are the system's.
    pub reserved: Vec<Reserved>,
}

impl Plan {
    /// One line per mount step, for refusal messages.
    pub(super) fn describe_steps(&self) -> Vec<String> {
        let shown = |path: &CString| {
            let text = path.to_string_lossy();
            text.strip_prefix(STAGE_DIR)
                .map_or_else(|| text.to_string(), str::to_owned)
        };
        self.steps
            .iter()
            .map(|step| match step {
                Step::MakeDir(path) => format!("mkdir {}", shown(path)),
                Step::MakeFile(path) => format!("create {}", shown(path)),
                Step::Symlink { link, .. } => format!("symlink {}", shown(link)),
                Step::Bind { source, target, .. } => {
                    format!("bind {} on {}", source.to_string_lossy(), shown(target))
                }
                Step::Tmpfs { target, .. } => format!("tmpfs on {}", shown(target)),
                Step::Remount { target, .. } => format!("remount {}", shown(target)),
            })
            .collect()
    }
}

/// Builds the plan for `ctx`; `Err` says which layer cannot be set up.
/// `home_runs` lets the program execute files of the home (see
/// [`HomeExec`]).
pub(super) fn build(
    ctx: &ExecContext,
    home_runs: HomeExec,
    report: PipeWriter,
    kill_switch: PipeReader,
    cgroup: Option<&AccountCgroup>,
) -> Result<(Plan, Serving), String> {
    if ctx.jail.is_on_object_storage() {
        return Err(
            "this account's home is on object storage; external programs need a home on a local disk (the built-ins and scp work)".into(),
        );
    }
    let is_root = rustix::process::geteuid().is_root();
    let readonly = ctx.jail.is_readonly();
    let home_stat = ctx
        .jail
        .lstat(&VirtualPath::root())
        .map_err(|err| format!("home: {err}"))?;
    // A home removed while the session is open would be an empty,
    // unlinked directory; nothing runs in it.
    if home_stat.nlink == 0 {
        return Err("home: it has been removed".into());
    }
    let ids = if is_root {
        run_as(&home_stat, ctx.programs.uid)
    } else {
        (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        )
    };
    // The kernel mounts FUSE only from a `/dev/fuse` opened in the mount's
    // user namespace: a root server opens it here; without root the child
    // opens it inside its own user namespace, puts it on the number of
    // `child_device` (a placeholder until then) and sends it back.
    let (device, child_device, pass_device) = if is_root {
        let device = rustix::fs::open(
            "/dev/fuse",
            OFlags::RDWR | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|err| format!("view: /dev/fuse: {err}"))?;
        let child_device = rustix::io::fcntl_dupfd_cloexec(&device, 3)
            .map_err(|err| format!("view: /dev/fuse: {err}"))?;
        (Device::Opened(device), child_device, None)
    } else {
        let placeholder = rustix::fs::open(
            "/dev/null",
            OFlags::RDONLY | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|err| format!("view: /dev/null: {err}"))?;
        let child_device = rustix::io::fcntl_dupfd_cloexec(&placeholder, 3)
            .map_err(|err| format!("view: {err}"))?;
        let (server_end, child_end) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|err| format!("view: socketpair: {err}"))?;
        (Device::Passed(server_end), child_device, Some(child_end))
    };
    let view_data = format!(
        "fd={},rootmode=40000,user_id={},group_id={},default_permissions,allow_other",
        child_device.as_raw_fd(),
        ids.0,
        ids.1
    );
    let (mounted_reader, mounted_writer) = std::io::pipe().map_err(|err| format!("view: {err}"))?;

    let mut reserved = Vec::new();
    let mut system = Vec::new();
    let mut steps = Vec::new();
    let staged = |path: &str| cstring(&format!("{STAGE_DIR}{path}"));
    let name_of = |path: &str| path.trim_start_matches('/').as_bytes().to_vec();
    let mount_point = |path: &str| Reserved {
        name: name_of(path),
        link: None,
    };
    let ro = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
    for dir in SYSTEM_DIRS {
        match std::fs::symlink_metadata(dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(dir).map_err(|err| format!("{dir}: {err}"))?;
                reserved.push(Reserved {
                    name: name_of(dir),
                    link: Some(target.as_os_str().as_bytes().to_vec()),
                });
            }
            Ok(meta) if meta.is_dir() => {
                reserved.push(mount_point(dir));
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
    reserved.push(mount_point("/etc"));
    let scaffold = |path: &str| -> Result<Step, String> {
        Ok(Step::Tmpfs {
            target: staged(path)?,
            data: cstring(SCAFFOLD_DATA)?,
            flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        })
    };
    let sealed = |path: &str| -> Result<Step, String> {
        Ok(Step::Remount {
            target: staged(path)?,
            flags: libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        })
    };
    steps.push(scaffold("/etc")?);
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
    steps.push(sealed("/etc")?);
    reserved.push(mount_point("/dev"));
    steps.push(scaffold("/dev")?);
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
    for (link, target) in DEV_LINKS {
        steps.push(Step::Symlink {
            target: cstring(target)?,
            link: staged(link)?,
        });
    }
    steps.push(sealed("/dev")?);
    reserved.push(mount_point("/proc"));
    reserved.push(mount_point("/tmp"));
    steps.push(Step::Tmpfs {
        target: staged("/tmp")?,
        data: cstring(TMP_DATA)?,
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
    });

    let ruleset = landlock_ruleset(&system, &devices, REQUIRED_LANDLOCK_ABI)
        .map_err(|err| format!("landlock: {err}"))?;
    // `nosuid` always: a setuid or setgid bit, or a file capability, of a
    // home file is never honoured (no_new_privs would refuse it too).
    let home_executable = home_runs == HomeExec::Allowed && !readonly;
    let mut view_flags = libc::MS_NOSUID | libc::MS_NODEV;
    if !home_executable {
        view_flags |= libc::MS_NOEXEC;
    }
    if readonly {
        view_flags |= libc::MS_RDONLY;
    }
    let plan = Plan {
        ruleset,
        root_access: root_access(readonly, home_executable).bits(),
        device: child_device,
        view_data: cstring(&view_data)?,
        view_flags,
        mounted: mounted_writer,
        stage: cstring(STAGE_DIR)?,
        steps,
        proc_target: cstring("/proc")?,
        proc_data: cstring(PROC_DATA)?,
        limits: Limits::for_account(&ctx.programs.limits, cgroup.is_some()),
        ids: is_root.then_some(ids),
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
        pass_device,
        report,
        kill_switch,
    };
    let serving = Serving {
        device,
        mounted: mounted_reader,
        reserved,
    };
    Ok((plan, serving))
}

/// The account's sandbox uid, unless an administrator gave the home to
/// someone else than root or `nobody` (then that owner, as before uids
/// were per account).
fn run_as(home: &Stat, account_uid: u32) -> (u32, u32) {
    match (home.uid, home.gid) {
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

/// The rights on everything beneath the view's root: all but executing
/// (unless `executable`) and making devices, FIFOs and sockets, and device
/// ioctls (read-only accounts: reading only). The system folders are
/// read-only mounts, so the write rights this also gives beneath them are
/// refused there.
fn root_access(readonly: bool, executable: bool) -> BitFlags<AccessFs> {
    if readonly {
        AccessFs::ReadFile | AccessFs::ReadDir
    } else {
        let denied = if executable {
            BitFlags::empty()
        } else {
            BitFlags::from(AccessFs::Execute)
        };
        AccessFs::from_all(ABI::V6)
            & !(denied
                | AccessFs::MakeChar
                | AccessFs::MakeBlock
                | AccessFs::MakeFifo
                | AccessFs::MakeSock
                | AccessFs::IoctlDev)
    }
}

/// The ruleset: `required` in full, newer rights (UDP, pathname unix
/// sockets) added where the kernel has them.
fn landlock_ruleset(
    system: &[PathBuf],
    devices: &[PathBuf],
    required: ABI,
) -> Result<OwnedFd, String> {
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
        .map_err(text)?;
    Option::<OwnedFd>::from(created).ok_or_else(|| "no ruleset fd".to_owned())
}

fn cstring(text: &str) -> Result<CString, String> {
    CString::new(text).map_err(|_| format!("{text:?}: NUL in path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_program_that_runs_hooks_may_execute_home_files() {
        assert_eq!(
            HomeExec::for_program(b"git-receive-pack"),
            HomeExec::Allowed
        );
        for name in [
            &b"git-upload-pack"[..],
            b"git-upload-archive",
            b"rsync",
            b"bash",
            b"/usr/bin/git-receive-pack",
            b"git-receive-pack ",
        ] {
            assert_eq!(HomeExec::for_program(name), HomeExec::Refused);
        }
        assert!(!root_access(false, false).contains(AccessFs::Execute));
        assert!(root_access(false, true).contains(AccessFs::Execute));
        assert!(!root_access(true, true).contains(AccessFs::Execute));
        // Making devices, FIFOs and sockets stays refused either way.
        for executable in [false, true] {
            let access = root_access(false, executable);
            assert!(!access.intersects(
                AccessFs::MakeChar | AccessFs::MakeBlock | AccessFs::MakeFifo | AccessFs::MakeSock
            ));
        }
    }

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
        // Ask for the newest ABI the crate knows: a kernel that lacks it
        // must make the build fail, never quietly hand back less.
        let built = landlock_ruleset(&[], &[], ABI::V10);
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
        assert!(landlock_ruleset(&[], &[], REQUIRED_LANDLOCK_ABI).is_ok());
    }
}
