"""The semantic judge on outputs and effects given directly (no sandbox): what counts as presentation and
what never does. Its accuracy on the labeled pairs, through the real sandbox, is in tests/test_judge.py."""

from __future__ import annotations

import calendar
import time

import pytest

from shelltune.sandbox.meaning import (
    WorldFacts,
    asks_for_order,
    human_size,
    minutes,
    read_run,
    same_meaning,
    strip_numbering,
)
from shelltune.sandbox.snapshot import Change

WORLD = WorldFacts(
    paths=frozenset({"/home/user/project/docs", "/home/user/project/docs/a.md", "/home/user/project/names.txt"}),
    digests=frozenset({"d" * 64}),
    names=frozenset({"nginx", "gunicorn", "master"}),
)


def reading(stdout: str, command: str, status: int = 0, changes=None, processes=(), now=frozenset()):
    return read_run(status, True, stdout, changes or {}, processes, command, WORLD, now)


def same(a: tuple[str, str], b: tuple[str, str], **kwargs) -> bool:
    return same_meaning(reading(a[1], a[0], **kwargs), reading(b[1], b[0], **kwargs))


LS = "a.md\nb.txt\nMy Notes.txt"
LS_L = (
    "total 12\n-rw-r--r-- 1 user user 110 May 26 00:00 a.md\n-rw-r--r-- 1 user user 2.5K 2025-01-02 00:00 b.txt\n"
    "-rw-r--r-- 1 user user 9 <now> My Notes.txt"
)
DIGEST = "587b08e1a4e57a303426a86383377121562c667aad7d97379a1e3e714703926b"
# A listening socket as lsof (the port by its /etc/services name), ss and netstat show it
LSOF_HEAD = "COMMAND PID USER FD TYPE DEVICE SIZE/OFF NODE NAME"
LSOF_REDIS = "redis-ser 8 user 3u IPv4 <inode> 0t0 TCP *:redis (LISTEN)"
SS_REDIS = 'LISTEN 0 128 0.0.0.0:6379 0.0.0.0:* users:(("redis-server",pid=8,fd=3))'
NETSTAT_REDIS = "tcp 0 0 0.0.0.0:6379 0.0.0.0:* LISTEN 8/redis-server *:63"


@pytest.mark.parametrize(
    "a,b",
    [
        (("ls docs", LS), ("ls -l docs", LS_L)),
        (
            ("sha256sum names.txt", f"{DIGEST} names.txt"),
            ("openssl dgst -sha256 names.txt", f"SHA2-256(names.txt)= {DIGEST}"),
        ),
        (
            ("sha256sum names.txt", f"{DIGEST} names.txt"),
            ("sha256sum --tag names.txt", f"SHA256 (names.txt) = {DIGEST}"),
        ),
        (("sha256sum names.txt", f"{DIGEST} names.txt"), ("sha256sum < names.txt", f"{DIGEST} -")),
        (("cat names.txt", "Ana\nLi\n\nBo"), ("cat -n names.txt", "1 Ana\n2 Li\n3\n4 Bo")),
        (("grep x names.txt", "ax\nbx"), ("grep -n x names.txt", "3:ax\n9:bx")),
        (("grep x names.txt", "ax\nbx"), ("grep -H x names.txt", "names.txt:ax\nnames.txt:bx")),
        (("wc -l names.txt", "38 names.txt"), ("wc -l < names.txt", "38")),
        (("du -sh docs", "48K docs"), ("du -sk docs", "48 docs")),
        (("du -sh docs", "1.5K docs"), ("du -sb docs", "1536 docs")),
        (("date", "Mon Jun 1 <now> UTC 2026"), ("date -R", "Mon, 01 Jun 2026 <now> +0000")),
        (("pgrep nginx", "5\n6"), ("pgrep -l nginx", "5 nginx\n6 nginx")),
        (("printenv HOME", "/home/user"), ("env | grep ^HOME=", "HOME=/home/user")),
        (("seq 3", "1\n2\n3"), ("echo 1 2 3", "1 2 3")),
        (("find docs -type f", "docs/b\ndocs/a"), ("find docs -type f | sort", "docs/a\ndocs/b")),
        (("diff a b", "2c2\n< old\n---\n> new"), ("diff -u a b", "--- a\n+++ b\n@@ -1,2 +1,2 @@\n x\n-old\n+new")),
        (("lsof -i :6379", f"{LSOF_HEAD}\n{LSOF_REDIS}"), ("ss -tlnp | grep ':6379'", SS_REDIS)),
        (("lsof -i :6379", LSOF_REDIS), ("netstat -tlnp | grep 6379", NETSTAT_REDIS)),
    ],
)
def test_presentation_is_read_away(a, b):
    assert same(a, b) and same(b, a)


