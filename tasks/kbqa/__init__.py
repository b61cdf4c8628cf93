"""Prefect tasks of KB-Coder (paper 10, `embedlab kbqa`): run.py answers a question, evaluate.py scores the prompt
styles on a question file."""
