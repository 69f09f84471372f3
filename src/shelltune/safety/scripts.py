"""One-liners in languages without a parser here (Node, Ruby, Perl, PHP, Lua, awk, sed), read for what
their file and process calls do.

The same calls exist in every scripting language under a few names: delete a tree (`fs.rmSync(p,
{recursive: true})`, `FileUtils.rm_rf(p)`, `rmtree(p)`), delete a file (`unlinkSync`, `unlink`,
`os.remove`), overwrite one (`writeFileSync`, `File.write`, `file_put_contents`). `file_actions`
finds them, folds string concatenation (`"r" . "m -rf /"`) and home lookups (`os.homedir()`,
`Dir.home`, `$ENV{HOME}`) to constants, and returns the shell command each stands for, for the rules
to judge. awk's `print ... | "sh"` and `system(var)`, and sed's `e` command and `s///e` flag, run text
as shell commands: `awk_commands` and `sed_commands` return that text.
"""

from __future__ import annotations

import re

from shelltune.safety.decode import call_arguments

STRING = r"\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'"
CONCATENATION = re.compile(rf"(?:{STRING})\s*(?:\.\.|\.|\+)\s*(?:{STRING})")
HOME_LOOKUPS = re.compile(
    r"(?:require\(\s*['\"]os['\"]\s*\)|\bos)\.homedir\(\)|process\.env\.HOME\b|process\.env\[['\"]HOME['\"]\]"
    r"|\bDir\.home\b|\bENV\[['\"]HOME['\"]\]|\$ENV\{['\"]?HOME['\"]?\}|\bos\.getenv\(\s*['\"]HOME['\"]\s*\)"
    r"|\bgetenv\(\s*['\"]HOME['\"]\s*\)|File\.expand_path\(\s*['\"]~['\"]\s*\)"
)
# name -> the shell command it performs on its path argument ("tree": rm -rf, "file": rm, "write": : >)
FILE_CALLS = {
    **dict.fromkeys(("rm_rf", "rm_r", "remove_dir", "remove_entry", "remove_entry_secure", "rmtree",
                     "remove_tree", "rimraf", "removeSync", "emptyDirSync", "rmrf", "deleteDirectory"), "tree"),
    **dict.fromkeys(("unlinkSync", "unlink", "remove", "delete", "rm", "rm_f", "deleteFile"), "file"),
    **dict.fromkeys(("writeFileSync", "writeFile", "write", "file_put_contents", "truncateSync"), "write"),
    **dict.fromkeys(("rmSync", "rmdirSync", "rmdir"), "maybe_tree"),  # a tree only with recursive: true
}  # fmt: skip
CALL = re.compile(r"\b(" + "|".join(sorted(FILE_CALLS, key=len, reverse=True)) + r")\s*(\(|\s+(?=[\"'q]|glob))")
RECURSIVE = re.compile(r"recursive\s*:\s*true|:recursive\s*=>\s*true|recursive:\s*true")


# `sprintf("%c%c -rf /boot", 114, 109)`: a format of character codes spells a command
FORMAT_CALL = re.compile(
    r"\b(?:s?printf|string\.format|format)\s*\(\s*\"([^\"%]*(?:%[cds][^\"%]*)+)\"((?:\s*,\s*\d+)+)\s*\)"
)


def fold_format(match: re.Match[str]) -> str:
    numbers = [int(n) for n in re.findall(r"\d+", match.group(2))]
    fields = re.findall(r"%[cds]", match.group(1))
    if len(fields) != len(numbers) or any(n > 0x10FFFF for n in numbers):
        return match.group(0)
    values = iter(chr(n) if f == "%c" else str(n) for f, n in zip(fields, numbers, strict=True))
    return '"' + re.sub(r"%[cds]", lambda _: next(values), match.group(1)) + '"'


def fold(code: str) -> str:
    """Concatenated literals joined, character-code formats spelled out and home lookups made `"~"`: the text
    the calls are read from."""
    code = FORMAT_CALL.sub(fold_format, HOME_LOOKUPS.sub('"~"', code))
    for _ in range(16):
        joined = CONCATENATION.sub(lambda m: '"' + "".join(g or "" for g in m.groups()) + '"', code)
        if joined == code:
            break
        code = joined
    return code


def first_literal(arguments: str) -> str | None:
    """The first string argument, through a `glob(...)` wrapper (Perl's `unlink glob("/etc/*")`)."""
    match = re.match(rf"\s*(?:glob\s*\(?\s*)?(?:{STRING})", arguments)
    return (match.group(1) if match.group(1) is not None else match.group(2)) if match else None


