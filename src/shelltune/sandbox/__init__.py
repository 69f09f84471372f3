"""Sandboxed execution of shell commands over a fixture world, and the judge that compares them."""
