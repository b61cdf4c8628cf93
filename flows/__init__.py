"""Prefect flows: they only sequence the tasks in `embedlab.tasks`."""
