"""Prefect tasks of the comparison (`embedlab compare`, arXiv 2410.15035): variants.py finds the variants and
loads them for scoring, report.py builds the comparison's results table."""
