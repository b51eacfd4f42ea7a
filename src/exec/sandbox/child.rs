//! What runs between `fork` and `exec`: the sandbox [`Plan`] applied with
//! raw, async-signal-safe syscalls only. This file holds sftpbox's one
//! `unsafe` block (`CommandExt::pre_exec` and the libc calls it makes).
//!
//! Everything that allocates (paths as `CString`s, the Landlock ruleset fd,
//! the view's mount options, the environment) was built in the parent by
//! `plan.rs`; here nothing allocates, locks or touches Rust's runtime. The
//! steps, in order:
//!
//! 1. `setsid`: own session and process group, no controlling terminal;
//! 2. without root, a user namespace first (the server's ids mapped to
//!    themselves), `/dev/fuse` opened in it and sent to the server over
//!    the plan's socket; then `unshare` mount, network, IPC, UTS and pid
//!    namespaces;
//! 3. private `/`; the view (FUSE, `fd=` that `/dev/fuse`) mounted
//!    `nosuid,nodev,noexec` on the stage (without `noexec` for the
//!    program that runs repository hooks, see `plan::HomeExec`), and one byte to the server, which
//!    then answers the kernel's requests for it;
//! 4. the mount plan over the view's reserved names: read-only binds of
//!    the system directories, the `/etc` and `/dev` scaffolds, `/tmp`;
//!    `pivot_root` into the view, detach the old root, `chdir("/")`, and
//!    the Landlock rule for everything beneath the view's root;
//! 5. `fork`: this process stays outside as the *supervisor* (it closes
//!    every fd but the kill switch, waits, and relays the exit status or
//!    signal; see [`supervise`]); its child is
//!    pid 1 of the new pid namespace, so when it ends the kernel kills
//!    everything left in the namespace, `setsid` escapees included;
//! 6. in that child: `/proc` of its pid namespace, rlimits,
//!    `setgroups(0)`/`setresgid`/`setresuid`,
//!    `PR_SET_PDEATHSIG` (after the uid change, which clears it),
//!    `PR_SET_NO_NEW_PRIVS`, `landlock_restrict_self`, then `exec`.
//!
//! A failing step writes its number to the plan's report pipe and returns
//! the OS error, so the parent can say which layer could not be set up.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use super::plan::{Plan, Step};

/// The steps, by number, as the parent names them in a refusal message.
pub(super) const STEP_NAMES: [&str; 17] = [
    "setsid",
    "namespaces",
    "private mounts",
    "view",
    "mounts",
    "pivot_root",
    "landlock rule for the view",
    "proc",
    "rlimits",
    "fork",
    "uid/gid drop",
    "parent-death signal",
    "no_new_privs",
    "landlock",
    "cgroup",
    "user namespace (unprivileged user namespaces may be off: sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone or kernel.apparmor_restrict_unprivileged_userns)",
    "view: /dev/fuse in the user namespace (programs need the server's uid to be able to open /dev/fuse, mode 0666 as Debian gives it, or root for the box's view of the home)",
];

/// `RLIM_INFINITY`, as the `u64` the plan stores.
const UNLIMITED: u64 = u64::MAX;

/// Installs `plan` as `command`'s pre-exec hook.
pub(super) fn install(command: &mut Command, plan: Plan) {
    let hook = move || apply(&plan);
    // SAFETY: `apply` runs in the forked child before exec and only calls
    // async-signal-safe syscalls (setsid, unshare, mount, mkdir, open, close,
    // symlink, chdir, pivot_root, umount2, landlock_add_rule, setrlimit, fork, waitpid,
    // close_range, dup2, pidfd_open, poll, _exit, signal, kill, getpid, prctl, setgroups,
    // setresgid, setresuid, landlock_restrict_self, write, dup3, sendmsg) on pointers to
    // `CString`s and fds owned by `plan`, which outlives the hook; it never
    // allocates, locks, or unwinds (every path returns or `_exit`s).
    unsafe {
        command.pre_exec(hook);
    }
}

