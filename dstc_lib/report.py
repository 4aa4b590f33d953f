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

__all__ = [
    "compare",
    "figure",
    "fmt",
    "keep",
    "kept",
    "markdown_html",
    "say",
    "say_calendar",
    "say_inventory",
    "say_parameters",
    "say_quality",
    "say_reduction",
    "say_services",
    "table",
]


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
    """A results table formatted with :func:`fmt` (a pandas ``Styler``, rendered as HTML), long
    text wrapped inside its cells so that the table fits the page.

    Examples
    --------
    >>> t = table(pd.DataFrame({"ARI": [0.88041, 0.5], "n_tiles": [1080, 12]}, index=["a", "b"]))
    >>> "0.880" in t.to_html() and "1,080" in t.to_html() and "n tiles" in t.to_html()
    True
    >>> "&lt;City&gt;.geojson" in table(pd.DataFrame({"help": ["<City>.geojson"]})).to_html()
    True
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    styler = frame.style.format(lambda v: fmt(v, digits), escape="html")
    styler = styler.format_index(lambda v: fmt(v, digits), axis=0, escape="html")
    styler = styler.format_index(lambda v: fmt(v, digits).replace("_", " "), axis=1, escape="html")
    # long text (names, lists of services) wraps inside its cell, and a header anywhere, rather
    # than widening the table beyond the page
    styler = styler.set_table_styles(
        [
            {
                "selector": "td",
                "props": "white-space: normal; max-width: 16em; overflow-wrap: anywhere",
            },
            {"selector": "th", "props": "white-space: normal; overflow-wrap: anywhere"},
        ]
    )
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
            scrap = output.get("metadata", {}).get("scrapbook", {})
            name, prefix = scrap.get("name"), scrap.get("mime_prefix", "")
            data = output.get("data", {})
            text = data.get(f"{prefix}text/plain", data.get("text/plain"))
            if name is None or text is None or any(k.endswith("image/png") for k in data):
                continue  # not glued, or a figure
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
    text = f"{_capital(best)} scores the {word} {what} ({show(best).rsplit(' (', 1)[1]}"
    if rest:
        text += ", then " + _join(rest)
    text += "."
    noise = _within_noise(order, sd, best)
    if noise:
        text += (
            f" {_capital(best)} is within noise (one seed standard deviation) of "
            + _join(noise)
            + "."
        )
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


def _capital(name: str) -> str:
    """A method's name at the start of a sentence."""
    return name[:1].upper() + name[1:]


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


# --- sentences for the data chapters ------------------------------------------------------------


def say_inventory(inventory: pd.DataFrame) -> str:
    """What the inventory of the files on disk says (one column per city, rows ``services``,
    ``days``, ``first day``, ``last day``, ``files present``, ``files missing``, ``naming
    problems``).

    Examples
    --------
    >>> t = pd.DataFrame({"Paris": {"services": 12, "days": 14, "first day": "2019-03-25",
    ...     "last day": "2019-04-07", "files present": 336, "files missing": 0,
    ...     "naming problems": 0}})
    >>> import textwrap
    >>> print(textwrap.fill(say_inventory(t), 90))
    Paris: 12 services over 14 days (2019-03-25 to 2019-04-07), 336 files, none missing. No
    file name breaks the dataset's naming rule.
    """
    parts = []
    for city, col in inventory.items():
        missing = int(col["files missing"])
        gap = "none missing" if not missing else f"{fmt(missing)} missing"
        parts.append(
            f"{city}: {fmt(int(col['services']))} services over {fmt(int(col['days']))} days"
            f" ({fmt(col['first day'])} to {fmt(col['last day'])}),"
            f" {fmt(int(col['files present']))} files, {gap}."
        )
    problems = int(pd.to_numeric(inventory.loc["naming problems"]).sum())
    parts.append(
        "No file name breaks the dataset's naming rule."
        if not problems
        else f"{fmt(problems)} file names break the dataset's naming rule (listed by discovery)."
    )
    return " ".join(parts)


