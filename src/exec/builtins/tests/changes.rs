//! Built-ins that change the box, against GNU: messages, statuses and the
//! resulting tree; setuid bits and the quota.

use super::{Fixture, tree};
use crate::exec::ExitOutcome;

#[tokio::test]
async fn changing_commands_match_gnu_messages_statuses_and_results() {
    let fx = Fixture::new(None);
    for line in [
        "mkdir x",
        "mkdir x",
        "mkdir -p p/q/r",
        "mkdir -p a.txt/x",
        "mkdir n/o",
        "mkdir",
        "mkdir -m 700 m",
        "mkdir -pv v/w",
        "rmdir p/q/r",
        "rmdir b",
        "rmdir nope",
        "rmdir a.txt",
        "rmdir -p p/q",
        "rm nope",
        "rm b",
        "rm -f nope",
        "rm",
        "rm -d x",
        "rm -r .",
        "rm -r /",
        "rm -rv b/c",
        "mv a.txt a2",
        "mv nope z",
        "mv a2",
        "mv a2 lines nope",
        "mv a2 m",
        "mv m m/sub",
        "mv -v lines b",
        "cp big big2",
        "cp nope z",
        "cp m y",
        "cp -r m m2",
        "cp -r m m/q",
        "cp big big",
        "cp -v big2 big3",
        "cp big b",
        "cp -a b b2",
        "cp -r b n",
        "touch t1",
        "touch nope/t",
        "touch -c t2",
        "chmod 751 t1",
        "chmod zz t1",
        "chmod 644 nope",
        "chmod",
        "chmod 644",
        "chmod -v go-x t1",
        "chmod a=r,u+w big2",
        "chmod -w big3",
        "chmod -R 750 b2",
        "touch -d @1000000000 t1",
        "touch -t 200102030405.06 big2",
        "ls -l t1 big2",
    ] {
        fx.same(line, b"").await;
    }
    // GNU reports `cp -r m m/q` as an error but copies one level anyway;
    // sftpbox refuses before writing anything.
    std::fs::remove_dir_all(fx.gnu.join("m/q")).unwrap();
    assert_eq!(tree(&fx.home), tree(&fx.gnu));
}

#[tokio::test]
async fn chmod_never_sets_setuid_setgid_or_sticky() {
    let fx = Fixture::new(None);
    for line in ["chmod 4755 a.txt", "chmod u+s,g+s,+t lines", "chmod 7777 b"] {
        assert_eq!(fx.run(line, b"").await.2, ExitOutcome::Status(0), "{line}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = |name: &str| {
        std::fs::metadata(fx.home.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(
        (mode("a.txt"), mode("lines"), mode("b")),
        (0o755, 0o644, 0o777)
    );
}

#[tokio::test]
async fn cp_is_held_by_the_quota() {
    let fx = Fixture::new(None);
    let used = fx.ctx.jail.quota().used_bytes();
    // A new name needs room for its folder to grow by two blocks while it
    // is made: that and 1000 bytes hold one more `big` (5000 bytes), and
    // what is left then is too little for the next name.
    let room = 1000 + 2 * fx.block_bytes();
    fx.ctx.jail.quota().set_limit(Some(used + room));
    let (out, err, status) = fx.run("cp big big2", b"").await;
    assert_eq!((out.as_str(), status), ("", ExitOutcome::Status(0)));
    assert_eq!(err, "");
    let (_, err, status) = fx.run("cp big big3", b"").await;
    assert_eq!(status, ExitOutcome::Status(1));
    assert!(
        err.starts_with("cp: cannot create regular file 'big3': quota exceeded"),
        "{err}"
    );
    assert!(!fx.home.join("big3").exists());
    assert!(fx.ctx.jail.quota().used_bytes() <= used + room);
}
