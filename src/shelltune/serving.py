"""`shelltune serve`: the model, loaded once, behind a small OpenAI-compatible HTTP endpoint on this machine.

    POST /v1/chat/completions   {"messages": [{"role": "user", "content": "list files in /tmp"}]}
    POST /v1/completions        {"prompt": "list files in /tmp"}
    GET  /v1/models             the one model it serves
    GET  /health

Each request is one plain-English request (the last user message, or the prompt); the answer is the
model's command after the same safety scan `shelltune predict` applies (`shelltune.prediction.guard`):
a command the scanner flags is never returned as a command. Its content is then a shell comment naming
the category and the reason, with the command after it (`# refused [...]: ...: rm -rf /`), and the
response's `shelltune` field says so. The system prompt is always `prompt.system`, the one the model was
trained with; a client's system message is ignored. Greedy decoding; a client's sampling settings are
ignored, `max_tokens` is honoured up to `validate.max_new_tokens`.

Backends: llama.cpp (llama-cpp-python) on the exported GGUF when the export is there and was made from
the current adapter (`export/dvc.lock` names the adapter `dvc.lock` names), which answers in a few
milliseconds to a few hundred on a CPU; otherwise transformers with the 4-bit base and the adapter, as
`predict` runs it. The server listens on the loopback interface only; requests are answered one at a
time (the model is one), concurrent clients wait their turn. Bad requests get a JSON error with a 4xx
status: a body over `MAX_BODY` bytes (refused before it is read), not JSON, not the shape above, or a
request longer than `data.max_instruction_chars`.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.errors import ShelltuneError
from shelltune.prediction import Answer, guard

MODEL_ID = "shelltune"
MAX_BODY = 64 * 1024  # bytes: one request is a sentence; a megabyte body is a mistake or an attack
DEFAULT_PORT = 8765
LOOPBACK_NAMES = ("localhost",)


class RequestError(Exception):
    """A client's mistake: answered with `status` and a one-line message, the server carries on."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- backends


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


class TransformersBackend:
    """The 4-bit base with the adapter, as `shelltune predict` loads it."""

    name = "transformers"

    def __init__(self, params: Params, adapter: Path):
        from shelltune.inference import load_model_and_tokenizer

        self.params = params
        self.model, self.tokenizer = load_model_and_tokenizer(params, adapter)
        self.source = str(adapter)

    def complete(self, request: str, max_new_tokens: int) -> Completion:
        from shelltune.inference import generate, render_prompts

        (output,) = generate(self.model, self.tokenizer, self.params.prompt.system, [request], max_new_tokens, 1)
        prompt = render_prompts(self.tokenizer, self.params.prompt.system, [request])[0]
        prompt_tokens = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        return Completion(output.text, prompt_tokens, output.new_tokens)


class LlamaCppBackend:
    """llama.cpp on a GGUF file from the export, prompted with the merged model's own chat template and
    stopped where transformers stops (`shelltune.exporting`): the export's agreement check compares
    exactly these outputs with transformers."""

    name = "llama.cpp"

    def __init__(self, params: Params, gguf: Path, merged: Path):
        import os

        from llama_cpp import Llama
        from transformers import AutoTokenizer

        from shelltune.exporting import quiet_llama_cpp, stop_ids

        self.params = params
        self.tokenizer = AutoTokenizer.from_pretrained(merged)
        self.stops = stop_ids(self.tokenizer)
        wanted = params.train.max_length + params.validate.max_new_tokens + 64
        trained = json.loads((merged / "config.json").read_text()).get("max_position_embeddings") or wanted
        with quiet_llama_cpp():
            self.llm = Llama(
                model_path=str(gguf),
                n_ctx=min(wanted, trained),  # no longer than the model was built for (llama.cpp warns otherwise)
                n_threads=os.cpu_count() or 1,
                seed=0,
                verbose=False,
            )
        self.source = str(gguf)

    def complete(self, request: str, max_new_tokens: int) -> Completion:
        from shelltune.exporting import prompt_token_ids

        (ids,) = prompt_token_ids(self.tokenizer, self.params.prompt.system, [request])
        room = self.llm.n_ctx() - len(ids)
        if room <= 0:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the request is {len(ids)} tokens; the context holds fewer")
        kept: list[int] = []
        for token in self.llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
            if token in self.stops or len(kept) == min(max_new_tokens, room):
                break
            kept.append(token)
        return Completion(self.tokenizer.decode(kept, skip_special_tokens=True), len(ids), len(kept))