@pytest.mark.parametrize(
    "a,b",
    [
        (("ls docs", LS), ("ls -l src", LS_L.replace("b.txt", "c.txt"))),
        (("ls -a", ".\n..\n.env\na"), ("ls -A", ".env\na")),
        (
            ("sha256sum names.txt", f"{DIGEST} names.txt"),
            ("md5sum names.txt", "2308282b3363f3c67c1a28696063bb09 names.txt"),
        ),
        (("wc -l names.txt", "38 names.txt"), ("wc -w names.txt", "97 names.txt")),
        (("du -sh docs", "48K docs"), ("du -sk docs", "52 docs")),
        (("echo hello", "hello"), ("echo world", "world")),
        (("echo hello", "hello"), ("true", "")),
        (("sort names.txt", "a\nb"), ("sort -r names.txt", "b\na")),
        (("ls -lt docs", "a.md\nb.txt"), ("ls -lS docs", "b.txt\na.md")),
        (("diff a b", "2c2\n< old\n---\n> new"), ("diff -u b a", "--- b\n+++ a\n@@ -1,2 +1,2 @@\n x\n-new\n+old")),
        (("date", "Mon Jun 1 <now> UTC 2026"), ("date -d yesterday", "Sun May 31 <now> UTC 2026")),
        (("wc -l < f", "38"), ("awk 'END {print NR-1}' f", "37")),
        (("lsof -i :6379", LSOF_REDIS), ("ss -tlnp | grep ':6380'", SS_REDIS.replace("6379", "6380"))),
        (("lsof -i :6379", LSOF_REDIS), ("ss -tlnp | grep ':6379'", SS_REDIS.replace("pid=8", "pid=9"))),
        (("lsof -i :6379", LSOF_REDIS), ("ss -tlnp", f"{SS_REDIS}\n{SS_REDIS.replace('6379', '5000')}")),
    ],
)
def test_content_still_counts(a, b):
    assert not same(a, b) and not same(b, a)


def test_verbose_lines_that_report_the_same_effects_are_presentation():
    made = {"/home/user/project/out": Change("dir", 0o755, ""), "/home/user/project/out/x": Change("dir", 0o755, "")}
    quiet = reading("", "mkdir -p out/x", changes=made)
    verbose = reading(
        "mkdir: created directory 'out'\nmkdir: created directory 'out/x'", "mkdir -pv out/x", changes=made
    )
    listing = reading("docs/\ndocs/a.md", "tar -czvf d.tgz docs", changes=made)
    assert same_meaning(quiet, verbose) and same_meaning(verbose, quiet) and same_meaning(quiet, listing)
    other = reading("mkdir: created directory 'elsewhere'", "mkdir -pv out/x", changes=made)
    assert not same_meaning(quiet, other), "a report of a path neither in the world nor in the changes is content"
    assert not same_meaning(reading("docs/a.md", "find docs -name '*.md'"), reading("", "true"))