def say_calendar(days: pd.DataFrame) -> str:
    """What the calendar of the study window holds (columns ``kind``, ``holiday``, ``dst``).

    Examples
    --------
    >>> t = pd.DataFrame({"kind": ["weekday", "friday", "sunday"],
    ...                   "holiday": [False, False, True], "dst": [False, False, True]})
    >>> import textwrap
    >>> print(textwrap.fill(say_calendar(t), 90))
    3 days: 1 Monday-Thursday, 1 Friday, 0 Saturdays and 1 Sunday or holiday; 1 holiday; the
    clock-change night falls in the window.
    """
    kinds = days["kind"].value_counts()

    def n(kind: str) -> int:
        return int(kinds.get(kind, 0))

    sundays = n("sunday")
    text = (
        f"{len(days)} days: {n('weekday')} Monday-Thursday, {n('friday')} Friday"
        f"{'s' if n('friday') != 1 else ''}, {n('saturday')} Saturday"
        f"{'s' if n('saturday') != 1 else ''} and {sundays} Sunday"
        f"{'s' if sundays != 1 else ''} or holiday"
        f"{'s' if sundays != 1 else ''}; {int(days['holiday'].astype(bool).sum())} holiday"
        f"{'s' if int(days['holiday'].astype(bool).sum()) != 1 else ''}; "
    )
    if days["dst"].astype(bool).any():
        return text + "the clock-change night falls in the window."
    return text + "the clock-change night is outside the window."


def say_quality(days: pd.DataFrame) -> str:
    """What the per-day quality table says (``CityTensors.day_quality`` rows, with a ``city``
    column when several cities are pooled): the flagged days and why, and the largest
    |robust z| of the days that are not flagged.

    Examples
    --------
    >>> t = pd.DataFrame({"city": ["Paris", "Paris", "Lyon"],
    ...     "day": pd.to_datetime(["2019-03-30", "2019-03-31", "2019-03-31"]),
    ...     "reason": ["", "1 hour missing", "1 hour missing"], "robust_z": [0.4, -1.2, -0.8]})
    >>> import textwrap
    >>> print(textwrap.fill(say_quality(t), 90))
    2 of 3 city-days are flagged: Paris 2019-03-31 (1 hour missing) and Lyon 2019-03-31 (1
    hour missing). The other days stay within |z| = 0.4 of their kind's median total.
    """
    frame = days.reset_index(drop=True)
    city = frame["city"] if "city" in frame else pd.Series([""] * len(frame))
    flagged = frame["reason"].astype(str) != ""
    items = [
        f"{(c + ' ') if c else ''}{fmt(pd.Timestamp(d))} ({r})"
        for c, d, r in zip(
            city[flagged], frame.loc[flagged, "day"], frame.loc[flagged, "reason"], strict=True
        )
    ]
    text = f"{int(flagged.sum())} of {len(frame)} city-days are flagged"
    text += ": " + _join(items) + "." if items else "."
    rest = frame.loc[~flagged, "robust_z"].abs()
    if len(rest):
        text += (
            f" The other days stay within |z| = {fmt(float(rest.max()), 1)} of their kind's"
            " median total."
        )
    return text


def say_reduction(summary: pd.DataFrame) -> str:
    """What the reduction table says (one column per city, rows ``tiles``, ``services``,
    ``days`` and ``hours of the week observed`` as a share).

    Examples
    --------
    >>> t = pd.DataFrame({"Lyon": {"tiles": 864, "services": 12, "days": 14,
    ...                            "hours of the week observed": 0.994}})
    >>> print(say_reduction(t))
    Lyon: 864 tiles x 12 services reduced from 14 days, 99.4% of the hours of the week observed.
    """
    return " ".join(
        f"{city}: {fmt(int(col['tiles']))} tiles x {fmt(int(col['services']))} services reduced"
        f" from {fmt(int(col['days']))} days, {float(col['hours of the week observed']):.1%} of"
        " the hours of the week observed."
        for city, col in summary.items()
    )


