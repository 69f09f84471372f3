"""The sandbox's clock, on the real sandbox: every run starts at execute.clock whatever the real date, the
same in every process of the run, with sleeps and the wall clock still working; a libfaketime that is
missing or does not load stops everything before a command runs; and file times the kernel stamps with
the real date are classified as "now" and normalize the same on any day."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from shelltune.errors import ShelltuneError
from shelltune.sandbox.builtin import build_builtin
from shelltune.sandbox.judge import normalize_stdout, outcome
from shelltune.sandbox.limits import Limits
from shelltune.sandbox.runner import Execution, Sandbox, SandboxUnavailable
from shelltune.sandbox.world import World

from conftest import CLOCK

LIMITS = Limits(wall_s=3)
PROJECT = "/home/user/project"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return build_builtin(5, tmp_path_factory.mktemp("clock") / "world", CLOCK)


@pytest.fixture(scope="module")
def sandbox(world) -> Iterator[Sandbox]:
    with Sandbox(world, LIMITS) as box:
        yield box


def lines(run: Execution) -> list[str]:
    assert run.status == 0, run.stderr
    return run.stdout.decode().splitlines()


def test_every_reader_of_the_clock_sees_the_fixed_one(sandbox):
    """coreutils, bash's builtins, Python: all start at the clock (start-up takes milliseconds)."""
    run = sandbox.run(
        "date +%s; echo $EPOCHSECONDS; printf '%(%s)T\\n' -1; python3 -c 'import time; print(int(time.time()))'"
        "; date -u '+%F %T'",
        1,
    )
    *seconds, shown = lines(run)
    assert all(CLOCK <= int(s) <= CLOCK + 2 for s in seconds), seconds
    assert shown.startswith(time.strftime("%Y-%m-%d %H:%M", time.gmtime(CLOCK)))


def test_the_clock_ticks_alike_in_every_process(sandbox):
    """A process started a second later reads a second later: one offset for the whole run (libfaketime's
    `@date` form would start every new process at the clock again)."""
    run = sandbox.run("a=$(date +%s.%N); sleep 1; b=$(python3 -c 'import time; print(time.time())'); echo $a $b", 2)
    first, second = map(float, lines(run)[0].split())
    assert CLOCK <= first < second and 0.95 <= second - first < 2


def test_sleeps_timeouts_and_the_wall_clock_still_work(sandbox):
    run = sandbox.run(
        "python3 -c 'import time; t = time.monotonic(); time.sleep(0.5); print(time.monotonic() - t)'"
        "; timeout 1 sleep 5; echo $?",
        3,
    )
    slept, status = lines(run)
    assert 0.5 <= float(slept) < 1.5 and status == "124"
    started = time.monotonic()
    run = sandbox.run("sleep 30", 4)
    assert run.limit == "wall_clock" and time.monotonic() - started < LIMITS.wall_s + 2


def test_the_environment_does_not_change_from_run_to_run(sandbox):
    """The offset changes with every run: it lives in a file, never in the environment `env` shows."""
    first, second = (lines(sandbox.run("env | sort", n)) for n in (5, 6))
    assert first == second and not any(line.startswith("FAKETIME=") for line in first)
    assert "LD_PRELOAD=/run/shelltune/libfaketime.so.1" in first


def test_times_the_kernel_stamps_count_as_now(sandbox):
    """`touch f` and writes get the kernel's real time, not the fake one: the file tree calls both "now", a
    relative date on the fake clock is a fixed time (the same every day), and `ls -l` shows <now>."""
    run = sandbox.run("touch app.log; echo x > new.txt; ls -l app.log new.txt", 7)
    assert run.changes[f"{PROJECT}/app.log"].touched == "now"
    shown = outcome(run).stdout.splitlines()
    assert len(shown) == 2 and all("<now>" in line for line in shown), shown
    run = sandbox.run("touch -d yesterday app.log; touch -d now notes.md", 8)
    assert run.changes[f"{PROJECT}/app.log"].touched == str(CLOCK - 86400)
    assert run.changes[f"{PROJECT}/notes.md"].touched == "now"


# What ls, stat, date, find, tar and unzip print about a file's mtime, each in its own format.
FILE_TIMES = [
    "ls -l f",
    "ls -l --time-style=+%F f",
    "ls -l --full-time f",
    "ls -l --time-style=long-iso f",
    "stat -c '%y|%Y' f",
    "date -r f",
    "date -R -r f",
    "find f -printf '%t|%TY-%Tm-%Td|%T@\\n'",
    "tar -cf a.tar f && tar -tvf a.tar",
    "zip -q a.zip f && unzip -l a.zip | sed -n 4p",
]
REAL_DAYS = ("2027-03-01 10:00:00.25", "2031-11-20 23:30:59.5")


@pytest.mark.parametrize("command", FILE_TIMES)
def test_file_times_of_any_real_day_normalize_alike(sandbox, command):
    """The kernel cannot be faked, so its real day is simulated: the file gets the instant a kernel would
    have stamped on two days years apart, and the output is normalized with that instant as the run's
    real window. Both come out the same, with <now> where the date was; against the other day's window
    the date stays (only the run's own real time is masked)."""
    shown, raw = {}, {}
    for day in REAL_DAYS:
        real = time.mktime(time.strptime(day[:19], "%Y-%m-%d %H:%M:%S")) - time.timezone + float("0" + day[19:])
        run = sandbox.run(f"touch -d @{real} f && {command}", 9)
        raw[day] = run
        shown[day] = normalize_stdout(run.stdout, (real - 0.01, real + 0.05), run.clock_window)
        assert run.status == 0 and "<now>" in shown[day], (run.stdout, shown[day])
    assert shown[REAL_DAYS[0]] == shown[REAL_DAYS[1]]
    other = normalize_stdout(raw[REAL_DAYS[0]].stdout, (1_900_000_000.0, 1_900_000_000.1), (CLOCK, CLOCK + 10))
    assert "<now>" not in other


def test_a_missing_libfaketime_is_one_clear_error(world, monkeypatch):
    monkeypatch.setenv("SHELLTUNE_FAKETIME", "/nonexistent/libfaketime.so.1")
    with pytest.raises(SandboxUnavailable) as info:
        Sandbox(world, LIMITS)
    message = str(info.value)
    assert isinstance(info.value, ShelltuneError) and "\n" not in message and "make setup" in message


def test_a_libfaketime_that_does_not_load_runs_nothing(world, monkeypatch, tmp_path):
    """The dynamic loader only warns about a preload it cannot load and runs the program anyway: the init
    script refuses to go on when its own clock is the real one, before the command starts."""
    broken = tmp_path / "libfaketime.so.1"
    broken.write_text("not a shared library\n")
    monkeypatch.setenv("SHELLTUNE_FAKETIME", str(broken))
    ran = []
    with Sandbox(world, LIMITS) as box, pytest.raises(SandboxUnavailable) as info:
        box.run("touch /home/user/ran", 10, keep=lambda root, window: ran.append((root / "home/user/ran").exists()))
    message = str(info.value)
    assert ran == [False]
    assert "\n" not in message and "libfaketime did not take effect" in message and "make setup" in message
