"""The prompt prefix every row shares, computed once per batch in training (`train.share_prefix`).

Every example opens with the same tokens: the chat template's opening and the one system prompt
(`prompt.system`), about 25 of SmolLM2's 54 tokens per row here. `SharedPrefixMixin.compute_loss` runs them
through the model once, as one row, and gives every row of the batch that row's keys and values
(`repeat_interleave`, differentiable: the backward pass sums the rows' gradients into the one prefix pass),
then runs each row's own tokens on top. The loss is the same function of the weights as without sharing
(only the order of floating-point additions differs), and nothing before the first answer token is
supervised anyway.

Used in one process without gradient checkpointing: recomputing a layer would append to the cache a
second time, and DDP expects one forward per backward. Elsewhere the trainer runs as TRL has it.
"""

from __future__ import annotations

from typing import Any

# Below this many shared tokens the extra forward pass costs more than it saves.
MIN_SHARED = 8


def shared_prefix_length(inputs: dict[str, Any]) -> int:
    """Leading positions where every row has the same unsupervised, unpadded token, leaving every row at
    least two positions of its own (the prediction of its first token needs the prefix's last state)."""
    import torch

    ids, mask, labels = inputs["input_ids"], inputs["attention_mask"], inputs["labels"]
    same = (ids == ids[:1]).all(dim=0) & (mask == 1).all(dim=0) & (labels == -100).all(dim=0)
    same = torch.cumprod(same.to(torch.int64), dim=0)
    shortest = int(mask.sum(dim=1).min())
    return min(int(same.sum()), shortest - 2)


def can_share(gradient_checkpointing: bool, world_size: int) -> bool:
    return not gradient_checkpointing and world_size == 1


class SharedPrefixMixin:
    """compute_loss over the rows' own tokens, on top of the shared prefix computed once (see the module)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        shared = shared_prefix_length(inputs)
        if shared < MIN_SHARED or "past_key_values" in inputs or "position_ids" in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        return super().compute_loss(model, with_prefix_cache(model, inputs, shared), return_outputs, num_items_in_batch)


def with_prefix_cache(model, inputs: dict[str, Any], shared: int) -> dict[str, Any]:
    """The batch as the rows' own tokens plus a cache holding the shared prefix, repeated for every row."""
    from transformers import DynamicCache

    ids = inputs["input_ids"]
    cache = DynamicCache()
    model(input_ids=ids[:1, :shared], past_key_values=cache, use_cache=True, logits_to_keep=1)
    cache.batch_repeat_interleave(ids.shape[0])
    # The attention mask keeps covering prefix and row (what a cache expects); positions continue from the
    # cache's length, which right-padded rows need.
    return {
        **inputs,
        "input_ids": ids[:, shared:],
        "labels": inputs["labels"][:, shared:],
        "past_key_values": cache,
    }
