"""Prefect tasks: units of work (I/O, evaluation, tracking) wrapping `embedlab.models`."""