def file_actions(code: str) -> list[str]:
    """Shell commands for the file calls in a one-liner: `FileUtils.rm_rf(Dir.home)` -> `rm -rf ~`."""
    code = fold(code)
    found = []
    for match in CALL.finditer(code):
        name = match.group(1)
        arguments = call_arguments(code, match.end() - 1) if match.group(2) == "(" else code[match.end() :]
        path = first_literal(arguments)
        if not path:
            continue
        kind = FILE_CALLS[name]
        if kind == "maybe_tree":
            kind = "tree" if RECURSIVE.search(arguments) else "file"
        quoted = "'" + path.replace("'", "'\\''") + "'" if not re.fullmatch(r"[\w@%+=:,./~*?\[\]!-]+", path) else path
        if kind == "tree":
            found.append(f"rm -rf {quoted}")
        elif kind == "file":
            found.append(f"rm -f {quoted}")
        elif written_empty(arguments):
            found.append(f": > {quoted}")
    return found


def written_empty(arguments: str) -> bool:
    """A write call whose content is an empty string (the file is emptied)."""
    return re.match(rf"\s*(?:{STRING})\s*,\s*(''|\"\")\s*([,)]|$)", arguments) is not None


AWK_ASSIGN = re.compile(r"\b([A-Za-z_]\w*)\s*=\s*\"((?:[^\"\\]|\\.)*)\"")
AWK_SYSTEM_VAR = re.compile(r"\bsystem\s*\(\s*([A-Za-z_]\w*)\s*\)")
AWK_PRINT_TO_SHELL = re.compile(
    r"\bprint\s+\"((?:[^\"\\]|\\.)*)\"\s*\|\s*\"\s*(?:/bin/|/usr/bin/)?(sh|bash|dash|zsh|ksh)\s*\""
)


def awk_commands(code: str) -> list[str]:
    """Shell commands an awk program runs from its own text: `system(cmd)` after `cmd = "..."`, and
    literal text printed into a shell (`print "rm -rf ~" | "sh"`)."""
    assigned = dict(AWK_ASSIGN.findall(code))
    found = [assigned[name] for name in AWK_SYSTEM_VAR.findall(code) if name in assigned]
    found += [text for text, _shell in AWK_PRINT_TO_SHELL.findall(code)]
    return found


SED_EXECUTE = re.compile(r"(?:^|[;\n{}])\s*(?:\d+|\$|/(?:\\.|[^/\\])*/)?\s*e\s+([^;\n}]+)")
# s/PATTERN/REPLACEMENT/FLAGS with any delimiter, escaped delimiters inside (`s/^/mkfs \/dev\/sda/e`)
SED_SUBSTITUTE = re.compile(
    r"(?:^|[;\n{}])\s*(?:\d+|\$|/(?:\\.|[^/\\])*/)?\s*s([^\w\s\\])((?:\\.|(?!\1).)*)\1((?:\\.|(?!\1).)*)\1([gpiImMe0-9w]*)"
)


def sed_commands(script: str) -> list[str]:
    """Commands GNU sed runs: the `e COMMAND` command, and the result of a substitution with the `e`
    flag (the replacement text, which is what runs when the pattern matches the whole line)."""
    found = [command.strip() for command in SED_EXECUTE.findall(script)]
    found += [replacement for _, _, replacement, flags in SED_SUBSTITUTE.findall(script) if "e" in flags]
    return [re.sub(r"\\(.)", r"\1", text) for text in found if text.strip()]


def sed_scripts(args: list[str]) -> list[str]:
    """The scripts a sed command line gives: `-e S`, `--expression=S`, or its first operand."""
    scripts, i, operands = [], 0, []
    while i < len(args):
        arg = args[i]
        if arg in ("-e", "--expression") and i + 1 < len(args):
            scripts.append(args[i + 1])
            i += 2
            continue
        if arg.startswith("--expression="):
            scripts.append(arg.split("=", 1)[1])
        elif arg in ("-f", "--file", "-l", "--line-length") or re.fullmatch(r"-[a-zA-Z]*[fl]", arg):
            i += 1  # the value of an option: not a script
        elif not arg.startswith("-") or arg == "-":
            operands.append(arg)
        i += 1
    return scripts or operands[:1]


ENDLESS = re.compile(r"for\s*\(\s*;\s*;\s*\)|while\s*\(?\s*(?:1|true|!0)\s*\)?|\bloop\s*(?:\{|do\b)|\bwhile\s+1\b")
GROWS = re.compile(r"\.push\(|<<|\bpush\s*\(?\s*@|\.append\(|\+=|\.concat\(|\$\w+\s*\.=")


def grows_forever(code: str) -> bool:
    """An endless loop that keeps adding to a value: memory grown until the machine runs out."""
    return (
        bool(ENDLESS.search(code) and GROWS.search(code)) and re.search(r"\b(break|last|exit|return)\b", code) is None
    )
