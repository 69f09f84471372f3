"""shelltune: QLoRA fine-tuning of code LLMs that turn plain-English requests into safe shell commands."""

__version__ = "0.1.0"
