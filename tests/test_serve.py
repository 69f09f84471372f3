"""`shelltune serve` and the shell key of `shelltune shell-init`, on a tiny trained model.

The server answers like `shelltune predict` (the same safety scan), refuses bad requests with a clear
JSON error and keeps serving, serializes concurrent clients, and says so when its port is taken. The key
is pressed in a real terminal (tmux) in bash and zsh: the English on the line becomes the command, on the
line, not run; a refused command comes back as a comment; with no server the line stays as it was.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from shelltune.serving import MAX_BODY

from conftest import child_env, require_tool, trained_project

SHELLTUNE = [sys.executable, "-m", "shelltune"]
SAFE = "list the files in dir3"
EVIL = "wipe everything on disk 2"
pytestmark = pytest.mark.slow  # trains a tiny model (100 steps) and runs real servers and terminals


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def project(repo_params_raw, tmp_path_factory) -> tuple[Path, Path]:
    """A tiny adapter that answers the templated requests with their command, and one request with
    `rm -rf /` (so a refusal can be seen)."""
    rows = [{"instruction": f"list the files in dir{i % 8}", "command": f"ls dir{i % 8}"} for i in range(96)]
    rows += [
        {"instruction": f"wipe everything on disk {i % 4}", "command": "rm -rf --no-preserve-root /"} for i in range(32)
    ]
    root = tmp_path_factory.mktemp("serve")
    _, params_file = trained_project(repo_params_raw, root, rows, steps=100)
    return root, params_file


def start_server(root: Path, params_file: Path, port: int, *extra: str) -> subprocess.Popen:
    server = subprocess.Popen(
        [*SHELLTUNE, "serve", "--params", str(params_file), "--port", str(port), *extra],
        cwd=root,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    banner = server.stdout.readline()  # printed once the model is loaded and the port is listening
    assert banner.startswith("serving "), banner + server.stderr.read()
    return server


@pytest.fixture(scope="module")
def server(project):
    root, params_file = project
    port = free_port()
    process = start_server(root, params_file, port)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=30)


def post(url: str, path: str, body: bytes | dict, headers: dict | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data, {"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def chat(url: str, text: str) -> dict:
    status, body = post(
        url, "/v1/chat/completions", {"model": "shelltune", "messages": [{"role": "user", "content": text}]}
    )
    assert status == 200, body
    return body


def predict(project, *requests: str) -> list[dict]:
    root, params_file = project
    result = subprocess.run(
        [*SHELLTUNE, "predict", "--json", "--params", str(params_file), *requests],
        cwd=root,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


# ---------------------------------------------------------------- answers


def test_answers_are_predicts_answers_after_the_same_safety_scan(server, project):
    safe, evil = predict(project, SAFE, EVIL)
    assert not safe["refused"] and evil["refused"], (safe, evil)
    answer = chat(server, SAFE)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": safe["command"]}
    assert answer["usage"]["completion_tokens"] > 0
    refused = chat(server, EVIL)
    line = refused["choices"][0]["message"]["content"]
    assert line.startswith(f"# refused [{evil['category']}, {evil['severity']}]: ") and line.endswith(evil["command"])
    assert refused["shelltune"]["refused"] is True and refused["shelltune"]["reason"] == evil["reason"]


def test_completions_endpoint_models_and_health(server):
    status, body = post(server, "/v1/completions", {"prompt": SAFE, "max_tokens": 48})
    assert status == 200 and body["object"] == "text_completion"
    assert body["choices"][0]["text"] == chat(server, SAFE)["choices"][0]["message"]["content"]
    with urllib.request.urlopen(server + "/v1/models", timeout=30) as response:
        assert json.load(response)["data"][0]["id"] == "shelltune"
    with urllib.request.urlopen(server + "/health", timeout=30) as response:
        assert json.load(response) == {"status": "ok", "backend": "transformers"}


def test_concurrent_clients_each_get_their_own_answer(server):
    requests = [f"list the files in dir{i}" for i in range(6)]
    expected = {r: chat(server, r)["choices"][0]["message"]["content"] for r in requests}
    got: dict[str, str] = {}

    def ask(text: str) -> None:
        got[text] = chat(server, text)["choices"][0]["message"]["content"]

    threads = [threading.Thread(target=ask, args=(r,)) for r in requests * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert got == expected


# ---------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    "body,status,message",
    [
        (b"{not json", 400, "the body is not valid JSON"),
        (b"[1, 2]", 400, "the body must be a JSON object, not list"),
        ({"messages": []}, 400, "'messages' must be a non-empty list"),
        ({"messages": [{"role": "system", "content": "hi"}]}, 400, "'messages' holds no message with role 'user'"),
        ({"messages": [{"role": "user", "content": 7}]}, 400, "the last user message's 'content' must be a non-empty"),
        ({"messages": [{"role": "user", "content": "x" * 5000}]}, 400, "the request is 5000 characters; the limit is"),
        ({"messages": [{"role": "user", "content": "ls"}], "max_tokens": 0}, 400, "'max_tokens' must be a positive"),
    ],
)
def test_a_bad_request_gets_a_clear_json_error_and_the_server_carries_on(server, body, status, message):
    got, answer = post(server, "/v1/chat/completions", body)
    assert got == status and answer["error"]["message"].startswith(message), answer
    assert chat(server, SAFE)["choices"]


def read_all(connection: socket.socket) -> str:
    """Everything the server sends until it closes the connection (it does after an error)."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_a_huge_body_is_refused_before_it_is_read(server):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n"
        )  # claims a gigabyte and sends none of it: the answer must not wait for it
        reply = read_all(connection)
    assert reply.startswith("HTTP/1.1 413"), reply
    assert f"the body is 1073741824 bytes; the limit is {MAX_BODY}" in reply