def export_is_current(adapter: Path) -> bool:
    """Whether the export on disk was made from the adapter on disk: `export/dvc.lock` records the adapter
    it read, `dvc.lock` the adapter train wrote, and both match what is in the workspace."""
    import yaml

    def recorded(lock: Path, stage: str, field: str) -> str | None:
        try:
            entries = (yaml.safe_load(lock.read_text()) or {})["stages"][stage][field]
        except (OSError, KeyError, TypeError, yaml.YAMLError):
            return None
        return next((e.get("md5") for e in entries if Path(e.get("path", "")) == adapter), None)

    trained = recorded(Path("dvc.lock"), "train", "outs")
    exported = recorded(Path("export") / "dvc.lock", "export", "deps")
    return trained is not None and trained == exported


def choose_gguf(params: Params) -> Path | None:
    """The export's GGUF to serve: the first quantization it wrote (what the Modelfile uses), else f16."""
    from shelltune.exporting import MODEL_FILE_STEM

    kinds = [*params.export.quantize, "f16"]
    return next(
        (p for p in (Path(params.export.gguf) / f"{MODEL_FILE_STEM}-{k}.gguf" for k in kinds) if p.is_file()), None
    )


def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def load_backend(params: Params, adapter: Path, backend: str, gguf: Path | None):
    """The backend to serve with, and why (one line for the start-up message)."""
    if backend == "transformers":
        return TransformersBackend(params, adapter), "--backend transformers"
    if gguf is None and backend == "auto":
        gguf = choose_gguf(params)
        if gguf is None:
            return TransformersBackend(params, adapter), "no GGUF export (dvc repro export/dvc.yaml makes one)"
        if not export_is_current(adapter):
            return TransformersBackend(params, adapter), f"{gguf} was not exported from the current adapter"
    if gguf is None or not gguf.is_file():
        raise ShelltuneError(f"{gguf or params.export.gguf}: no GGUF file to serve (dvc repro export/dvc.yaml)")
    if not llama_cpp_available():
        if backend == "llama.cpp":
            raise ShelltuneError("llama-cpp-python is not installed (make export-tools)")
        return TransformersBackend(params, adapter), "llama-cpp-python is not installed (make export-tools)"
    merged = Path(params.export.merged)
    if not (merged / "tokenizer_config.json").is_file():
        raise ShelltuneError(f"{merged}: the export's tokenizer is missing (dvc repro export/dvc.yaml)")
    return LlamaCppBackend(params, gguf, merged), f"the exported {gguf.name}"


# ---------------------------------------------------------------- requests and answers


def request_text(body: dict[str, Any], path: str, limit: int) -> str:
    """The plain-English request in an OpenAI-style body."""
    if path.endswith("/chat/completions"):
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(HTTPStatus.BAD_REQUEST, "'messages' must be a non-empty list of {role, content}")
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        if not users:
            raise RequestError(HTTPStatus.BAD_REQUEST, "'messages' holds no message with role 'user'")
        text = users[-1].get("content")
        if isinstance(text, list):  # content parts: the text ones, joined
            text = " ".join(p.get("text", "") for p in text if isinstance(p, dict) and p.get("type") == "text")
        what = "the last user message's 'content'"
    else:
        text = body.get("prompt")
        if isinstance(text, list) and len(text) == 1:
            text = text[0]
        what = "'prompt'"
    if not isinstance(text, str) or not text.strip():
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{what} must be a non-empty string")
    if len(text) > limit:
        raise RequestError(
            HTTPStatus.BAD_REQUEST,
            f"the request is {len(text)} characters; the limit is {limit} (data.max_instruction_chars)",
        )
    return text.strip()


def max_tokens(body: dict[str, Any], ceiling: int) -> int:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return ceiling
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"'max_tokens' must be a positive integer (got {value!r})")
    return min(value, ceiling)


def line_for_shell(answer: Answer) -> str:
    """What goes on the user's command line: the command, or a comment saying why it was refused."""
    if not answer.refused:
        return answer.command
    return f"# refused [{answer.category}, {answer.severity}]: {answer.reason}: {answer.command}"