def say_services(per_service: pd.DataFrame) -> str:
    """What the per-service quality table says (rows by city and service, columns
    ``files_present``, ``files_expected``, ``unreadable`` and ``nan_share``).

    Examples
    --------
    >>> t = pd.DataFrame({"files_present": [28, 27], "files_expected": [28, 28],
    ...     "unreadable": [0, 1], "nan_share": [0.0, 0.002]},
    ...     index=pd.MultiIndex.from_tuples([("Paris", "Netflix"), ("Paris", "Spotify")]))
    >>> import textwrap
    >>> print(textwrap.fill(say_services(t), 90))
    1 of 2 city-service pairs has every file, readable; the largest share of missing values is
    0.20% (Paris, Spotify).
    """
    complete = (per_service["files_present"] == per_service["files_expected"]) & (
        per_service["unreadable"] == 0
    )
    worst = per_service["nan_share"].astype(float).idxmax()
    where = ", ".join(map(str, worst)) if isinstance(worst, tuple) else str(worst)
    verb = "has" if int(complete.sum()) == 1 else "have"
    return (
        f"{int(complete.sum())} of {len(per_service)} city-service pairs {verb} every file,"
        f" readable; the largest share of missing values is"
        f" {float(per_service.loc[worst, 'nan_share']):.2%} ({where})."
    )


def say_parameters(params: pd.DataFrame) -> str:
    """What the table of every chapter's parameters says (a ``chapter`` column or index level,
    one row per parameter).

    Examples
    --------
    >>> t = pd.DataFrame({"chapter": ["01_a", "01_a", "02_b"], "parameter": ["x", "y", "x"]})
    >>> import textwrap
    >>> print(textwrap.fill(say_parameters(t), 90))
    3 parameters over 2 chapters (1 to 2 a chapter, the most in 01_a); 1 name is shared by
    several chapters, such as x.
    """
    frame = params.reset_index() if "chapter" not in params.columns else params
    per = frame.groupby("chapter").size()
    shared = frame.groupby("parameter")["chapter"].nunique()
    shared = shared[shared > 1].sort_values(ascending=False)
    text = (
        f"{len(frame)} parameters over {len(per)} chapters ({per.min()} to {per.max()} a"
        f" chapter, the most in {per.idxmax()})"
    )
    if len(shared):
        names = ", ".join(shared.index[:4])
        verb = "name is" if len(shared) == 1 else "names are"
        text += f"; {len(shared)} {verb} shared by several chapters, such as {names}"
    return text + "."


# --- the findings chapter and the landing page ------------------------------------------------

FINDING_PAGES = (  # the chapters whose kept results the findings chapter reads
    "03_contrastive",
    "04_dstc",
    "05_paris",
    "06_lyon",
    "07_zones",
    "08_transfer",
    "09_anomalies",
    "10_performance",
)


def gather(executed_dir: str | Path, pages: Sequence[str] = FINDING_PAGES) -> dict[str, object]:
    """Every result kept (:func:`keep`) by the executed ``pages`` in ``executed_dir``, in one
    dict (names are unique across the book).

    Examples
    --------
    >>> gather("no/such/folder")
    {}
    """
    out: dict[str, object] = {}
    for page in pages:
        out |= kept(Path(executed_dir) / f"{page}.ipynb")
    return out


