"""What a command-line tool does to what: its action read from its subcommands and options, weighed by
the importance of its target. The open-vocabulary half of the scanner.

Tools that manage resources name their actions in their subcommands (`kubectl delete`, `aws ec2
terminate-instances`, `heroku apps:destroy`, `terraform destroy`) or options (`--delete`, `--purge`).
`read_action` finds the destructive verb among the first words and says what it applies to: the other
operands and option values, which decide how much is at stake:

- **important** targets: production (`prod`, `production`, `live` in a name, host, context or stack),
  all of a kind (`--all`, `-A`, `''`, `*`, a substitution that lists everything), backups, whole
  buckets, system paths, or options that take the data along (`--purge`, `--remove-all-storage`,
  `--cascade`, `--skip-final-snapshot`);
- an unattended run (`--force`, `--yes`, `-auto-approve`, `--quiet`) removes the last chance to say no.

A destructive verb on an important target is **dangerous**; on one named resource it is a **warning**
(plausibly what was asked: `terraform destroy`, `kubectl delete deployment web`). Each modelled tool has
a profile (its category, which objects are disposable, whether it asks before destroying, what is local
only); a program the scanner has never seen is judged by the same reading with the default profile,
and its verdict says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shelltune.safety import paths
from shelltune.safety.findings import Finding, finding, warning
from shelltune.safety.launchers import LAUNCHERS
from shelltune.safety.shellwords import WRAPPERS, operands
from shelltune.safety.walk import EVERY_ITEM, Command

DESTROY = frozenset(
    {"delete", "destroy", "drop", "purge", "wipe", "erase", "terminate", "remove", "rm", "rb", "del", "uninstall",
     "undefine", "unregister", "unregistervm", "nuke", "truncate", "flush", "flushall", "flushdb", "zap",
     "deregister", "deletion", "removal", "destruction", "obliterate", "un", "drain", "evict"}
)  # fmt: skip
# "reset" and "fresh" destroy only what holds data: `rails db:reset`, `heroku pg:reset`, `supabase db reset`
RESETS = frozenset({"reset", "fresh", "recreate", "reinit", "reinitialize"})
DATA_WORDS = frozenset({"db", "database", "databases", "pg", "postgres", "postgresql", "mysql", "redis", "mongo",
                        "schema", "data", "datastore", "store", "bucket", "volume", "volumes", "migrate"})  # fmt: skip
STRONG = frozenset({"destroy", "drop", "purge", "wipe", "erase", "terminate", "nuke", "zap", "obliterate",
                    "flushall", "destruction"})  # fmt: skip
VERB_OPTIONS = frozenset({"--delete", "--purge", "--wipe", "--destroy", "--drop", "-purge", "-delete", "-destroy"})
# Subcommands that only show what would happen: `terraform plan -destroy`, `helm template`, `pulumi preview`
PREVIEWS = frozenset({"plan", "preview", "diff", "show", "validate", "template", "lint", "explain", "list", "ls",
                      "get", "describe", "status", "help", "view", "inspect", "info"})  # fmt: skip
FORCED = frozenset(
    {"--force", "-f", "--yes", "-y", "-yes", "--confirm", "-auto-approve", "--auto-approve", "--quiet", "-q",
     "--no-prompt", "--no-prompts", "--non-interactive", "--assume-yes", "--no-confirm", "--dangerous",
     "--skip-preview", "--force-delete", "--noconfirm", "-ff"}
)  # fmt: skip
AMPLIFIERS = re.compile(
    r"^--?(purge|remove-all-storage|cascade(=\w+)?|delete-data|skip-final-snapshot|delete-volumes|volumes"
    r"|recursive|recurse|r|all-collections|remove-orphans|cleanup-volumes|with-volumes|delete-snapshots)$"
)
NARROWING = re.compile(
    r"^--(exclude|include|filter|selector|field-selector|prefix|older-than|min-age|max-age)(=|$)|^-l$"
)
ALL_OPTIONS = re.compile(r"^(--all(-namespaces|-collections|-databases|-projects|-stacks)?|-A|--every)(=true)?$")
ENVIRONMENT_VARIABLE = re.compile(r"^([A-Z]+_)?(ENV|ENVIRONMENT|STAGE)$")
PROD = re.compile(r"(?<![a-z0-9])(prod|production|prd|live)(?![a-z])", re.I)
BACKUP = re.compile(r"backup|snapshot-store|archive-vault", re.I)
STORE_ROOT = re.compile(r"^(s3|gs|gcs|az|r2|b2|oss|cos|swift)://[^/]+/?$|^[\w.-]+:[\w.-]*/?$|^[\w.-]+/[\w.-]+/?$")
SUBCOMMAND = re.compile(r"^[a-z][a-z0-9]*([-:_.][a-z0-9]+)*$")
# Objects that are disposable or configuration: deleting one loses nothing that matters
DISPOSABLE = frozenset(
    {"event", "events", "context", "contexts", "config", "cache", "lock", "token", "session", "sessions", "tmp",
     "temp", "alias", "remote", "log", "logs", "image", "images", "network", "networks", "tag", "label",
     "snapshot", "snapshots"}
)  # fmt: skip
# Kubernetes recreates pods and runs jobs to completion: deleting them is routine there (a Nomad job is a service)
KUBE_DISPOSABLE = DISPOSABLE | {"pod", "pods", "po", "job", "jobs", "ev", "completed", "failed", "evicted"}
# Objects that hold everything else: deleting one deletes all inside it
HOLDERS = frozenset({"project", "projects", "repo", "repository", "account", "organization", "org",
                     "subscription", "tenant", "keyspace", "database", "databases", "vault"})  # fmt: skip
FILE_LIKE = re.compile(r"[^/]/[^*?]*\.\w{1,5}$")


@dataclass(frozen=True)
class Profile:
    """How one tool reads: the category of what it destroys, objects it may delete routinely, whether
    it asks before destroying, and whether its resources are only local (a laptop VM, a dev cluster)."""

    category: str = "infrastructure_destruction"
    disposable: frozenset[str] = DISPOSABLE
    prompts: bool = False
    local: bool = False
    value_options: frozenset[str] = frozenset()  # options whose value is not an operand
    amplifiers: bool = True  # whether --purge and kin take data along (helm 2's --purge only drops history)
    destroys_all: bool = False  # `destroy` takes the whole stack, unless a -target narrows it


@dataclass
class Action:
    verb: str  # the destructive word found
    strong: bool
    objects: list[str] = field(default_factory=list)  # subcommand words around the verb (`apps`, `space`)
    targets: list[str] = field(default_factory=list)  # operands after it
    options: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # option values (`--context prod-eu`, `-n payments`)


CLOUD = Profile(value_options=frozenset({"--profile", "--region", "--output", "-o", "--zone", "--project",
                                         "--endpoint-url", "--format", "--subscription", "-g"}))  # fmt: skip
KUBE = Profile(
    disposable=KUBE_DISPOSABLE,
    value_options=frozenset({"-n", "--namespace", "--context", "--cluster", "--kubeconfig", "-o", "-l", "--selector",
                             "--field-selector", "-f", "--filename", "--grace-period"})
)  # fmt: skip
IAC = Profile(
    prompts=True,
    destroys_all=True,
    value_options=frozenset({"-out", "-var", "-var-file", "-state", "-lock-timeout", "--stack", "-s", "--cwd"}),
)
PROFILES: dict[str, Profile] = {
    **dict.fromkeys(
        (
            "aws",
            "doctl",
            "hcloud",
            "linode-cli",
            "s3cmd",
            "rclone",
            "mc",
            "s5cmd",
            "oci",
            "ibmcloud",
            "scw",
            "exo",
            "upcloud",
            "vultr-cli",
            "openstack",
            "heroku",
            "flyctl",
            "fly",
            "vercel",
            "netlify",
            "firebase",
            "supabase",
            "railway",
            "render",
            "cf",
            "argocd",
            "velero",
            "istioctl",
            "consul",
            "vault",
            "nomad",
            "eksctl",
            "gsutil",
            "virsh",
            "lxc",
            "incus",
            "multipass",
            "borg",
            "restic",
            "gh",
            "glab",
            "vboxmanage",
            "VBoxManage",
            "podman-compose",
        ),
        CLOUD,
    ),
    "gcloud": Profile(prompts=True, value_options=CLOUD.value_options),
    "az": Profile(prompts=True, value_options=CLOUD.value_options),
    **dict.fromkeys(("kubectl", "oc", "kubecolor", "k"), KUBE),
    "helm": Profile(
        disposable=DISPOSABLE | {"repo", "repos", "plugin"},
        amplifiers=False,
        value_options=frozenset({"-n", "--namespace", "--kube-context", "--kubeconfig"}),
    ),
    **dict.fromkeys(("terraform", "tofu", "terragrunt", "pulumi", "cdk", "cdktf", "serverless", "sls", "sam"), IAC),
    **dict.fromkeys(("vagrant", "minikube", "kind", "k3d", "colima"), Profile(local=True, prompts=True)),
}
DEFAULT = Profile()
# Programs whose words are data, text or package names rather than subcommands acting on resources:
# the fallback never reads a verb in them (`grep -r destroy src/`, `npm uninstall lodash`).
NOT_RESOURCE_TOOLS = frozenset(
    {"grep", "egrep", "fgrep", "rg", "ag", "ack", "sed", "awk", "gawk", "echo", "printf", "man", "tldr", "apropos",
     "info", "whatis", "which", "type", "less", "more", "cat", "head", "tail", "jq", "yq", "cowsay", "notify-send",
     "logger", "say", "espeak", "vim", "vi", "nano", "emacs", "code", "git", "tig", "make", "cmake", "ninja",
     "npm", "npx", "pnpm", "yarn", "pip", "pip3", "pipx", "uv", "poetry", "conda", "mamba", "brew", "port", "gem",
     "bundle", "cargo", "rustup", "go", "nvm", "pyenv", "rbenv", "asdf", "sdk", "snap", "flatpak", "apt", "apt-get",
     "aptitude", "dpkg", "rpm", "yum", "dnf", "zypper", "pacman", "apk", "nix", "nix-env", "emerge", "composer",
     "dotnet", "mvn", "gradle", "test", "[", "true", "false", "sort", "uniq", "wc", "cut", "tr", "xargs", "find",
     "locate", "ls", "stat", "file", "tee", "history", "alias", "unalias", "set", "unset", "export", "declare",
     "read", "mapfile", "trap", "kill", "pkill", "killall", "systemctl", "service", "journalctl", "crontab",
     "tmux", "screen", "ssh", "scp", "rsync", "curl", "wget", "docker", "podman", "nerdctl", "crictl", "ctr",
     "python", "python3", "node", "ruby", "perl", "php", "lua", "bash", "sh", "zsh", "diff", "patch", "column",
     "tput", "stty", "date", "sleep", "watch", "timeout", "time", "env", "sudo", "doas", "nohup", "nice", "xdg-open",
     "open", "pbcopy", "xclip", "fortune", "figlet", "toilet", "lolcat", "ansible", "ansible-playbook",
     "psql", "mysql", "mariadb", "sqlite3", "redis-cli", "mongosh", "mongo", "cqlsh", "clickhouse-client",
     "etcdctl", "dropdb", "createdb", "mysqladmin", "pg_dump", "pg_restore", "mysqldump", "gpg", "openssl",
     "ssh-keygen", "ssh-add", "ufw", "iptables", "nft", "firewall-cmd", "ip", "nmcli", "zfs", "zpool", "btrfs",
     "lvremove", "vgremove", "pvremove", "nvme", "cryptsetup", "mdadm", "parted", "fdisk", "sfdisk", "gdisk"}
)  # fmt: skip


def read_action(args: list[str], profile: Profile) -> Action | None:
    """The destructive verb among the first subcommand words (or a verb option), with its targets."""
    operands, options, i = [], [], 0
    while i < len(args):
        word = args[i]
        if word.startswith("-") and word != "-" and len(word) > 1:
            options.append(word)
            if word in profile.value_options and i + 1 < len(args):
                options.append(args[i + 1])
                i += 1
        else:
            operands.append(word)
        i += 1
    if operands[:1] and operands[0] in PREVIEWS:
        return None
    for position, word in enumerate(operands[:3]):
        if not SUBCOMMAND.match(word):
            break
        parts = re.split(r"[-:_.]", word)
        objects = [p for w in operands[:position] for p in re.split(r"[-:_.]", w)]
        verb = next((p for p in parts if p in DESTROY or (p in RESETS and DATA_WORDS & set(parts + objects))), None)
        if verb:
            objects += [p for p in parts if p != verb] + operands[position + 1 : position + 2]  # the kind follows
            strong = verb in STRONG or verb in RESETS
            return Action(verb, strong, objects, operands[position + 1 :], options, option_values(options))
    verb_option = next((o for o in options if o in VERB_OPTIONS), None)
    if verb_option:
        return Action(verb_option.lstrip("-"), True, operands[:1], operands[1:], options, option_values(options))
    return None


NAMED_VERB = re.compile(r"(drop|destroy|purge|wipe|nuke)(cluster|db|database|all|everything|tables?|env)?")
DATABASE_WORDS = frozenset({"db", "database", "databases", "pg", "postgres", "postgresql", "mysql", "redis", "mongo",
                            "schema", "keyspace", "table", "tables", "dropdb", "dropcluster"})  # fmt: skip


def named_action(name: str, args: list[str]) -> Action | None:
    """A program whose own name is a strong destructive verb (`pg_dropcluster 14 main`, `nuke-env.sh`)."""
    parts = re.split(r"[-_.]", name.lower())
    verb = next((p for p in parts if p in STRONG or NAMED_VERB.fullmatch(p)), None)
    if verb is None or name in NOT_RESOURCE_TOOLS:
        return None
    operands = [a for a in args if not a.startswith("-")]
    options = [a for a in args if a.startswith("-")]
    return Action(verb, True, [p for p in parts if p != verb], operands, options, option_values(options))


def option_values(options: list[str]) -> list[str]:
    return [o.split("=", 1)[1] for o in options if "=" in o] + [o for o in options if not o.startswith("-")]


def importance(action: Action, profile: Profile = DEFAULT) -> str | None:
    """Why the target matters enough to refuse, or None. Production shows in any name or option value;
    "all of a kind" only in the operands and options (`--exclude '*'` narrows, it does not widen)."""
    words, narrowed = action.targets, any(NARROWING.match(o) for o in action.options)
    if any(PROD.search(w) for w in words + action.values):
        return "production"
    if not narrowed and (
        any(ALL_OPTIONS.match(o) for o in action.options) or any(w in ("", "*", "'*'", EVERY_ITEM) for w in words)
    ):
        return "every one of them"
    if not narrowed and any(w.endswith(("/*", ":*")) for w in words):
        return "everything under it"
    if any(BACKUP.search(w) for w in words + action.objects):
        return "backups"
    if set(action.objects) & HOLDERS:
        return f"a whole {sorted(set(action.objects) & HOLDERS)[0]} and everything in it"
    if any(paths.critical_root(w) for w in words if w.startswith(("/", "~"))):
        return "a system directory or home"
    if (
        profile.destroys_all
        and action.verb == "destroy"
        and not any(o.lstrip("-").startswith("target") for o in action.options)
    ):
        return "every resource of the stack"
    amplifier = next((o for o in action.options if AMPLIFIERS.match(o)), None) if profile.amplifiers else None
    if amplifier is None or narrowed:
        return None
    if amplifier.lstrip("-") in ("r", "recursive", "recurse"):
        return "a whole store" if any(STORE_ROOT.match(w) for w in words) else None
    return "its data too"


def forced(action: Action) -> bool:
    return any(o in FORCED or o.split("=", 1)[0] in FORCED for o in action.options)


def judge_action(cmd: Command, profile: Profile, fallback: bool) -> Finding | None:
    """The verdict of the verb-and-target reading for `cmd` under `profile`."""
    action = read_action(cmd.args, profile) or (named_action(cmd.name, cmd.args) if fallback else None)
    if action is None or disposable(action, profile):
        return None
    why = importance(action, profile)
    if why is None and any(ENVIRONMENT_VARIABLE.search(k) and PROD.search(v) for k, v in cmd.assignments):
        why = "production"  # `RAILS_ENV=production rails db:drop`: the environment names the target
    unattended = forced(action) or not profile.prompts
    note = f" (judged by the generic fallback: {cmd.name} is not a program the scanner models)" if fallback else ""
    words = {w.lower() for w in action.objects} | set(re.split(r"[-_.]", cmd.name.lower()))
    category = "database_destruction" if words & DATABASE_WORDS else profile.category
    head = " ".join(cmd.words[:6]) + (" ..." if len(cmd.words) > 6 else "")
    if why and not profile.local and (unattended or why == "production"):
        return finding(category, f"`{head}` destroys {why}{note}", cmd.text)
    if fallback and not (action.strong or forced(action) or why):
        return None  # `tool delete x` with nothing at stake: too little to go on for an unknown program
    return warning(category, f"`{head}` is destructive: check that it is what was asked{note}", cmd.text)


def disposable(action: Action, profile: Profile) -> bool:
    """The verb acts on an object that is routinely thrown away (a pod, a context, a cache) or on one
    file-like object (`aws s3 rm s3://b/tmp/x.csv`, `mc rm alias/b/old.log`)."""
    if any(ALL_OPTIONS.match(o) for o in action.options) or EVERY_ITEM in action.targets:
        return False
    kinds = {o.lower() for o in action.objects} | {t.lower() for t in action.targets[:1]}
    one_file = (
        action.verb in ("rm", "del", "delete", "remove")
        and len([t for t in action.targets if not t.startswith("-")]) == 1
        and FILE_LIKE.search(action.targets[0]) is not None
        and not any(AMPLIFIERS.match(o) for o in action.options)
    )
    return bool(kinds & profile.disposable) or one_file


def profile_for(name: str) -> tuple[Profile, bool] | None:
    """(profile, whether the fallback judges it) for a program, or None when the verb reading does not
    apply to it (text tools, package managers, programs with rules of their own)."""
    if name in PROFILES:
        return PROFILES[name], False
    if (
        name in NOT_RESOURCE_TOOLS
        or name in LAUNCHERS
        or name in WRAPPERS
        or not re.fullmatch(r"[A-Za-z][\w.+-]*", name)
    ):
        return None  # text tools, package managers, and programs whose words are a command run for you
    return DEFAULT, True


def judge(cmd: Command, known: frozenset[str]) -> Finding | None:
    """Entry point for rules.py: modelled tools by their profile, unknown programs by the fallback."""
    chosen = profile_for(cmd.name)
    if chosen is None or (chosen[1] and cmd.name in known):
        return None
    profile, fallback = chosen
    return judge_action(cmd, profile, fallback)


# ------------------------------------------------------------------ roles that amount to root

ADMIN_ROLES = re.compile(
    r"cluster-admin|AdministratorAccess|IAMFullAccess|roles/(owner|editor|iam\.securityAdmin)|\bOwner\b"
    r"|public-read-write|allUsers:(objectAdmin|admin)|\\*:\\*|\"Action\":\\s*\"\\*\""
)
GRANTS = re.compile(
    r"^(create|attach|add|put|bind|grant|assign|set)([-:_.][a-z-]+)*$|^(role|rolebinding|clusterrolebinding|acl|policy)$"
)


def admin_grant(cmd: Command) -> Finding | None:
    """A role, policy or ACL that hands out everything: `cluster-admin` to a default service account,
    AWS `AdministratorAccess`, a bucket writable by anyone."""
    words = [w for w in cmd.args if not w.startswith("-")][:3]
    if not any(GRANTS.match(w) or w.startswith(("put-", "attach-", "add-iam", "create-")) for w in words):
        return None
    role = next((m.group(0) for a in cmd.args if (m := ADMIN_ROLES.search(a))), None)
    if role is None:
        return None
    return finding("privilege_escalation", f"{cmd.name} grants {role}: full control to whoever holds it", cmd.text)


# ------------------------------------------------------------------ destructive HTTP requests

HTTP_CLIENTS = frozenset({"curl", "wget", "http", "https", "xh", "curlie"})
API_CLIENTS = frozenset({"gh", "glab"})  # `gh api -X DELETE repos/OWNER/REPO`: the forge's API, authenticated
# API paths that hold everything else: a repository, an organisation, a project, a group.
FORGE_HOLDERS = re.compile(r"^/?(repos/[^/\s]+/[^/\s]+|orgs/[^/\s]+|projects/[^/\s]+|groups/[^/\s]+)/?$")
EVERYTHING_IN_URL = re.compile(r"/(_all|\*)(/|$|\?)|\*")


def forge_api_delete(cmd: Command) -> Finding | None:
    ops = operands(cmd.args, frozenset({"-X", "--method", "-H", "--header", "-f", "-F", "--field", "--raw-field"}))
    if ops[:1] != ["api"] or len(ops) < 2:
        return None
    if FORGE_HOLDERS.match(ops[1]):
        return finding("infrastructure_destruction", f"{cmd.name} api deletes {ops[1]} and everything in it", cmd.text)
    return warning(
        "infrastructure_destruction", f"{cmd.name} api deletes {ops[1]}: check that it is what was asked", cmd.text
    )


def http_delete(cmd: Command) -> Finding | None:
    """`curl -X DELETE URL`, `http DELETE URL`: an API call that deletes what the URL names. Every index
    (`_all`, `*`) or a production host is dangerous; one resource is a warning."""
    args = cmd.args
    method = None
    for i, arg in enumerate(args):
        if arg in ("-X", "--request", "--method") and i + 1 < len(args):
            method = args[i + 1]
        elif arg.startswith(("-X", "--request=", "--method=")):
            method = arg.split("=", 1)[1] if "=" in arg else arg[2:]
    if cmd.name in ("http", "https", "xh") and args[:1] and args[0].upper() == "DELETE":
        method = "DELETE"
    if (method or "").upper() != "DELETE":
        return None
    if cmd.name in API_CLIENTS:
        return forge_api_delete(cmd)
    url = next((a for a in args if re.match(r"^(https?://|[\w.-]+:\d+/|localhost)", a)), "")
    if EVERYTHING_IN_URL.search(url.split("://", 1)[-1]) or PROD.search(url):
        what = "production" if PROD.search(url) else "every resource the URL matches"
        return finding("infrastructure_destruction", f"an HTTP DELETE of {url}: destroys {what}", cmd.text)
    return warning("infrastructure_destruction", f"an HTTP DELETE of {url}: check that it is what was asked", cmd.text)
