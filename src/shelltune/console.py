"""What a command shows besides its own output: library warnings, library logs and progress bars.

The libraries under a run talk on every command: transformers' FutureWarnings about its own renamed
arguments, bitsandbytes' note that an optional `kernels` package is missing, a progress bar for every
`datasets` map and for loading a 1 MB model. None of it is anything a user can act on. So, unless
`--debug` (or SHELLTUNE_DEBUG=1) asks for everything:

- library warnings and library log lines below ERROR are hidden; shelltune's own warnings
  (`ShelltuneWarning`) are not;
- a stage keeps the progress bars of its long steps (training, generation), a one-shot command such as
  `predict` shows none; `--quiet` (or SHELLTUNE_QUIET=1, for `dvc repro`) hides them everywhere.

Set before the libraries load (the environment variables) and again after (for a process that already
imported them, such as a test).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

QUIET_ENV = "SHELLTUNE_QUIET"
LIBRARY_LOGGERS = ("bitsandbytes", "transformers", "datasets", "peft", "trl", "accelerate", "torch", "httpx")


class ShelltuneWarning(UserWarning):
    """A warning of ours: shown even when library warnings are hidden."""


def quiet_requested(flag: bool = False) -> bool:
    return flag or os.environ.get(QUIET_ENV, "") not in ("", "0")


def configure_output(debug: bool, quiet: bool, progress: bool = True) -> None:
    """Hide what the libraries print (unless `debug`); progress bars only when `progress` and not `quiet`."""
    if debug:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # loading and saving bars (huggingface_hub, transformers' "Loading weights") and datasets' map bars:
    # a second or two each, nothing to wait for
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", category=ShelltuneWarning)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if quiet or not progress:
        os.environ["TQDM_DISABLE"] = "1"
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()


def progress_bars() -> bool:
    """Whether this process shows progress bars (for code that passes tqdm's `disable` itself)."""
    return os.environ.get("TQDM_DISABLE", "") in ("", "0")