def findings(values: dict[str, object]) -> list[str]:
    """The study's main findings as sentences, built from the kept results of the chapters
    (:func:`gather`); a finding whose numbers are missing is left out.

    Examples
    --------
    >>> import textwrap
    >>> v = {"case-paris-method": "dstc", "case-paris-ari": 0.88, "case-paris-join": 0.74,
    ...      "zones-paris-ari": 0.34, "zones-paris-ceiling": 0.35}
    >>> for f in findings(v):
    ...     print(textwrap.fill(f, 90))
    **Clusters recover the planted functions.** dstc reaches ARI 0.880 against the planted
    archetypes in Paris, with 74% of neighbouring tiles in the same cluster.
    **Against an independent land-use layer** (a synthetic cadastre, coarser and partly
    wrong), the clusters reach ARI 0.340 in Paris, 97% of the 0.350 that the planted
    archetypes themselves reach against it.
    """
    out = []
    cities = sorted({k.split("-")[1] for k in values if k.startswith(("case-", "zones-"))})
    case = [
        f"ARI {fmt(values[f'case-{c}-ari'])} against the planted archetypes in {c.title()}"
        + (
            f", with {float(values[f'case-{c}-join']):.0%} of neighbouring tiles in the same"
            " cluster"
            if f"case-{c}-join" in values
            else ""
        )
        for c in cities
        if f"case-{c}-ari" in values
    ]
    if case:
        method = next(
            (values[f"case-{c}-method"] for c in cities if f"case-{c}-method" in values),
            "The method",
        )
        out.append(f"**Clusters recover the planted functions.** {method} reaches {_join(case)}.")
    zones = [
        f"ARI {fmt(values[f'zones-{c}-ari'])} in {c.title()}"
        + (
            f", {float(values[f'zones-{c}-ari']) / float(values[f'zones-{c}-ceiling']):.0%} of"
            f" the {fmt(values[f'zones-{c}-ceiling'])} that the planted archetypes themselves"
            " reach against it"
            if float(values.get(f"zones-{c}-ceiling", 0) or 0) > 0
            else ""
        )
        for c in cities
        if f"zones-{c}-ari" in values
    ]
    if zones:
        out.append(
            "**Against an independent land-use layer** (a synthetic cadastre, coarser and partly"
            f" wrong), the clusters reach {_join(zones)}."
        )
    if "transfer-best" in values:

        def spread(key: str) -> str:
            sd = values.get(f"{key}-sd")
            return "" if sd is None or sd != sd else f" ± {fmt(sd)}"

        seeds = (
            f"Over {values['transfer-seeds']} seeds, the" if "transfer-seeds" in values else "The"
        )
        text = (
            f"**Transfer.** {seeds} model that transfers best from one city to the other is"
            f" {values['transfer-best']} (ARI {fmt(values['transfer-best-ari'])}"
            f"{spread('transfer-best')} against the target's truth)"
        )
        main, best = values.get("transfer-main"), values["transfer-best"]
        if main is not None and main != best and "transfer-main-ari" in values:
            gap = float(values["transfer-best-ari"]) - float(values["transfer-main-ari"])
            noise = max(
                float(values.get("transfer-best-sd") or 0),
                float(values.get("transfer-main-sd") or 0),
            )
            relation = "within the seeds' spread of" if gap <= noise else "ahead of"
            text += (
                f", {relation} {main} ({fmt(values['transfer-main-ari'])}{spread('transfer-main')})"
            )
        if "transfer-main-ratio" in values:
            text += (
                f"; {values['transfer-main']} keeps {float(values['transfer-main-ratio']):.0%} of"
                " the ARI of a model fitted on the target"
            )
        out.append(text + ".")
    anomalies = [
        f"F1 {fmt(values[f'anomalies-{c}-f1'])} in {c.title()} (best per-tile baseline"
        f" {fmt(values[f'anomalies-{c}-baseline-f1'])})"
        for c in sorted({k.split("-")[1] for k in values if k.startswith("anomalies-")})
        if f"anomalies-{c}-f1" in values and f"anomalies-{c}-baseline-f1" in values
    ]
    if anomalies:
        text = (
            "**Anomalies.** With the clusters as peer groups and thresholds chosen on the other"
            f" city's events, the detector finds the planted events at {_join(anomalies)}."
        )
        spreads = [float(v) for k, v in values.items() if k.endswith("-peer-spread")]
        if spreads and max(spreads) < 0.01:
            text += (
                " Any other grouping of the tiles (one group, random groups) does as well: the"
                " planted events are strong enough not to need the clusters."
            )
        elif spreads:
            text += (
                f" The choice of peer groups moves F1 by up to {fmt(max(spreads))} between"
                " groupings."
            )
        out.append(text)
    if "perf-read-vs-pandas" in values:
        text = (
            "**Scale.** The reader parses a Paris-size file"
            f" {fmt(values['perf-read-vs-pandas'], 1)} times as fast as pandas"
        )
        if "perf-hours-16-workers" in values:
            text += (
                f"; the whole dataset reduces in about {fmt(values['perf-hours-16-workers'], 1)}"
                " hours on 16 workers"
            )
        out.append(text + ".")
    return out


def findings_html(values: dict[str, object]) -> str:
    """:func:`findings` as an HTML list (for the landing page), or a note when no chapter has
    been executed yet.

    Examples
    --------
    >>> findings_html({})
    '<p>No chapter has been executed yet: build the book to see its findings.</p>'
    """
    items = findings(values)
    if not items:
        return "<p>No chapter has been executed yet: build the book to see its findings.</p>"
    return "<ul>" + "".join(f"<li>{markdown_html(i)[3:-4]}</li>" for i in items) + "</ul>"
