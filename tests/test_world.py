"""The fixture worlds: byte-for-byte deterministic (mtimes included), every time in them derived from the
clock (execute.clock), never from the real date; and the embedded dataset's names, directories, users and
processes exist in the built-in one."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from pathlib import Path

import pytest

from shelltune import embedded as ds
from shelltune.errors import ShelltuneError
from shelltune.sandbox.builtin import DAEMONS, LISTENING, build_builtin
from shelltune.sandbox.clock import anchor_of
from shelltune.sandbox.fixture import SETUP_LEAD_S, build_world
from shelltune.sandbox.limits import Limits
from shelltune.sandbox.runner import Sandbox
from shelltune.sandbox.world import CWD, HOST_ETC, atime_for

from conftest import CLOCK

ANCHOR = anchor_of(CLOCK)
WEEK = 7 * 86400


def fingerprint(root: Path) -> dict[str, tuple]:
    """Every entry: type, mode, size, mtime (ns), content digest or link target."""
    result = {}
    for path in sorted([root, *root.rglob("*")]):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            content = os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            content = ""
        result[str(path.relative_to(root))] = (
            stat.S_IFMT(st.st_mode),
            stat.S_IMODE(st.st_mode),
            st.st_size,
            st.st_mtime_ns,
            content,
        )
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("worlds")
    worlds = {}
    for name, seed, clock in (("a", 42, CLOCK), ("b", 42, CLOCK), ("c", 43, CLOCK), ("later", 42, CLOCK + WEEK)):
        worlds[name] = build_builtin(seed, base / name, clock)
        time.sleep(1.1)  # a clock leaking into the tree (seconds in a timestamp) would show
    return worlds


def test_same_seed_same_tree_byte_for_byte(built):
    first, second = fingerprint(built["a"].root), fingerprint(built["b"].root)
    assert len(first) > 600
    assert first == second


def test_other_seed_other_tree(built):
    first, other = fingerprint(built["a"].root), fingerprint(built["c"].root)
    changed = [path for path in first.keys() & other.keys() if first[path] != other[path]]
    assert len(changed) > 100


def test_mtimes_are_whole_days_old_and_new(built):
    project = built["a"].root / CWD.strip("/")
    ages = {(ANCHOR - p.lstat().st_mtime) / 86400 for p in project.rglob("*") if ".git" not in p.parts}
    assert all(age == int(age) for age in ages), "whole days: find -mtime answers the same all day"
    assert min(ages) <= 1 and max(ages) > 365


def test_every_time_derives_from_the_clock(built):
    """A week later on the clock, every mtime is exactly a week later; every atime is the clock's, ten years
    ahead; nothing is dated after the clock, in its metadata or in a file's text."""
    now, later = fingerprint(built["a"].root), fingerprint(built["later"].root)
    packs = {path for path in now.keys() ^ later.keys() if "/.git/objects/pack/" in path}  # commits hold dates
    mirrors = {path for path in now.keys() ^ later.keys() if path.startswith("srv/git/") and "/objects/" in path}
    assert len(packs) == 4 and now.keys() - packs - mirrors == later.keys() - packs - mirrors
    packs |= mirrors
    assert {later[path][3] - now[path][3] for path in now.keys() - packs} == {WEEK * 10**9}
    entries = [built["a"].root, *built["a"].root.rglob("*")]
    assert {p.lstat().st_atime for p in entries} == {atime_for(CLOCK)}
    assert max(p.lstat().st_mtime for p in entries) <= CLOCK
    clock_day = time.strftime("%Y-%m-%d", time.gmtime(CLOCK))
    dates = {
        match
        for p in entries
        if p.is_file() and not p.is_symlink() and ".git" not in p.parts
        for match in re.findall(r"(?<!\d)20\d\d-[01]\d-[0-3]\d(?!\d)", p.read_bytes().decode(errors="replace"))
    }
    assert dates and max(dates) <= clock_day, "a date after the clock could be the real day of some run"


def test_the_git_history_is_pinned(built):
    for name in ("a", "b"):
        head = (built[name].root / CWD.strip("/") / ".git" / "refs" / "heads" / "main").read_text()
        assert re.fullmatch(r"[0-9a-f]{40}\n", head)
    assert (built["a"].root / CWD.strip("/") / ".git/refs/heads/main").read_text() == (
        built["b"].root / CWD.strip("/") / ".git/refs/heads/main"
    ).read_text()