/// Records `step` in the report pipe and returns the OS error.
fn failed(report: RawFd, step: u8) -> io::Error {
    let err = io::Error::last_os_error();
    let byte = [step];
    // SAFETY: a one-byte write from a live buffer to an fd the plan owns.
    unsafe {
        libc::write(report, byte.as_ptr().cast(), 1);
    }
    err
}

/// `Ok` when a libc call returned 0 (or any non-negative value).
fn check(ret: libc::c_long, report: RawFd, step: u8) -> io::Result<()> {
    if ret < 0 {
        Err(failed(report, step))
    } else {
        Ok(())
    }
}

/// `LANDLOCK_RULE_PATH_BENEATH` (linux/landlock.h).
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;

/// `struct landlock_path_beneath_attr` (linux/landlock.h), packed.
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

#[allow(clippy::too_many_lines)]
fn apply(plan: &Plan) -> io::Result<()> {
    let report = plan.report.as_raw_fd();
    // SAFETY (whole block): see `install`; every pointer is a `CString`
    // or a local of this frame, every fd is owned by `plan`.
    unsafe {
        check(libc::setsid().into(), report, 0)?;
        join_cgroups(plan, report)?;
        if let Some(maps) = &plan.user_ns {
            enter_user_namespace(maps, report)?;
            pass_device(plan, report)?;
        }
        let flags = libc::CLONE_NEWNS
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWPID;
        check(libc::unshare(flags).into(), report, 1)?;
        let none = std::ptr::null::<libc::c_char>();
        let root = c"/".as_ptr();
        check(
            libc::mount(
                none,
                root,
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
            .into(),
            report,
            2,
        )?;
        check(
            libc::mount(
                c"sftpbox".as_ptr(),
                plan.stage.as_ptr(),
                c"fuse".as_ptr(),
                plan.view_flags,
                plan.view_data.as_ptr().cast(),
            )
            .into(),
            report,
            3,
        )?;
        // The server waits for this byte before it reads the device.
        let byte = [1_u8];
        check(
            libc::write(plan.mounted.as_raw_fd(), byte.as_ptr().cast(), 1) as libc::c_long,
            report,
            3,
        )?;
        for (index, step) in plan.steps.iter().enumerate() {
            let ret = match step {
                Step::MakeDir(path) => libc::mkdir(path.as_ptr(), 0o755),
                Step::MakeFile(path) => {
                    let fd = libc::open(
                        path.as_ptr(),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                        0o644,
                    );
                    if fd >= 0 { libc::close(fd) } else { fd }
                }
                Step::Symlink { target, link } => libc::symlink(target.as_ptr(), link.as_ptr()),
                Step::Bind {
                    source,
                    target,
                    flags,
                } => {
                    let bound = libc::mount(
                        source.as_ptr(),
                        target.as_ptr(),
                        none,
                        libc::MS_BIND,
                        std::ptr::null(),
                    );
                    if bound < 0 {
                        bound
                    } else {
                        // Flags of a bind mount change only with a remount.
                        let remount = libc::MS_REMOUNT | libc::MS_BIND | flags;
                        libc::mount(none, target.as_ptr(), none, remount, std::ptr::null())
                    }
                }
                Step::Tmpfs {
                    target,
                    data,
                    flags,
                } => libc::mount(
                    c"tmpfs".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    *flags,
                    data.as_ptr().cast(),
                ),
                Step::Remount { target, flags } => {
                    let remount = libc::MS_REMOUNT | libc::MS_BIND | flags;
                    libc::mount(none, target.as_ptr(), none, remount, std::ptr::null())
                }
            };
            if ret < 0 {
                let err = failed(report, 4);
                // Which step of the plan, for the refusal message.
                let byte = [u8::try_from(index).unwrap_or(u8::MAX)];
                libc::write(report, byte.as_ptr().cast(), 1);
                return Err(err);
            }
        }
        let dot = c".".as_ptr();
        check(libc::chdir(plan.stage.as_ptr()).into(), report, 5)?;
        check(libc::syscall(libc::SYS_pivot_root, dot, dot), report, 5)?;
        check(libc::umount2(dot, libc::MNT_DETACH).into(), report, 5)?;
        check(libc::chdir(root).into(), report, 5)?;
        let view_root = libc::open(root, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC);
        check(view_root.into(), report, 6)?;
        let rule = PathBeneathAttr {
            allowed_access: plan.root_access,
            parent_fd: view_root,
        };
        let added = libc::syscall(
            libc::SYS_landlock_add_rule,
            plan.ruleset.as_raw_fd(),
            LANDLOCK_RULE_PATH_BENEATH,
            std::ptr::from_ref(&rule),
            0_u32,
        );
        libc::close(view_root);
        check(added, report, 6)?;
        set_limit(libc::RLIMIT_CORE, 0, report)?;

        let pid = libc::fork();
        if pid < 0 {
            return Err(failed(report, 9));
        }
        if pid > 0 {
            supervise(pid, plan.kill_switch.as_raw_fd());
        }

        // pid 1 of the new pid namespace, soon the program.
        let proc_mounted = libc::mount(
            c"proc".as_ptr(),
            plan.proc_target.as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            plan.proc_data.as_ptr().cast(),
        );
        // In a user namespace the kernel refuses a new `/proc` where the
        // host's is partly covered (a container's): `/proc` stays empty,
        // which hides more, never less.
        let refused_in_user_ns = plan.user_ns.is_some() && *libc::__errno_location() == libc::EPERM;
        if proc_mounted < 0 && !refused_in_user_ns {
            return Err(failed(report, 7));
        }
        set_limit(libc::RLIMIT_CPU, plan.limits.cpu_seconds, report)?;
        set_limit(libc::RLIMIT_AS, plan.limits.address_space_bytes, report)?;
        set_limit(libc::RLIMIT_NPROC, plan.limits.processes, report)?;
        set_limit(libc::RLIMIT_NOFILE, plan.limits.open_files, report)?;
        if let Some((uid, gid)) = plan.ids {
            check(libc::setgroups(0, std::ptr::null()).into(), report, 10)?;
            check(libc::setresgid(gid, gid, gid).into(), report, 10)?;
            check(libc::setresuid(uid, uid, uid).into(), report, 10)?;
        }
        check(
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            )
            .into(),
            report,
            11,
        )?;
        check(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0).into(),
            report,
            12,
        )?;
        let ruleset = plan.ruleset.as_raw_fd();
        check(
            libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0),
            report,
            13,
        )?;
    }
    Ok(())
}