def test_a_copy_keeps_its_mtime_or_not_and_that_counts():
    copied = {"/home/user/project/n.txt": Change("file", 0o644, "d" * 64, "", "1780000000")}
    stamped = {"/home/user/project/n.txt": Change("file", 0o644, "d" * 64, "", "now")}
    assert not same_meaning(
        reading("", "cp -p names.txt n.txt", changes=copied), reading("", "cp names.txt n.txt", changes=stamped)
    )
    archive = {"/home/user/project/n.gz": Change("file", 0o644, "e" * 64, "", "1780000000")}
    fresh = {"/home/user/project/n.gz": Change("file", 0o644, "e" * 64, "", "now")}
    assert same_meaning(reading("", "gzip -k n", changes=archive), reading("", "gzip -c n > n.gz", changes=fresh))


def test_the_exit_status_counts_unless_both_answered_the_same():
    assert same(("grep -c x f", "0"), ("grep x f | wc -l", "0"), status=0) is True
    assert not same_meaning(reading("0", "grep -c x f", status=1), reading("1", "grep -c y f", status=0))
    assert not same_meaning(reading("", "false", status=1), reading("", "true", status=0))
    assert not same_meaning(reading("x", "a", status=2), reading("x", "b", status=0))


def test_an_unread_run_never_matches():
    unread = read_run(0, False, "x", {}, (), "echo x", WORLD)
    assert not same_meaning(unread, unread)


def test_a_time_printed_now_in_any_layout_is_now():
    now = minutes((calendar.timegm((2026, 6, 1, 9, 0, 30)), calendar.timegm((2026, 6, 1, 9, 0, 31))))
    iso = reading("2026-06-01T09:00:00+00:00", "date -Iseconds", now=now)
    masked = reading("Mon Jun 1 <now> UTC 2026", "date", now=now)
    assert same_meaning(masked, iso)
    assert same_meaning(reading("Mon, 01 Jun 2026 09:00:12 +0000", "date -R", now=now), iso)


def test_a_files_own_time_is_never_now_whatever_the_clock_says():
    """A log line stamped 22:01 three days before the run is a fact of the world: it read as "now" in any
    run that happened to start at 22:01 UTC (on any day), so `grep -ri error logs` and `grep -rin error
    logs` were judged different when one of them ran in that minute and the other did not."""
    log = "logs/app.log:2026-05-27 22:01:13 ERROR [api] pid=4242 upstream timed out\n"
    numbered = "logs/app.log:7:2026-05-27 22:01:13 ERROR [api] pid=4242 upstream timed out\n"

    def window_at(hour: int, minute: int) -> tuple[float, float]:
        start = calendar.timegm((2026, 12, 7, hour, minute, 59))
        return (start, start + 0.4)

    at_2201 = minutes(window_at(22, 0), window_at(22, 1))
    at_1200 = minutes(window_at(12, 0))
    for a, b in ((at_2201, at_1200), (at_1200, at_2201), (at_2201, at_2201)):
        assert same_meaning(
            reading(log, "grep -ri error logs", now=a), reading(numbered, "grep -rin error logs", now=b)
        )
    # the run's own date at that minute is still "now"
    today = "2026-12-07 22:01:02 started\n"
    assert same_meaning(reading(today, "x", now=at_2201), reading("2026-12-07 22:01:40 started\n", "y", now=at_2201))
    assert not same_meaning(
        reading(today, "x", now=at_1200), reading("2026-12-07 22:05:40 started\n", "y", now=at_1200)
    )


def test_order_counts_where_the_reference_asks_for_one():
    assert asks_for_order("sort names.txt") and asks_for_order("ls -lt docs") and asks_for_order("du -a | sort -n")
    assert asks_for_order("sort f | uniq -c | sort -rn | head -3") and asks_for_order("tac f")
    assert not asks_for_order("find docs -type f | sort") and not asks_for_order("ls docs")
    assert not asks_for_order("cut -d, -f2 f | sort | uniq -c") and not asks_for_order("du -a docs | sort")


