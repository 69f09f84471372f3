"""The split stage: `dvc repro split` (or `shelltune run split`).

Reads the dataset named by `data` (and the datasets `data.mix` adds to it), validates, normalizes, dedups
and safety-filters it, and splits it with `seed` and `split.fractions` into groups that never straddle two
splits (`shelltune.splitting`); the rows of `train_only` sources then join the train split, less leaks.

Writes `<paths.processed>/{train,val,test}.jsonl` (`id`, `instruction`, `command`, `source`), every
dropped row with its reason in `<paths.processed>/dropped.jsonl`, and `<paths.reports>/split.json`.
"""

from __future__ import annotations

from pathlib import Path

from shelltune.config import Params
from shelltune.entrypoint import Stage
from shelltune.fileio import write_json, write_jsonl
from shelltune.formats import read_sources
from shelltune.splitting import SPLITS, SplitResult, split_dataset, summary, to_record


def run(params: Params) -> SplitResult:
    data, seed = params.data, params.seed
    result = split_dataset(
        read_sources(data, seed), data, params.split, seed, read_sources(data, seed, train_only=True)
    )
    processed, reports = Path(params.paths.processed), Path(params.paths.reports)
    for name in SPLITS:
        write_jsonl(processed / f"{name}.jsonl", (to_record(ex) for ex in result.splits[name]))
    write_jsonl(processed / "dropped.jsonl", (d.as_row() for d in result.dropped))
    write_json(reports / "split.json", result.metrics)
    return result


STAGE = Stage("split", "Validate, dedup, filter and split the dataset.", run, lambda _, result: summary(result))

if __name__ == "__main__":
    raise SystemExit(STAGE.main())