/// `setrlimit(resource, value)`, soft = hard, except CPU whose hard limit
/// is one second later so that SIGXCPU comes before SIGKILL.
fn set_limit(resource: libc::__rlimit_resource_t, value: u64, report: RawFd) -> io::Result<()> {
    let soft = if value == UNLIMITED {
        libc::RLIM_INFINITY
    } else {
        value
    };
    let hard = if resource == libc::RLIMIT_CPU && value != UNLIMITED {
        value.saturating_add(1)
    } else {
        soft
    };
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: a pointer to a local `rlimit`.
    check(
        unsafe { libc::setrlimit(resource, &limit) }.into(),
        report,
        8,
    )
}

/// The supervisor: keeps only the kill switch (as fd 3), waits for pid 1
/// of the namespace, and ends the way it ended. When the parent closes its
/// end of the kill switch (timeout, quota, cancelled session, or the
/// server died), it kills pid 1 first, so it still reaps it: killing the
/// supervisor instead would leave pid 1 a zombie of whatever init adopts
/// it. Closing every other fd lets the parent see EOF on the program's
/// pipes and lets `spawn` return. Never returns.
fn supervise(child: libc::pid_t, kill_switch: RawFd) -> ! {
    const SWITCH_FD: libc::c_int = 3;
    // SAFETY: async-signal-safe calls on plain integers and locals.
    unsafe {
        if kill_switch != SWITCH_FD {
            libc::dup2(kill_switch, SWITCH_FD);
        }
        for fd in 0..SWITCH_FD {
            libc::close(fd);
        }
        if libc::syscall(libc::SYS_close_range, 4_u32, u32::MAX, 0_u32) < 0 {
            for fd in 4..1024 {
                libc::close(fd);
            }
        }
        let pidfd = libc::syscall(libc::SYS_pidfd_open, child, 0_u32);
        if let Ok(pidfd) = libc::c_int::try_from(pidfd) {
            let mut fds = [
                libc::pollfd {
                    fd: pidfd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: SWITCH_FD,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            loop {
                let ready = libc::poll(fds.as_mut_ptr(), 2, -1);
                if ready < 0 && *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                let [exited, switch] = fds;
                if ready > 0 && exited.revents == 0 && switch.revents != 0 {
                    libc::kill(child, libc::SIGKILL);
                }
                break;
            }
        }
        let mut status: libc::c_int = 0;
        loop {
            let waited = libc::waitpid(child, &mut status, 0);
            if waited == child {
                break;
            }
            if waited < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(127);
            }
        }
        if libc::WIFSIGNALED(status) {
            let signal = libc::WTERMSIG(status);
            libc::signal(signal, libc::SIG_DFL);
            libc::kill(libc::getpid(), signal);
            libc::_exit(128 + signal);
        }
        libc::_exit(libc::WEXITSTATUS(status))
    }
}

/// Joins the account's cgroups: `0` (this process) into each
/// `cgroup.procs` the plan holds open, before anything else is started.
fn join_cgroups(plan: &Plan, report: RawFd) -> io::Result<()> {
    for procs in &plan.cgroup_procs {
        // SAFETY: a one-byte write from a static buffer to an fd the plan owns.
        let written = unsafe { libc::write(procs.as_raw_fd(), c"0".as_ptr().cast(), 1) };
        if written != 1 {
            return Err(failed(report, 14));
        }
    }
    Ok(())
}

/// Makes a user namespace in which this process keeps its uid and gid
/// (each mapped to itself, `setgroups` denied, as an unprivileged process
/// may map only itself) and holds the capabilities the next steps need.
fn enter_user_namespace(maps: &super::plan::UserMaps, report: RawFd) -> io::Result<()> {
    // SAFETY: see `install`; the paths and contents are `CStr`s the plan
    // owns, the buffers outlive the calls.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWUSER).into(), report, 15)?;
        let files: [(&std::ffi::CStr, &std::ffi::CStr); 3] = [
            (c"/proc/self/setgroups", c"deny"),
            (c"/proc/self/uid_map", maps.uid_map.as_c_str()),
            (c"/proc/self/gid_map", maps.gid_map.as_c_str()),
        ];
        for (path, text) in files {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(failed(report, 15));
            }
            let len = text.to_bytes().len();
            let written = libc::write(fd, text.as_ptr().cast(), len);
            libc::close(fd);
            if usize::try_from(written).ok() != Some(len) {
                return Err(failed(report, 15));
            }
        }
    }
    Ok(())
}

