"""Containers that reach the host: `docker run` / `podman run` read as what they expose.

A container is normally a sandbox: `docker run --rm alpine rm -rf /` destroys nothing of the host, so
the scanner does not judge what runs inside it. It does when the container is given the host: a
writable bind mount of a host path, `--privileged`, the host's PID namespace, a host device, or the
Docker socket. Then the command inside is walked like any other, with its paths translated to the
host paths they reach (`-v /etc:/x` makes `/x/passwd` the host's `/etc/passwd`), and the rules judge
the translated command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shelltune.safety.shellwords import program, split_wrappers

ENGINES = frozenset({"docker", "podman", "nerdctl"})
SOCKETS = frozenset({"/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock"})
# A path inside the container that no host mount covers: its own filesystem, harmless to the host.
INSIDE = "/<container>"
# `docker run` options that take a value (as the next word or after `=`); any other option is a flag.
VALUE_OPTIONS = frozenset(
    [
        "-a",
        "--attach",
        "--add-host",
        "--annotation",
        "--blkio-weight",
        "--cap-add",
        "--cap-drop",
        "--cgroup-parent",
        "--cgroupns",
        "--cidfile",
        "--cpu-period",
        "--cpu-quota",
        "--cpu-shares",
        "-c",
        "--cpus",
        "--cpuset-cpus",
        "--cpuset-mems",
        "--device",
        "--device-cgroup-rule",
        "--dns",
        "--dns-option",
        "--dns-search",
        "--domainname",
        "-e",
        "--env",
        "--entrypoint",
        "--env-file",
        "--expose",
        "--gpus",
        "--group-add",
        "--health-cmd",
        "--health-interval",
        "--health-retries",
        "--health-start-period",
        "--health-timeout",
        "-h",
        "--hostname",
        "--ip",
        "--ip6",
        "--ipc",
        "--isolation",
        "--kernel-memory",
        "-l",
        "--label",
        "--label-file",
        "--link",
        "--log-driver",
        "--log-opt",
        "--mac-address",
        "-m",
        "--memory",
        "--memory-reservation",
        "--memory-swap",
        "--mount",
        "--name",
        "--network",
        "--net",
        "--network-alias",
        "--oom-score-adj",
        "--pid",
        "--pids-limit",
        "--platform",
        "-p",
        "--publish",
        "--pull",
        "--restart",
        "--runtime",
        "--security-opt",
        "--shm-size",
        "--stop-signal",
        "--stop-timeout",
        "--storage-opt",
        "--sysctl",
        "--tmpfs",
        "--ulimit",
        "-u",
        "--user",
        "--userns",
        "--uts",
        "-v",
        "--volume",
        "--volumes-from",
        "-w",
        "--workdir",
        "--arch",
        "--os",
        "--variant",
        "--secret",
        "--userns-remap",
        "--hooks-dir",
        "--pod",
        "--uidmap",
        "--gidmap",
    ]
)
SHORT_VALUE_LETTERS = "acehlmpuvw"  # the single-letter options above


@dataclass(frozen=True)
class Mount:
    host: str  # the host path as written (`/`, `~`, `$PWD`, or a volume name)
    target: str  # where it appears inside the container
    writable: bool


@dataclass
class Container:
    """What one `docker run` gives its container, and the command it runs there."""

    image: str
    command: list[str]
    mounts: list[Mount] = field(default_factory=list)
    privileged: bool = False
    host_pid: bool = False
    devices: list[str] = field(default_factory=list)
    capabilities: set[str] = field(default_factory=set)
    interactive: bool = False

    def host_mounts(self) -> list[Mount]:
        """Bind mounts of host paths (volume names and unknown variables are the container's own)."""
        return [m for m in self.mounts if m.host.startswith(("/", "~"))]

    def reaches_host(self) -> bool:
        return bool(
            self.privileged
            or self.host_pid
            or self.devices
            or self.socket()
            or any(m.writable for m in self.host_mounts())
        )

    def socket(self) -> bool:
        return any(m.host in SOCKETS for m in self.host_mounts())

    def root_writable(self) -> Mount | None:
        return next((m for m in self.host_mounts() if m.host.rstrip("/") == "" and m.writable), None)

    def all_powerful(self) -> bool:
        return self.privileged or bool({"ALL", "SYS_ADMIN", "CAP_SYS_ADMIN"} & self.capabilities)

    def translate(self, word: str) -> str:
        """A path as the host sees it: under a writable host mount it is that host path; any other
        absolute path is the container's own (`/<container>/...`); host devices stay when exposed."""
        match = re.match(r"^([\w.-]+=)?([/~].*)$", word)
        if match is None:
            return word
        prefix, path = match.group(1) or "", match.group(2)
        if path.startswith("~"):
            path = "/root" + path[1:]  # the container's home, not the host user's
        if path.startswith("/dev/") and (self.privileged or path in self.devices):
            return word
        for mount in sorted(self.host_mounts(), key=lambda m: len(m.target), reverse=True):
            target = mount.target.rstrip("/")
            if mount.writable and (path == target or path.startswith(target + "/")):
                rest = path[len(target) :]
                return prefix + (mount.host.rstrip("/") + rest if rest else mount.host)
        return prefix + INSIDE + path


def parse_run(words: list[str]) -> Container | None:
    """The container a `docker run` / `podman run` / `docker container run` command starts, else None."""
    if not words or program(words[0]) not in ENGINES:
        return None
    args = words[1:]
    while args and args[0].startswith("-"):  # engine options before the subcommand (`--context x`)
        args = args[2:] if args[0] in ("-H", "--host", "-c", "--context", "--config", "-l", "--log-level") else args[1:]
    if args[:2] == ["container", "run"]:
        args = args[1:]
    if args[:1] != ["run"]:
        return None
    return read_options(args[1:])


def read_options(args: list[str]) -> Container:
    box = Container(image="", command=[])
    entrypoint: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        name, value, used = option_at(args, i)
        apply_option(box, name, value, entrypoint)
        i += used
    if i < len(args) and args[i] == "--":
        i += 1
    if i < len(args):
        box.image = args[i]
        box.command = entrypoint + args[i + 1 :]
    return box


def option_at(args: list[str], i: int) -> tuple[str, str | None, int]:
    """(option, value, words used) at position i: `--pid=host`, `--pid host`, `-v a:b`, `-itv a:b`."""
    word = args[i]
    if word.startswith("--"):
        name, eq, value = word.partition("=")
        if eq:
            return name, value, 1
        if name in VALUE_OPTIONS:
            return name, args[i + 1] if i + 1 < len(args) else "", 2
        return name, None, 1
    letters = word[1:]
    for j, letter in enumerate(letters):  # a cluster: flags, then at most one option with its value
        if letter in SHORT_VALUE_LETTERS:
            flags = letters[:j]
            attached = letters[j + 1 :].removeprefix("=")
            value = attached or (args[i + 1] if i + 1 < len(args) else "")
            return "-" + flags + letter, value, 1 if attached else 2
    return word, None, 1


def apply_option(box: Container, name: str, value: str | None, entrypoint: list[str]) -> None:
    flags = set(name[1:-1] if value is not None else name[1:]) if not name.startswith("--") else set()
    box.interactive |= bool({"i", "t"} & flags) or name in ("--interactive", "--tty")
    box.privileged |= name == "--privileged" and value in (None, "true")
    key = name if name.startswith("--") else "-" + name[-1]
    if value is None:
        return
    if key in ("-v", "--volume"):
        box.mounts.append(volume_mount(value))
    elif key == "--mount":
        mount = bind_mount(value)
        if mount is not None:
            box.mounts.append(mount)
    elif key == "--pid" and value == "host":
        box.host_pid = True
    elif key == "--device":
        box.devices.append(value.split(":", 1)[0])
    elif key == "--cap-add":
        box.capabilities.update(value.upper().split(","))
    elif key == "--entrypoint":
        entrypoint[:] = [value]


def volume_mount(spec: str) -> Mount:
    """`-v HOST:TARGET[:OPTIONS]`; a lone `-v /data` is an anonymous volume (the container's own)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return Mount("", parts[0], True)
    options = set(parts[2].split(",")) if len(parts) > 2 else set()
    return Mount(parts[0], parts[1], "ro" not in options and "readonly" not in options)


def bind_mount(spec: str) -> Mount | None:
    """`--mount type=bind,source=/,target=/host[,readonly]`."""
    fields = dict(part.partition("=")[::2] for part in spec.split(","))
    if fields.get("type", "volume") != "bind":
        return None
    host = fields.get("source") or fields.get("src") or ""
    target = fields.get("target") or fields.get("destination") or fields.get("dst") or ""
    readonly = "readonly" in fields and fields["readonly"] in ("", "true", "1") or "ro" in fields
    return Mount(host, target, not readonly)


def runs_shell(box: Container, shells: frozenset[str], default_command: bool = True) -> bool:
    """Whether the container gives its user a shell: a shell (possibly after `chroot DIR`) as the command,
    or, with `default_command`, an interactive run of the image's own command (a shell for the base images
    people escape with: alpine, ubuntu, debian, busybox)."""
    if not box.command:
        return default_command and box.interactive
    wrappers, command = split_wrappers(box.command)
    name = program(command[0]) if command else ""
    return name in shells or name == "chroot" or any(program(w) == "chroot" for w in wrappers)
