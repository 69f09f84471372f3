"""Programs that run a command for you, read for the command they run.

Beyond the plain prefix wrappers of shellwords.WRAPPERS (`sudo`, `nice`, `pkexec`...), these take the
command in their own way: terminal multiplexers start it in a session or type it into one (`screen -dm
CMD`, `screen -X stuff 'CMD\\n'`, `tmux new -d 'CMD'`, `tmux send-keys 'CMD' Enter`), `parallel` runs it
once per argument, terminal emulators run it in a new window (`xterm -e CMD`, `gnome-terminal -- CMD`),
`expect` spawns it, `sg` runs it with another group. Each yields shell code (a string a shell reads) or
an argv (words run as they are), for the walk to judge like any other command.
"""

from __future__ import annotations

import re

from shelltune.safety.shellwords import skip_options

Launch = tuple[str, str | list[str], str]  # ("code", text, how) or ("argv", words, how)

SCREEN_VALUES = frozenset({"-S", "-c", "-t", "-e", "-h", "-p", "-T", "-s", "-Logfile", "-X"})
TMUX_STARTERS = frozenset({"new-session", "new", "new-window", "neww", "split-window", "splitw",
                           "respawn-pane", "respawnp", "respawn-window", "respawnw", "run-shell", "run"})  # fmt: skip
TMUX_VALUES = frozenset({"-s", "-n", "-c", "-t", "-x", "-y", "-e", "-F", "-l", "-N", "-f", "-T"})
TMUX_KEYS = re.compile(r"(Enter|KPEnter|C-[mjc]|Escape|Tab|Space|BSpace|Up|Down|Left|Right)", re.I)
PARALLEL_VALUES = frozenset({"-j", "--jobs", "-S", "--sshlogin", "-a", "--arg-file", "-d", "--delimiter",
                             "-I", "--replace", "--joblog", "--results", "--tmpdir", "-n", "--max-args",
                             "--timeout", "--retries", "--colsep", "-C", "--halt"})  # fmt: skip
TERMINALS = frozenset({"xterm", "uxterm", "rxvt", "urxvt", "konsole", "kitty", "alacritty", "terminator",
                       "xfce4-terminal", "x-terminal-emulator", "lxterminal", "mate-terminal", "tilix",
                       "gnome-terminal", "foot", "wezterm", "st"})  # fmt: skip
EXPECT_SPAWN = re.compile(r"\bspawn\s+([^;\n]+)")
EXPECT_SEND = re.compile(r"\bsend\s+(?:--\s+)?\"((?:[^\"\\]|\\.)*)\"")
EDITORS = frozenset({"vim", "vi", "nvim", "ex", "view", "vimdiff", "gvim", "rvim"})
EDITOR_SHELL = re.compile(r"^:*\s*(?:silent!?\s*|exe(?:cute)?\s*)?!(.+)$", re.S)  # `:!CMD`, `:silent !CMD`
PACKAGE_RUNNERS = frozenset({"npx", "bunx", "pnpx"})
PACKAGE_RUNNER_VALUES = frozenset({"-p", "--package", "-c", "--call"})
REMOVER_PACKAGES = frozenset({"rimraf", "del-cli", "trash-cli"})
LAUNCHERS = frozenset({"screen", "tmux", "parallel", "expect", "sg", "ansible", *TERMINALS, *EDITORS, *PACKAGE_RUNNERS})
ANSIBLE_VALUES = frozenset({"-i", "--inventory", "-m", "--module-name", "-a", "--args", "-u", "--user", "-e",
                            "--extra-vars", "-f", "--forks", "-l", "--limit", "-M", "--module-path", "--become-user",
                            "-T", "--timeout", "-B", "-P", "-c", "--connection"})  # fmt: skip


def typed(text: str) -> str:
    """Text typed into a shell: `\\n`, `\\r` and `^M` end lines."""
    return re.sub(r"\\[nr]|\^M", "\n", text)