/// Without root: opens `/dev/fuse` in this (new) user namespace, where
/// the kernel will take it for the view's mount, puts it on the number the
/// mount options name (the plan's placeholder) and sends it to the server
/// with one byte, so that it can answer the kernel for the view.
fn pass_device(plan: &Plan, report: RawFd) -> io::Result<()> {
    let Some(socket) = &plan.pass_device else {
        return Ok(());
    };
    // SAFETY: see `install`; a static path, fds the plan owns.
    unsafe {
        let opened = libc::open(c"/dev/fuse".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        check(opened.into(), report, 16)?;
        let placed = libc::dup3(opened, plan.device.as_raw_fd(), libc::O_CLOEXEC);
        libc::close(opened);
        check(placed.into(), report, 16)?;
    }
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
    let fds = [plan.device.as_fd()];
    if !control.push(rustix::net::SendAncillaryMessage::ScmRights(&fds)) {
        return Err(failed(report, 16));
    }
    let byte = [1_u8];
    loop {
        match rustix::net::sendmsg(
            socket,
            &[io::IoSlice::new(&byte)],
            &mut control,
            rustix::net::SendFlags::NOSIGNAL,
        ) {
            Ok(1) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Ok(_) => return Err(failed(report, 16)),
            Err(err) => {
                // rustix leaves `errno` alone: record the step, return its error.
                let _ = failed(report, 16);
                return Err(io::Error::from(err));
            }
        }
    }
}
