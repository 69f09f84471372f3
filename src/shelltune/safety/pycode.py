"""Python one-liners read with Python's own parser: what the code does, as shell commands the rules judge.

`python3 -c "import shutil, os; shutil.rmtree(os.path.expanduser('~'))"` is `rm -rf ~`; so is
`from shutil import rmtree as r; r(os.environ['HOME'])`. The code is parsed with `ast` (never run), imports
and aliases are followed (`import subprocess as s`, `__import__('os')`), simple assignments, string
concatenation, f-strings, `%` formatting, `' '.join([...])`, `os.path.join` and home lookups are folded
to constants, and each call that acts on the system becomes the shell command that does the same: a
shell call its command line (`os.system`, `subprocess.run`, `os.popen`, `os.exec*`), a file call its
`rm`/`chmod`/`kill`/`: >` equivalent. What has no shell equivalent is reported directly: a fork loop,
memory grown without bound, code downloaded and executed, a credential sent over the network.
"""

from __future__ import annotations

import ast
import contextlib
import posixpath
import re
import shlex
from dataclasses import dataclass, field

UNKNOWN = "<?>"
HOME_VARIABLES = frozenset({"HOME", "USERPROFILE"})
SHELL_CALLS = frozenset(
    {"os.system", "os.popen", "subprocess.run", "subprocess.call", "subprocess.check_call",
     "subprocess.check_output", "subprocess.Popen", "subprocess.getoutput", "subprocess.getstatusoutput",
     "commands.getoutput", "pty.spawn", "asyncio.create_subprocess_shell", "asyncio.create_subprocess_exec"}
)  # fmt: skip
EXEC_FILE_ARGV = frozenset({"os.execv", "os.execve", "os.execvp", "os.execvpe"})  # (file, argv)
EXEC_FILE_ARGS = frozenset({"os.execl", "os.execle", "os.execlp", "os.execlpe"})  # (file, arg0, arg1, ...)
SPAWN = re.compile(r"os\.spawnv?p?e?")
REMOVE_TREE = frozenset({"shutil.rmtree"})
REMOVE_FILE = frozenset({"os.remove", "os.unlink", "pathlib.Path.unlink"})
WRITE_PATH = frozenset({"pathlib.Path.write_text", "pathlib.Path.write_bytes"})
FETCHERS = re.compile(r"(urlopen|urlretrieve|requests\.\w+|httpx\.\w+)$")
SENDERS = re.compile(r"(requests|httpx)\.(post|put|patch|request)$|(urllib\.request\.)?(urlopen|Request)$")
LISTERS = frozenset({"os.listdir", "os.scandir", "glob.glob", "glob.iglob", "os.walk"})
HUGE = 2**34  # bytes: 16 GiB held in memory at once
SIGNALS = {"SIGKILL": 9, "SIGTERM": 15, "SIGHUP": 1, "SIGINT": 2, "SIGSTOP": 19, "SIGUSR1": 10}


@dataclass
class Effects:
    shell: list[str] = field(default_factory=list)  # command lines that do what the code does
    structural: list[tuple[str, str]] = field(default_factory=list)  # (category, reason)
    parsed: bool = True  # False: not Python the parser accepts (the caller falls back to reading text)


def python_effects(code: str) -> Effects:
    """What a Python program does to the system, as far as its text shows."""
    try:
        tree = ast.parse(code[:20_000])
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Effects(parsed=False)
    reader = Reader()
    with contextlib.suppress(RecursionError):  # deeply nested code: what was read so far still counts
        reader.visit(tree)
    return reader.effects


