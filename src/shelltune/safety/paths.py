"""Judging paths: system directories, home, block devices, account files, credentials, logs, rc files.

Paths arrive with quotes removed and `$HOME`/`${HOME}` already rewritten to `~`. A relative path is
judged against the working directory when an earlier `cd` in the same line fixed it, and is otherwise
scoped (harmless for these rules).
"""

from __future__ import annotations

import posixpath
import re
from fnmatch import fnmatchcase

SYSTEM_DIRS = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/usr",
        "/var",
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/lib64",
        "/usr/local",
        "/usr/share",
        "/usr/include",
        "/var/lib",
        "/var/spool",
        "/var/www",
        "/System",
        "/Library",
        "/Applications",
        "/Users",
        "/private",
        "/mnt",
        "/media",
    }
)
TOP_LEVEL = frozenset(p for p in SYSTEM_DIRS if p.count("/") == 1)
# What `find ROOT -name PAT -exec rm -rf {} ;` deletes: entries that matched a filter, never ROOT itself.
FIND_MATCH = "<match>"
SYSTEM_BIN_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/")
GLOB_CHARS = re.compile(r"[*?\[]")
# Everything under /dev is a device that holds or reaches data (disks, partitions, `/dev/VG/LV`, NVMe
# controllers and namespaces, SCSI generics, network block devices, ZFS volumes...), except the
# pseudo-devices people read from and write to every day.
PSEUDO_DEVICE = re.compile(
    r"^/dev/(null|zero|full|u?random|tty\w*|pts(/.*)?|console|ptmx|stdin|stdout|stderr|fd(/.*)?|shm(/.*)?"
    r"|mqueue(/.*)?|hugepages(/.*)?|(tcp|udp)/.*|log|kmsg|net/tun|fuse|kvm|snd/.*|input/.*|dri/.*|video\d*"
    r"|cpu(/.*)?|watchdog\d*|rtc\d*|hidraw\d*|usb/.*|bus/.*|serial/.*|ttyS\d+|ttyUSB\d+|ttyACM\d+)$"
)
AUTH_FILE = re.compile(r"^/etc/(passwd|shadow|group|gshadow|sudoers(\.d/.*)?|pam\.d/.*)$")
CREDENTIAL = re.compile(
    r"(^|/)\.ssh/?$|(^|/)\.ssh/(id_[a-z0-9_]+|.*_key)$|(^|/)\.aws/(credentials|config)$|^/etc/shadow$"
    r"|(^|/)\.(netrc|git-credentials|pgpass)$|(^|/)\.kube/config$|(^|/)\.docker/config\.json$"
    r"|(^|/)\.gnupg(/.*)?$|(^|/)\.config/gcloud(/.*)?$|(^|/)\.azure(/.*)?$|^/etc/ssh/ssh_host_\w+_key$"
    # v5: a project's environment file (not its example), package-registry tokens, password stores, and the
    # browsers' saved passwords and cookies
    r"|(^|/)\.ssh/\*$|(^|/)\.aws/?$|^/etc/ssh/?$"  # v6: a key directory sent whole
    r"|(^|/)\.env(\.(?!example|sample|template|dist|defaults?)[\w-]+)?$|(^|/)\.(npmrc|pypirc|vault-token)$"
    r"|^/etc/gshadow$|(^|/)\.password-store(/.*)?$|(^|/)\.config/gh/hosts\.yml$|(^|/)\.local/share/keyrings(/.*)?$"
    r"|(^|/)Library/Keychains(/.*)?$|(^|/)\.mozilla/firefox(/.*)?$"
    r"|(^|/)\.config/(google-chrome|chromium|BraveSoftware|microsoft-edge)(/.*)?$"
    r"|(^|/)Library/Application Support/(Google/Chrome|Firefox|BraveSoftware|Microsoft Edge)(/.*)?$"
    r"|(^|/)(Login Data|Web Data|logins\.json|key[34]\.db|cookies\.sqlite|signons\.sqlite)$"
)
HISTORY_FILE = re.compile(r"(^|/)\.\w*_?history$|(^|/)\.histfile$")
LOG_DIR = "/var/log"
KEY_LOGS = re.compile(
    r"^/var/log/(syslog|auth\.log|messages|secure|wtmp|btmp|lastlog|kern\.log|faillog"
    r"|audit/audit\.log|audit)$"
)
PERSISTENCE_FILE = re.compile(
    r"(^|/)\.(bashrc|bash_profile|bash_login|bash_logout|bash_aliases|profile|zshrc|zprofile|zshenv|zlogin"
    r"|zlogout|kshrc|cshrc|tcshrc)$"
    r"|^/etc/(profile|bash\.bashrc|zsh/zshrc|environment|rc\.local|crontab|ld\.so\.preload)$"
    r"|^/etc/(profile\.d|cron\.d|cron\.hourly|cron\.daily|cron\.weekly|cron\.monthly|init\.d)/"
    r"|^/var/spool/cron/|(^|/)\.config/autostart/"
    # issue 23: units, package-manager hooks, rc directories, login hooks, VCS hooks, launchd, X sessions
    r"|^/(etc|usr/lib|lib|run)/systemd/(system|user)/|(^|/)\.config/systemd/user/"
    r"|^/etc/apt/apt\.conf(\.d/.*)?$|^/etc/pacman\.d/hooks/|^/usr/share/libalpm/hooks/|^/etc/yum/pluginconf\.d/"
    r"|(^|/)\.(bashrc|zshrc|profile)\.d/|(^|/)\.config/fish/(conf\.d/|config\.fish$)|^/etc/fish/conf\.d/"
    r"|(^|/)\.git/hooks/|^/etc/udev/rules\.d/|^/(etc|lib)/udev/rules\.d/|(^|/)\.ssh/rc$|^/etc/ssh/sshrc$"
    r"|^/etc/update-motd\.d/|^/etc/xdg/autostart/|(^|/)Library/Launch(Agents|Daemons)/"
    r"|(^|/)\.(xinitrc|xprofile|xsessionrc)$|(^|/)\.(vimrc|exrc|gvimrc)$|(^|/)\.vim/(plugin|autoload)/|(^|/)\.config/nvim/"
    r"|^/etc/X11/Xsession\.d/|^/etc/NetworkManager/dispatcher\.d/"
    r"|^/etc/bash_completion\.d/|^/etc/rc\d?\.d/|(^|/)\.config/(plasma-workspace/env|openbox/autostart)"
)


