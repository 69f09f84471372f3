"""Container engines managed from the command line (not `docker run`, which containers.py reads): what
`prune`, `rm`, `rmi`, `kill`, `volume rm`, `service rm`, `system reset` and `compose down` take away.

Volumes hold data (databases, uploads): removing every one, or pruning with `--volumes`, loses it.
Containers are disposable one at a time, not all at once by force. Images and build cache can be pulled
or built again, so pruning them is routine.
"""

from __future__ import annotations

from shelltune.safety.findings import Finding, finding, warning
from shelltune.safety.shellwords import long_flags, short_flags
from shelltune.safety.walk import EVERY_ITEM, Command

ENGINES = frozenset({"docker", "podman", "nerdctl", "crictl", "docker-compose", "podman-compose", "finch"})
GLOBAL_VALUES = frozenset(
    {"-H", "--host", "-c", "--context", "--config", "-l", "--log-level", "--url", "-r", "--runtime-endpoint"}
)
CATEGORY = "container_destruction"


def subcommand(args: list[str]) -> tuple[list[str], list[str]]:
    """(subcommand words, the rest) after the engine's global options."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in GLOBAL_VALUES else 1
    words = args[i:]
    if words[:1] in (
        ["container"],
        ["image"],
        ["volume"],
        ["system"],
        ["service"],
        ["swarm"],
        ["compose"],
        ["builder"],
        ["network"],
    ):
        return words[:2], words[2:]
    return words[:1], words[1:]


def judge(cmd: Command) -> Finding | None:
    name = "compose" if cmd.name in ("docker-compose", "podman-compose") else ""
    sub, rest = subcommand(cmd.args)
    if name:
        sub = ["compose", *sub]
    flags = short_flags(rest) | {f.lstrip("-") for f in long_flags(rest)}
    everything = EVERY_ITEM in rest or (cmd.name == "podman" and bool(flags & {"a", "all"}) and sub[-1:] != ["prune"])
    text = cmd.text  # podman's `rm`, `volume rm`, `rmi`, `kill` take `--all` as every one of them
    if cmd.name == "crictl" and sub[:1] and sub[0] in ("rm", "rmp", "rmi") and flags & {"a", "all"}:
        what = {"rm": "container", "rmp": "pod", "rmi": "image"}[sub[0]]
        return finding(CATEGORY, f"crictl {sub[0]} removes every {what} on the node", text)
    if sub == ["system", "reset"]:
        return finding(CATEGORY, f"{cmd.name} system reset deletes every container, image and volume", text)
    if sub == ["system", "prune"] and flags & {"volumes"}:
        return finding(
            CATEGORY, "prunes every unused volume along with containers and images: their data is gone", text
        )
    if sub == ["volume", "prune"]:
        if flags & {"a", "all"}:
            return finding(CATEGORY, "removes every unused volume, named ones included: their data is gone", text)
        return warning(CATEGORY, "removes unused anonymous volumes and their data", text)
    if sub in (["volume", "rm"], ["volume", "remove"]):
        if everything:
            return finding(CATEGORY, "removes every volume and the data in it", text)
        return warning(
            CATEGORY, f"removes the volume {' '.join(r for r in rest if not r.startswith('-'))} and its data", text
        )
    if sub in (["rm"], ["container", "rm"], ["container", "remove"]) and everything:
        if flags & {"v", "volumes"}:
            return finding(CATEGORY, "removes every container and its volumes", text)
        return warning(CATEGORY, "removes every container", text)
    if sub in (["rmi"], ["image", "rm"]) and everything:
        return warning(CATEGORY, "removes every image", text)
    if sub in (["kill"], ["container", "kill"]) and everything:
        return warning(CATEGORY, "kills every running container", text)
    if sub in (["service", "rm"], ["service", "remove"]):
        if everything:
            return finding(CATEGORY, "removes every swarm service", text)
        return warning(CATEGORY, "removes a swarm service", text)
    if sub == ["swarm", "leave"] and flags & {"f", "force"}:
        return warning(CATEGORY, "forces this node out of the swarm", text)
    if sub == ["compose", "down"] and (flags & {"v", "volumes"} or "--rmi" in " ".join(rest)):
        return warning(CATEGORY, "compose down removes the project's volumes or images", text)
    return None