def test_human_sizes_round_as_gnu_does():
    from decimal import Decimal

    assert [human_size(Decimal(n)) for n in (1023, 1024, 1536, 10 * 1024 + 1, 49152, 5 * 2**20)] == [
        "1023",
        "1.0K",
        "1.5K",
        "11K",
        "48K",
        "5.0M",
    ]


def test_a_long_line_is_read_in_linear_time():
    """`file:N:` numbering was matched with a pattern that tried every split of a line without a colon:
    an 8,000-character `base64 -w0` line took 0.2 s, a 1 MiB one would have taken an hour."""
    line = "QUJD" * 262_144  # 1 MiB, no space, no colon
    started = time.perf_counter()
    assert strip_numbering([line, line]) == [line, line]
    assert time.perf_counter() - started < 1.0


def test_a_number_longer_than_int_reads_is_text():
    """A line of more than 4,300 digits made int() raise (Python's limit on converting digits)."""
    digits = "7" * 5000
    assert strip_numbering([digits, digits]) == [digits, digits]
    assert strip_numbering([f"{digits}:x", f"f.txt:{digits}:y"]) == [f"{digits}:x", f"f.txt:{digits}:y"]
    assert strip_numbering(["1 a", "2 b"]) == ["a", "b"] and strip_numbering(["f.txt:3:x"]) == ["f.txt:x"]


def test_values_beside_the_wrong_names_are_not_the_same_answer():
    """With no order asked for, output was compared as one bag of words and numbers: `stat -c '%n %a'` with
    two files' modes swapped, or `grep -c` counts given to the wrong files, said the same bag as the right
    answer (found by pairs written by someone else)."""
    right = reading("a.txt 644\nb.txt 755\n", "stat -c '%n %a' a.txt b.txt")
    swapped = reading("a.txt 755\nb.txt 644\n", "stat -c '%n %a' a.txt b.txt")
    assert not same_meaning(right, swapped)
    assert same_meaning(right, reading("b.txt 755\na.txt 644\n", "stat -c '%n %a' b.txt a.txt"))
    counts = reading("app.log:3\nerror.log:5\n", "grep -c ERROR app.log error.log")
    assert not same_meaning(counts, reading("app.log:5\nerror.log:3\n", "x"))
    assert same_meaning(counts, reading("error.log:5\napp.log:3\n", "grep -c ERROR error.log app.log"))


def test_values_laid_out_otherwise_are_still_compared_as_words():
    """The grouping counts only when both answers print as many lines of the shared values: columns, one
    line for all, or one side's own labels are presentation."""
    one_per_line = reading("a.md\nb.md\nc.md\n", "ls docs")
    assert same_meaning(one_per_line, reading("a.md b.md c.md\n", "echo $(ls docs)"))
    sized = reading("4.0K a.md\n8.0K b.md\n", "du -h a.md b.md")
    assert same_meaning(sized, reading("4 a.md\n8 b.md\n", "du -k a.md b.md"))
    assert not same_meaning(sized, reading("8 a.md\n4 b.md\n", "du -k a.md b.md"))


def test_a_long_listing_s_size_and_mode_may_be_left_out_but_not_contradicted():
    """`ls -l`'s columns were all dropped while `stat` printed its size or mode, so `ls -lh f` and
    `stat -c '%s %n' f` differed; and `755` never read as `-rwxr-xr-x`."""
    listing = reading("-rwxr-xr-x 1 user user 4.0K Jun 1 09:00 deploy.sh\n", "ls -lh deploy.sh")
    assert same_meaning(listing, reading("4010 deploy.sh\n", "stat -c '%s %n' deploy.sh"))
    assert same_meaning(listing, reading("deploy.sh\n", "ls deploy.sh"))
    assert same_meaning(listing, reading("755 deploy.sh\n", "stat -c '%a %n' deploy.sh"))
    assert not same_meaning(listing, reading("644 deploy.sh\n", "stat -c '%a %n' deploy.sh"))
    assert not same_meaning(listing, reading("9000 deploy.sh\n", "stat -c '%s %n' deploy.sh"))
    assert same_meaning(reading("755\n", "stat -c %a main.py"), reading("-rwxr-xr-x\n", "stat -c %A main.py"))
    assert not same_meaning(reading("4755\n", "stat -c %a x"), reading("-rwxr-xr-x\n", "stat -c %A x"))