def normalize(path: str, cwd: str | None = None) -> str | None:
    """An absolute, `~`-rooted or cwd-joined path with `.`/`..`/`//` resolved; None when unknowable."""
    if not path:
        return None
    other_home = re.match(r"^~([A-Za-z_][\w-]*)(/.*)?$", path)
    if other_home:
        user, rest = other_home.group(1), other_home.group(2) or ""
        path = ("/root" if user == "root" else f"/home/{user}") + rest
    if not path.startswith(("/", "~")):
        if cwd is None:
            return None
        path = posixpath.join(cwd, path)
    if path.startswith("~"):
        rest = posixpath.normpath("/" + path[1:].lstrip("/"))
        return "~" if rest == "/" else "~" + rest
    return posixpath.normpath(re.sub("^/+", "/", path))


def is_everything_glob(component: str) -> bool:
    return component in ("*", ".*", "{*,.*}", "*.*", "[!.]*", "..?*", ".[!.]*", ".[^.]*", ".??*", "*/")


def critical_root(path: str, cwd: str | None = None) -> str | None:
    """The system directory or home that `path` stands for (itself or all its entries), else None."""
    normal = normalize(path, cwd)
    if normal is None or FIND_MATCH in normal:
        return None
    head, _, last = normal.rpartition("/")
    if normal not in ("/", "~") and is_everything_glob(last):
        normal = head or "/"
    if normal == "~" or normal in SYSTEM_DIRS or re.fullmatch(r"/(home|Users)/[^/*?]+|/root", normal):
        return normal
    if GLOB_CHARS.search(normal):
        return next((d for d in sorted(SYSTEM_DIRS) if fnmatchcase(d, normal)), None)
    return None


