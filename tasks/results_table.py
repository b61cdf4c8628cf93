"""The one results table of every report and comparison: a pandas DataFrame (a row per model, variant or run; a
column per metric or label) written by one writer as the same four files, in one folder, as one unit:

- `report.md`    title, intro, the table in markdown (missing values `—`), notes
- `metrics.json` DVC metrics: `{row: {column: number}}` over the numeric columns, missing values left out
- `table.csv`    the frame as it is (DVC plots data; the index is the first column)
- `chart.png`    horizontal bars of the charted columns per row

Callers (tasks/report.py, compare/report.py, cse/report.py, crossmodal/report.py, cir/report.py) build a
`ResultsTable`; flows call `write_table`, which may add files of their own (`results.json`) to the same unit.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_float_dtype, is_numeric_dtype
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_dir
from embedlab.errors import UserError

REPORT, METRICS, CSV, CHART = "report.md", "metrics.json", "table.csv", "chart.png"
TABLE_FILES = (REPORT, METRICS, CSV, CHART)
MISSING = "—"
TABLE_FOLDER = "table"  # a pipeline's table folder beside its runs' folders (cse, crossmodal, cir)


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (ints stay ints)."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True, eq=False)
class ResultsTable:
    """A DataFrame and how to show it.

    frame: index = row names (its `name` heads the first column), columns = metrics (numbers) and labels (text).
    main_metric: the column charted by default. formats: a format spec per column for the markdown (default:
    `.4f` for floats, plain for the rest; `%` specs show fractions in per cent). headers: a markdown/chart header per
    column (default: the column name). bold_max: columns whose best (largest) value is shown in bold. chart:
    the columns charted (default: `main_metric`). intro, notes: markdown before and after the table.
    """

    frame: pd.DataFrame
    title: str
    main_metric: str
    formats: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    bold_max: Sequence[str] = ()
    chart: Sequence[str] = ()
    intro: str = ""
    notes: str = ""

    def header(self, column: str) -> str:
        return self.headers.get(column, column)

    def cell(self, column: str, value: Any) -> str:
        """One value as the markdown shows it: `—` if missing, text as is (`|` escaped), numbers formatted."""
        if _missing(value):
            return MISSING
        if isinstance(value, str):
            return value.replace("|", "\\|")
        spec = self.formats.get(column, ".4f" if is_float_dtype(self.frame[column]) else "")
        return format(_plain(value), spec)

    def numeric_columns(self) -> list[str]:
        return [c for c in self.frame.columns if is_numeric_dtype(self.frame[c]) and not is_bool_dtype(self.frame[c])]

    def markdown(self) -> str:
        """The table alone: header, alignment row (numbers right-aligned), a line per row; ends without newline.
        Rows are read by position, so an index may repeat (a detail table's rows)."""
        frame, numeric = self.frame, set(self.numeric_columns())
        best = {c: frame[c].max() for c in self.bold_max}
        head = [str(frame.index.name or ""), *(self.header(c) for c in frame.columns)]
        lines = ["| " + " | ".join(head) + " |", "|---|" + "".join("---:|" if c in numeric else "---|"
                                                                   for c in frame.columns)]
        for i, name in enumerate(frame.index):
            cells = [self.cell("", str(name))]
            for j, column in enumerate(frame.columns):
                value = frame.iat[i, j]
                text = self.cell(column, value)
                cells.append(f"**{text}**" if column in best and not _missing(value) and value == best[column] else text)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def report(self) -> str:
        """report.md: `# title`, the intro, the table, the notes."""
        parts = [f"# {self.title}", self.intro, self.markdown(), self.notes]
        return "\n\n".join(part.strip("\n") for part in parts if part) + "\n"

    def metrics(self) -> dict[str, dict[str, int | float]]:
        """DVC metrics: per row, every numeric column that has a value."""
        columns = self.numeric_columns()
        return {str(name): {c: _plain(self.frame.at[name, c]) for c in columns if not _missing(self.frame.at[name, c])}
                for name in self.frame.index}

    def csv(self) -> str:
        return self.frame.to_csv(lineterminator="\n")

    def draw(self, path: Path) -> None:
        """PNG: a horizontal bar per row and charted column (grouped when several), labelled when one.
        matplotlib (its Agg back-end: files only, no display) is imported here, by the one function that draws."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import PercentFormatter

        columns = list(self.chart) or [self.main_metric]
        rows = len(self.frame)
        fig, ax = plt.subplots(figsize=(8.0, 1.4 + 0.3 * rows * len(columns)))
        height = 0.8 / len(columns)
        for j, column in enumerate(columns):
            positions = np.arange(rows) + (j - (len(columns) - 1) / 2) * height
            bars = ax.barh(positions, self.frame[column].astype(float).to_numpy(na_value=np.nan), height=height,
                           label=self.header(column))
            if len(columns) == 1:
                ax.bar_label(bars, labels=[self.cell(column, v) for v in self.frame[column]], fontsize=8, padding=2)
        ax.set_yticks(range(rows), [str(name) for name in self.frame.index], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(self.header(columns[0]) if len(columns) == 1 else "value")
        if self.formats.get(columns[0], "").endswith("%"):
            ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        if len(columns) > 1:
            ax.legend(fontsize=7, loc="lower right")
        ax.margins(x=0.12)  # room for the value labels
        ax.set_title(textwrap.fill(self.title.replace("`", ""), 90), fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


SEED_FOLDER = "seed-"  # <output>/seed-<s>/: the runs of one more training seed beside a pipeline's default runs


def run_metric_files(results_dir: Path, name: str) -> list[Path]:
    """Every `<results_dir>/<run>/<name>` and `<results_dir>/seed-<s>/<run>/<name>` (the runs of further seeds:
    trained with `-S <section>.seed=<s> -S <section>.output=<results_dir>/seed-<s>`), not the table's, in path
    order."""
    files = [*results_dir.glob(f"*/{name}"), *results_dir.glob(f"{SEED_FOLDER}*/*/{name}")]
    return sorted(path for path in files if path.parent.name != TABLE_FOLDER)


def mean_over_seeds(frame: pd.DataFrame, spread: Sequence[str], seeds: Sequence[Any],
                    formats: Mapping[str, str]) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """Rows that share an index label (one per training seed, `seeds[i]` the seed of row i) -> one row per label in
    first-seen order: each numeric column's mean over its seeds (a text column keeps its first value),
    `<column> std` (the sample standard deviation, n − 1; missing for a single seed) right after each column of
    `spread`, and `seeds` (how many). Returns the frame and the formats and headers the std columns add (a std is
    shown like its column, without a sign, headed `± std`). Where every label has one row the frame comes back
    unchanged. UserError where a label repeats a seed."""
    labels = [str(name) for name in frame.index]
    pairs = list(zip(labels, seeds, strict=True))
    repeated = sorted({pair for pair in pairs if pairs.count(pair) > 1}, key=str)
    if repeated:
        named = ", ".join(f"{label}, seed {seed}" for label, seed in repeated)
        raise UserError(f"two runs of the same seed (train the others with their own `seed` and "
                        f"`output=<output>/seed-<s>`): {named}")
    if len(set(labels)) == len(labels):
        return frame, {}, {}
    grouped = frame.groupby(level=0, sort=False)
    columns: dict[str, pd.Series] = {}
    for column in frame.columns:
        numeric = is_numeric_dtype(frame[column]) and not is_bool_dtype(frame[column])
        columns[column] = grouped[column].mean() if numeric else grouped[column].first()
        if column in spread:
            columns[f"{column} std"] = grouped[column].std(ddof=1)
    out = pd.DataFrame(columns)
    out["seeds"] = grouped.size()
    return (out, {f"{c} std": formats[c].lstrip("+") for c in spread if c in formats},
            {f"{c} std": "± std" for c in spread})


@task(cache_policy=NO_CACHE)
def write_table(table: ResultsTable, out_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write report.md, metrics.json, table.csv, chart.png (and each `extra` {file name: text}) to `out_dir` as
    one unit (`atomic_dir`: a folder embedlab did not write is refused; on an error nothing changes).
    Returns {file name: path}."""
    with atomic_dir(out_dir) as tmp:
        (tmp / REPORT).write_text(table.report(), encoding="utf-8")
        (tmp / CSV).write_text(table.csv(), encoding="utf-8")
        (tmp / METRICS).write_text(json.dumps(table.metrics(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        table.draw(tmp / CHART)
        for name, text in (extra or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
    return {name: out_dir / name for name in (*TABLE_FILES, *(extra or {}))}