def test_dataset_names_exist(built):
    root = built["a"].root
    project = root / CWD.strip("/")
    missing = [
        f
        for f in set(ds.FILES + ds.TEXT_FILES + ds.CSV_FILES + ds.JSON_FILES + ds.SCRIPTS)
        if not (project / f).is_file()
    ]
    missing += [d for d in ds.DIRS + ds.LOCAL_DIRS if not expand(root, project, d).is_dir()]
    missing += [
        f"{a}.{ext}" for a in ds.ARCHIVES for ext in ("tar.gz", "zip") if not (project / f"{a}.{ext}").is_file()
    ]
    missing += [log for log in ds.LOGS if not expand(root, project, log).is_file()]
    assert not missing
    passwd = (root / "etc/passwd").read_text()
    groups = (root / "etc/group").read_text()
    assert all(re.search(rf"^{re.escape(u)}:", passwd, re.MULTILINE) for u in ds.USERS)
    assert all(re.search(rf"^{re.escape(g)}:", groups, re.MULTILINE) for g in ds.GROUPS)
    assert {name for name, _ in DAEMONS} == set(ds.PROCS)


def test_names_with_spaces_unicode_dotfiles_and_empty_files(built):
    names = [p.name for p in built["a"].root.rglob("*")]
    assert any(" " in n for n in names) and any(not n.isascii() for n in names)
    assert {".bashrc", ".gitconfig", ".ssh", ".bash_history"} <= set(names)
    assert any(p.is_file() and p.stat().st_size == 0 for p in built["a"].root.rglob("*") if ".git" not in p.parts)


def test_placeholders_for_host_etc(built):
    for name, kind in HOST_ETC:
        path = built["a"].root / "etc" / name
        assert path.is_dir() if kind == "dir" else path.is_file()


def expand(root: Path, project: Path, name: str) -> Path:
    if name.startswith("~/"):
        return root / "home/user" / name[2:]
    if name.startswith("/"):
        return root / name.lstrip("/")
    return project / name


def test_the_world_runs_what_the_dataset_asks(built):
    """A handful of the dataset's commands, one per kind of thing the world must hold."""
    commands = {
        "pgrep redis-server": "\n",
        "id alice": "alice",
        "git log --oneline -n 46 | wc -l": "46",
        "git diff --stat | tail -n 1": "changed",
        "jq '.version' package.json": '"',
        "tar -tzf logs.tar.gz | wc -l": "3",
        "find ~/Downloads -size +10M": "iso",
        "echo $JAVA_HOME": "java",
        "ls -la ~/projects": "website",
        "find /var/log -type f -mtime +119": "/var/log/",
    }
    with Sandbox(built["a"], Limits()) as sandbox:
        for command, expected in commands.items():
            run = sandbox.run(command, 1)
            assert run.status == 0 and expected in run.stdout.decode(), (command, run.stdout, run.stderr)


def test_services_listen_on_their_ports_the_same_in_every_run(built):
    """`ss -tlnp | grep ':5000'` and `lsof -i :3000` answer as on the developer's machine the world stands
    for, with the same process and PID every run; lsof's socket inode (a host-wide counter) is masked."""
    from shelltune.sandbox.judge import outcome

    with Sandbox(built["a"], Limits()) as sandbox:
        listing = sandbox.run("ss -tlnp", 1).stdout.decode()
        for argv0, ports in LISTENING:
            name = next(n for n, a in DAEMONS if a == argv0)
            for port in ports:
                shown = rf":{port} .*users:\(\(\"{re.escape(name)}\",pid=\d+,fd=\d+\)\)"
                assert re.search(shown, listing), (port, listing)
        assert ":22 " not in listing and ":80 " not in listing  # privileged ports: not bindable, not faked
        for command in ("ss -tlnp | grep ':5000'", "lsof -i :3000", "fuser 6379/tcp"):
            first, second = sandbox.run(command, 1), sandbox.run(command, 2)
            assert first.status == 0 and first.stdout, (command, first.stderr)
            assert outcome(first) == outcome(second), command
        assert b"node" in sandbox.run("lsof -i :3000", 1).stdout


def test_the_shell_history_holds_every_package_the_dataset_names(built):
    with Sandbox(built["a"], Limits()) as sandbox:
        for pkg in ("ripgrep", "tmux", "gcc", "jq"):
            run = sandbox.run(f"history | grep {pkg}", 1)
            assert run.status == 0 and pkg in run.stdout.decode(), (pkg, run.stderr)


def test_a_log_is_empty(built):
    """`find logs -type f -empty` has something to find."""
    with Sandbox(built["a"], Limits()) as sandbox:
        assert "logs/worker.log" in sandbox.run("find logs -type f -empty", 1).stdout.decode()


