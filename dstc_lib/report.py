"""How a chapter shows its results: one number format, tables, captioned figures and the
interpretation that follows each results table, generated from the values shown.

Conventions every chapter follows (``ci/check_html.py`` checks the built pages):

- a results table is shown with :func:`table` and followed by :func:`say`, whose sentences are
  built from the same values (so they stay true when parameters change);
- a figure is glued with :func:`figure` and placed by a markdown cell that gives it a number and
  a caption::

      ```{glue:figure} fig-paris-map
      :name: fig-paris-map

      Caption of the figure.
      ```

- plotting cells carry the ``hide-input`` tag; nothing prints a progress bar.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["fmt", "table", "say", "figure", "compare", "markdown_html", "keep", "kept"]


def fmt(value: object, digits: int = 3) -> str:
    """Format one value the way every page of the book does.

    Floats get ``digits`` decimals (large ones are rounded to whole numbers with thousands
    separators), integers and integral floats get thousands separators, timestamps are shown as
    dates (or date and minute), NaN and None as an empty string.

    Examples
    --------
    >>> fmt(0.8804), fmt(30704.0), fmt(868.768338), fmt(float("nan"))
    ('0.880', '30,704', '868.8', '')
    >>> fmt(pd.Timestamp("2019-03-31"))
    '2019-03-31'
    """
    if value is None:
        return ""
    if isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            return ""
        if value == value.normalize():
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v.is_integer() and abs(v) >= 1:
            return f"{int(v):,}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 100:
            return f"{v:,.1f}"
        return f"{v:.{digits}f}"
    return str(value)


def table(frame: pd.DataFrame | pd.Series, digits: int = 3, *, caption: str | None = None):
    """A results table formatted with :func:`fmt` (a pandas ``Styler``, rendered as HTML).

    Examples
    --------
    >>> t = table(pd.DataFrame({"ARI": [0.88041, 0.5], "tiles": [1080, 12]}, index=["a", "b"]))
    >>> "0.880" in t.to_html() and "1,080" in t.to_html()
    True
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    styler = frame.style.format(lambda v: fmt(v, digits))
    styler = styler.format_index(lambda v: fmt(v, digits), axis=0)
    if caption:
        styler = styler.set_caption(caption)
    return styler


def markdown_html(text: str) -> str:
    """The small subset of Markdown that interpretations use (``**bold**``, ``*italic*``,
    ``code`` and blank-line paragraphs), as escaped HTML.

    Examples
    --------
    >>> markdown_html("DSTC **leads** by *0.02* in `ARI`.")
    '<p>DSTC <strong>leads</strong> by <em>0.02</em> in <code>ARI</code>.</p>'
    """
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        p = html.escape(" ".join(para.split()), quote=False)
        p = re.sub(r"`([^`]+)`", r"<code>\1</code>", p)
        p = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", p)
        p = re.sub(r"\*([^*]+)\*", r"<em>\1</em>", p)
        out.append(f"<p>{p}</p>")
    return "".join(out)


def say(text: str) -> None:
    """Show the interpretation of the table above it, generated from the values.

    It renders as a ``<div class="interpretation">`` block, which the HTML check looks for after
    each results table."""
    from IPython.display import HTML, display

    display(HTML(f'<div class="interpretation">{markdown_html(text)}</div>'))


def figure(fig, name: str) -> None:
    """Glue ``fig`` under ``name`` for a ``{glue:figure}`` cell (numbered, captioned) and close
    it so it is not shown twice."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)


def keep(name: str, value: object) -> None:
    """Keep one result of the page under ``name`` (glued, not shown), for the findings chapter
    and the landing page, which read it from the executed page (:func:`kept`).

    Numbers are kept as plain Python numbers, text as text.

    Example
    -------
    >>> keep("paris-ari", 0.8804)  # doctest: +SKIP
    """
    from myst_nb import glue

    if isinstance(value, bool | np.bool_):
        value = bool(value)
    elif isinstance(value, int | np.integer):
        value = int(value)
    elif isinstance(value, float | np.floating):
        value = float(value)
    elif not isinstance(value, str):
        raise TypeError(f"keep({name!r}): a number or a text, not {type(value).__name__}")
    glue(name, value, display=False)


def kept(notebook: str | Path) -> dict[str, object]:
    """The results an executed page kept with :func:`keep` (name -> value); an empty dict for a
    page that was not executed.

    Examples
    --------
    >>> kept("no/such/page.ipynb")
    {}
    """
    import ast
    import json

    path = Path(notebook)
    if not path.is_file():
        return {}
    out: dict[str, object] = {}
    for cell in json.loads(path.read_text()).get("cells", []):
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            text = output.get("data", {}).get("text/plain")
            if name is None or text is None:
                continue
            text = "".join(text) if isinstance(text, list) else text
            try:
                out[name] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                out[name] = text
    return out


def compare(
    means: pd.Series,
    spread: pd.Series | None = None,
    *,
    what: str = "ARI",
    higher_is_better: bool = True,
    reference: str | None = None,
    digits: int = 3,
) -> str:
    """Sentences that rank methods by a score and say which differences are within noise.

    ``spread`` is the standard deviation over seeds; two methods are "within noise" when their
    gap is at most the larger of their two spreads. With ``reference``, the sentence also says
    where that method stands against the best of the others.

    Examples
    --------
    >>> import textwrap
    >>> m = pd.Series({"DSTC": 0.880, "k-means": 0.833, "IDEC": 0.875})
    >>> s = pd.Series({"DSTC": 0.009, "k-means": 0.004, "IDEC": 0.010})
    >>> print(textwrap.fill(compare(m, s, reference="DSTC"), 90))
    DSTC scores the highest ARI (0.880 ± 0.009), then IDEC (0.875 ± 0.010) and k-means (0.833
    ± 0.004). DSTC is within noise (one seed standard deviation) of IDEC. Against the best of
    the other methods (IDEC, 0.875) DSTC is 0.005 higher.
    """
    means = means.dropna()
    if means.empty:
        return f"No method has a {what} score here."
    order = means.sort_values(ascending=not higher_is_better)
    sd = (spread if spread is not None else pd.Series(dtype=float)).reindex(order.index)

    def show(name: str) -> str:
        s = sd.get(name, np.nan)
        body = fmt(order[name], digits)
        if s is not None and not (isinstance(s, float) and math.isnan(s)):
            body += f" ± {fmt(float(s), digits)}"
        return f"{name} ({body})"

    best = order.index[0]
    word = "highest" if higher_is_better else "lowest"
    rest = [show(n) for n in order.index[1:]]
    text = f"{best} scores the {word} {what} ({show(best).split(' (', 1)[1]}"
    if rest:
        text += ", then " + _join(rest)
    text += "."
    noise = _within_noise(order, sd, best)
    if noise:
        text += f" {best} is within noise (one seed standard deviation) of " + _join(noise) + "."
    if reference is not None and reference in order.index and len(order) > 1:
        others = order.drop(reference)
        rival = others.index[0]
        gap = order[reference] - others.iloc[0]
        side = "higher" if gap >= 0 else "lower"
        text += (
            f" Against the best of the other methods ({rival}, {fmt(others.iloc[0], digits)})"
            f" {reference} is {fmt(abs(gap), digits)} {side}."
        )
    return text


def _within_noise(order: pd.Series, sd: pd.Series, best: str) -> list[str]:
    out = []
    for name in order.index[1:]:
        tol = np.nanmax([sd.get(best, np.nan), sd.get(name, np.nan), 0.0])
        if abs(order[best] - order[name]) <= tol:
            out.append(name)
    return out


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