# Where services keep their data: deleting one of these wholesale loses every database, container image
# and volume, or virtual machine disk it holds.
DATA_DIRS = re.compile(
    r"^/var/lib/(mysql|mariadb|postgresql|pgsql|mongodb|mongo|redis|docker|containerd|containers|etcd"
    r"|elasticsearch|opensearch|cassandra|influxdb|rabbitmq|kubelet|libvirt|lxd|lxc|incus|clickhouse|couchdb"
    r"|neo4j|grafana|prometheus|minio|gitlab|jenkins|mysql-files|docker/volumes|containers/storage/volumes"
    r"|containers/storage|postgresql/[\d.]+(/main)?|pgsql/([\d.]+/)?data|mysql/mysql)(/\*?)?$"
    r"|^/var/opt/\w+(/\*?)?$"
)


def data_root(path: str, cwd: str | None = None) -> str | None:
    """The service data directory `path` stands for (itself or all its entries), else None."""
    normal = normalize(path, cwd)
    if normal is None:
        return None
    match = DATA_DIRS.match(normal)
    return normal.removesuffix("/*") if match else None


def every_file_in(path: str, cwd: str | None = None) -> str | None:
    """The system directory or home whose every file `path` names (`/etc/*`, `~/*`), else None."""
    normal = normalize(path, cwd)
    if normal is None or normal in ("/", "~"):
        return None
    head, _, last = normal.rpartition("/")
    if not is_everything_glob(last):
        return None
    folder = head or "/"
    return folder if folder in SYSTEM_DIRS or folder == "~" or is_home(folder) else None


def is_home(root: str) -> bool:
    return root == "~" or root == "/root" or re.fullmatch(r"/(home|Users)/[^/]+", root) is not None


def is_device(path: str) -> bool:
    """A block or storage device path (`/dev/sda`, `/dev/vg0/data`, `/dev/nvme0`), not `/dev/null` and kin."""
    if DISK_GLOB.match(path):
        return True  # `/dev/sd?`, `/dev/nvme*`: every disk of a kind
    return (
        path.startswith("/dev/")
        and len(path) > 5
        and GLOB_CHARS.search(path) is None
        and PSEUDO_DEVICE.match(path) is None
    )


DISK_GLOB = re.compile(r"^/dev/(sd|hd|vd|xvd|nvme|mmcblk|disk/by-[\w-]+/)[\w-]*[*?\[]")


def is_auth_file(path: str, cwd: str | None = None) -> bool:
    normal = normalize(path, cwd)
    return normal is not None and AUTH_FILE.match(normal) is not None


# Programs that only work setuid root: without the bit nobody can become root, log in or change a password.
SETUID_PROGRAMS = frozenset(
    {"sudo", "su", "passwd", "pkexec", "newgrp", "chsh", "chfn", "gpasswd", "doas", "mount", "umount", "fusermount",
     "fusermount3", "unix_chkpwd", "crontab", "ssh-keysign", "polkit-agent-helper-1", "dbus-daemon-launch-helper"}
)  # fmt: skip


def needs_setuid(path: str) -> bool:
    head, _, last = path.rpartition("/")
    return last in SETUID_PROGRAMS and (head + "/").startswith(SYSTEM_BIN_DIRS + ("/usr/lib/", "/usr/libexec/"))