def launched(name: str, args: list[str]) -> list[Launch]:
    """What `name args` runs for you; empty when it runs nothing (or is not a launcher)."""
    if name == "screen":
        return screen(args)
    if name == "tmux":
        return tmux(args)
    if name == "parallel":
        return parallel(args)
    if name in TERMINALS:
        return terminal(name, args)
    if name == "expect":
        return expect(args)
    if name == "ansible":
        return ansible(args)
    if name in EDITORS:
        return editor(args)
    if name == "git":
        return git_alias(args)
    if name in PACKAGE_RUNNERS:
        return package_runner(args)
    if name in ("tar", "bsdtar", "gtar") and "--remove-files" in args:
        return tar_removed(args)
    if name == "sg" and len(args) >= 2:
        rest = args[1:]
        if rest[0] == "-c" and len(rest) > 1:
            return [("code", rest[1], "run by sg")]
        return [("argv", rest, "run by sg")]
    return []


def screen(args: list[str]) -> list[Launch]:
    if "-X" in args:
        rest = args[args.index("-X") + 1 :]
        if rest[:1] == ["stuff"] and len(rest) > 1:
            return [("code", typed(" ".join(rest[1:])), "typed into a screen session")]
        return []
    command = skip_clustered(args, SCREEN_VALUES)
    return [("argv", command, "started in a screen session")] if command else []


def skip_clustered(args: list[str], with_value: frozenset[str]) -> list[str]:
    """The words after the options, where a cluster ending in a value letter takes the next word
    (`screen -dmS NAME CMD`)."""
    letters = {v[1] for v in with_value if len(v) == 2}
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        word = args[i]
        if word == "--":
            return args[i + 1 :]
        takes = word in with_value or (not word.startswith("--") and word[-1] in letters)
        i += 2 if takes else 1
    return args[i:]


def tmux(args: list[str]) -> list[Launch]:
    rest = skip_options(args, frozenset({"-L", "-S", "-f", "-c"}), 0, False)
    if not rest:
        return []
    verb, words = rest[0], skip_options(rest[1:], TMUX_VALUES, 0, False)
    if verb in ("send-keys", "send"):
        text = "\n".join(w for w in words if not TMUX_KEYS.fullmatch(w))
        return [("code", typed(text), "typed into a tmux session")] if text.strip() else []
    if verb in TMUX_STARTERS and words:
        # one word is a shell command line; several are a command and its arguments
        return (
            [("code", words[0], "started in a tmux session")]
            if len(words) == 1
            else [("argv", words, "started in a tmux session")]
        )
    return []


def parallel(args: list[str]) -> list[Launch]:
    """`parallel CMD ::: a b` runs `CMD a` and `CMD b` (`{}` marks where the argument goes)."""
    words = skip_options(args, PARALLEL_VALUES, 0, False)
    if {"--dry-run", "--dryrun"} & set(args[: len(args) - len(words)]):
        return []  # prints the commands, runs none
    if ":::" in words:
        at = words.index(":::")
        command, items = words[:at], [w for w in words[at + 1 :] if w not in (":::", "::::")]
    else:
        command, items = words, ["<item>"]
    if not command:
        return []
    runs: list[Launch] = []
    for item in items[:8]:
        marked = any("{}" in w for w in command)
        words = [w.replace("{}", item) for w in command] if marked else [*command, item]
        if any(re.search(r"\s", w) for w in command):  # `parallel 'chmod -R 777 {}' ::: /usr`: a shell reads it
            runs.append(("code", " ".join(words), "run by parallel"))
        else:
            runs.append(("argv", words, "run by parallel"))
    return runs


def terminal(name: str, args: list[str]) -> list[Launch]:
    for marker in ("--", "-e", "-x", "--command", "--execute"):
        if marker in args:
            rest = args[args.index(marker) + 1 :]
            if not rest:
                return []
            how = f"run in a new {name} window"
            return [("code", rest[0], how)] if len(rest) == 1 else [("argv", rest, how)]
    return []


