"""Prefect tasks of sentence-representation learning (papers 8, 9; `embedlab cse`): train.py reads the data and
trains with the diagnostics, report.py builds the acceptance table."""
