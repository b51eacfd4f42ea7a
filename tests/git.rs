//! git over SSH through the real `git` client against the real server: the
//! account's `commands = ["git"]` allows git-upload-pack, git-receive-pack
//! and git-upload-archive, run in the sandbox. Clone, fetch, push (a new
//! branch; a force push refused only when the repository says so),
//! `archive --remote`, with the scp-like URL `alice@host:repo.git`; a push
//! over the quota refused with the repository intact; hooks (which run,
//! and can refuse a push) and the commands git runs on the user's behalf
//! confined like the programs themselves; and what an account without git
//! is told.

// Helpers outside `#[test]` fns unwrap and panic too: a failed setup is a
// failed test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::files::{names_in, pattern, set_mode, stored_bytes};
use common::host::{assert_no_host_passwd, assert_no_host_passwd_in};
use common::process::{assert_failed, assert_ok, assert_status, describe, text};
use common::{AccountSpec, TestServer};

/// alice may use git (the one word); bob may not; carol lists the three
/// programs by name.
fn start_with(alice: AccountSpec) -> TestServer {
    let server = TestServer::start(&[
        alice,
        AccountSpec::new("bob"),
        AccountSpec::new("carol").commands(&[
            "git-upload-pack",
            "git-receive-pack",
            "git-upload-archive",
        ]),
    ]);
    server.create_home("alice");
    server
}

fn start() -> TestServer {
    start_with(AccountSpec::new("alice").commands(&["git"]))
}

