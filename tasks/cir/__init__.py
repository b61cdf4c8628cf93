"""Prefect tasks of composed image retrieval (paper 6, `embedlab cir`): data.py reads the triplets (no torch),
train.py trains and scores a stage, report.py builds the variants' results table."""
