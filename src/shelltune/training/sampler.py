"""Batches of similar length, in random order: the windowed length sampler and the trainer that uses it
(with the shared prompt prefix, `shelltune.training.prefix`, when asked)."""

from __future__ import annotations


class WindowedLengthSampler:
    """Rows in a seeded random order, then sorted by length within each window of `window` batches.

    Each batch then holds rows of similar length and pads little, while which rows meet in a batch and
    the order of the windows stay random. transformers' group_by_length is the same idea with windows of
    50 batches, which on a small dataset sorts nearly all of it at once: batches become runs of one kind
    of command. `set_epoch` (called by accelerate) reshuffles per epoch, reproducibly, so resumed runs
    see the same order.
    """

    def __init__(self, lengths: list[int], batch_size: int, window: int, seed: int):
        self.lengths, self.batch_size, self.window, self.seed, self.epoch = lengths, batch_size, window, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        return iter(windowed_length_order(self.lengths, self.batch_size, self.window, self.seed + self.epoch))


def windowed_length_order(lengths: list[int], batch_size: int, window: int, seed: int) -> list[int]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    span = batch_size * window
    return [
        index
        for start in range(0, len(order), span)
        for index in sorted(order[start : start + span], key=lambda i: -lengths[i])
    ]


def trainer_class(window: int, share_prefix: bool = False):
    """SFTTrainer, with the windowed length sampler when train.length_window > 0, and the shared prompt
    prefix computed once per batch when `share_prefix` (`shelltune.training.prefix`)."""
    from trl import SFTTrainer

    from shelltune.training.prefix import SharedPrefixMixin

    bases = ((SharedPrefixMixin,) if share_prefix else ()) + (SFTTrainer,)
    if not window:
        return bases[0] if len(bases) == 1 else type("SharedPrefixSFTTrainer", bases, {})

    class WindowedSFTTrainer(*bases):
        def _get_train_sampler(self, train_dataset=None):
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            lengths = [len(ids) for ids in dataset["input_ids"]]
            return WindowedLengthSampler(
                lengths,
                self.args.train_batch_size * self.args.gradient_accumulation_steps,
                window,
                self.args.data_seed if self.args.data_seed is not None else self.args.seed,
            )

    return WindowedSFTTrainer