def private_path(path: str, cwd: str | None = None) -> str | None:
    """`path` when it is, or holds, a private key or credentials (`~/.ssh`, `~/.ssh/id_rsa`, `~/.aws/`),
    with a trailing `/` for a directory; public keys, known_hosts and config are not private."""
    normal = normalize(path, cwd)
    if normal is None:
        return None
    in_home = HOME_PREFIX.sub("~", normal) if normal.startswith("/") else normal
    if not in_home.startswith("~/"):
        return None  # /etc/shadow's mode (640, group shadow) is the auth rule's to judge
    if re.fullmatch(r"~/\.(ssh|gnupg|aws|kube|docker|password-store|config/gcloud|azure)", in_home):
        return in_home + "/"
    if home_secret(in_home) or (is_credential(in_home) and not re.search(r"/(config|known_hosts)$", in_home)):
        return in_home
    return None


def owns_home(owner: str, home: str) -> bool:
    """Whether `chown -R OWNER HOME` gives the home to its own user (`$USER`, `alice:alice` on /home/alice)."""
    user = owner.split(":")[0].split(".")[0]
    if user.isdigit() and user != "0":
        return True  # a uid: the scanner cannot tell whose
    if user in ("", "$USER", "${USER}", "$LOGNAME", "$(whoami)", "`whoami`", "$(id -u)", "$(id -un)", "$UID"):
        return True
    if home == "/root":
        return user in ("root", "0")
    match = re.fullmatch(r"/(home|Users)/([^/]+)", home)
    return match is not None and user == match.group(2)


# What people keep and cannot download again: a home's documents and media, backups, a mounted drive.
PERSONAL_DIRS = re.compile(r"~/(Documents|Pictures|Photos|Desktop|Music|Videos|Movies|Dropbox|OneDrive)")
BACKUP_DIR = re.compile(r"/([Bb]ackups?|BACKUPS?|Time Machine[^/]*)")
# `/media/LABEL` or, where the desktop mounts per user, `/media/USER/LABEL` (`/media/usb0/tmp` is a folder).
MOUNTED_DRIVE = re.compile(
    r"/(mnt|Volumes|media|run/media/[^/]+)/[^/*?]+|/media/(?!(usb|cdrom|floppy|sd[a-z]|disk)\d*/)[^/]+/[^/*?]+"
)
# Files of these kinds in a home are photos, recordings and documents someone made.
PERSONAL_EXTENSIONS = re.compile(
    r"\*\.(jpe?g|png|heic|gif|raw|cr2|nef|dng|tiff?|mp4|mov|avi|mkv|mp3|flac|wav|m4a|docx?|xlsx?|pptx?|odt|ods|pdf)",
    re.I,
)


def user_data_root(path: str, cwd: str | None = None) -> str | None:
    """What deleting `path` (itself or all its entries) loses when it is user data outside the system
    paths: `~/Documents`, a backup directory, everything on a mounted drive. Its subfolders are not."""
    normal = normalize(path, cwd)
    if normal is None:
        return None
    head, _, last = normal.rpartition("/")
    if is_everything_glob(last):
        normal = head or "/"
    in_home = HOME_PREFIX.sub("~", normal) if normal.startswith("/") else normal
    if PERSONAL_DIRS.fullmatch(in_home):
        return f"{normal}, the files someone keeps in their home"
    scratch = normal.startswith(("/tmp/", "/var/tmp/"))
    if normal.count("/") >= 1 and not scratch and BACKUP_DIR.fullmatch("/" + normal.rsplit("/", 1)[-1]):
        return f"{normal}, which holds backups"
    if MOUNTED_DRIVE.fullmatch(normal):
        return f"everything on the drive mounted at {normal}"
    return None


# find's words that leave a name filter as the only selection (anything else, `-path`, `-mtime`, `-size`,
# narrows what goes).
FIND_NEUTRAL = re.compile(r"-(name|iname|type|delete|print0?|maxdepth|mindepth|xdev|mount|depth|o|or|a|and)$|[()]$")


