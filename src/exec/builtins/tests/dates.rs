//! `date` against GNU `date` with `TZ=UTC LC_ALL=C`: layouts, options,
//! their conflicts and messages, for fixed times (`-d`, `-r`).

use super::Fixture;
use crate::exec::ExitOutcome;

#[tokio::test]
async fn date_prints_what_gnu_date_prints_in_utc() {
    let fx = Fixture::new(None);
    for line in [
        "date -d @1700000000",
        "date -u -d @1700000000",
        "date --utc --date=@1700000000.123456789 +%s.%N",
        "date -d @-1",
        "date -d @0 +%G-W%V-%u",
        "date -R -d @1700000000",
        "date --rfc-email -d @1",
        "date -I -d @1700000000",
        "date -Iseconds -d @1700000000",
        "date -Ins -d @1700000000.5",
        "date -Ih -d @1700000000",
        "date --iso-8601 -d @1",
        "date --iso-8601=minutes -d @1",
        "date --rfc-3339=seconds -d @1",
        "date --rfc-3339=ns -d @1.25",
        "date --rfc-3339 date -d @1",
        "date -d 2023-11-14",
        "date -d 2023-11-14T10:00:05Z",
        "date -r a.txt",
        "date -r a.txt +%s",
        "date -d @1700000000 +%F%t%T%n%a%A%b%B%j%U%W%C%y%e%k%l%p%P%q%Z%z%:z",
        "date -d @1700000000 +%-d/%_m/%05d/%^a/%#b/%10A/%+6Y/%3N/%Q/%Ed/%Oe",
        "date -d @67768036191676799",
        "date -d @67768036191676800",
        "date -d @9223372036854775807",
        "date -d xyz",
        "date -d @1 -r a.txt",
        "date -R -I",
        "date -I +%s",
        "date -Ix",
        "date --rfc-3339=x",
        "date --rfc-3339",
        "date -z",
        "date a b",
        "date +a +b",
        "date -d @1 a",
        "date -r nope",
        "date a",
    ] {
        fx.same(line, b"").await;
    }
    // Now, to the minute (the two runs may straddle a second).
    fx.same("date +%F.%H:%M", b"").await;
}

#[tokio::test]
async fn setting_the_clock_is_refused_and_the_time_shown_anyway() {
    // Never against the host's date: run as root, it would set the clock.
    let fx = Fixture::new(None);
    let refused = String::from("date: cannot set date: Operation not permitted\n");
    for (line, shown) in [
        ("date -s @5 +%s", "5\n"),
        ("date --set=1970-01-01 -I", "1970-01-01\n"),
        ("date 010100001970.05", "Thu Jan  1 00:00:05 UTC 1970\n"),
        ("date -u 0101000070", "Thu Jan  1 00:00:00 UTC 1970\n"),
    ] {
        let (out, err, status) = fx.run(line, b"").await;
        assert_eq!(
            (out.as_str(), err.as_str(), status),
            (shown, refused.as_str(), ExitOutcome::Status(1)),
            "{line}"
        );
    }
    let (out, err, status) = fx.run("date -s nonsense", b"").await;
    assert_eq!(
        (out.as_str(), err.as_str(), status),
        (
            "",
            "date: invalid date 'nonsense'\n",
            ExitOutcome::Status(1)
        )
    );
}
