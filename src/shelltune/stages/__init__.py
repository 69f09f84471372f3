"""The pipeline stages: one thin driver per stage, run by DVC as `python -m shelltune.stages.NAME`.

Each reads its params, calls library code and writes its outputs; nothing imports a stage.
"""