/// A folder of the client's side, made afresh.
fn local_dir(server: &TestServer, name: &str) -> PathBuf {
    let dir = server.local(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs git in `dir` and asserts it succeeded; returns its stdout.
fn git_ok(server: &TestServer, dir: &Path, args: &[&str]) -> String {
    let out = server.git(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        describe(&out)
    );
    text(&out.stdout)
}

/// Makes a bare repository `name` in `user`'s box the way a user does:
/// `git init --bare` on the client, copied up with scp (the built-in);
/// then a working clone of it on the client side, with one commit pushed
/// to `main`. Returns the clone's path.
fn repository(server: &TestServer, user: &str, name: &str) -> PathBuf {
    let staging = local_dir(server, &format!("staging-{user}"));
    git_ok(server, &staging, &["init", "-q", "--bare", name]);
    assert_ok(&server.scp(&[
        "-r",
        &staging.join(name).display().to_string(),
        &format!("{user}@127.0.0.1:"),
    ]));
    let work = local_dir(server, &format!("work-{user}"));
    git_ok(
        server,
        &work,
        &["clone", "-q", &format!("{user}@127.0.0.1:{name}"), "w"],
    );
    let clone = work.join("w");
    commit(server, &clone, "README", b"first\n");
    git_ok(server, &clone, &["push", "-q", "origin", "HEAD:main"]);
    clone
}

/// Writes `name` in `clone` and commits it.
fn commit(server: &TestServer, clone: &Path, name: &str, data: &[u8]) -> String {
    std::fs::write(clone.join(name), data).unwrap();
    git_ok(server, clone, &["add", name]);
    git_ok(
        server,
        clone,
        &["commit", "-q", "-m", &format!("change {name}")],
    );
    git_ok(server, clone, &["rev-parse", "HEAD"])
        .trim()
        .to_owned()
}

/// `git ls-remote` of `url` as `ref -> sha`.
fn remote_refs(server: &TestServer, url: &str) -> Vec<(String, String)> {
    let dir = server.local("");
    let out = git_ok(server, &dir, &["ls-remote", url]);
    out.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(sha, name)| (name.to_owned(), sha.to_owned()))
        .collect()
}

fn ref_of(server: &TestServer, url: &str, name: &str) -> Option<String> {
    remote_refs(server, url)
        .into_iter()
        .find_map(|(r, sha)| (r == name).then_some(sha))
}

/// `git fsck` of the stored repository, run by the host (as root, over
/// a folder it does not own).
fn fsck(server: &TestServer, repo: &Path) -> Output {
    server.git(
        repo,
        &["-c", "safe.directory=*", "fsck", "--full", "--no-dangling"],
    )
}

#[test]
fn clone_fetch_push_and_archive_with_the_scp_like_url() {
    let server = start();
    let url = "alice@127.0.0.1:repo.git";
    let first = repository(&server, "alice", "repo.git");
    let main = ref_of(&server, url, "refs/heads/main").unwrap();

    // A second clone sees the first one's push; its push is fetched back.
    let work = local_dir(&server, "second");
    git_ok(&server, &work, &["clone", "-q", url, "c"]);
    let second = work.join("c");
    assert_eq!(std::fs::read(second.join("README")).unwrap(), b"first\n");
    let next = commit(&server, &second, "more", &pattern(300_000, 4));
    git_ok(&server, &second, &["push", "-q", "origin", "main"]);
    git_ok(&server, &first, &["fetch", "-q", "origin"]);
    assert_eq!(
        git_ok(&server, &first, &["rev-parse", "origin/main"]).trim(),
        next
    );
    assert_ne!(next, main);

    // A new branch.
    git_ok(
        &server,
        &first,
        &["checkout", "-q", "-b", "topic", "origin/main"],
    );
    let topic = commit(&server, &first, "topic-file", b"on a branch\n");
    git_ok(&server, &first, &["push", "-q", "origin", "topic"]);
    assert_eq!(
        ref_of(&server, url, "refs/heads/topic"),
        Some(topic.clone())
    );

    // A force push: allowed while the repository does not refuse it...
    git_ok(&server, &first, &["reset", "-q", "--hard", "origin/main"]);
    let rewritten = commit(&server, &first, "other-file", b"rewritten\n");
    git_ok(
        &server,
        &first,
        &["push", "-q", "--force", "origin", "HEAD:topic"],
    );
    assert_eq!(
        ref_of(&server, url, "refs/heads/topic"),
        Some(rewritten.clone())
    );

    // ...refused once it says receive.denyNonFastForwards.
    let stored = server.home("alice").join("repo.git");
    let mut config = std::fs::read_to_string(stored.join("config")).unwrap();
    config.push_str("[receive]\n\tdenyNonFastForwards = true\n");
    std::fs::write(stored.join("config"), config).unwrap();
    git_ok(&server, &first, &["reset", "-q", "--hard", "origin/main"]);
    commit(&server, &first, "third-file", b"again\n");
    let refused = server.git(&first, &["push", "--force", "origin", "HEAD:topic"]);
    assert_failed(&refused, "a force push to a repository that denies it");
    assert!(
        text(&refused.stderr).contains("non-fast-forward"),
        "{}",
        describe(&refused)
    );
    assert_eq!(ref_of(&server, url, "refs/heads/topic"), Some(rewritten));
    // A fast-forward still goes.
    git_ok(
        &server,
        &first,
        &["push", "-q", "origin", "HEAD:refs/heads/ff"],
    );

    // git archive --remote: the tree of main, as tar.
    let tar = server.git(
        &first,
        &[
            "archive",
            "--format=tar",
            &format!("--remote={url}"),
            "main",
        ],
    );
    assert_ok(&tar);
    let listed = list_tar(&server, &tar.stdout);
    assert_eq!(listed, ["README", "more"], "{listed:?}");

    assert_ok(&fsck(&server, &stored));
}

/// The names in a tar archive, as `tar -t` lists them.
fn list_tar(server: &TestServer, archive: &[u8]) -> Vec<String> {
    let path = server.local_file("archive.tar", archive);
    let out = std::process::Command::new(common::process::require_tool("tar"))
        .arg("-tf")
        .arg(&path)
        .output()
        .unwrap();
    assert_ok(&out);
    text(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn the_three_programs_listed_by_name_work_as_the_one_word_does() {
    let server = start();
    let clone = repository(&server, "carol", "r.git");
    commit(&server, &clone, "x", b"x\n");
    git_ok(&server, &clone, &["push", "-q", "origin", "HEAD:main"]);
    let tar = server.git(
        &clone,
        &["archive", "--remote=carol@127.0.0.1:r.git", "main"],
    );
    assert_ok(&tar);
}

#[test]
fn the_one_word_allows_the_git_programs_not_git_itself() {
    let server = start();
    let out = server.ssh("alice", &["git", "--version"], b"");
    assert_status(&out, 127, "git itself under commands = [\"git\"]");
    assert_eq!(text(&out.stderr), "sftpbox: git: command not allowed\n");
    for program in ["git-upload-pack", "git-receive-pack", "git-upload-archive"] {
        // Not a repository, but the program ran: git's own complaint.
        let out = server.ssh("alice", &[program, "nowhere.git"], b"");
        assert!(
            !text(&out.stderr).contains("command not allowed"),
            "{program}: {}",
            describe(&out)
        );
        assert_ne!(out.status.code(), Some(127), "{program}");
    }
}

#[test]
fn an_account_without_git_is_told_so() {
    let server = start();
    server.create_home("bob");
    let work = local_dir(&server, "bob-work");
    let out = server.git(&work, &["clone", "bob@127.0.0.1:repo.git", "c"]);
    assert_failed(&out, "git clone as bob");
    assert!(
        text(&out.stderr).contains("sftpbox: git-upload-pack: command not allowed"),
        "{}",
        describe(&out)
    );
    let out = server.git(
        &work,
        &["archive", "--remote=bob@127.0.0.1:repo.git", "HEAD"],
    );
    assert!(
        text(&out.stderr).contains("sftpbox: git-upload-archive: command not allowed"),
        "{}",
        describe(&out)
    );
    let direct = server.ssh("bob", &["git-receive-pack", "'repo.git'"], b"");
    assert_status(&direct, 127, "git-receive-pack as bob");
    assert_eq!(
        text(&direct.stderr),
        "sftpbox: git-receive-pack: command not allowed\n"
    );
}

#[test]
fn a_push_over_the_quota_is_refused_and_the_repository_stays_intact() {
    let server = start_with(AccountSpec::new("alice").commands(&["git"]).quota(8 << 20));
    let url = "alice@127.0.0.1:repo.git";
    let clone = repository(&server, "alice", "repo.git");
    let before = remote_refs(&server, url);
    // 12 MiB of noise: no compression brings it under the quota.
    commit(&server, &clone, "huge.bin", &pattern(12 << 20, 9));
    let out = server.git(&clone, &["push", "origin", "HEAD:main"]);
    assert_failed(&out, "a push larger than the quota");
    let home = server.home("alice");
    assert!(
        stored_bytes(&home) <= 8 << 20,
        "{} stored",
        stored_bytes(&home)
    );
    assert_eq!(remote_refs(&server, url), before);
    let stored = home.join("repo.git");
    assert_ok(&fsck(&server, &stored));
    // Nothing of the refused push is left behind, and the room is there
    // for a push that fits.
    let objects = names_in(&stored.join("objects"));
    assert!(
        !objects.iter().any(|name| name.starts_with("incoming-")),
        "{objects:?}"
    );
    git_ok(&server, &clone, &["reset", "-q", "--hard", "HEAD~1"]);
    commit(&server, &clone, "small", b"fits\n");
    git_ok(&server, &clone, &["push", "-q", "origin", "HEAD:main"]);
    assert_ok(&fsck(&server, &stored));
}

#[test]
fn paths_outside_the_box_are_not_repositories() {
    let server = start();
    // bob's repository, next to alice's home on the host.
    let bob_home = server.create_home("bob");
    let staging = local_dir(&server, "bob-staging");
    git_ok(&server, &staging, &["init", "-q", "--bare", "theirs.git"]);
    let bob_repo = bob_home.join("theirs.git");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(staging.join("theirs.git"))
        .arg(&bob_repo)
        .output()
        .unwrap();
    assert_ok(&copied);
    std::os::unix::fs::symlink(&bob_repo, server.home("alice").join("planted.git")).unwrap();
    let work = local_dir(&server, "alice-work");
    let bob_head = std::fs::read(bob_repo.join("HEAD")).unwrap();
    for path in [
        "../bob/theirs.git",
        "../../homes/bob/theirs.git",
        &bob_repo.display().to_string(),
        "planted.git",
        "/etc",
        "../../../../etc",
    ] {
        let url = format!("alice@127.0.0.1:{path}");
        let clone = server.git(&work, &["clone", &url, "c"]);
        assert_failed(&clone, &format!("clone of {path}"));
        assert_no_host_passwd(&clone, &format!("clone of {path}"));
        assert!(!work.join("c").exists());
        let push = server.git(&work, &["push", &url, "HEAD:refs/heads/x"]);
        assert!(
            !push.status.success(),
            "push to {path}: {}",
            describe(&push)
        );
        let init = server.ssh("alice", &["git-receive-pack", path], b"0000");
        assert!(
            !init.status.success(),
            "receive-pack {path}: {}",
            describe(&init)
        );
    }
    assert_eq!(std::fs::read(bob_repo.join("HEAD")).unwrap(), bob_head);
    assert!(names_in(&bob_repo.join("refs/heads")).is_empty());
}

/// A probe git runs as a hook or as a command: says on stderr that it ran
/// (git relays a hook's output to the client as `remote: ...`), tries to
/// read the host's /etc/passwd, to write `outside` (a host path beside the
/// home), to connect to `port` on the loopback address and to gain root
/// through `/suid-id` (a setuid-root copy of `id`, when it may run it),
/// and writes what happened to `$HOME/probe-NAME.out`. As `pack`, the
/// packObjectsHook, it then runs the command git gave it.
fn probe_script(name: &str, port: u16, outside: &Path) -> String {
    let outside = outside.display();
    format!(
        "#!/bin/bash\n\
         out=\"$HOME/probe-{name}.out\"\n\
         echo \"probe {name} ran\" >&2\n\
         echo \"ran in $(pwd)\" >> \"$out\"\n\
         if cat /etc/passwd >> \"$out\" 2>/dev/null; then echo 'passwd: read' >> \"$out\"; \
         else echo 'passwd: unreadable' >> \"$out\"; fi\n\
         if (echo escaped > '{outside}') 2>/dev/null; then echo 'write: done' >> \"$out\"; \
         else echo 'write: refused' >> \"$out\"; fi\n\
         if (echo probe > /dev/tcp/127.0.0.1/{port}) 2>/dev/null; then echo 'socket: connected' >> \"$out\"; \
         else echo 'socket: refused' >> \"$out\"; fi\n\
         if [ -x /suid-id ]; then echo \"euid: $(/suid-id -u)\" >> \"$out\"; fi\n\
         if [ {name} = pack ]; then exec \"$@\"; fi\n\
         exit 0\n"
    )
}

/// Puts `script` in place as hook `name` of `repo`, executable, owned as
/// the repository is (as the user would have uploaded it).
fn install_hook(repo: &Path, name: &str, script: &str) {
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(repo).unwrap());
    let path = repo.join("hooks").join(name);
    std::fs::write(&path, script).unwrap();
    set_mode(&path, 0o755);
    std::os::unix::fs::chown(&path, Some(owner), None).unwrap();
}

#[test]
fn hooks_and_the_commands_git_runs_stay_in_the_sandbox() {
    let server = start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let clone = repository(&server, "alice", "repo.git");
    let home = server.home("alice");
    let repo = home.join("repo.git");
    // A host path beside the home that no hook may create.
    let outside = home.parent().unwrap().join("escaped-by-a-hook");
    let hooks = ["pre-receive", "update", "post-receive", "post-update"];
    for hook in hooks {
        install_hook(&repo, hook, &probe_script(hook, port, &outside));
    }
    // A setuid-root program in the box: the home is `nosuid`, so it runs
    // with the hook's ids.
    std::fs::copy(common::process::require_tool("id"), home.join("suid-id")).unwrap();
    set_mode(&home.join("suid-id"), 0o4755);
    // A command git-upload-pack runs through the shell, from the box's
    // ~/.gitconfig (HOME is the home): it runs, inside the sandbox.
    std::fs::write(home.join("probe.sh"), probe_script("pack", port, &outside)).unwrap();
    std::fs::write(
        home.join(".gitconfig"),
        "[uploadpack]\n\tpackObjectsHook = bash \"$HOME/probe.sh\"\n",
    )
    .unwrap();

    commit(&server, &clone, "pushed", b"through the hooks\n");
    let push = server.git(&clone, &["push", "origin", "HEAD:main"]);
    assert_ok(&push);
    assert_no_host_passwd(&push, "git push past the hooks");
    // Every hook ran, and what it printed reached the client.
    for hook in hooks {
        assert!(
            text(&push.stderr).contains(&format!("remote: probe {hook} ran")),
            "{hook}: {}",
            describe(&push)
        );
    }
    assert!(
        !text(&push.stderr).contains("hook was ignored"),
        "{}",
        describe(&push)
    );
    let work = local_dir(&server, "again");
    let again = server.git(&work, &["clone", "alice@127.0.0.1:repo.git", "c"]);
    assert_ok(&again);
    assert_no_host_passwd(&again, "git clone through packObjectsHook");
    assert_eq!(
        std::fs::read(work.join("c/pushed")).unwrap(),
        b"through the hooks\n"
    );

    // Each hook and the hook command ran, and none read the host's file,
    // wrote outside the box, reached the network or became root.
    for name in hooks.iter().chain(&["pack"]) {
        let report = std::fs::read_to_string(home.join(format!("probe-{name}.out")))
            .unwrap_or_else(|err| panic!("the {name} probe did not run: {err}"));
        assert!(report.contains("ran in /"), "{name}: {report}");
        assert!(report.contains("passwd: unreadable"), "{name}: {report}");
        assert!(report.contains("write: refused"), "{name}: {report}");
        assert!(report.contains("socket: refused"), "{name}: {report}");
        // Only the hooks may execute files of the home; the command
        // git-upload-pack runs may not.
        let euid = report.lines().find_map(|line| line.strip_prefix("euid: "));
        if *name == "pack" {
            assert_eq!(euid, None, "{report}");
        } else {
            let euid = euid.unwrap_or_else(|| panic!("{name}: /suid-id did not run: {report}"));
            assert_ne!(euid.trim(), "0", "{name}: a setuid bit was honoured");
        }
    }
    assert!(!outside.exists(), "a hook wrote {}", outside.display());
    for (path, content) in common::files::contents(&home) {
        if let common::files::Content::File(bytes) = content {
            assert_no_host_passwd_in(&bytes, &path.display().to_string());
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    match listener.accept() {
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the host's listener was reached: {other:?}"),
    }
}

#[test]
fn a_pre_receive_hook_that_says_no_refuses_the_push() {
    let server = start();
    let clone = repository(&server, "alice", "repo.git");
    let url = "alice@127.0.0.1:repo.git";
    let before = ref_of(&server, url, "refs/heads/main");
    let repo = server.home("alice").join("repo.git");
    install_hook(
        &repo,
        "pre-receive",
        "#!/bin/sh\necho 'pushes are closed today' >&2\nexit 1\n",
    );
    commit(&server, &clone, "refused", b"not wanted\n");
    let push = server.git(&clone, &["push", "origin", "HEAD:main"]);
    assert_failed(&push, "a push a pre-receive hook refuses");
    assert!(
        text(&push.stderr).contains("remote: pushes are closed today")
            && text(&push.stderr).contains("pre-receive hook declined"),
        "{}",
        describe(&push)
    );
    assert_eq!(ref_of(&server, url, "refs/heads/main"), before);
    assert_ok(&fsck(&server, &repo));
}

#[test]
fn an_account_added_with_commands_git_can_clone_and_push() {
    let server = start();
    let key = server.client_key().with_extension("pub");
    let added = common::process::sftpbox(
        server.dir.path(),
        &[
            "account",
            "add",
            "dave",
            "--key",
            &key.display().to_string(),
            "--commands",
            "git",
        ],
    );
    assert_ok(&added);
    let toml = std::fs::read_to_string(server.dir.path().join("accounts.toml")).unwrap();
    assert!(toml.contains("commands = [\"git\"]"), "{toml}");
    server.reload_accounts();
    let clone = repository(&server, "dave", "d.git");
    commit(&server, &clone, "by-dave", b"dave\n");
    git_ok(&server, &clone, &["push", "-q", "origin", "HEAD:main"]);
    assert!(ref_of(&server, "dave@127.0.0.1:d.git", "refs/heads/main").is_some());
}