def test_a_host_without_perl_cannot_start_the_services_and_says_so(built, monkeypatch):
    from shelltune.sandbox import runner
    from shelltune.sandbox.runner import SandboxUnavailable

    monkeypatch.setattr(runner, "PERL", "/nonexistent/perl")
    with pytest.raises(SandboxUnavailable, match="perl"):
        Sandbox(built["a"], Limits())


def test_a_setup_script_builds_the_world(tmp_path):
    script = tmp_path / "setup.sh"
    script.write_text(
        "mkdir -p data && printf 'a\\nb\\n' > data/x.txt && echo \"$WHO\" > who.txt\ntouch -d 2024-01-02 data/x.txt\n"
    )
    env = {"WHO": "fixture"}
    world = build_world("script", str(script), env, 0, tmp_path / "w", CLOCK, Limits())
    assert {"/home/user/project/data/x.txt", "/home/user/project/who.txt"} <= set(world.manifest)
    with Sandbox(world, Limits(), env) as sandbox:
        run = sandbox.run("cat who.txt; echo $WHO; wc -l < data/x.txt; date -u -r data/x.txt +%F", 1)
    assert run.stdout.decode().split() == ["fixture", "fixture", "2", "2024-01-02"]


def test_a_setup_script_world_carries_no_real_date(tmp_path):
    """What the script writes gets the kernel's real time; the world keeps the setup clock's instead (an hour
    before the commands' clock), so two builds a second apart are the same, mtimes included."""
    script = tmp_path / "setup.sh"
    script.write_text("mkdir -p logs && date > logs/built.txt && date +%s > stamp && touch -d 2024-01-02 old.txt\n")
    first = build_world("script", str(script), {}, 0, tmp_path / "one", CLOCK, Limits())
    time.sleep(1.1)
    second = build_world("script", str(script), {}, 0, tmp_path / "two", CLOCK, Limits())
    assert fingerprint(first.root) == fingerprint(second.root)
    project = first.root / CWD.strip("/")
    assert int((project / "stamp").read_text()) - (CLOCK - SETUP_LEAD_S) in range(5), "the setup's fake clock"
    assert (project / "logs" / "built.txt").stat().st_mtime == CLOCK - SETUP_LEAD_S
    assert (project / "old.txt").stat().st_mtime == time.mktime((2024, 1, 2, 0, 0, 0, 0, 0, 0)) - time.timezone


def test_a_failing_setup_script_is_one_clear_error(tmp_path):
    script = tmp_path / "setup.sh"
    script.write_text("echo building; false\n")
    with pytest.raises(Exception, match=r"execute.fixture.setup: .*failed in the sandbox \(exit 1\)"):
        build_world("script", str(script), {}, 0, tmp_path / "w", CLOCK, Limits())


BENCHMARK_SETUP = r"""
# A benchmark's own setup, as an InterCode-style suite writes them: a top-level tree, archives, /etc.
mkdir -p /testbed/src /testbed/logs /workspace
printf 'def main():\n    return 1\n' > /testbed/src/app.py
for i in 1 2 3; do echo "line $i" > /testbed/logs/run$i.log; done
echo "/bin/zsh" >> /etc/shells
printf '[bench]\nlevel = 3\n' > /etc/bench.conf
cd /testbed && tar -czf /testbed/backup.tar.gz src logs && zip -qr /testbed/logs.zip logs
gzip -k /testbed/src/app.py && tar -cf /workspace/plain.tar -C /testbed src
touch -d 2024-01-02 /testbed/logs/run1.log && tar -czf /testbed/old.tar.gz logs/run1.log
"""


def test_a_benchmark_setup_builds_top_level_trees_etc_and_archives_the_same_any_day(tmp_path):
    """A setup script may create /testbed and /workspace (trees every run then gets a copy of) and write
    /etc; what it archives carries the setup clock, not the real time: two builds a second apart are
    byte for byte the same, archives included, and a member dated on purpose keeps its date."""
    script = tmp_path / "setup.sh"
    script.write_text(BENCHMARK_SETUP)
    needs = ("tar", "gzip", "zip")
    first = build_world("script", str(script), {}, 0, tmp_path / "one", CLOCK, Limits(), needs)
    time.sleep(1.1)
    second = build_world("script", str(script), {}, 0, tmp_path / "two", CLOCK, Limits(), needs)
    assert first.writable == ("home", "opt", "srv", "tmp", "var", "testbed", "workspace")
    assert fingerprint(first.root) == fingerprint(second.root)
    with Sandbox(first, Limits()) as sandbox:
        run = sandbox.run(
            "tar -tvzf /testbed/backup.tar.gz | awk '{print $4}' | sort -u; unzip -l /testbed/logs.zip | sed -n 4p; "
            "gzip -lv /testbed/src/app.py.gz | tail -n 1 | awk '{print $3, $4}'; tar -tvzf /testbed/old.tar.gz | "
            "awk '{print $4}'; tail -n 1 /etc/shells; cat /etc/bench.conf; touch /testbed/new && ls /testbed",
            1,
        )
    setup = time.gmtime(CLOCK - SETUP_LEAD_S)
    lines = run.stdout.decode().splitlines()
    assert run.status == 0, run.stderr
    assert lines[0] == time.strftime("%Y-%m-%d", setup) and time.strftime("%Y-%m-%d %H:%M", setup) in lines[1]
    assert lines[2] == time.strftime("%b %e", setup).replace("  ", " "), lines
    assert lines[3] == "2024-01-02" and lines[4] == "/bin/zsh" and lines[5:7] == ["[bench]", "level = 3"], lines
    assert "new" in lines and "/testbed/new" in run.changes, "/testbed is a writable tree of every run"