def test_history_s_own_numbers_are_presentation():
    numbered = reading("12 git log --oneline\n40 git log -p\n", "history | grep 'git log'")
    assert same_meaning(numbered, reading("git log --oneline\ngit log -p\n", "grep 'git log' ~/.bash_history"))
    assert not same_meaning(numbered, reading("git log --oneline\n", "grep -m1 'git log' ~/.bash_history"))
    assert not same_meaning(reading("12 apples\n40 pears\n", "cat counts"), reading("apples\npears\n", "cut -c4- x"))


def test_each_side_s_own_file_name_is_not_an_answer_about_another_file():
    """Both sides may print the file they named beside the answer, so `stat -c '%s %n' run.sh` and
    `stat -c '%s %n' backup.sh` (two files of 114 bytes) agreed on 114 alone (a blind pair set, December 2026)."""
    assert not same_meaning(
        reading("114 run.sh\n", "stat -c '%s %n' run.sh"), reading("114 backup.sh\n", "stat -c '%s %n' backup.sh")
    )
    assert same_meaning(reading("114 run.sh\n", "stat -c '%s %n' run.sh"), reading("114\n", "stat -c %s run.sh"))
    assert same_meaning(reading("3 docs/a.md\n", "wc -l docs/a.md"), reading("3\n", "wc -l < docs/a.md"))


def test_review_cases_of_the_new_rules():
    """Found by a review of the rules above: a 4-byte file beside a 4.0K directory, `cd src` then a name
    relative to it, counts that are not history's numbers, and modes with no owner bits."""
    listing = "-rw-r--r-- 1 u u 4 Jun 1 09:00 a.txt\ndrwxr-xr-x 2 u u 4096 Jun 1 09:00 src\n"
    human = "-rw-r--r-- 1 u u 4 Jun 1 09:00 a.txt\ndrwxr-xr-x 2 u u 4.0K Jun 1 09:00 src\n"
    assert same_meaning(reading(listing, "ls -l"), reading(human, "ls -lh"))
    assert same_meaning(
        reading("42 main.py\n", "cd src && wc -l main.py"), reading("42 src/main.py\n", "wc -l src/main.py")
    )
    counts = reading("15 git\n10 ls\n3 cd\n", "history | awk '{print $2}' | sort | uniq -c | sort -rn | head -3")
    assert same_meaning(counts, reading("15 git\n10 ls\n3 cd\n", "awk '{print $1}' ~/.bash_history | sort | uniq -c"))
    assert not same_meaning(counts, reading("9 git\n8 ls\n2 cd\n", "history | cut -c8- | sort | uniq -c"))
    assert same_meaning(reading("---------- 1 u u 0 Jun 1 09:00 f\n", "ls -l f"), reading("0 f\n", "stat -c '%a %n' f"))
    assert same_meaning(
        reading("----r--r-- 1 u u 0 Jun 1 09:00 f\n", "ls -l f"), reading("44 f\n", "stat -c '%a %n' f")
    )
    assert not same_meaning(reading("5 20 100\n", "history | wc"), reading("20 100\n", "x"))
    assert same_meaning(reading("7 ls -la\n", "history | tail -n 1"), reading("ls -la\n", "tail -n 1 ~/.bash_history"))


def test_a_long_number_is_never_rounded_to_units():
    digits = "7" * 200_000
    started = time.perf_counter()
    assert not same_meaning(reading(f"{digits} f\n", "x f"), reading("4.0K f\n", "du -h f"))
    assert time.perf_counter() - started < 2