def response_body(path: str, answer: Answer, completion: Completion) -> dict[str, Any]:
    content = line_for_shell(answer)
    common = {
        "id": f"shelltune-{uuid.uuid4().hex[:16]}",
        "created": int(time.time()),
        "model": MODEL_ID,
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        },
        "shelltune": {**asdict(answer), "raw": completion.text},
    }
    choice = {"index": 0, "finish_reason": "stop", "logprobs": None}
    if path.endswith("/chat/completions"):
        return {
            **common,
            "object": "chat.completion",
            "choices": [{**choice, "message": {"role": "assistant", "content": content}}],
        }
    return {**common, "object": "text_completion", "choices": [{**choice, "text": content}]}


def error_body(message: str, status: HTTPStatus) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "code": status.value}}


# ---------------------------------------------------------------- the server


class Service:
    """The loaded backend, answering one request at a time."""

    def __init__(self, backend, params: Params):
        self.backend = backend
        self.ceiling = params.validate.max_new_tokens
        self.limit = params.data.max_instruction_chars
        self.lock = threading.Lock()

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = request_text(body, path, self.limit)
        budget = max_tokens(body, self.ceiling)
        with self.lock:
            completion = self.backend.complete(request, budget)
        return response_body(path, guard(request, completion.text), completion)


ROUTES_POST = ("/v1/chat/completions", "/v1/completions", "/chat/completions", "/completions")


def make_handler(service: Service, log: Callable[[str], None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "shelltune"
        protocol_version = "HTTP/1.1"

        def send_json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status >= 400:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def fail(self, status: HTTPStatus, message: str) -> None:
            self.send_json(status, error_body(message, status))

        def do_GET(self) -> None:
            if self.path in ("/health", "/v1/health"):
                self.send_json(HTTPStatus.OK, {"status": "ok", "backend": service.backend.name})
            elif self.path in ("/v1/models", "/models"):
                model = {"id": MODEL_ID, "object": "model", "owned_by": "shelltune", "created": 0}
                self.send_json(HTTPStatus.OK, {"object": "list", "data": [model]})
            else:
                self.fail(HTTPStatus.NOT_FOUND, f"no such endpoint: GET {self.path}")

        def do_POST(self) -> None:
            try:
                if self.path not in ROUTES_POST:
                    raise RequestError(HTTPStatus.NOT_FOUND, f"no such endpoint: POST {self.path}")
                self.send_json(HTTPStatus.OK, service.answer(self.path, self.read_body()))
            except RequestError as exc:
                self.fail(exc.status, str(exc))
            except Exception as exc:  # the model failed on this request: say so, keep serving the next
                log(f"error: {type(exc).__name__}: {exc}")
                self.fail(HTTPStatus.INTERNAL_SERVER_ERROR, f"the model failed on this request: {type(exc).__name__}")

        def read_body(self) -> dict[str, Any]:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length, not chunked")
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
            if int(length) > MAX_BODY:
                raise RequestError(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is {int(length)} bytes; the limit is {MAX_BODY}"
                )
            raw = self.rfile.read(int(length))
            try:
                body = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON: {exc}") from None
            if not isinstance(body, dict):
                raise RequestError(HTTPStatus.BAD_REQUEST, f"the body must be a JSON object, not {type(body).__name__}")
            return body

        def log_message(self, format: str, *args: Any) -> None:
            log(f"{self.address_string()} {format % args}")

    return Handler


def check_loopback(host: str) -> None:
    """Only this machine may ask: the server runs whatever model is in the workspace for anyone who asks."""
    if host in LOOPBACK_NAMES:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ShelltuneError(f"--host {host}: shelltune serve listens on this machine only (127.0.0.1, ::1, localhost)")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restart right after a stop must not wait for TIME_WAIT


def bind(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> Server:
    """The listening server, or one clear error (port in use, no permission)."""
    check_loopback(host)
    server_class = type("Server6", (Server,), {"address_family": socket.AF_INET6}) if ":" in host else Server
    try:
        return server_class((host, port), handler)
    except OSError as exc:
        if exc.errno in (98, 48):  # EADDRINUSE on Linux, macOS
            raise ShelltuneError(
                f"port {port} on {host} is in use (another shelltune serve?): stop it, or pick another with "
                f"--port and export SHELLTUNE_URL=http://{host}:<port> for the shell key"
            ) from None
        raise ShelltuneError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