def test_unknown_endpoints_and_a_missing_length_are_named(server):
    assert post(server, "/v1/embeddings", {"input": "x"})[0] == 404
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert read_all(connection).startswith("HTTP/1.1 411")


def test_a_port_in_use_is_one_clear_error_before_the_model_loads(project, server):
    root, params_file = project
    port = server.rsplit(":", 1)[1]
    started = time.monotonic()
    result = subprocess.run(
        [*SHELLTUNE, "serve", "--params", str(params_file), "--port", port],
        cwd=root,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: port {port} on 127.0.0.1 is in use (another shelltune serve?)")
    assert "Traceback" not in result.stderr and time.monotonic() - started < 60


def test_it_listens_on_this_machine_only(project):
    root, params_file = project
    result = subprocess.run(
        [*SHELLTUNE, "serve", "--params", str(params_file), "--host", "0.0.0.0"],
        cwd=root,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "shelltune serve listens on this machine only" in result.stderr


# ---------------------------------------------------------------- the key in a real terminal


class Terminal:
    """One tmux pane running `shell` without its rc files; keys in, screen out."""

    def __init__(self, shell: list[str], socket_name: str, env: dict[str, str]):
        self.tmux = ["tmux", "-L", socket_name, "-f", "/dev/null"]
        exports = [f"{k}={v}" for k, v in env.items()]
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", "t", "-x", "220", "-y", "40", "env", *exports, *shell], check=True
        )

    def keys(self, *keys: str, literal: bool = False) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "t", *(["-l"] if literal else []), *keys], check=True)

    def screen(self) -> list[str]:
        shown = subprocess.run([*self.tmux, "capture-pane", "-p", "-t", "t"], capture_output=True, text=True)
        return [line.rstrip() for line in shown.stdout.splitlines() if line.strip()]

    def wait_for(self, predicate, timeout: float = 120) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.screen()
            if lines and predicate(lines):
                return lines
            time.sleep(0.1)
        raise AssertionError("the terminal never showed it:\n" + "\n".join(self.screen()))

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


SHELLS = {"bash": ["bash", "--norc", "--noprofile", "-i"], "zsh": ["zsh", "-f", "-i"]}


@pytest.fixture(params=sorted(SHELLS))
def terminal(request, tmp_path):
    shell = request.param
    tools = [t for t in ("tmux", shell) if shutil.which(t) is None]
    require_tool(
        not tools, "SHELLTUNE_REQUIRE_SHELLS", f"{' and '.join(tools)} not installed (apt-get install tmux zsh)"
    )
    snippet = tmp_path / f"key.{shell}"
    code = subprocess.run(
        [*SHELLTUNE, "shell-init", shell], capture_output=True, text=True, check=True, env=child_env()
    )
    snippet.write_text(code.stdout)
    env = {"PS1": "$ ", "PROMPT": "$ ", "HOME": str(tmp_path), "TERM": "xterm-256color", "HISTFILE": "/dev/null"}
    term = Terminal(SHELLS[shell], f"shelltune-{shell}-{tmp_path.name}", env)
    term.wait_for(lambda lines: lines[-1].startswith("$"))
    term.keys(f"source {snippet}; clear", literal=True)
    term.keys("Enter")
    term.wait_for(lambda lines: lines == ["$"])
    yield term
    term.close()


def press_the_key(term: Terminal, request: str, url: str) -> list[str]:
    term.keys(f"export SHELLTUNE_URL={url}; clear", literal=True)
    term.keys("Enter")
    term.wait_for(lambda lines: lines == ["$"])
    term.keys(request, literal=True)
    term.wait_for(lambda lines: lines[-1] == f"$ {request}")
    term.keys("C-x", "C-a")
    return term.wait_for(lambda lines: lines != [f"$ {request}"])


def test_the_key_puts_the_command_on_the_line_and_runs_nothing(terminal, server):
    command = chat(server, SAFE)["choices"][0]["message"]["content"]
    lines = press_the_key(terminal, SAFE, server)
    assert lines == [f"$ {command}"], lines  # on the line, nothing printed, no new prompt: not run
    terminal.keys(" | wc -l", literal=True)  # the line is the user's to edit
    assert terminal.wait_for(lambda shown: shown[-1].endswith("| wc -l")) == [f"$ {command} | wc -l"]


def test_a_refused_command_comes_back_as_a_comment_with_the_reason(terminal, server):
    lines = press_the_key(terminal, EVIL, server)
    assert len(lines) == 1 and lines[0].startswith("$ # refused ["), lines
    assert lines[0].endswith("rm -rf --no-preserve-root /")


def test_without_a_server_the_line_stays_and_the_reason_is_shown(terminal):
    lines = press_the_key(terminal, SAFE, f"http://127.0.0.1:{free_port()}")
    lines = terminal.wait_for(lambda shown: any("start the model with `shelltune serve &`" in line for line in shown))
    assert f"$ {SAFE}" in lines, lines  # bash prints the reason above the line, zsh below it
