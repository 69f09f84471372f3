"""Judging paths: system directories, home, block devices, account files, credentials, logs, rc files.

Paths arrive with quotes removed and `$HOME`/`${HOME}` already rewritten to `~`. A relative path is
judged against the working directory when an earlier `cd` in the same line fixed it, and is otherwise
scoped (harmless for these rules).
"""

from __future__ import annotations

import posixpath
import re
from fnmatch import fnmatchcase

SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc",
    "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/var", "/usr/bin", "/usr/sbin", "/usr/lib",
    "/usr/lib64", "/usr/local", "/usr/share", "/usr/include", "/var/lib", "/var/spool", "/var/www",
    "/System", "/Library", "/Applications", "/Users", "/private", "/mnt", "/media",
})
TOP_LEVEL = frozenset(p for p in SYSTEM_DIRS if p.count("/") == 1)
SYSTEM_BIN_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/")
GLOB_CHARS = re.compile(r"[*?\[]")
DEVICE = re.compile(r"^/dev/(sd[a-z]+\d*|hd[a-z]\d*|vd[a-z]\d*|xvd[a-z]\d*|nvme\d+n\d+(p\d+)?|mmcblk\d+(p\d+)?"
                    r"|r?disk\d+(s\d+)?|md\d+|dm-\d+|mapper/\S+|loop\d+|root|disk/by-\S+)$")
AUTH_FILE = re.compile(r"^/etc/(passwd|shadow|group|gshadow|sudoers(\.d/.*)?|pam\.d/.*)$")
CREDENTIAL = re.compile(
    r"(^|/)\.ssh/?$|(^|/)\.ssh/(id_[a-z0-9_]+|.*_key)$|(^|/)\.aws/(credentials|config)$|^/etc/shadow$"
    r"|(^|/)\.(netrc|git-credentials|pgpass)$|(^|/)\.kube/config$|(^|/)\.docker/config\.json$"
    r"|(^|/)\.gnupg(/.*)?$|(^|/)\.config/gcloud(/.*)?$|(^|/)\.azure(/.*)?$|^/etc/ssh/ssh_host_\w+_key$")
HISTORY_FILE = re.compile(r"(^|/)\.\w*_?history$|(^|/)\.histfile$")
LOG_DIR = "/var/log"
KEY_LOGS = re.compile(r"^/var/log/(syslog|auth\.log|messages|secure|wtmp|btmp|lastlog|kern\.log|faillog"
                      r"|audit/audit\.log|audit)$")
PERSISTENCE_FILE = re.compile(
    r"(^|/)\.(bashrc|bash_profile|bash_login|profile|zshrc|zprofile|zshenv|zlogin|kshrc|cshrc|tcshrc)$"
    r"|^/etc/(profile|bash\.bashrc|zsh/zshrc|environment|rc\.local|crontab|ld\.so\.preload)$"
    r"|^/etc/(profile\.d|cron\.d|cron\.hourly|cron\.daily|cron\.weekly|cron\.monthly|init\.d)/"
    r"|^/var/spool/cron/|(^|/)\.config/autostart/")


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
    return component in ("*", ".*", "{*,.*}", "*.*", "[!.]*", "..?*")


def critical_root(path: str, cwd: str | None = None) -> str | None:
    """The system directory or home that `path` stands for (itself or all its entries), else None."""
    normal = normalize(path, cwd)
    if normal is None:
        return None
    head, _, last = normal.rpartition("/")
    if normal not in ("/", "~") and is_everything_glob(last):
        normal = head or "/"
    if normal == "~" or normal in SYSTEM_DIRS or re.fullmatch(r"/(home|Users)/[^/*?]+|/root", normal):
        return normal
    if GLOB_CHARS.search(normal):
        return next((d for d in sorted(SYSTEM_DIRS) if fnmatchcase(d, normal)), None)
    return None


def is_home(root: str) -> bool:
    return root == "~" or root == "/root" or re.fullmatch(r"/(home|Users)/[^/]+", root) is not None


def is_device(path: str) -> bool:
    return DEVICE.match(path) is not None


def is_auth_file(path: str, cwd: str | None = None) -> bool:
    normal = normalize(path, cwd)
    return normal is not None and AUTH_FILE.match(normal) is not None


def is_credential(path: str) -> bool:
    stripped = path.lstrip("@")
    return not stripped.endswith(".pub") and CREDENTIAL.search(stripped.rstrip("/") or "/") is not None


def is_history_file(path: str) -> bool:
    return HISTORY_FILE.search(path) is not None


def log_target(path: str, cwd: str | None = None, recursive: bool = False) -> str | None:
    """The log location that erasing `path` would wipe: the whole of /var/log or a key system log."""
    normal = normalize(path, cwd)
    if normal is None:
        return None
    head, _, last = normal.rpartition("/")
    if normal == LOG_DIR or (head == LOG_DIR and is_everything_glob(last)):
        return LOG_DIR
    return normal if KEY_LOGS.match(normal) else None


def is_persistence_file(path: str) -> bool:
    normal = normalize(path) or path
    return PERSISTENCE_FILE.search(normal) is not None


def is_system_binary(path: str) -> bool:
    return path.startswith(SYSTEM_BIN_DIRS)


def is_temporary_executable(word: str) -> bool:
    """A program run from a world-writable directory or a hidden file: how droppers hide."""
    return re.match(r"^/(tmp|dev/shm|var/tmp)/", word) is not None or re.search(r"/\.[^/.][^/]*$", word) is not None
