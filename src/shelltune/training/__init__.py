"""QLoRA training: the pieces the train stage composes.

`run` sets a run up, fits it and saves it (setup / fit / finish, in that order); `trainer` configures
peft and TRL's SFTTrainer; `data` turns split rows into prompt/completion examples; `sampler` orders
them in length windows; `tracking` logs to dvclive; `checkpoints` finds what to resume from;
`provenance` records what made the adapter and saves it; `shelltune.distributed` runs it in several processes.
"""
