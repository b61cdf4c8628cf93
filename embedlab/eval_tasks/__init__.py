"""Evaluation tasks: built-in and user-defined, read from local files and scored by mteb."""
