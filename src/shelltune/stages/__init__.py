"""Thin stage drivers, one per DVC stage: each reads its params and calls the library. Nothing imports them."""