def test_a_setup_that_needs_a_missing_tool_fails_before_it_runs(tmp_path):
    script = tmp_path / "setup.sh"
    script.write_text("touch ran\n")
    with pytest.raises(ShelltuneError) as info:
        build_world(
            "script", str(script), {}, 0, tmp_path / "w", CLOCK, Limits(), ("tar", "no-such-tool-x", "ncal-x=ncal")
        )
    message = str(info.value)
    assert "`no-such-tool-x` (apt install no-such-tool-x)" in message and "`ncal-x` (apt install ncal)" in message
    assert "`tar`" not in message and not (tmp_path / "w").exists()


def test_a_failing_setup_keeps_its_first_error_and_names_the_writable_paths(tmp_path):
    script = tmp_path / "setup.sh"
    script.write_text("echo x > /usr/local/bin/tool\necho later >&2\nexit 3\n")
    with pytest.raises(ShelltuneError) as info:
        build_world("script", str(script), {}, 0, tmp_path / "w", CLOCK, Limits())
    message = str(info.value)
    assert "(exit 3: " in message and "/usr/local/bin/tool: Read-only file system" in message
    assert "later" not in message and "/etc" in message and "top-level directories" in message


def test_what_the_dataset_adds_does_not_exist_yet_and_what_it_uses_does(built):
    """useradd adds users the world lacks; gunzip restores backups/daily/X.gz whose X does not exist; checkout -b
    makes branches the repository lacks while push sends ones it has; chmod +x has scripts to change."""
    root = built["a"].root
    project = root / CWD.strip("/")
    passwd = (root / "etc/passwd").read_text()
    assert not [u for u in ds.NEW_USERS if re.search(rf"^{re.escape(u)}:", passwd, re.MULTILINE)]
    for path in ds.GZIPPED:
        assert (project / f"{path}.gz").is_file() and not (project / path).exists(), path
    heads = {str(p.relative_to(project / ".git/refs/heads")) for p in (project / ".git/refs/heads").rglob("*")}
    assert set(ds.BRANCHES) <= heads and not set(ds.NEW_BRANCHES) & heads
    for name in ds.SCRIPTS:
        assert not (project / name).stat().st_mode & 0o111, name
    assert (project / "main.py").stat().st_mode & 0o100  # the entry point: `find . -executable` finds it
    for key, value in ds.ENV_VALUES:
        assert built["a"].env.get(key) != value, key  # `export KEY=value` changes the shell


def test_the_dataset_s_requests_have_something_to_act_on(built):
    """Through the sandbox: the references the world used to fail or leave alone now run and change it."""
    with Sandbox(built["a"], Limits()) as sandbox:
        for command in ("gunzip backups/daily/notes.md.gz", "git push origin feature/login", "git checkout -b wip/x"):
            run = sandbox.run(command, 1)
            assert run.status == 0 and run.changes, (command, run.stderr)
        pushed = sandbox.run("git push origin docs/readme", 1).changes
        assert "/srv/git/project.git/refs/heads/docs/readme" in pushed
        listening = " ".join(f"lsof -i :{p} >/dev/null || echo {p};" for p in sorted(set(ds.LSOF_PORTS)))
        run = sandbox.run(listening, 1)
        assert run.status == 0 and run.stdout == b"", run.stdout  # every port lsof is asked about is held
        diffed = set(sandbox.run("git diff --name-only", 1).stdout.decode().split())
        assert set(ds.FILES) <= diffed, set(ds.FILES) - diffed
        assert sandbox.run("jq -r .updated results.json", 1).status == 0  # JSON edited, still valid
        run = sandbox.run("sudo useradd -m erin && id -un erin", 1, superuser=True)
        assert run.status == 0 and run.stdout == b"erin\n", run.stderr
