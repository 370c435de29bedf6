"""Terminal tables that fit the terminal: the full table when it fits, else one block per row.

A figures table has a dozen columns; squeezed into 80 columns, rich cuts every header to a letter
and every number to an ellipsis. Instead, when the full table is wider than the terminal, each row
becomes a short block: its name on one line, then ``label value`` pairs, as many to a line as fit.
Nothing is ever truncated in either layout.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text


@dataclass
class Grid:
    """A table's content, laid out by :func:`fit`: ``key`` leading columns name each row."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    key: int = 1
    right: set[int] = field(default_factory=set)  # right-justified columns (numbers)
    total_from: int | None = None  # rows from this index on are totals (a rule above, bold)
    caption: str = ""

    def add(self, *cells: str) -> None:
        self.rows.append(list(cells))


def full_table(grid: Grid) -> Table:
    """Every column side by side."""
    table = Table(
        title=grid.title or None,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption=grid.caption or None,
        caption_justify="left",
    )
    for index, label in enumerate(grid.columns):
        table.add_column(label, justify="right" if index in grid.right else "left", no_wrap=index != 1)
    for index, row in enumerate(grid.rows):
        if index == grid.total_from:
            table.add_section()
        bold = grid.total_from is not None and index >= grid.total_from
        table.add_row(*row, style="bold" if bold else None)
    return table


def natural_width(renderable: RenderableType) -> int:
    """The width ``renderable`` takes when nothing constrains it."""
    wide = Console(width=10_000, file=io.StringIO(), color_system=None)
    return wide.measure(renderable).maximum


LONG = 16  # a column with a longer value gets a line of its own in the block layout


def blocks(grid: Grid, width: int) -> Group:
    """One block per row: the key columns as a heading, then the other cells as ``label value``
    pairs, as many to a line as ``width`` allows (a column of long text gets a line of its own)."""
    labels = grid.columns[grid.key :]
    values = [row[grid.key :] for row in grid.rows]
    long = {i for i in range(len(labels)) if any(len(row[i]) > LONG for row in values)}
    short = [i for i in range(len(labels)) if i not in long]
    label_w = max((len(labels[i]) for i in short), default=0)
    value_w = max((len(row[i]) for row in values for i in short), default=0)
    per_line = max(1, (width - 2 + 3) // (label_w + 1 + value_w + 3))
    parts: list[RenderableType] = []
    if grid.title:
        parts.append(Text(grid.title, style="bold"))
    for index, row in enumerate(grid.rows):
        heading = "  ".join(cell for cell in row[: grid.key] if cell)
        bold = grid.total_from is not None and index >= grid.total_from
        parts.append(Text(heading, style="bold" if bold else "bold cyan"))
        cells = row[grid.key :]
        for i in sorted(long):
            if cells[i]:
                parts.append(Text(f"  {labels[i]}: {cells[i]}"))
        pairs = [f"{labels[i]:<{label_w}} {cells[i]:>{value_w}}" for i in short]
        for start in range(0, len(pairs), per_line):
            parts.append(Text("  " + "   ".join(pairs[start : start + per_line])))
    if grid.caption:
        parts.append(Text(grid.caption, style="dim"))
    return Group(*parts)


def fit(grid: Grid, width: int) -> RenderableType:
    """The full table when it fits in ``width`` columns, else the block layout."""
    table = full_table(grid)
    return table if natural_width(table) <= width else blocks(grid, width)


def print_grid(console: Console, grid: Grid) -> None:
    """Print ``grid`` laid out for ``console``'s width (long words wrap, nothing is cut)."""
    console.print(fit(grid, console.width), soft_wrap=False)
