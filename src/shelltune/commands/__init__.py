"""Command-line drivers of the commands that are not pipeline stages (`shelltune scan`, `predict`, ...).

Each parses its arguments and calls library code; `shelltune.cli` lists them all in one table.
"""