def expect(args: list[str]) -> list[Launch]:
    if "-c" not in args or args.index("-c") + 1 >= len(args):
        return []
    code = args[args.index("-c") + 1]
    found: list[Launch] = [("code", spawned.strip(), "spawned by expect") for spawned in EXPECT_SPAWN.findall(code)]
    found += [("code", typed(text), "typed by expect") for text in EXPECT_SEND.findall(code) if text.strip()]
    return found


def ansible(args: list[str]) -> list[Launch]:
    """An ad-hoc run on every matched host: the shell/command/raw module runs its arguments as a command,
    `file state=absent` deletes, the reboot module reboots."""
    module = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-m", "--module-name")), "command")
    text = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-a", "--args")), "")
    module = module.removeprefix("ansible.builtin.")
    how = "run by ansible on every matched host"
    if module in ("shell", "command", "raw") and text:
        return [("code", text, how)]
    if module == "file":
        fields = dict(re.findall(r"(\w+)=(\S+)", text))
        path = fields.get("path") or fields.get("dest") or fields.get("name")
        if fields.get("state") == "absent" and path:
            return [("argv", ["rm", "-rf", path], how)]
    if module == "reboot":
        return [("argv", ["reboot"], how)]
    return []


def editor(args: list[str]) -> list[Launch]:
    """Ex commands given on vim's command line (`-c CMD`, `--cmd CMD`, `+CMD`): `:!CMD` runs CMD in a shell."""
    commands = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-c", "--cmd")]
    commands += [a[1:] for a in args if a.startswith("+") and len(a) > 1]
    found: list[Launch] = []
    for text in commands:
        match = EDITOR_SHELL.match(text.strip())
        if match:
            found.append(("code", match.group(1), "run by the editor's :! command"))
    return found


GIT_VALUES = frozenset({"-c", "-C", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--config-env"})


def git_alias(args: list[str]) -> list[Launch]:
    """`git -c alias.NAME='!CMD' NAME`: an alias starting with `!` is shell code, run when NAME is called."""
    aliases = {}
    for i, word in enumerate(args[:-1]):
        if word == "-c":
            key, _, value = args[i + 1].partition("=")
            if key.lower().startswith("alias.") and value.lstrip().startswith("!"):
                aliases[key[len("alias.") :]] = value.lstrip()[1:]
    if not aliases:
        return []
    rest = skip_options(args, GIT_VALUES, 0, False)
    if not rest or rest[0] not in aliases:
        return []
    return [("code", " ".join([aliases[rest[0]], *(quote_word(w) for w in rest[1:])]), "run by a git alias")]


def quote_word(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def package_runner(args: list[str]) -> list[Launch]:
    """`npx rimraf PATH` deletes PATH as `rm -rf` would; other packages run code nobody can read here."""
    rest = skip_options(args, PACKAGE_RUNNER_VALUES, 0, False)
    if rest and rest[0].partition("@")[0] in REMOVER_PACKAGES:
        targets = [w for w in rest[1:] if not w.startswith("-")]
        return [("argv", ["rm", "-rf", "--", *targets], f"deleted by {rest[0]}")] if targets else []
    return []


TAR_VALUES = frozenset({"-f", "--file", "-C", "--directory", "-T", "--files-from", "-X", "--exclude-from",
                        "--exclude", "-b", "-H", "--format", "-I", "--use-compress-program", "-N", "-g"})  # fmt: skip


def tar_removed(args: list[str]) -> list[Launch]:
    """`tar --remove-files -czf x.tgz DIR` deletes DIR once it is archived, as `rm -rf DIR` would."""
    words, i = [], 0
    while i < len(args):
        word = args[i]
        if word in TAR_VALUES:
            i += 2
            continue
        first = all(a.startswith("--") for a in args[:i])  # `tar czf x.tgz DIR`: the first word is a cluster
        clustered = re.fullmatch(r"-?[A-Za-z]+", word) and not word.startswith("--") and (word[0] == "-" or first)
        if clustered and "f" in word:
            i += 2
            continue
        if not word.startswith("-") and not clustered:
            words.append(word)
        i += 1
    return [("argv", ["rm", "-rf", "--", *words], "removed by tar --remove-files")] if words else []
