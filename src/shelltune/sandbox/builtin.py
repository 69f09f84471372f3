"""The built-in fixture world: a developer's machine the embedded dataset's requests make sense on.

Every name the dataset generator (`shelltune.embedded`) draws from exists here: its files in the project
directory (the working directory, a git repository with history and uncommitted changes), its
directories (relative ones in the project, absolute ones such as /var/log, /etc/nginx, /opt/app, ~/music),
build leftovers with the temporary extensions `find -delete` requests name, the archives `tar`, `unzip`
and the checksum requests name, its users and groups in /etc/passwd and /etc/group, its processes
running in the background, its environment variables set. Around them: dotfiles, logs, CSV/JSON/text
data, source files, names with spaces and unicode, empty files, large sparse files for `find -size`,
and modification times from the clock's day back to three years before it.

Everything comes from one seeded `random.Random` and the world's fixed `clock` (`execute.clock`), never from
the real date: mtimes are whole days before the clock's midnight (the `anchor`), so `find -mtime N` gives
the same answer whatever the clock's time of day, git's dates are pinned to it, every atime is one instant
ten years after it, and every date written into a file is on or before it. The same seed and clock give
the same tree byte for byte, mtimes included (tests/test_world.py).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from shelltune import embedded as ds
from shelltune.errors import ShelltuneError
from shelltune.sandbox.clock import anchor_of
from shelltune.sandbox.world import (
    CWD,
    HOME,
    Tree,
    World,
    atime_for,
    base_env,
    normalize_times,
    set_times,
    skeleton,
)

DAY = 86400
PROJECT = CWD.strip("/")
USER_HOME = HOME.strip("/")
# (process name, argv[0]): what `ps`, `pgrep` and `pkill` find; two nginx and two gunicorn like real ones.
DAEMONS = (
    ("nginx", "nginx: master process /usr/sbin/nginx"),
    ("nginx", "nginx: worker process"),
    ("python", "python3 /opt/app/app.py"),
    ("node", "node /srv/www/server.js"),
    ("java", "java -jar /opt/app/lib/service.jar"),
    ("postgres", "/usr/lib/postgresql/15/bin/postgres"),
    ("redis-server", "redis-server *:6379"),
    ("firefox", "/usr/lib/firefox/firefox"),
    ("chrome", "/opt/google/chrome/chrome"),
    ("sshd", "sshd: /usr/sbin/sshd -D"),
    ("dockerd", "/usr/bin/dockerd -H fd://"),
    ("gunicorn", "gunicorn: master [app:app]"),
    ("gunicorn", "gunicorn: worker [app:app]"),
    ("celery", "celery -A tasks worker"),
)
# The ports the services listen on (`ss -tlnp`, `lsof -i :3000`): their usual ones, and the dataset's
# LSOF_PORTS. Privileged ports (below 1024) need a capability the sandbox's user lacks: sshd listens on 2222,
# nginx on 8081 and 8443, the java service's TLS on 9443; nothing pretends to listen on 22, 80 or 443, and
# there is no MySQL (3306): dockerd's API is on 2375.
LISTENING = (
    ("python3 /opt/app/app.py", (5000, 9090)),
    ("node /srv/www/server.js", (3000,)),
    ("java -jar /opt/app/lib/service.jar", (8080, 9443)),
    ("/usr/lib/postgresql/15/bin/postgres", (5432,)),
    ("redis-server *:6379", (6379,)),
    ("gunicorn: master [app:app]", (8000,)),
    ("nginx: master process /usr/sbin/nginx", (8081, 8443)),
    ("sshd: /usr/sbin/sshd -D", (2222,)),
    ("/usr/bin/dockerd -H fd://", (2375,)),
)
# Every variable the dataset's `echo $VAR` requests read is set; none holds the value its `export VAR=value`
# requests set (ds.ENV_VALUES), so an export changes the shell (judged: runner.shell_changes).
ENV = {
    "EDITOR": "nano",
    "JAVA_HOME": "/usr/lib/jvm/java-17-openjdk-amd64",
    "NODE_ENV": "development",
    "PYTHONPATH": "lib",
    "DEBUG": "0",
    "VISUAL": "nano",
}
ABSOLUTE_DIRS = {
    "/var/log": "var/log",
    "/tmp": "tmp",
    "/etc/nginx": "etc/nginx",
    "/opt/app": "opt/app",
    "~/projects": f"{USER_HOME}/projects",
    "~/Downloads": f"{USER_HOME}/Downloads",
    "~/Documents": f"{USER_HOME}/Documents",
    "/srv/www": "srv/www",
    "/var/www/html": "var/www/html",
    "~/music": f"{USER_HOME}/music",
}
STEMS = [
    "index",
    "main",
    "utils",
    "config",
    "notes",
    "report",
    "backup",
    "data",
    "app",
    "server",
    "client",
    "test_api",
    "readme",
    "setup",
    "schema",
    "style",
    "logo",
    "photo",
    "draft",
    "old",
    "api",
    "models",
    "handler",
    "worker",
    "cache",
    "session",
    "migrate",
    "deploy",
    "summary",
    "changelog",
]
FIRST = [
    "Alice",
    "Bob",
    "Carol",
    "Dave",
    "Erin",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
    "Mallory",
    "Niaj",
    "Olivia",
    "Peggy",
    "Rupert",
    "Sybil",
    "Trent",
    "Victor",
    "Walter",
    "Zoë",
    "José",
    "Ana",
    "Li",
    "Noor",
]
LAST = ["Smith", "Jones", "Garcia", "Müller", "Chen", "Kowalski", "Okafor", "Silva", "Tanaka", "Dubois", "Ivanova"]
CITIES = ["London", "Paris", "Berlin", "Lagos", "Tokyo", "São Paulo", "Toronto", "Sydney", "Madrid", "Seoul"]
EXTRA_WORDS = [
    "apple",
    "banana",
    "cherry",
    "delta",
    "echo",
    "falcon",
    "gamma",
    "harbor",
    "island",
    "jungle",
    "kernel",
    "lemon",
    "mango",
    "nectar",
    "orbit",
    "pixel",
    "quartz",
    "river",
    "sunset",
    "tiger",
]
LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARNING", "ERROR"]
COMPONENTS = ["api", "db", "auth", "worker", "scheduler", "cache", "http", "mailer"]
MESSAGES = [
    "request to localhost:8080 failed with status 404",
    "connection timeout after 30s",
    "user_id={n} logged in",
    "password reset requested for user_id={n}",
    "TODO remove this debug hook",
    "deprecated config key 'colour' used, use 'color'",
    "null pointer Exception in handler",
    "permission denied opening /var/run/app.sock",
    "import of module {w} took {n} ms",
    "cache miss for key {w}:{n}",
    "switching profile from dev to prod",
    "FIXME retry count is {n}",
    "api_key rotated for service {w}",
    "ERROR failed to write report {n}",
    "http GET /v1/items {n}",
    "https upstream {w} is healthy",
    "version {n}.0 deployed to staging",
    "main loop tick {n}",
    "WARNING disk usage at {n}%",
    "job {n} finished: true",
    "flag {w} is false",
    "old session {n} expired",
    "new session {n} created",
    "debug: payload size {n} bytes",
]


def build_builtin(seed: int, dest: Path, clock: int) -> World:
    """Write the built-in world under dest/tree (dest must not exist) and return it."""
    rng = random.Random(seed)
    anchor, atime = anchor_of(clock), atime_for(clock)
    tree = Tree(default_mtime=anchor - 30 * DAY, atime=atime)
    skeleton(tree)
    writer = WorldWriter(tree, rng, anchor)
    writer.write_all()
    # Drawn from a stream of their own, after everything else: adding them changed nothing drawn before.
    WorldWriter(tree, random.Random(f"{seed}:completions"), anchor).completions()
    gzipped(tree, anchor)  # draws nothing
    root = dest / "tree"
    dest.mkdir(parents=True)
    tree.write(root)
    build_git(root / PROJECT, writer, anchor, atime, seed)
    build_mirrors(root / MIRRORS, anchor, atime)
    set_times(root / "srv", tree.dirs["srv"][1], atime)
    # git init added .git to the project directory: give it (and the root) back their fixed mtimes
    set_times(root / PROJECT, tree.dirs[PROJECT][1], atime)
    set_times(root, anchor, atime)
    world = World(root, {**base_env(anchor), **ENV}, clock, DAEMONS, listening=LISTENING)
    world.save()
    return world.with_manifest()


class WorldWriter:
    """Fills a Tree with the built-in world's contents; each part is one method."""

    def __init__(self, tree: Tree, rng: random.Random, anchor: int):
        self.tree, self.rng, self.anchor = tree, rng, anchor
        self.year = time.gmtime(anchor).tm_year
        self.committed: dict[str, bytes] = {}  # project files as of the last commit (see build_git)

    def write_all(self) -> None:
        self.etc()
        self.home()
        self.project()
        self.system_dirs()
        for name, path in ABSOLUTE_DIRS.items():
            self.extension_sample(path, name)

    def completions(self) -> None:
        """What the dataset's `find` requests look for in the directories git does not track and the
        absolute ones (in the tracked ones new files would change the repository's history): every
        extension, a file of the clock's day (`-mtime -1`), every temporary extension where
        `find -delete` requests clean up, a file above the size thresholds the requests use up to 500 MB
        (sparse: nothing to copy), and each search pattern in a source file (`-exec grep -l`)."""
        untracked = [d for d in ds.DIRS if d.split("/")[0] in UNTRACKED and not d.startswith(("/", "~"))]
        absolute = [path for name, path in ABSOLUTE_DIRS.items() if not path.startswith("etc/")]
        for path in [f"{PROJECT}/{d}" for d in untracked] + absolute:
            for ext in ds.EXTS:
                target = f"{path}/{STEMS[ds.EXTS.index(ext) % len(STEMS)]}.{ext}"
                if target not in self.tree.files:
                    self.file(target, self.content_for(ext, ext), 0o755 if ext == "sh" else 0o644)
            self.file(f"{path}/today.log", "\n".join(self.log_lines(5, 1)) + "\n", mtime=self.anchor)
            self.file(f"{path}/patterns.go", "// " + "\n// ".join(ds.PATTERNS) + "\n", mtime=self.ago(1, 30))
        for name in ds.LOCAL_DIRS:
            for ext in ds.TEMP_EXTS:
                target = f"{PROJECT}/{name}/leftover.{ext}"
                if target not in self.tree.files:
                    self.file(target, self.content_for("txt", "leftover"))
        for path in (f"{PROJECT}/build", "srv/www"):
            self.file(f"{path}/media/release.img", b"\x00IMG", sparse_size=600 * 2**20, mtime=self.ago(2, 9))

    # --- helpers -------------------------------------------------------------------------------------

    def ago(self, low: int, high: int) -> int:
        """An mtime a whole number of days (between low and high) before the anchor."""
        return self.anchor - self.rng.randint(low, high) * DAY

    def age(self) -> int:
        """Mostly recent, some old: spreads `find -mtime -N` and `+N` over many answers."""
        bucket = self.rng.random()
        if bucket < 0.3:
            return self.ago(0, 6)
        if bucket < 0.65:
            return self.ago(7, 90)
        return self.ago(91, 1100)

    def file(
        self, path: str, content: str | bytes, mode: int = 0o644, mtime: int | None = None, sparse_size: int = 0
    ) -> None:
        self.tree.file(path, content, mode, self.age() if mtime is None else mtime, sparse_size)

    def words(self, count: int) -> list[str]:
        pool = ds.WORDS + ds.PATTERNS + EXTRA_WORDS
        return [self.rng.choice(pool) for _ in range(count)]

    def log_lines(self, count: int, start_days: int = 3) -> list[str]:
        """Timestamped lines from about `start_days` before the anchor, the last one no later than it."""
        rng, stamps, rest = self.rng, [], []
        t = self.anchor - start_days * DAY
        for _ in range(count):
            t += rng.randint(5, 2 * 3600)
            stamps.append(t)
            message = rng.choice(MESSAGES).format(n=rng.randint(1, 9999), w=rng.choice(ds.WORDS))
            rest.append(f"{rng.choice(LEVELS)} [{rng.choice(COMPONENTS)}] pid={rng.randint(100, 9999)} {message}")
        late = max(0, t - self.anchor)
        return [
            f"{self.date(when - late, '%Y-%m-%d %H:%M:%S')} {text}" for when, text in zip(stamps, rest, strict=False)
        ]

    def date(self, when: int, layout: str = "%Y-%m-%d") -> str:
        return time.strftime(layout, time.gmtime(when))

    def prose(self, count: int) -> list[str]:
        rng, lines = self.rng, []
        for _ in range(count):
            kind = rng.random()
            if kind < 0.2:
                lines.append(f"TODO: {' '.join(self.words(6))}")
            elif kind < 0.3:
                lines.append("")
            else:
                lines.append(" ".join(self.words(rng.randint(5, 12))))
        return lines

    def numbered(self, count: int) -> list[str]:
        return [f"{self.rng.randint(1, 500)} {' '.join(self.words(self.rng.randint(2, 9)))}" for _ in range(count)]

    def csv(self, rows: int) -> str:
        rng = self.rng
        lines = ["id,name,email,city,amount,date,status,category,score,notes,tags"]
        for i in range(1, rows + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            lines.append(
                ",".join(
                    [
                        str(i),
                        f"{first} {last}",
                        f"{first.lower()}.{i}@example.com",
                        rng.choice(CITIES),
                        f"{rng.randint(1, 99999) / 100:.2f}",
                        f"{self.year - 1}-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}",
                        rng.choice(["active", "inactive", "pending", "failed"]),
                        rng.choice(["dev", "prod", "staging", "test"]),
                        str(rng.randint(0, 100)),
                        rng.choice(ds.PATTERNS + ds.WORDS),
                        " ".join(self.words(3)),
                    ]
                )
            )
        return "\n".join(lines) + "\n"

    def json_doc(self, name: str) -> str:
        rng = self.rng
        doc = {
            "name": name,
            "version": f"{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            "id": rng.randint(1000, 99999),
            "status": rng.choice(["ok", "failed", "timeout", "pending"]),
            "config": {
                "debug": rng.random() < 0.5,
                "host": "localhost",
                "port": int(rng.choice(ds.PORTS)),
                "env": rng.choice(["dev", "prod", "staging"]),
            },
            "data": [{"key": w, "value": rng.randint(0, 100)} for w in self.words(3)],
            "items": self.words(4),
            "results": [{"test": f"test_{w}", "passed": rng.random() < 0.8} for w in self.words(3)],
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    def script(self, name: str) -> str:
        steps = [f'echo "{w}"' for w in self.words(3)]
        return (
            "#!/bin/bash\n# "
            + name
            + ": "
            + " ".join(self.words(5))
            + "\nset -euo pipefail\n"
            + "\n".join(steps)
            + "\n"
        )

    def code(self, ext: str) -> str:
        words = self.words(8)
        comment = {"py": "#", "sh": "#", "yaml": "#", "conf": "#", "sql": "--"}.get(ext, "//")
        if ext == "py":
            body = (
                f"import os\n\n\ndef {words[0]}_handler(user_id):\n    # TODO: {' '.join(words[1:4])}\n"
                f"    if not user_id:\n        raise Exception('{words[4]} failed')\n"
                "    return os.environ.get('API_KEY')\n"
            )
        elif ext in ("js", "ts"):
            body = (
                f"const {words[0]} = require('{words[1]}');\n// TODO: {' '.join(words[2:5])}\n"
                f"function main() {{\n  console.log('{words[5]}');\n  throw new Error('timeout');\n}}\nmain();\n"
            )
        elif ext == "go":
            body = (
                f'package main\n\nimport "fmt"\n\n// FIXME: {" ".join(words[:3])}\nfunc main() {{\n'
                f'\tfmt.Println("{words[3]} {words[4]}")\n}}\n'
            )
        elif ext == "rs":
            body = f'// TODO: {" ".join(words[:3])}\nfn main() {{\n    println!("{words[3]}");\n}}\n'
        elif ext == "java":
            body = (
                f"public class Main {{\n  // {' '.join(words[:4])}\n  public static void main(String[] a) "
                f'throws Exception {{\n    System.out.println("{words[4]}");\n  }}\n}}\n'
            )
        elif ext == "html":
            body = (
                f"<!DOCTYPE html>\n<html>\n<head><title>{words[0]}</title></head>\n<body>\n"
                f"<!-- TODO: {' '.join(words[1:4])} -->\n<p>{' '.join(words[4:])}</p>\n</body>\n</html>\n"
            )
        elif ext == "xml":
            body = (
                f'<?xml version="1.0"?>\n<config>\n  <{words[0]}>{words[1]}</{words[0]}>\n'
                f"  <status>{words[2]}</status>\n</config>\n"
            )
        elif ext == "sql":
            body = (
                f"-- {' '.join(words[:4])}\nCREATE TABLE {words[4]}_users (id INT PRIMARY KEY, name TEXT, "
                f"password TEXT);\nINSERT INTO {words[4]}_users VALUES (1, '{words[5]}', 'localhost');\n"
            )
        elif ext in ("yaml", "conf"):
            body = (
                "\n".join(f"{w}: {v}" for w, v in zip(words[::2], words[1::2], strict=False))
                + f"\n{comment} TODO: {' '.join(self.words(3))}\n"
            )
        else:
            body = "\n".join(self.prose(6)) + "\n"
        if ext in ("html", "xml"):
            return body + f"<!-- {' '.join(self.words(24))} -->\n"
        return body + f"{comment} notes: {' '.join(self.words(24))}\n"

    def more_of(self, name: str) -> str:
        """Lines to append to a file, in its own format (rows to a CSV, comments to code)."""
        ext = name.rsplit(".", 1)[-1]
        if ext == "csv":
            return "".join(row + "\n" for row in self.csv(3).splitlines()[1:])
        lines = [" ".join(self.words(6)) for _ in range(3)]
        comment = {
            "py": "# ",
            "sh": "# ",
            "yaml": "# ",
            "ini": "; ",
            "conf": "# ",
            "sql": "-- ",
            "js": "// ",
            "css": "/* ",
            "html": "<!-- ",
        }.get(ext, "")
        close = {"css": " */", "html": " -->"}.get(ext, "")
        return "".join(f"{comment}{line}{close}\n" for line in lines)

    def binary(self, ext: str, size: int) -> bytes:
        header = {
            "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
            "png": b"\x89PNG\r\n\x1a\n",
            "pdf": b"%PDF-1.4\n",
            "mp3": b"ID3\x03\x00\x00\x00",
            "gz": b"\x1f\x8b",
        }.get(ext, b"")
        return header + self.rng.randbytes(size)

    def content_for(self, ext: str, stem: str) -> str | bytes:
        if ext in ("jpg", "png", "pdf", "mp3"):
            return self.binary(ext, self.rng.randint(300, 4000))
        if ext == "csv":
            return self.csv(self.rng.randint(5, 30))
        if ext == "json":
            return self.json_doc(stem)
        if ext == "sh":
            return self.script(stem)
        if ext == "log":
            return "\n".join(self.log_lines(self.rng.randint(10, 40))) + "\n"
        if ext in ("txt", "md"):
            return "\n".join(self.prose(self.rng.randint(5, 25))) + "\n"
        return self.code(ext)

    def extension_sample(self, path: str, name: str) -> None:
        """Two thirds of the dataset's extensions in a directory, so `find DIR -name '*.EXT'` requests
        (and the grep -l and wc -l over them) usually have something to find."""
        exts = self.rng.sample(ds.EXTS, 13)
        stems = self.rng.sample(STEMS, len(exts))
        for ext, stem in zip(exts, stems, strict=False):
            target = f"{path}/{stem}.{ext}"
            if target.strip("/") not in self.tree.files:
                self.file(target, self.content_for(ext, stem), 0o755 if ext == "sh" else 0o644)

    # --- /etc ----------------------------------------------------------------------------------------

    def etc(self) -> None:
        users = [
            ("root", 0, 0, "/root", "/bin/bash"),
            ("daemon", 1, 1, "/usr/sbin", "/usr/sbin/nologin"),
            ("www-data", 33, 33, "/var/www", "/usr/sbin/nologin"),
            ("nobody", 65534, 65534, "/nonexistent", "/usr/sbin/nologin"),
            ("postgres", 114, 121, "/var/lib/postgresql", "/bin/bash"),
            ("user", 1000, 1000, HOME, "/bin/bash"),
        ]
        others = [u for u in ds.USERS if u not in ("www-data", "postgres")]
        users += [(name, 1001 + i, 1001 + i, f"/home/{name}", "/bin/bash") for i, name in enumerate(others)]
        passwd = "".join(f"{n}:x:{uid}:{gid}:{n}:{home}:{shell}\n" for n, uid, gid, home, shell in users)
        self.tree.file("etc/passwd", passwd, mtime=self.ago(200, 400))
        groups = {
            "root": 0,
            "daemon": 1,
            "www-data": 33,
            "sudo": 27,
            "audio": 29,
            "staff": 50,
            "docker": 998,
            "developers": 1100,
            "admin": 1101,
            "wheel": 1102,
            "postgres": 121,
            "user": 1000,
        }
        groups.update({name: 1001 + i for i, name in enumerate(others) if name not in groups})
        members = {
            "sudo": "user,admin",
            "docker": "user,deploy,jenkins",
            "developers": "user,alice,bob,carol",
            "audio": "user",
            "staff": "dave",
        }
        group = "".join(f"{n}:x:{gid}:{members.get(n, '')}\n" for n, gid in sorted(groups.items(), key=lambda x: x[1]))
        self.tree.file("etc/group", group, mtime=self.ago(200, 400))
        self.tree.file("etc/hostname", "shelltune\n")
        hosts = (
            "127.0.0.1\tlocalhost\n127.0.1.1\tshelltune\n192.168.1.10\tweb01\n10.0.0.5\tdb.internal\n"
            "172.16.0.20\tbackup.local server.lan\n"
        )
        self.tree.file("etc/hosts", hosts)
        self.tree.file("etc/timezone", "Etc/UTC\n")
        self.tree.file("etc/shells", "/bin/sh\n/bin/bash\n/usr/bin/bash\n")
        self.tree.file("etc/resolv.conf", "nameserver 127.0.0.53\n")
        self.tree.file("etc/fstab", "UUID=3f1c2e55-1a2b-4c3d-8e9f-0a1b2c3d4e5f / ext4 defaults 0 1\n")
        self.tree.file("etc/crontab", "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n")
        self.tree.file("etc/motd", "Welcome to shelltune's fixture machine.\n")
        self.tree.file("etc/profile", 'export PATH="/usr/local/bin:/usr/bin:/bin"\n')
        self.nginx()

    def nginx(self) -> None:
        conf = (
            "user www-data;\nworker_processes auto;\nerror_log /var/log/nginx/error.log;\n\nevents {\n"
            "    worker_connections 768;\n}\n\nhttp {\n    include /etc/nginx/mime.types;\n"
            "    access_log /var/log/nginx/access.log;\n    include /etc/nginx/conf.d/*.conf;\n"
            "    include /etc/nginx/sites-enabled/*;\n}\n"
        )
        self.file("etc/nginx/nginx.conf", conf)
        self.file("etc/nginx/mime.types", "types {\n    text/html html;\n    text/css css;\n    image/png png;\n}\n")
        site = (
            "server {\n    listen 80 default_server;\n    root /var/www/html;\n    server_name _;\n"
            "    location /api/ {\n        proxy_pass http://localhost:8080;\n        proxy_read_timeout 30s;\n"
            "    }\n}\n"
        )
        self.file("etc/nginx/sites-available/default", site)
        self.file("etc/nginx/sites-available/api.conf", site.replace("80 default_server", "8443 ssl"))
        self.tree.link("etc/nginx/sites-enabled/default", "../sites-available/default", self.ago(30, 60))
        self.file("etc/nginx/conf.d/gzip.conf", "gzip on;\ngzip_types text/plain application/json;\n")
        self.file("etc/nginx/conf.d/timeout.conf", "keepalive_timeout 65;\nclient_body_timeout 12;\n")
        self.file("etc/nginx/snippets/ssl.conf", "ssl_protocols TLSv1.2 TLSv1.3;\n")

    # --- home ----------------------------------------------------------------------------------------

    def home(self) -> None:
        h = USER_HOME
        self.tree.dir(h, 0o750, mtime=self.ago(0, 0))
        self.file(
            f"{h}/.bashrc",
            "# ~/.bashrc\nexport HISTSIZE=5000\nalias ll='ls -alF'\nalias gs='git status'\n"
            'export PATH="$HOME/.local/bin:$PATH"\n',
            mtime=self.ago(300, 600),
        )
        self.file(
            f"{h}/.profile", "# ~/.profile\nif [ -f ~/.bashrc ]; then . ~/.bashrc; fi\n", mtime=self.ago(300, 600)
        )
        self.file(f"{h}/.bash_logout", "clear\n", mtime=self.ago(300, 600))
        history = [
            "git status",
            "git log --oneline",
            "ls -la",
            "cd project",
            "vim main.py",
            "docker ps",
            "ssh deploy@web01",
            "htop",
            "git pull",
            "make test",
            "python3 main.py",
            "curl -I https://example.com",
            "grep -rn TODO src",
            "tail -n 50 app.log",
            "git commit -m 'fix typo'",
            "npm install",
            "jq . data.json",
        ]
        # Older entries first: the install of every package the dataset names, so `history | grep jq` finds
        # one for each of them, as in the terminal of someone who installed what they use.
        installs = [f"sudo apt-get install -y {pkg}" for pkg in ds.PKGS]
        lines = installs + self.rng.choices(history, k=60)
        self.file(f"{h}/.bash_history", "\n".join(lines) + "\n", 0o600, self.ago(0, 1))
        self.file(
            f"{h}/.gitconfig",
            "[user]\n\tname = Sam Developer\n\temail = sam@example.com\n[init]\n"
            "\tdefaultBranch = main\n[pull]\n\trebase = false\n" + mirror_config(),
            mtime=self.ago(200, 400),
        )
        self.file(f"{h}/.vimrc", "set number\nset expandtab\nsyntax on\n", mtime=self.ago(200, 400))
        self.tree.dir(f"{h}/.ssh", 0o700, self.ago(100, 200))
        key = self.rng.randbytes(51).hex()
        # Obviously fake key material: the file is there to be found (and not deleted), not to be used.
        self.file(
            f"{h}/.ssh/id_ed25519",
            f"fake ed25519 private key for the shelltune fixture\n{key}\n",
            0o600,
            self.ago(100, 200),
        )
        self.file(
            f"{h}/.ssh/id_ed25519.pub", f"ssh-ed25519 AAAAC3Nza{key[:60]} sam@shelltune\n", 0o644, self.ago(100, 200)
        )
        self.file(f"{h}/.ssh/authorized_keys", f"ssh-ed25519 AAAAC3Nza{key[40:100]} deploy@ci\n", 0o600)
        self.file(
            f"{h}/.ssh/known_hosts",
            "web01 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake\ngithub.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq\n",
        )
        self.file(f"{h}/.ssh/config", "Host web01\n    User deploy\n    Port 22\n")
        self.file(
            f"{h}/.aws/credentials",
            "[default]\naws_access_key_id = fixture-not-a-key\naws_secret_access_key = fixture-not-a-secret\n",
            0o600,
        )
        self.file(f"{h}/.config/htop/htoprc", "fields=0 48 17 18 38 39 40 2 46 47 49 1\n")
        checked = self.date(self.anchor - 50 * DAY)
        self.file(f"{h}/.cache/pip/selfcheck.json", f'{{"last_check": "{checked}T00:00:00Z"}}\n')
        self.file(f"{h}/.local/bin/backup-notes", "#!/bin/bash\ntar -czf ~/notes.tar.gz ~/Documents\n", 0o755)
        self.file(f"{h}/.npmrc", "save-exact=true\n")
        self.documents(h)
        self.downloads(h)
        self.music(h)
        self.projects(h)

    def documents(self, h: str) -> None:
        d = f"{h}/Documents"
        self.file(f"{d}/résumé.pdf", self.binary("pdf", 2500), mtime=self.ago(200, 500))
        self.file(f"{d}/meeting notes 2026.txt", "\n".join(self.prose(20)) + "\n")
        self.file(f"{d}/budget.csv", self.csv(12))
        self.file(f"{d}/Übersicht.md", "# Übersicht\n\n" + "\n".join(self.prose(8)) + "\n")
        self.file(f"{d}/taxes/2025 return.pdf", self.binary("pdf", 3000), mtime=self.ago(300, 400))
        self.file(f"{d}/taxes/receipts.txt", "\n".join(self.numbered(15)) + "\n")
        self.file(f"{d}/empty.txt", "")

    def downloads(self, h: str) -> None:
        d = f"{h}/Downloads"
        # Sparse: 12 MiB that `find -size +10M` and `ls -lS` see, no blocks on disk, nothing to copy.
        self.file(f"{d}/ubuntu-24.04-live-server-amd64.iso", b"\x00" * 16 + b"CD001", sparse_size=12 * 2**20)
        self.file(f"{d}/photo (1).jpg", self.binary("jpg", 5000))
        self.file(f"{d}/installer.sh", self.script("installer"), 0o644)
        self.file(f"{d}/日本語のメモ.txt", "メモ: " + " ".join(self.words(6)) + "\n")
        self.file(f"{d}/report-final (copy).pdf", self.binary("pdf", 1800))

    def music(self, h: str) -> None:
        d = f"{h}/music"
        for artist, song in [
            ("Nina Simone", "Feeling Good"),
            ("Daft Punk", "Digital Love"),
            ("Björk", "Jóga"),
            ("Fela Kuti", "Water No Get Enemy"),
        ]:
            self.file(f"{d}/{artist}/{artist} - {song}.mp3", self.binary("mp3", self.rng.randint(2000, 6000)))
        self.file(f"{d}/playlist.m3u", "#EXTM3U\nNina Simone/Nina Simone - Feeling Good.mp3\n")

    def projects(self, h: str) -> None:
        d = f"{h}/projects"
        for name in ("website", "api", "dotfiles"):
            self.file(f"{d}/{name}/README.md", f"# {name}\n\n" + "\n".join(self.prose(4)) + "\n")
            self.file(f"{d}/{name}/main.py", self.code("py"))
        self.file(f"{d}/website/index.html", self.code("html"))
        self.file(f"{d}/api/server.js", self.code("js"))

    # --- the project (working directory) --------------------------------------------------------------

    def project(self) -> None:
        p = PROJECT
        self.named_files(p)
        self.relative_dirs(p)
        self.build_leftovers(p)
        self.archives(p)
        self.file(
            f"{p}/.gitignore",
            "build/\ndist/\nnode_modules/\n__pycache__/\n.pytest_cache/\ncoverage/\n"
            "cache/\nout/\ntarget/\ntmp/\n*.tar.gz\n*.zip\n",
        )
        self.file(f"{p}/.env", "API_KEY=example-not-a-secret\nDEBUG=true\n", 0o600)
        self.file(f"{p}/My Notes/ideas for v2.md", "\n".join(self.prose(10)) + "\n")
        self.file(f"{p}/My Notes/café menu.txt", "espresso 2.50\ncroissant 3.00\n")
        self.file(f"{p}/naïve test.py", self.code("py"))

    def named_files(self, p: str) -> None:
        """Every file name the dataset uses, with content its requests can act on."""
        rng = self.rng
        specific = {
            "names.txt": lambda: "\n".join(f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(40)),
            "words.txt": lambda: "\n".join(self.words(80)),
            "urls.txt": lambda: "\n".join(
                f"https://{rng.choice(ds.DOMAINS)}/{rng.choice(ds.WORDS)} "
                f"{rng.choice(['200', '200', '301', '404', '500'])}"
                for _ in range(30)
            ),
            "emails.txt": lambda: "\n".join(f"{rng.choice(FIRST).lower()}@{rng.choice(ds.DOMAINS)}" for _ in range(30)),
            "hosts.txt": lambda: "\n".join(rng.choice(ds.HOSTS) for _ in range(25)),
            "todo.txt": lambda: "\n".join(f"{i}. TODO {' '.join(self.words(rng.randint(3, 9)))}" for i in range(1, 31)),
            "input.txt": lambda: "\n".join(self.numbered(40)),
            "output.txt": lambda: "\n".join(self.numbered(40)),
            "access.log": lambda: "\n".join(
                f"192.168.1.{rng.randint(2, 250)} - - [{self.date(self.anchor - DAY, '%d/%b/%Y')}:"
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f'{rng.randint(0, 59):02d} +0000] "GET /{rng.choice(ds.WORDS)} HTTP/1.1" '
                f"{rng.choice(['200', '200', '404', '500', '301'])} {rng.randint(100, 9000)}"
                for _ in range(60)
            ),
            "requirements.txt": lambda: (
                "\n".join(
                    f"{pkg}=={rng.randint(0, 3)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}" for pkg in ds.PIP_PKGS[:8]
                )
                + "\n# version pins: see TODO in README.md"
            ),
            "README.md": lambda: "# project\n\nTODO: write the install section.\n\n" + "\n".join(self.prose(12)),
            "package.json": lambda: json.dumps(
                {
                    "name": "project",
                    "version": "1.4.2",
                    "scripts": {"test": "jest"},
                    "dependencies": {"express": "^4.19.0"},
                },
                indent=2,
            ),
            "style.css": lambda: "body {\n  color: #333;\n  font-family: sans-serif;\n}\n/* TODO: dark mode */",
            "settings.ini": lambda: "[server]\nhost = localhost\nport = 8080\ndebug = false\n[db]\ntimeout = 30",
        }
        names = sorted(set(ds.FILES + ds.TEXT_FILES + ds.CSV_FILES + ds.JSON_FILES + ds.SCRIPTS))
        for name in names:
            stem, ext = name.rsplit(".", 1)
            if name in specific:
                content: str | bytes = specific[name]() + "\n"
            elif name.endswith((".log", ".txt")) and "log" in name:
                content = "\n".join(self.log_lines(rng.randint(30, 80))) + "\n"
            else:
                content = self.content_for(ext, stem)
            mode = (
                0o755 if ext == "sh" and rng.random() < 0.5 else rng.choice([0o644, 0o644, 0o644, 0o600, 0o664, 0o640])
            )
            if ext == "sh":  # `chmod +x deploy.sh` has something to do (the draw above stays: the stream with it)
                mode &= ~0o111
            elif name == "main.py":  # the project's entry point runs as `./main.py` (`find . -executable`)
                mode = 0o755
            self.file(f"{p}/{name}", content, mode)
            self.committed[name] = content if isinstance(content, bytes) else content.encode()

    def relative_dirs(self, p: str) -> None:
        relative = [d for d in ds.DIRS if not d.startswith(("/", "~"))]
        for name in relative:
            self.extension_sample(f"{p}/{name}", name)
            for sub in self.rng.sample(["v1", "old", "2025", "misc", "drafts", "assets"], 2):
                self.file(f"{p}/{name}/{sub}/{self.rng.choice(STEMS)}.txt", "\n".join(self.prose(4)) + "\n")
            if self.rng.random() < 0.5:
                self.file(f"{p}/{name}/.gitkeep", "")
        self.file(f"{p}/config/empty.yaml", "")
        self.file(f"{p}/logs/app.log", "\n".join(self.log_lines(50)) + "\n")
        self.file(f"{p}/logs/worker.log", "")  # a service that has logged nothing yet: `find logs -empty`
        # Sparse, for `find build -size +10M` and `find backups -size +5M`.
        self.file(f"{p}/build/app.bin", b"\x7fELF", 0o755, sparse_size=11 * 2**20)
        self.file(f"{p}/backups/disk.img", b"\xeb\x3c\x90", sparse_size=6 * 2**20)

    def build_leftovers(self, p: str) -> None:
        """The directories `rm -rf ./DIR` and `find ./DIR -name '*.EXT' -delete` requests clean up."""
        for name in ds.LOCAL_DIRS + ["src", "tests", "docs"]:
            for ext in self.rng.sample(ds.TEMP_EXTS, 6):
                stem = self.rng.choice(STEMS)
                self.file(f"{p}/{name}/{stem}.{ext}", self.content_for("txt", stem))
        for pkg in ("express", "lodash"):
            self.file(f"{p}/node_modules/{pkg}/package.json", json.dumps({"name": pkg, "version": "4.17.21"}))
            self.file(f"{p}/node_modules/{pkg}/index.js", self.code("js"))

    def archives(self, p: str) -> None:
        """X.tar.gz and X.zip for every archive name the dataset uses, their members dated from the anchor."""
        for name in ds.ARCHIVES:
            members = {
                f"{name}/{stem}.txt": "\n".join(self.prose(5)).encode() + b"\n" for stem in self.rng.sample(STEMS, 3)
            }
            mtime = self.ago(1, 200)
            self.file(f"{p}/{name}.tar.gz", tar_gz(members, mtime), mtime=mtime)
            self.file(f"{p}/{name}.zip", zip_bytes(members, mtime), mtime=mtime)

    # --- /var, /opt, /srv, /tmp ----------------------------------------------------------------------

    def system_dirs(self) -> None:
        for name in ("syslog", "auth.log", "kern.log", "dpkg.log"):
            self.file(
                f"var/log/{name}", "\n".join(self.log_lines(self.rng.randint(40, 120))) + "\n", 0o640, self.ago(0, 1)
            )
        self.file("var/log/syslog.1", "\n".join(self.log_lines(60, 10)) + "\n", 0o640, self.ago(7, 7))
        self.file("var/log/syslog.2.gz", gzip.compress(b"old syslog\n", mtime=0), 0o640, self.ago(14, 14))
        self.file("var/log/nginx/access.log", "\n".join(self.log_lines(80)) + "\n", 0o640, self.ago(0, 0))
        self.file("var/log/nginx/error.log", "\n".join(self.log_lines(30)) + "\n", 0o640, self.ago(0, 2))
        self.file("var/log/nginx/access.log.1", "\n".join(self.log_lines(50, 9)) + "\n", 0o640, self.ago(8, 8))
        self.file(
            "var/log/apt/history.log",
            f"Start-Date: {self.date(self.anchor - 52 * DAY)}\nCommandline: apt-get install jq\n",
            mtime=self.ago(40, 60),
        )
        self.file("var/log/postgresql/postgresql-15-main.log", "\n".join(self.log_lines(20)) + "\n", 0o640)
        self.file("var/log/journal/6f1c/system.journal", b"LPKSHHRH", 0o640, self.ago(0, 0), sparse_size=8 * 2**20)
        self.file("var/log/old/app-2023.log", "\n".join(self.log_lines(20, 900)) + "\n", mtime=self.ago(700, 1000))
        self.file("opt/app/app.py", self.code("py"))
        self.file("opt/app/requirements.txt", "flask==3.0.0\ngunicorn==22.0.0\n")
        self.file("opt/app/config.yaml", self.code("yaml"))
        self.file("opt/app/bin/start.sh", self.script("start"), 0o755)
        self.file("opt/app/lib/service.jar", self.binary("", 3000))
        self.file("opt/app/legacy/handler.py", self.code("py"), mtime=self.ago(400, 800))
        for base in ("srv/www", "var/www/html"):
            self.file(f"{base}/index.html", self.code("html"))
            self.file(f"{base}/css/main.css", "body { margin: 0; }\n")
            self.file(f"{base}/js/app.js", self.code("js"))
            self.file(f"{base}/images/logo.png", self.binary("png", 1500))
        self.file("srv/www/server.js", self.code("js"))
        self.file("tmp/session-1f3a.tmp", "\n".join(self.words(5)) + "\n", mtime=self.ago(0, 0))
        self.file("tmp/build.log", "\n".join(self.log_lines(15)) + "\n", mtime=self.ago(0, 2))
        self.file("tmp/cache/pkg.cache", self.binary("", 500), mtime=self.ago(3, 20))
        self.tree.dir("var/tmp", 0o1777)
        self.tree.dir("var/cache/apt")
        self.tree.dir("var/lib/postgresql")


def tar_gz(members: dict[str, bytes], mtime: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            info.uname = info.gname = "user"
            info.uid = info.gid = 1000
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def zip_bytes(members: dict[str, bytes], mtime: int) -> bytes:
    raw = io.BytesIO()
    stamp = time.gmtime(mtime)[:6]
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return raw.getvalue()


def gzipped(tree: Tree, anchor: int) -> None:
    """backups/daily/NAME.gz for every name the dataset's `gunzip` requests restore (ds.GZIPPED): the gzip of the
    project's NAME as it was written, stamped (file and gzip header) ten days before the anchor. git does
    not track them (GZIP_COPIES), so the repository's history is what it was without them."""
    when = anchor - 10 * DAY
    for path in ds.GZIPPED:
        data = tree.files[f"{PROJECT}/{path.rsplit('/', 1)[1]}"][0]
        tree.file(f"{PROJECT}/{path}.gz", gzip.compress(data, compresslevel=9, mtime=when), 0o644, when)


GZIP_COPIES = frozenset(f"{path}.gz" for path in ds.GZIPPED)  # relative to the project

# --- the git repository -----------------------------------------------------------------------------

UNTRACKED = (
    "build",
    "dist",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    "coverage",
    "cache",
    "out",
    "target",
    "tmp",
)
COMMIT_MESSAGES = [m for m in ds.MESSAGES if m != "initial commit"] + [
    "add parser",
    "wire up config",
    "tidy logging",
    "handle timeouts",
    "add csv export",
    "fix null check",
    "split utils",
    "rename settings",
]


def build_git(project: Path, writer: WorldWriter, anchor: int, atime: int, seed: int = 0) -> None:
    """A history of ~50 commits built with `git fast-import` (one process, pinned dates, one pack), then
    uncommitted edits to a few files, and to every file the dataset's `git diff FILE` requests name (ds.FILES),
    so `git diff FILE` has something to show."""
    if shutil.which("git") is None:
        raise ShelltuneError("git not found: the built-in fixture world has a git repository (apt install git)")
    rng = writer.rng
    tracked = sorted(
        str(p.relative_to(project))
        for p in project.rglob("*")
        if (p.is_file() or p.is_symlink())
        and p.relative_to(project).parts[0] not in UNTRACKED
        and not p.name.endswith((".tar.gz", ".zip"))
        and str(p.relative_to(project)) not in GZIP_COPIES
        and p.stat().st_size < 2**20
    )
    editable = sorted(n for n in writer.committed if not n.endswith((".jpg", ".pdf", ".json")))
    edited = rng.sample(editable, 14)
    committed = {
        path: os.readlink(project / path).encode() if (project / path).is_symlink() else (project / path).read_bytes()
        for path in tracked
    }
    for name in edited:  # the working copy gains a few lines the last commit does not have
        with open(project / name, "ab") as handle:
            handle.write(writer.more_of(name).encode())
    # The other files `git diff FILE` requests name, from a stream of their own (nothing drawn before them
    # changes): lines in their format, a key more in JSON (still valid for jq), a tail to a binary. Their
    # times stay as the writer chose (`find -newer notes.md`, `find -mtime -1` answer as before).
    extra = WorldWriter(writer.tree, random.Random(f"{seed}:uncommitted"), anchor)
    unstaged = [name for name in ds.FILES if name not in edited and (project / name).is_file()]
    for name in unstaged:
        path = project / name
        if name.endswith(".json"):
            doc = json.loads(path.read_text(encoding="utf-8"))
            doc["updated"] = writer.date(anchor)
            path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        elif name.endswith((".jpg", ".pdf")):
            with open(path, "ab") as handle:
                handle.write(extra.rng.randbytes(64))
        else:
            with open(path, "ab") as handle:
                handle.write(extra.more_of(name).encode())
    modes = {
        path: 0o100755
        if os.access(project / path, os.X_OK) and not (project / path).is_symlink()
        else 0o120000
        if (project / path).is_symlink()
        else 0o100644
        for path in tracked
    }
    stream = fast_import_stream(tracked, committed, modes, rng, anchor)
    # The reflog entries git writes carry the committer's identity and clock: pin both.
    stamp = f"@{anchor - 2 * DAY} +0000"
    env = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(project),
        "LC_ALL": "C",
        "TZ": "UTC",
        "PATH": os.environ["PATH"],
        "GIT_AUTHOR_NAME": "Sam Developer",
        "GIT_AUTHOR_EMAIL": "sam@example.com",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": "Sam Developer",
        "GIT_COMMITTER_EMAIL": "sam@example.com",
        "GIT_COMMITTER_DATE": stamp,
    }
    with tempfile.TemporaryDirectory() as empty:
        run_git(["init", "-q", f"--template={empty}", "-b", "main"], project, env)
    run_git(["fast-import", "--quiet"], project, env, stream)
    run_git(["read-tree", "HEAD"], project, env)  # an index with no stat data: the same in every build
    # The branches `git push origin BRANCH` requests push, at HEAD like main; `origin` is a bare repository
    # under /srv/git holding main (the same pack), so a push of a branch adds that branch there and nothing else.
    for branch in ds.BRANCHES:
        if branch != "main":
            run_git(["branch", branch], project, env)
    head = run_git(["rev-parse", "HEAD"], project, env).strip()
    root = project.parents[len(Path(PROJECT).parts) - 1]  # the world's `/` (project is root / PROJECT)
    origin = root / ORIGIN.strip("/")
    origin.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as empty:
        run_git(["init", "-q", "--bare", f"--template={empty}", "-b", "main"], origin, env)
    (origin / "objects" / "pack").mkdir(parents=True, exist_ok=True)
    for pack in sorted((project / ".git" / "objects" / "pack").iterdir()):
        shutil.copyfile(pack, origin / "objects" / "pack" / pack.name)
        os.chmod(origin / "objects" / "pack" / pack.name, 0o444)  # as git writes them, whatever the umask
    run_git(["update-ref", "refs/heads/main", head], origin, env)
    run_git(["remote", "add", "origin", ORIGIN], project, env)
    run_git(["update-ref", "refs/remotes/origin/main", head], project, env)
    for name in edited[:2]:  # staged, so `git commit -m ...` has something to commit
        oid = run_git(["hash-object", "-w", "--", name], project, env).strip()
        mode = "100755" if os.access(project / name, os.X_OK) else "100644"
        run_git(["update-index", "--cacheinfo", f"{mode},{oid},{name}"], project, env)
    for path in ("hooks", "info", "branches", "description", "COMMIT_EDITMSG"):
        if (project / ".git" / path).exists() and (project / ".git" / path).is_file():
            (project / ".git" / path).unlink()
    # Apply the times the writer chose again: git touched nothing but .git, whose times are pinned too.
    normalize_times(project / ".git", anchor - DAY, atime)
    for name in edited:
        set_times(project / name, anchor, atime)
    for name in unstaged:
        set_times(project / name, writer.tree.files[f"{PROJECT}/{name}"][2], atime)


MIRRORS = "srv/git"  # local mirrors of the repositories the dataset clones
ORIGIN = f"/{MIRRORS}/project.git"  # the project's `origin` (see build_git)


def mirror_of(url: str) -> str:
    """Where a repository URL's mirror lives: https://github.com/psf/requests.git -> github.com/psf/requests.git"""
    return url.split("://", 1)[-1].replace("git@", "").replace(":", "/", 1)


def mirror_config() -> str:
    """~/.gitconfig rules sending the dataset's hosts to the local mirrors: `git clone URL` works offline."""
    hosts = sorted({mirror_of(url).split("/", 1)[0] for url in ds.REPOS})
    rules = []
    for host in hosts:
        rules.append(f'[url "/{MIRRORS}/{host}/"]\n\tinsteadOf = https://{host}/\n\tinsteadOf = git@{host}:\n')
    return "".join(rules)


def build_mirrors(top: Path, anchor: int, atime: int) -> None:
    """A bare repository for each URL the dataset clones, two commits each, all dates pinned."""
    env = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(top),
        "LC_ALL": "C",
        "TZ": "UTC",
        "PATH": os.environ["PATH"],
    }
    for url in ds.REPOS:
        repo = top / mirror_of(url)
        repo.mkdir(parents=True)
        name = repo.name.removesuffix(".git")
        files = {"README.md": f"# {name}\n\nA mirror of {url} for the fixture.\n".encode()}
        stream = fast_import_stream(
            ["README.md"], files, {"README.md": 0o100644}, random.Random(url), anchor - 40 * DAY
        )
        with tempfile.TemporaryDirectory() as empty:
            run_git(["init", "-q", "--bare", f"--template={empty}", "-b", "main"], repo, env)
        run_git(["fast-import", "--quiet"], repo, env, stream)
        for path in ("description", "hooks", "info", "branches"):
            if (repo / path).is_file():
                (repo / path).unlink()
    normalize_times(top, anchor - 40 * DAY, atime)


def fast_import_stream(
    tracked: list[str], committed: dict[str, bytes], modes: dict[str, int], rng: random.Random, anchor: int
) -> bytes:
    """Commits adding the tracked files a few at a time (the first one a third of them), some files
    reaching their final content through an earlier, shorter version."""
    order = list(tracked)
    rng.shuffle(order)
    first, rest = order[: len(order) // 3], order[len(order) // 3 :]
    batches = [first] + [rest[i : i + max(1, len(rest) // 45)] for i in range(0, len(rest), max(1, len(rest) // 45))]
    out, mark, parent = io.BytesIO(), 0, None
    when = anchor - 150 * DAY
    for number, batch in enumerate(batches):
        changes = []
        for path in batch:
            data = committed[path]
            lines = data.split(b"\n")
            if number and len(lines) > 6 and rng.random() < 0.3:  # an earlier version, finished later
                mark += 1
                out.write(blob(mark, b"\n".join(lines[:-3]) + b"\n"))
                changes.append((mark, path))
            else:
                mark += 1
                out.write(blob(mark, data))
                changes.append((mark, path))
        when += rng.randint(1, 5) * DAY // 2
        message = "initial commit" if number == 0 else rng.choice(COMMIT_MESSAGES)
        mark += 1
        out.write(commit(mark, parent, changes, modes, message, when))
        parent = mark
    # Finish every file that got an earlier version (and re-add nothing else).
    final = []
    for path in tracked:
        mark += 1
        out.write(blob(mark, committed[path]))
        final.append((mark, path))
    mark += 1
    out.write(commit(mark, parent, final, modes, "update dependencies", anchor - 2 * DAY))
    out.write(b"reset refs/tags/v1.0\nfrom :%d\n\n" % parent)
    return out.getvalue()


def blob(mark: int, data: bytes) -> bytes:
    return b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data)


def commit(
    mark: int, parent: int | None, changes: list[tuple[int, str]], modes: dict[str, int], message: str, when: int
) -> bytes:
    who = b"Sam Developer <sam@example.com> %d +0000" % when
    text = message.encode()
    head = b"commit refs/heads/main\nmark :%d\nauthor %s\ncommitter %s\ndata %d\n%s\n" % (
        mark,
        who,
        who,
        len(text),
        text,
    )
    if parent is not None:
        head += b"from :%d\n" % parent
    body = b"".join(b"M %o :%d %s\n" % (modes[path], m, quote_path(path)) for m, path in changes)
    return head + body + b"\n"


def quote_path(path: str) -> bytes:
    """fast-import takes a path as the rest of the line; C-style quotes when it has quotes or newlines."""
    raw = path.encode()
    if b'"' in raw or b"\n" in raw or b"\\" in raw:
        return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n") + b'"'
    return raw


def run_git(args: list[str], cwd: Path, env: dict[str, str], stdin: bytes | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True, check=False)
    if result.returncode:
        raise ShelltuneError(
            f"building the fixture's git repository: git {' '.join(args[:2])} failed: "
            f"{result.stderr.decode(errors='replace').strip()[:300]}"
        )
    return result.stdout.decode()
