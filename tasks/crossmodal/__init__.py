"""Prefect tasks of cross-modal retrieval (papers 4, 7; `embedlab crossmodal`): data.py reads the caption source
and writes the image-text dataset, train.py encodes the frozen towers and fits/scores the dual encoder, evaluate.py
turns a score into the evaluation suite's result, report.py writes the runs' metrics and table."""
