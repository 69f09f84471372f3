"""`shelltune shell-init bash|zsh|fish`: print the code that binds a key to turn English into a command.

    eval "$(shelltune shell-init bash)"          # in ~/.bashrc (zsh: ~/.zshrc)
    shelltune shell-init fish | source           # in ~/.config/fish/config.fish

Type a request on the command line ("find files over 100MB in /var/log"), press Ctrl-X Ctrl-A, and the
line becomes the model's command, to read, edit and run yourself; a command the safety scanner refuses
comes back as a comment saying why. It asks `shelltune serve`, which must be running
(`shelltune.shellinit`).
"""

from __future__ import annotations

import argparse

from shelltune.errors import add_common_options, run_cli
from shelltune.shellinit import SHELLS, snippet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="shelltune shell-init",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to print the code for")
    parser.add_argument(
        "--key", default=None, help=r"the key, in the shell's own notation (default: Ctrl-X Ctrl-A: \C-x\C-a, ^X^A)"
    )
    parser.add_argument(
        "--url", default=None, help="shelltune serve's address (default: $SHELLTUNE_URL, else http://127.0.0.1:8765)"
    )
    add_common_options(parser, params=False)
    args = parser.parse_args(argv)

    def entry() -> int:
        print(snippet(args.shell, args.key, args.url), end="")
        return 0

    return run_cli(entry, args.debug, args.quiet)


if __name__ == "__main__":
    raise SystemExit(main())