def personal_files_named(words: list[str], roots: list[str], names: list[str], cwd: str | None = None) -> str | None:
    """`find ~ -name '*.jpg' -delete`: every photo or document in a home, or in every home."""
    kinds = [n for n in names if PERSONAL_EXTENSIONS.fullmatch(n)]
    tests = [w for w in words[1:] if w.startswith("-") or w in ("!", "(", ")")]
    if any(not FIND_NEUTRAL.match(t) for t in tests):
        return None
    for root in roots:
        normal = normalize(root, cwd)
        if kinds and normal is not None and (normal in ("~", "/", "/home", "/Users") or is_home(normal)):
            return f"every {kinds[0]} file under {root}: photos and documents cannot be downloaded again"
    return None


def is_account_database(path: str, cwd: str | None = None) -> bool:
    """The files every login and sudo reads (not a drop-in under sudoers.d or pam.d)."""
    normal = normalize(path, cwd)
    return normal is not None and re.fullmatch(r"/etc/(passwd|shadow|group|gshadow|sudoers)", normal) is not None


def is_credential(path: str) -> bool:
    stripped = path.lstrip("@")
    return not stripped.endswith(".pub") and CREDENTIAL.search(stripped.rstrip("/") or "/") is not None


def is_history_file(path: str) -> bool:
    return HISTORY_FILE.search(path) is not None


CURRENT_LOG_GLOBS = frozenset({"*.log", "*log", "*.log*", "*log*"})  # not `*.gz`, `*.1`: rotated archives


def log_target(path: str, cwd: str | None = None, recursive: bool = False) -> str | None:
    """The log location that erasing `path` would wipe: the whole of /var/log or a key system log."""
    normal = normalize(path, cwd)
    if normal is None:
        return None
    head, _, last = normal.rpartition("/")
    if normal == LOG_DIR or (head == LOG_DIR and (is_everything_glob(last) or last in CURRENT_LOG_GLOBS)):
        return LOG_DIR
    return normal if KEY_LOGS.match(normal) else None


def is_persistence_file(path: str) -> bool:
    normal = normalize(path) or path
    return PERSISTENCE_FILE.search(normal) is not None


def is_system_binary(path: str) -> bool:
    return path.startswith(SYSTEM_BIN_DIRS)


ROOT_SOCKETS = re.compile(
    r"^(/var)?/run/(docker|containerd/containerd|podman/podman|crio/crio|libvirt/libvirt-sock)\.sock$"
)


def is_root_socket(path: str) -> bool:
    """A socket whose clients run anything as root (the Docker daemon, containerd, libvirt)."""
    return ROOT_SOCKETS.match(normalize(path) or path) is not None


def is_temporary_executable(word: str) -> bool:
    """A program run from a world-writable directory or a hidden file: how droppers hide."""
    return re.match(r"^/(tmp|dev/shm|var/tmp)/", word) is not None or re.search(r"/\.[^/.][^/]*$", word) is not None


# ------------------------------------------------------------------ secrets kept in a home directory

# What each secret is, for the reason a user reads; a path is one of them, or a directory holding one.
HOME_SECRETS = {
    **{
        f"~/.ssh/id_{kind}": "an SSH private key"
        for kind in ("rsa", "dsa", "ecdsa", "ed25519", "ecdsa_sk", "ed25519_sk")
    },
    "~/.gnupg/private-keys-v1.d": "your GPG secret keys",
    "~/.gnupg/secring.gpg": "your GPG secret keys",
    "~/.aws/credentials": "your AWS credentials",
    "~/.kube/config": "your Kubernetes credentials",
    "~/.config/gcloud/credentials.db": "your Google Cloud credentials",
    "~/.config/gcloud/application_default_credentials.json": "your Google Cloud credentials",
    "~/.azure/msal_token_cache.json": "your Azure credentials",
    "~/.password-store": "your password store",
    "~/.netrc": "saved passwords",
    "~/.git-credentials": "saved Git credentials",
    "~/.pgpass": "saved passwords",
    "~/.vault-token": "your Vault token",
}
HOME_PREFIX = re.compile(r"^(/root|/(home|Users)/[^/]+)(?=/|$)")
SECRET_DIRECTORIES = ("~/.gnupg/private-keys-v1.d", "~/.password-store")  # every file in them is a secret