class Reader(ast.NodeVisitor):
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # local name -> dotted name (`s` -> `shutil`)
        self.values: dict[str, object] = {}  # local name -> folded constant
        self.effects = Effects()

    # ------------------------------------------------------------ names and constants

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        value = self.fold(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.values[target.id] = value
                dotted = self.dotted(node.value)
                if dotted and value is None:
                    self.aliases[target.id] = dotted  # `rm = shutil.rmtree`
            elif isinstance(target, ast.Tuple) and isinstance(value, list):
                for name, item in zip(target.elts, value, strict=False):
                    if isinstance(name, ast.Name):
                        self.values[name.id] = item

    def visit_comprehension(self, node: ast.comprehension) -> None:
        listed = self.listing(node.iter)
        if isinstance(node.target, ast.Name) and listed is not None:
            self.values[node.target.id] = listed
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self.endless_loop_effects([node.iter], list(ast.walk(ast.Module(body=node.body, type_ignores=[]))))
        self.visit_comprehension(node)  # type: ignore[arg-type]  # the same fields: target, iter, body

    def visit_comprehensions(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        """The loop variables first (bound to what they list), then the element that uses them."""
        for generator in node.generators:
            self.visit(generator)
        for part in ("elt", "key", "value"):
            if hasattr(node, part):
                self.visit(getattr(node, part))

    visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_comprehensions

    def listing(self, node: ast.AST) -> str | None:
        """`os.listdir(D)` / `glob.glob(P)` as the pattern of what it lists: `D/*`, `P`."""
        if isinstance(node, ast.Call) and node.args:
            name = self.dotted(node.func)
            argument = self.fold(node.args[0])
            if name in LISTERS and isinstance(argument, str):
                return argument if "glob" in name else posixpath.join(argument, "*")
            if name and name.endswith((".iterdir", ".glob", ".rglob")):
                base = self.fold(node.func.value) if isinstance(node.func, ast.Attribute) else None
                if isinstance(base, str):
                    return posixpath.join(base, "*")
        return None

    def dotted(self, node: ast.AST) -> str | None:
        """The dotted name a call target stands for, aliases resolved: `s.rmtree` -> `shutil.rmtree`,
        `__import__('os').system` -> `os.system`, `Path(x).unlink` -> `pathlib.Path.unlink`."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            name = self.dotted(node.func)
            if name == "__import__" and node.args:
                module = self.fold(node.args[0])
                return module if isinstance(module, str) else None
            if name in ("pathlib.Path", "Path", "pathlib.PurePath", "pathlib.PosixPath"):
                return "pathlib.Path"
            if name and name.startswith("pathlib.Path."):
                return "pathlib.Path"  # Path.home(), Path(x).expanduser(): still a path
        return None

    def fold(self, node: ast.AST | None) -> object:
        """A constant for the expression when the code's text determines one, else None."""
        try:
            return self.fold_node(node)
        except (TypeError, ValueError, OverflowError, MemoryError, ZeroDivisionError, IndexError):
            return None

    def fold_node(self, node: ast.AST | None) -> object:
        if node is None:
            return None
        if isinstance(node, ast.Constant):
            return node.value.decode("utf-8", "replace") if isinstance(node.value, bytes) else node.value
        if isinstance(node, ast.Name):
            return self.values.get(node.id)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.fold(e) for e in node.elts]
            return [UNKNOWN if i is None else i for i in items]
        if isinstance(node, ast.JoinedStr):
            return "".join(self.text(v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values)
        if isinstance(node, ast.BinOp):
            return self.fold_binary(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self.fold(node.operand)
            return -value if isinstance(value, int) else None
        if isinstance(node, ast.Subscript):
            return self.fold_subscript(node)
        if isinstance(node, ast.Call):
            return self.fold_call(node)
        if isinstance(node, ast.Attribute) and self.dotted(node) and self.dotted(node).startswith("signal.SIG"):
            return SIGNALS.get(node.attr)
        return None

    def text(self, node: ast.AST) -> str:
        value = self.fold(node)
        return value if isinstance(value, str) else (str(value) if isinstance(value, int) else UNKNOWN)

    def fold_binary(self, node: ast.BinOp) -> object:
        left, right = self.fold(node.left), self.fold(node.right)
        if isinstance(node.op, ast.Add) and isinstance(left, str | list) and type(left) is type(right):
            return left + right  # type: ignore[operator]
        if isinstance(node.op, ast.Add) and (isinstance(left, str) or isinstance(right, str)):
            return (left if isinstance(left, str) else UNKNOWN) + (right if isinstance(right, str) else UNKNOWN)
        if isinstance(node.op, ast.Div) and isinstance(left, str) and isinstance(right, str):
            return posixpath.join(left, right)  # Path('/') / 'etc'
        if isinstance(node.op, ast.Mod) and isinstance(left, str):
            values = right if isinstance(right, list) else [right]
            return re.sub(r"%[sdr]", lambda _: str(values.pop(0)) if values else UNKNOWN, left)
        if isinstance(left, int) and isinstance(right, int):
            return fold_int(node.op, left, right)
        if isinstance(node.op, ast.Mult) and isinstance(left, str | list) and isinstance(right, int):
            return Size(len(left) * right)  # a sized allocation: only its size matters
        if isinstance(node.op, ast.Mult) and isinstance(right, str | list) and isinstance(left, int):
            return Size(len(right) * left)
        return None

    def fold_subscript(self, node: ast.Subscript) -> object:
        if self.dotted(node.value) == "os.environ":
            key = self.fold(node.slice)
            return "~" if key in HOME_VARIABLES else None
        return None

    def fold_call(self, node: ast.Call) -> object:
        name = self.dotted(node.func) or ""
        args = [self.fold(a) for a in node.args]
        first = args[0] if args else None
        if name in ("os.environ.get", "os.getenv"):
            return "~" if first in HOME_VARIABLES else None
        if name in ("os.path.expanduser", "os.path.abspath", "os.path.realpath", "os.path.normpath", "str",
                    "os.fspath", "pathlib.Path"):  # fmt: skip
            if name == "pathlib.Path" and not args:
                return None
            return first if isinstance(first, str) else None
        if name.endswith(".home"):
            return "~"  # Path.home()
        if name.endswith(".expanduser") and isinstance(node.func, ast.Attribute):
            return self.fold(node.func.value)  # Path('~').expanduser()
        if name == "os.path.join" and args:
            return posixpath.join(*(a if isinstance(a, str) else UNKNOWN for a in args))
        if isinstance(node.func, ast.Attribute) and node.func.attr == "join":
            separator = self.fold(node.func.value)
            if isinstance(separator, str) and isinstance(first, list):
                return separator.join(str(i) for i in first)
        if name in ("bytearray", "bytes") and isinstance(first, int):
            return Size(first)
        return None

    # ------------------------------------------------------------ effects

    def visit_While(self, node: ast.While) -> None:
        forever = isinstance(node.test, ast.Constant) and bool(node.test.value)
        inner = list(ast.walk(ast.Module(body=node.body, type_ignores=[])))
        if forever and not any(isinstance(n, ast.Break) for n in inner):
            calls = {self.dotted(n.func) for n in inner if isinstance(n, ast.Call)}
            if "os.fork" in calls:
                self.report("fork_bomb", "forks in an endless loop")
            elif any(c and c.split(".")[-1] in ("append", "extend") for c in calls) or any(
                isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Add | ast.Mult) for n in inner
            ):
                self.report("resource_exhaustion", "grows a value in memory in an endless loop")
        self.generic_visit(node)

    def endless_iterator(self, node: ast.AST) -> bool:
        """`iter(int, 1)` (a callable that never returns its sentinel), `itertools.count()`, `cycle`, `repeat(x)`."""
        if not isinstance(node, ast.Call):
            return False
        name = self.dotted(node.func) or ""
        if name == "iter" and len(node.args) == 2:
            func, sentinel = node.args[0], self.fold(node.args[1])
            constant = {"int": 0, "float": 0, "str": "", "list": [], "dict": {}, "tuple": ()}
            return isinstance(func, ast.Name) and func.id in constant and constant[func.id] != sentinel
        return name in ("itertools.count", "itertools.cycle") or (
            name == "itertools.repeat" and len(node.args) == 1 and not node.keywords
        )

    def endless_loop_effects(self, iterators: list[ast.AST], body: list[ast.AST]) -> None:
        if not any(self.endless_iterator(i) for i in iterators) or any(isinstance(n, ast.Break) for n in body):
            return
        calls = {self.dotted(n.func) for n in body if isinstance(n, ast.Call)}
        if "os.fork" in calls:
            self.report("fork_bomb", "forks in an endless loop")
        elif any(c and c.split(".")[-1] in ("append", "extend", "bytearray", "bytes") for c in calls):
            self.report("resource_exhaustion", "grows a value in memory in an endless loop")

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self.endless_loop_effects([g.iter for g in node.generators], list(ast.walk(node.elt)))
        self.visit_comprehensions(node)
        element = self.fold(node.elt)
        count = 1
        for generator in node.generators:
            if isinstance(generator.iter, ast.Call) and self.dotted(generator.iter.func) == "range":
                bound = self.fold(generator.iter.args[-1]) if generator.iter.args else None
                count *= bound if isinstance(bound, int) else 1
        if isinstance(element, Size) and element * count >= HUGE:
            self.report("resource_exhaustion", f"allocates {format_size(element * count)} of memory")

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self.generic_visit(node)
        size = self.fold(node)
        if isinstance(size, Size) and size >= HUGE:
            self.report("resource_exhaustion", f"builds a value of {format_size(size)} in memory")

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        name = self.dotted(node.func) or ""
        for line in self.shell_equivalent(name, node):
            self.effects.shell.append(line)
        if name in ("exec", "eval") and node.args and self.fetches(node.args[0]):
            self.report("remote_code_execution", "executes code downloaded from the network")
        sent = self.sent_file(name, node)
        if sent:
            self.effects.shell.append(f"curl --data-binary @{shlex.quote(sent)} https://upload.invalid")
        size = next((self.fold(a) for a in node.args), None) if name in ("bytearray", "bytes") else None
        if isinstance(size, int) and size >= HUGE:
            self.report("resource_exhaustion", f"allocates {format_size(size)} of memory")

    def shell_equivalent(self, name: str, node: ast.Call) -> list[str]:
        args = [self.fold(a) for a in node.args]
        first = args[0] if args else None
        if name in SHELL_CALLS or SPAWN.fullmatch(name):
            command = next((a for a in args if isinstance(a, str | list)), None)
            return [as_command_line(command)] if command is not None else []
        if name in EXEC_FILE_ARGV and len(args) >= 2:
            return [as_command_line(args[1])]
        if name in EXEC_FILE_ARGS and len(args) >= 2:
            return [as_command_line(args[1:])]
        written = self.written_through_open(node, first)
        if written:
            return [written]
        path = self.path_of(name, node, first)
        if name in REMOVE_TREE and isinstance(first, str):
            return [f"rm -rf {quote_path(first)}"]
        if name in REMOVE_FILE and path:
            return [f"rm -f {quote_path(path)}"]
        if (name in WRITE_PATH and path) or (name == "open" and isinstance(first, str) and opens_for_writing(node)):
            return [f": > {quote_path(path or first)}"]  # type: ignore[arg-type]
        if name == "os.chmod" and isinstance(first, str) and len(args) > 1 and isinstance(args[1], int):
            return [f"chmod {args[1]:o} {quote_path(first)}"]
        if name in ("os.kill", "os.killpg") and isinstance(first, int):
            signal = args[1] if len(args) > 1 and isinstance(args[1], int) else 15
            return [f"kill -{signal} {'-' if name == 'os.killpg' and first == 0 else ''}{first}"]
        if name in ("shutil.move", "os.rename", "os.replace") and isinstance(first, str) and len(args) > 1:
            return [f"mv {quote_path(first)} {quote_path(str(args[1]))}"]
        return []

    def written_through_open(self, node: ast.Call, text: object) -> str | None:
        """`open(P, 'a').write(TEXT)` is `printf '%s' TEXT >> P` (`'w'`: `>`), for the rules that read what
        a file is given (an account line in /etc/passwd, a command in a startup file)."""
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "write" and isinstance(func.value, ast.Call)):
            return None
        opened = func.value
        if self.dotted(opened.func) != "open" or not opened.args or not isinstance(text, str):
            return None
        path = self.fold(opened.args[0])
        mode = (
            opened.args[1]
            if len(opened.args) > 1
            else next((k.value for k in opened.keywords if k.arg == "mode"), None)
        )
        if not isinstance(path, str) or not isinstance(mode, ast.Constant) or not isinstance(mode.value, str):
            return None
        redirect = ">>" if "a" in mode.value else ">" if "w" in mode.value else None
        return f"printf '%s' {shlex.quote(text)} {redirect} {quote_path(path)}" if redirect else None

    def path_of(self, name: str, node: ast.Call, first: object) -> str | None:
        """The path a method acts on: `Path('/etc/shadow').unlink()` -> `/etc/shadow`."""
        if name.startswith("pathlib.Path.") and isinstance(node.func, ast.Attribute):
            base = self.fold(node.func.value)
            return base if isinstance(base, str) else None
        return first if isinstance(first, str) else None

    def fetches(self, node: ast.AST) -> bool:
        return any(isinstance(n, ast.Call) and FETCHERS.search(self.dotted(n.func) or "") for n in ast.walk(node))

    def sent_file(self, name: str, node: ast.Call) -> str | None:
        """A file whose contents a network call sends: `requests.post(URL, data=open(PATH).read())`."""
        if not SENDERS.search(name):
            return None
        for keyword in node.keywords:
            for inner in ast.walk(keyword.value):
                if isinstance(inner, ast.Call) and self.dotted(inner.func) == "open" and inner.args:
                    path = self.fold(inner.args[0])
                    if isinstance(path, str):
                        return path
        return None

    def report(self, category: str, reason: str) -> None:
        if (category, reason) not in self.effects.structural:
            self.effects.structural.append((category, reason))


class Size(int):
    """The size in bytes of a value the code builds (`' ' * 10**13`, `bytearray(2**30)`)."""


def fold_int(op: ast.operator, left: int, right: int) -> int | None:
    if isinstance(op, ast.Pow):
        return left**right if abs(right) <= 256 and abs(left) <= 2**16 else None
    if isinstance(op, ast.Mult):
        return left * right
    if isinstance(op, ast.Add):
        return left + right
    if isinstance(op, ast.Sub):
        return left - right
    if isinstance(op, ast.LShift):
        return left << right if right <= 256 else None
    return None


def opens_for_writing(node: ast.Call) -> bool:
    mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "w" in mode.value


def as_command_line(command: object) -> str:
    """A command line from a string (as a shell reads it) or an argv list (each item one word)."""
    if isinstance(command, list):
        return " ".join(UNKNOWN if item == UNKNOWN else shlex.quote(str(item)) for item in command)
    return str(command)


def quote_path(path: str) -> str:
    """A path as a shell word that keeps its globs (`/etc/*` from `os.listdir('/etc')`) and `~`."""
    return path if re.fullmatch(r"[\w@%+=:,./~*?\[\]!-]+", path) else shlex.quote(path)


def format_size(size: int) -> str:
    return f"{size / 2**30:,.0f} GiB"
