"""`shelltune serve`: keep the model loaded and answer requests over HTTP on this machine (OpenAI-compatible).

    shelltune serve                          # http://127.0.0.1:8765/v1/chat/completions
    shelltune serve --port 9000 --backend transformers

What it serves, how it picks llama.cpp or transformers and how it answers bad requests:
`shelltune.serving`. `shelltune shell-init bash|zsh|fish` binds a key that asks it. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from shelltune.errors import command_parser, run_cli
from shelltune.serving import DEFAULT_PORT, Service, bind, load_backend, make_handler


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def ignore(line: str) -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "shelltune serve",
        __doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    parser.add_argument(
        "--backend",
        choices=("auto", "llama.cpp", "transformers"),
        default="auto",
        help="auto (default): llama.cpp on the exported GGUF when it was made from the current adapter, "
        "else transformers with the adapter",
    )
    parser.add_argument("--gguf", type=Path, default=None, help="serve this GGUF file with llama.cpp")
    parser.add_argument("--adapter", type=Path, default=None, help="adapter directory (default: paths.adapter)")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = parser.parse_args(argv)

    def entry() -> int:
        from shelltune.numerics import load_params_for_torch
        from shelltune.prediction import check_adapter

        params = load_params_for_torch(args.params)
        adapter = args.adapter or Path(params.paths.adapter)
        # listen first: a port in use is known before the model loads; clients that connect meanwhile wait
        # in the listen queue and are answered once it has
        server = bind(args.host, args.port, BaseHTTPRequestHandler)
        try:
            if args.backend == "transformers" or args.gguf is None:
                check_adapter(adapter, Path(params.paths.adapter), explicit=args.adapter is not None)
            backend, why = load_backend(params, adapter, "llama.cpp" if args.gguf else args.backend, args.gguf)
            server.RequestHandlerClass = make_handler(Service(backend, params), log if args.verbose else ignore)
            host, port = server.server_address[:2]
            url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
            print(f"serving {backend.source} with {backend.name} ({why}) on {url}/v1 (Ctrl-C stops)", flush=True)
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                print("stopped", file=sys.stderr)
        finally:
            server.server_close()
        return 0

    return run_cli(entry, args.debug, args.quiet, progress=False)


if __name__ == "__main__":
    raise SystemExit(main())