def home_secret(path: str, cwd: str | None = None, whole_tree: bool = False) -> str | None:
    """What secret deleting or emptying `path` destroys (a key, a credentials file, or with `whole_tree`
    a directory holding one, globs included), for any user's home; None otherwise."""
    normal = normalize(path, cwd)
    if normal is None:
        return None
    in_home = HOME_PREFIX.sub("~", normal) if normal.startswith("/") else normal
    if not in_home.startswith("~/"):
        return None
    for secret, what in HOME_SECRETS.items():
        parts = secret.split("/")
        candidates = ["/".join(parts[:n]) for n in range(2, len(parts) + 1)] if whole_tree else [secret]
        if any(in_home == c or glob_matches(c, in_home) for c in candidates):
            return what
        if secret in SECRET_DIRECTORIES and in_home.startswith(secret + "/"):
            return what
    return None


def home_secret_named(root: str, name: str, cwd: str | None = None) -> str | None:
    """What secret `find ROOT -name NAME` reaches: one under ROOT whose file name NAME matches (find
    descends into hidden directories and its `*` matches a leading dot)."""
    normal = normalize(root, cwd)
    if normal in ("/", "/home", "/Users"):
        normal = "~"  # every home lies below
    in_home = HOME_PREFIX.sub("~", normal) if normal and normal.startswith("/") else normal
    if in_home is None or not in_home.startswith("~"):
        return None
    return next(
        (
            what
            for secret, what in HOME_SECRETS.items()
            if secret.startswith(in_home.rstrip("/") + "/") and fnmatchcase(secret.rsplit("/", 1)[1], name)
        ),
        None,
    )


def glob_matches(path: str, pattern: str) -> bool:
    """Whether the shell glob `pattern` names `path`: component by component, and a `*` or `?` at the
    start of a component never matches a leading dot (`~/*` does not reach `~/.ssh`)."""
    parts, globs = path.split("/"), pattern.split("/")
    return len(parts) == len(globs) and all(
        fnmatchcase(part, glob) and not (part.startswith(".") and not glob.startswith("."))
        for part, glob in zip(parts, globs, strict=True)
    )


def is_authorized_keys(path: str) -> bool:
    return re.search(r"(^|/)\.ssh/authorized_keys2?$", path) is not None


# ------------------------------------------------------------------ variables that may be empty

# Set by the shell itself or by login: never empty in the lines this scanner judges.
ALWAYS_SET = frozenset(
    {
        "HOME",
        "PWD",
        "OLDPWD",
        "USER",
        "LOGNAME",
        "SHELL",
        "HOSTNAME",
        "UID",
        "EUID",
        "PPID",
        "RANDOM",
        "SECONDS",
        "LINENO",
        "BASH_VERSION",
    }
)
VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)(:?[-=?+])?([^}]*)\}|\$([A-Za-z_]\w*)")


def with_empty_variables(word: str, guarded: set[str]) -> tuple[str, str] | None:
    """(`word` as it reads when its unset variables are empty, the first such variable), or None when no
    variable in it can be empty: `${X:?}` stops the shell, `${X:-default}` gives the default, and a
    variable tested earlier on the line (`[ -n "$X" ] && ...`) is known to be set."""
    empty: list[str] = []

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        operator, default = match.group(2) or "", match.group(3) or ""
        if name in ALWAYS_SET or name in guarded or "?" in operator:
            return "set"
        if operator.lstrip(":") in ("-", "="):
            return default
        empty.append(name)
        return ""

    result = VARIABLE.sub(one, word)
    return (result, empty[0]) if empty else None


# Directories whose ownership admins routinely hand to a service or a user (web roots, locally built
# software); recursive chown/chgrp of them is routine, unlike /usr, /var or /etc.
SERVICE_ROOTS = frozenset({"/var/www", "/srv", "/usr/local"})
