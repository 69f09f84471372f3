"""The shell code `shelltune shell-init bash|zsh|fish` prints: a key that turns the English on the command
line into the model's command, put on the line to read and edit, never run.

The key (Ctrl-X Ctrl-A by default) sends the line to `shelltune serve` through `shelltune.shellclient`,
started with this Python in isolated mode, and puts the answer in its place, cursor at the end: the
command, or, when the safety scanner refused it, a shell comment with the category, the reason and the
command (`# refused [...]`), which does nothing if run. When the server cannot answer, the line stays as
it was and the reason is shown. Nothing is executed: Enter is still the user's.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")
DEFAULT_KEYS = {"bash": r"\C-x\C-a", "zsh": "^X^A", "fish": r"\cx\ca"}

HEADER = """\
# shelltune: {key} turns the English on the command line into a shell command from the model
# (`shelltune serve` must be running). The command is put on the line to read and edit; it is never run.
# Add to {rc}:  eval "$(shelltune shell-init {shell})"{fish_note}
"""

BASH = """\
__shelltune_line() {{
    local out
    if out=$({client} "$READLINE_LINE" 2>&1); then
        READLINE_LINE=$out
        READLINE_POINT=${{#READLINE_LINE}}
    else
        printf '%s\\n' "$out" >&2
    fi
}}
bind -x '"{key}": __shelltune_line'
"""

ZSH = """\
__shelltune_line() {{
    local out
    if out=$({client} "$BUFFER" 2>&1); then
        BUFFER=$out
        CURSOR=${{#BUFFER}}
    else
        zle -M "$out"
    fi
}}
zle -N __shelltune_line
bindkey '{key}' __shelltune_line
"""

FISH = """\
function __shelltune_line
    set -l out ({client} (commandline) 2>&1)
    if test $status -eq 0
        commandline -r -- (string join \\n -- $out)
        commandline -f end-of-line
    else
        echo
        printf '%s\\n' $out >&2
        commandline -f repaint
    end
end
bind {key} __shelltune_line
"""

TEMPLATES = {"bash": BASH, "zsh": ZSH, "fish": FISH}
RC_FILES = {"bash": "~/.bashrc", "zsh": "~/.zshrc", "fish": "~/.config/fish/config.fish"}


def client_command(python: str, url: str | None) -> str:
    """How the shell starts the client: this Python, isolated and without site-packages (fast), on the
    client file, with the server's URL when one was given."""
    from shelltune import shellclient

    command = f"{shlex.quote(python)} -I -S {shlex.quote(str(Path(shellclient.__file__).resolve()))}"
    return f"SHELLTUNE_URL={shlex.quote(url)} {command}" if url else command


def snippet(shell: str, key: str | None = None, url: str | None = None, python: str | None = None) -> str:
    if shell not in SHELLS:
        raise ValueError(f"unknown shell {shell!r}; one of {', '.join(SHELLS)}")
    key = key or DEFAULT_KEYS[shell]
    client = client_command(python or sys.executable, url)
    if shell == "fish" and url:  # fish has no VAR=value prefix before 3.1's `env`-less form in all versions
        client = f"env {client}"
    fish_note = " | source" if shell == "fish" else ""
    header = HEADER.format(key=key, rc=RC_FILES[shell], shell=shell, fish_note=fish_note)
    if shell == "fish":
        header = header.replace('eval "$(shelltune shell-init fish)" | source', "shelltune shell-init fish | source")
    return header + TEMPLATES[shell].format(client=client, key=key)
