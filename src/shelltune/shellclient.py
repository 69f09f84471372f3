"""The shell key's client: one request to `shelltune serve`, one line for the command line.

The code `shelltune shell-init` prints runs this file as `python -I -S shellclient.py REQUEST`: the standard
library only (no site-packages, not even shelltune), so it starts in a few tens of milliseconds. On an
answer it prints the line to put on the command line (the command, or a comment saying why it was
refused) and exits 0. When there is no answer it prints one line on stderr, nothing on stdout, and exits 1,
and the shell leaves the command line as it was.

SHELLTUNE_URL picks the server (default http://127.0.0.1:8765), SHELLTUNE_TIMEOUT the seconds to wait.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8765"
DEFAULT_TIMEOUT_S = 60.0  # the first answer of a transformers backend can take a few seconds


def ask(request: str, url: str, timeout: float) -> str:
    """The line for the command line; raises RuntimeError with a one-line reason."""
    body = json.dumps({"model": "shelltune", "messages": [{"role": "user", "content": request}]}).encode()
    post = urllib.request.Request(
        url.rstrip("/") + "/v1/chat/completions", body, {"Content-Type": "application/json"}, method="POST"
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy: it is local
    try:
        with opener.open(post, timeout=timeout) as response:
            reply = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            message = json.load(exc)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise RuntimeError(f"shelltune serve: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(
            f"shelltune: no answer from {url} ({reason}); start the model with `shelltune serve &`"
        ) from None
    try:
        return reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise RuntimeError(f"shelltune: {url} did not answer like shelltune serve") from None


def main(argv: list[str]) -> int:
    request = " ".join(argv).strip()
    if not request:
        print("shelltune: type a request in English first, then press the key", file=sys.stderr)
        return 1
    url = os.environ.get("SHELLTUNE_URL") or DEFAULT_URL
    try:
        timeout = float(os.environ.get("SHELLTUNE_TIMEOUT") or DEFAULT_TIMEOUT_S)
        print(ask(request, url, timeout))
    except (RuntimeError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
