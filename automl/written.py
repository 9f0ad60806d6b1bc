"""How values are written in a CSV, and what they are: numbers with thousands separators,
signs (``$``, ``%``, ``+``), units and scales (``1248 CC``, ``19M``), times and durations
(``22:20``, ``2h 50m``), ratings (``4.1/5``), a few words standing for missing values
(``unknown``), and dates in numbers or with their month's name.

:mod:`automl.data` decides a column's kind from these readings; :mod:`automl.encoders` reads
new rows with the same functions (:func:`as_floats`, :func:`parse_dates`), so ``predict`` reads
a file as ``search`` did.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from automl.reading import THOUSANDS_RE
from automl.words import counted

MAX_MISSING_WORDS = 3  # distinct words a column of numbers may use for "missing"
MIN_NUMBER_LEVELS = 10  # distinct numbers such a column needs (fewer: codes, categorical)
_DAY_MONTH_RE = re.compile(r"^(\d{1,2})[-/.]\d{1,2}[-/.]\d{2,4}(?:\D|$)")
_TIME = r"([ T]\d{1,2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?"
_MONTH = (r"(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?"
          r"|sep(t(ember)?)?|oct(ober)?|nov(ember)?|dec(ember)?)\.?")
#: A date in numbers (``2024-03-01``, ``01/03/2024``) or with its month's name (``01-Jan-2024``,
#: ``1 January 2024``, ``January 7, 2018``, ``Jan 2024``), a time of day after it or not.
_DATES = (r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", rf"\d{{1,2}}[-/ .]{_MONTH}[-/ .,]*\d{{2,4}}",
          rf"{_MONTH}[-/ ]\d{{1,2}}(st|nd|rd|th)?,? \d{{4}}", rf"{_MONTH}[-/ ,]*\d{{4}}")
_DATE_RE = re.compile(rf"^({'|'.join(_DATES)}){_TIME}$", re.IGNORECASE)
_NUMBER = r"(\d{1,3}(,\d{3})+|\d+)(\.\d+)?"
#: A currency sign (``$``, ``€``, ``£``, ``¥``, ``₹``), and the ones written before a number
#: only: ``Rs. 1,200``, as Indian tables write rupees, and the codes of the most traded
#: currencies (``USD 1,234``; after a number, ``1,234 USD``, they are units).
_CURRENCY = "[$€£¥₹]"
_CODES = "(?:USD|EUR|GBP|JPY|CNY|INR|CAD|AUD|CHF)"
_CURRENCY_BEFORE = rf"(?:{_CURRENCY}|Rs\.?|{_CODES}(?=\s))"
_AMOUNT = rf"[-+]?({_CURRENCY_BEFORE}\s?-?{_NUMBER}|{_NUMBER}(\s?(?:[%+]|{_CURRENCY}))?)"
#: A percentage (``12.5%``) or an amount with a currency sign (``$1,234.50``, ``-£3``, ``$-3``,
#: ``12 €``, ``₹800``), negative in parentheses or not (``($1,234.50)``, as accounts write it).
_DRESSED_RE = re.compile(rf"^{_AMOUNT}$|^\(\s?{_AMOUNT}\s?\)$")
#: An integer whose thousands are grouped by (no-break) spaces (``12 500``), or a plain number.
_SPACED_RE = re.compile(r"^[-+]?\d{1,3}([ \u00a0\u202f]\d{3})+$|^[-+]?\d+(\.\d+)?$")
#: The signs a number may be written with, by name (see :func:`written_numbers`).
_SIGNS = (("percent", "%"), ("currency", _CURRENCY_BEFORE), ("plus", r"\d\s?\+$"))
#: A height in feet and inches (``5'10``, ``5' 10"``, ``6'0''``), read as inches.
_FEET_RE = re.compile(r"""^(?P<feet>\d)\s?'\s?(?P<inches>\d{1,2}(?:\.\d+)?)\s?(?:"|'')?$""")
#: A rating out of a scale (``4.1/5``, ``8 / 10``, ``3 out of 5``), read as its score.
_RATING_RE = re.compile(r"^(?P<score>\d+(?:\.\d+)?)\s?(?:/|out of)\s?(?P<scale>\d+)$",
                        re.IGNORECASE)
#: What :func:`as_floats` removes from a number written as text.
_DRESSING_RE = re.compile(rf"(?<![^\W\d_])(?:Rs\.?|{_CODES})|[,%()\s]|{_CURRENCY}|\+$")
#: A unit after a number (``1248 CC``, ``23.4 kmpl``, ``12 km/kg``, ``30 °C``, ``900 sq.ft``),
#: an amount with a currency sign too (``$1.2M``).
_UNIT = r"(?:°|[^\W\d_])[^\W\d_]*(?:[/. ][^\W\d_]+)?"
_UNIT_RE = re.compile(rf"^[-+]?(?:{_CURRENCY_BEFORE}\s?)?{_NUMBER}\s?(?P<unit>{_UNIT})?$")
_UNIT_SUFFIX_RE = re.compile(rf"(?<=\d)\s?(?P<unit>{_UNIT})$")
MAX_UNITS = 3  # distinct units a column of numbers may carry
_NOT_UNITS = frozenset({"am", "pm", "e"})  # 10am (a time of day), 1e (an exponent cut short)
#: Words that scale a number (``1.2K``, ``19M``, ``8.6 Lakh``, ``1.2 Cr``), by what; a letter by
#: its case (``m`` is a metre).
_SCALES = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "mn": 1e6, "bn": 1e9, "thousand": 1e3,
           "million": 1e6, "billion": 1e9, "lakh": 1e5, "lakhs": 1e5, "lac": 1e5, "cr": 1e7,
           "crore": 1e7, "crores": 1e7}
_SCALE_NAMES = {1e3: "thousands", 1e5: "lakhs", 1e6: "millions", 1e7: "crores", 1e9: "billions"}
_SI_PREFIXES = "kmgcµund"  # kg beside g, MB beside GB, ml beside l: one unit at two scales
#: Measures written in units of several scales (casefolded), each unit by its size in the
#: measure's first: a column that mixes them is read in its smallest (``1 TB`` beside
#: ``512 GB`` is 1,000 GB; ``1.2 kg`` beside ``800 g`` is 1,200 g).
_MEASURES = {
    "mass": {"g": 1.0, "gm": 1.0, "gms": 1.0, "gram": 1.0, "grams": 1.0, "mg": 1e-3, "kg": 1e3,
             "kgs": 1e3, "lb": 453.59237, "lbs": 453.59237, "oz": 28.349523125},
    "length": {"m": 1.0, "mm": 1e-3, "cm": 1e-2, "km": 1e3},
    "volume": {"l": 1.0, "ltr": 1.0, "litre": 1.0, "liter": 1.0, "litres": 1.0, "liters": 1.0,
               "ml": 1e-3, "cl": 1e-2},
    "data": {"byte": 1.0, "bytes": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12},
    "frequency": {"hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9},
    "power": {"w": 1.0, "watt": 1.0, "watts": 1.0, "kw": 1e3},
}
_MEASURE_OF = {unit: measure for measure, sizes in _MEASURES.items() for unit in sizes}
_SIZE = {unit: size for sizes in _MEASURES.values() for unit, size in sizes.items()}
#: A time on a clock (``22:20``, ``1:05:30``, ``10:30 pm``): a time of day or a duration, days
#: before it or not (``1 days 02:30:00`` as pandas writes a duration, ``1 day, 2:30:00`` as
#: Python does).
_CLOCK_RE = re.compile(r"^(?:(?P<d>\d+) days?,? )?(?P<h>\d{1,3}):(?P<m>[0-5]\d)"
                       r"(?::(?P<s>[0-5]\d(?:\.\d+)?))?(?:\s?(?P<half>[ap])\.?m\.?)?$",
                       re.IGNORECASE)
#: An ISO 8601 duration (``PT4M13S``, ``P1DT2H``), as web APIs write them.
_ISO_SPAN_RE = re.compile(r"^P(?=\d|T\d)(?:(?P<d>\d+)D)?(?:T(?=\d)(?:(?P<h>\d+)H)?"
                          r"(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")
_SPAN_PART = r"(?:(?P<{}>\d+(?:\.\d+)?)\s?(?:{})\.?,?\s*)?"
_SPAN_UNITS = {"d": ("days?|d", 24.0), "h": ("hours?|hrs?|h", 1.0),
               "m": ("minutes?|mins?|m", 1 / 60), "s": ("seconds?|secs?|s", 1 / 3600)}
#: A duration in parts (``2h 50m``, ``1 hr 5 mins``, ``3 days 4 hours``, ``45m``).
_SPAN_RE = re.compile(
    "^(?=\\d)" + "".join(_SPAN_PART.format(g, w) for g, (w, _) in _SPAN_UNITS.items()) + "$",
    re.IGNORECASE)


def not_numbers(values: pd.Series, hours: bool | None = None,
                units: tuple[str, ...] | None = None) -> pd.Series:
    """The values that are there but are not numbers (:func:`as_floats` reads them as NaN)."""
    if pd.api.types.is_numeric_dtype(values):
        return values.iloc[:0]
    known = values.dropna()
    return known[np.isnan(as_floats(known, hours, units))]


def as_floats(values: pd.Series, hours: bool | None = None,
              units: tuple[str, ...] | None = None) -> np.ndarray:
    """``values`` as floats, a unit after the number (see :func:`units_note`), thousands
    separators, spaces, ``%`` and currency signs (:data:`_CURRENCY_BEFORE`) removed; missing
    or not a number: NaN. Where ``hours``, times and durations (``22:20``, ``2h 50m``) are
    read as hours instead; ``None``: where the values are written so (see :func:`are_times`).
    Given ``units`` (see :func:`units_in`), a number followed by another unit is NaN too:
    ``500 g`` in a column learned in ``kg`` is not 500, nor ``9/10`` in one of ratings out of
    5 a 9."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float, na_value=np.nan)  # fast path (wide files)
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    codes, distinct = pd.factorize(values.astype("string").str.strip())  # each read once
    text = pd.Series(distinct, dtype=object)
    read = (_hours(text) if (are_times(values) if hours is None else hours)
            else _written_floats(text, units))
    return np.append(read, np.nan)[codes]


def units_in(values: pd.Series) -> tuple[str, ...]:
    """The units after the numbers of ``values`` (casefolded, sorted; scales such as ``19M``
    aside, as :func:`as_floats` multiplies them out) and the scales of its ratings (``/5``
    for ``4.1/5``): the units new rows of the column may carry."""
    if pd.api.types.is_numeric_dtype(values):
        return ()
    distinct = pd.Series(values.dropna().astype(str).str.strip().unique(), dtype=object)
    _, unit = _scale_and_unit(distinct.str.extract(_UNIT_SUFFIX_RE)["unit"])
    return tuple(sorted(set(_units_of(unit, distinct.str.extract(_RATING_RE)).dropna())))


def _units_of(unit: pd.Series, rating: pd.DataFrame) -> pd.Series:
    """Each value's unit as :func:`units_in` keeps it: its unit proper (``unit``, see
    :func:`_scale_and_unit`) casefolded, or its rating's scale as ``/5`` (``rating``: the
    values' :data:`_RATING_RE` groups); NaN: neither."""
    out_of = rating["scale"].map(lambda scale: f"/{int(scale)}", na_action="ignore")
    return unit.str.casefold().fillna(out_of)


def _written_floats(text: pd.Series, units: tuple[str, ...] | None = None) -> np.ndarray:
    """:func:`as_floats` of ``text`` (stripped strings, none missing) but for times."""
    scale, unit = _scale_and_unit(text.str.extract(_UNIT_SUFFIX_RE)["unit"])
    numbers = text.str.replace(_UNIT_SUFFIX_RE, "", regex=True).str.replace(
        _DRESSING_RE, "", regex=True)
    sign = np.where(text.str.startswith("(").to_numpy(bool), -1.0, 1.0)
    height = text.str.extract(_FEET_RE).astype(float)
    inches = (height["feet"] * 12 + height["inches"]).to_numpy()
    floats = (pd.to_numeric(numbers, errors="coerce").astype(float).to_numpy()
              * scale.fillna(1.0).to_numpy() * sign * _in_reference(unit, units))
    rating = text.str.extract(_RATING_RE)
    score = rating["score"].astype(float).to_numpy()
    read = np.where(np.isnan(inches), np.where(np.isnan(score), floats, score), inches)
    if units is not None:
        written_in, measures = _units_of(unit, rating), _reference_sizes(units)
        known = set(units) | {twin for twin, measure in _MEASURE_OF.items() if measure in measures}
        read[(written_in.notna() & ~written_in.isin(known)).to_numpy(bool)] = np.nan
    return read


def _reference_sizes(units: Iterable[str]) -> dict[str, float]:
    """Each measure (:data:`_MEASURES`) among ``units`` (casefolded) → the size of its
    smallest unit there, the one a column of them is read in."""
    sizes: dict[str, float] = {}
    for unit in units:
        if unit in _MEASURE_OF:
            measure = _MEASURE_OF[unit]
            sizes[measure] = min(sizes.get(measure, math.inf), _SIZE[unit])
    return sizes


def _in_reference(unit: pd.Series, units: tuple[str, ...] | None) -> np.ndarray:
    """What each number followed by ``unit`` (a unit proper, NaN: none) is multiplied by to be
    in its measure's reference unit (see :func:`_reference_sizes`): among ``units``, else among
    the units of ``unit`` itself; 1 for a unit of no measure, or of one ``units`` lack."""
    codes, distinct = pd.factorize(unit)  # a column has a few units: each read once
    written = pd.Series(distinct, dtype=object).str.casefold()
    reference = _reference_sizes(written if units is None else units)
    factors = [_SIZE[u] / reference[_MEASURE_OF[u]] if _MEASURE_OF.get(u) in reference else 1.0
               for u in written]
    return np.append(np.asarray(factors, dtype=float), 1.0)[codes]


def _hours(text: pd.Series) -> np.ndarray:
    """Times (``22:20``, ``10:30 pm``) and durations (``2h 50m``) in ``text`` as hours; NaN
    where a value is neither."""
    clock = text.str.extract(_CLOCK_RE)
    half = clock["half"].str.casefold()
    hour = pd.to_numeric(clock["h"])
    hour = hour.where(half.isna(), hour % 12 + 12 * (half == "p"))  # 12:15 am is 0.25
    on_clock = (pd.to_numeric(clock["d"]).fillna(0) * 24 + hour + pd.to_numeric(clock["m"]) / 60
                + pd.to_numeric(clock["s"]).fillna(0) / 3600)
    parts = text.str.extract(_SPAN_RE).combine_first(text.str.extract(_ISO_SPAN_RE))
    span = sum(pd.to_numeric(parts[g]).fillna(0) * per for g, (_, per) in _SPAN_UNITS.items())
    return on_clock.fillna(span.where(parts.notna().any(axis=1))).astype(float).to_numpy()


def times_note(text: pd.Series) -> str:
    """For times on a clock (``22:20``, ``1:05:30``, ``10:30 pm``, ``1 days 02:30:00``: all
    with seconds or none, as ``3:45`` beside ``1:02:30`` may be minutes beside hours),
    durations in parts of two units or more (``2h 50m`` beside ``19h``; ``45m`` alone is a
    unit, see :func:`units_note`) or ISO 8601 durations (``PT4M13S``), the note saying they
    are read as hours (:func:`as_floats`); empty otherwise. ``text``: strings, each distinct
    value once is enough."""
    if text.empty:
        return ""
    clock = text.str.extract(_CLOCK_RE)
    if clock["m"].notna().all():
        if clock["s"].notna().any() and clock["s"].isna().any():
            return ""
    elif not text.str.match(_ISO_SPAN_RE).all():
        given = text.str.extract(_SPAN_RE).notna()  # a value matches when it has a part
        if not (given.any(axis=1).all() and given.any().sum() >= 2):
            return ""
    first = str(text.iloc[0])
    return f"read as hours ({first!r} → {_hours(text.iloc[:1])[0]:.4g})"


def are_times(values: pd.Series) -> bool:
    """Whether ``values`` are written as times or durations (see :func:`times_note`); a
    column of numbers is not; its first 2,000 values refuse most columns."""
    if pd.api.types.is_numeric_dtype(values):
        return False
    known = values.dropna()
    sample = known.iloc[:2000].astype(str).str.strip()
    if sample.empty or not (sample.str.match(_CLOCK_RE) | sample.str.match(_SPAN_RE)
                            | sample.str.match(_ISO_SPAN_RE)).all():
        return False
    distinct = pd.Series(known.unique(), dtype=object).astype(str).str.strip().unique()
    return bool(times_note(pd.Series(distinct, dtype=object)))


def _scale(unit: str) -> float | None:
    """What ``unit`` multiplies its number by, if it is a scale (see :data:`_SCALES`)."""
    return _SCALES.get(unit if len(unit) == 1 else unit.casefold())


def missing_words(text: pd.Series, min_levels: int = MIN_NUMBER_LEVELS) -> str:
    """For numbers among which a few words stand for missing values (``unknown``, ``n.a.``,
    ``not asked``: at most :data:`MAX_MISSING_WORDS`, in fewer than half the rows, beside at
    least ``min_levels`` distinct numbers, whose units if any pass :func:`units_note`), the
    note saying which are read as missing; empty otherwise (an inferred column is then
    categorical, a ``--numeric`` one refused). Each distinct value is read once."""
    counts = text.value_counts()
    floats = as_floats(pd.Series(counts.index, dtype=object))
    missing = np.isnan(floats)
    words = counts[missing]
    if words.empty or len(words) > MAX_MISSING_WORDS or 2 * words.sum() >= len(text) or (
            len(np.unique(floats[~missing])) < min_levels):
        return ""
    numbers = pd.Series(counts.index[~missing], dtype=object).astype(str)
    if units_note(counts[~missing]) is None or ratings_note(numbers) is None:
        return ""
    shown = ", ".join(f"{word!r} ({counted(n, 'row')})"
                      for word, n in words.items())
    return "; ".join(filter(None, (written_numbers(numbers), f"{shown} read as missing")))


def written_numbers(text: pd.Series) -> str:
    """What :func:`as_floats` removes to read every value of ``text`` (strings) as a number:
    ``"thousands separators removed"`` (``1,234``), ``"percent signs removed"`` (``12.5%``),
    ``"currency signs removed"`` (``$1,234.50``, beside ``0``) or ``"plus signs removed"``
    (``10,000+``), and ``"amounts in parentheses read as negative"`` (``(1,234.50)``), or the
    units (see :func:`units_note`), or that they are times or durations read as hours (see
    :func:`times_note`), or heights in feet and inches (``5'10``) read as inches, or ratings
    (see :func:`ratings_note`); empty when they are not all such numbers. The first 2,000
    values refuse most columns; the rest is read one distinct value at a time."""
    sample = text.iloc[:2000]
    forms = [form for form in (THOUSANDS_RE, _SPACED_RE, _DRESSED_RE, _UNIT_RE, _CLOCK_RE,
                               _SPAN_RE, _ISO_SPAN_RE, _FEET_RE, _RATING_RE)
             if sample.str.match(form).all()]
    if not forms:
        return ""
    counts = text.value_counts()
    distinct = pd.Series(counts.index, dtype=object).astype(str)
    if {_CLOCK_RE, _SPAN_RE, _ISO_SPAN_RE} & set(forms) and (times := times_note(distinct)):
        return times
    matched = [form for form in forms if distinct.str.match(form).all()]
    if THOUSANDS_RE in matched and distinct.str.contains(",", regex=False).any():
        return "thousands separators removed"
    if _SPACED_RE in matched and distinct.str.contains(r"\s").any():
        return "thousands separators removed"
    if _DRESSED_RE in matched:
        signs = [name for name, pattern in _SIGNS if distinct.str.contains(pattern).any()]
        notes = [f"{' and '.join(signs)} signs removed"] if signs else []
        if distinct.str.startswith("(").any():
            notes.append("amounts in parentheses read as negative")
        return "; ".join(notes)
    if _UNIT_RE in matched:
        units = units_note(counts)
        signs = ("currency signs removed" if distinct.str.contains(_CURRENCY_BEFORE).any()
                 else "")
        return "; ".join(filter(None, (signs, units))) if units else ""
    if _FEET_RE in matched:
        return "feet and inches read as inches"
    if _RATING_RE in matched:
        return ratings_note(distinct) or ""
    return ""


def ratings_note(text: pd.Series) -> str | None:
    """For ratings out of one scale (``4.1/5`` beside ``3 out of 5``; ``text``: strings, each
    distinct value once is enough), the note saying :func:`as_floats` reads them as their
    scores; empty when no value is a rating; ``None`` when some values are ratings but not all
    are, on one scale, with no score above it (``3/4`` beside ``1/2`` are fractions, ``25/5``
    beside ``3/5`` days of May)."""
    parts = text.str.extract(_RATING_RE).astype(float)
    given = parts["score"].notna()
    if not given.any():
        return ""
    scales = parts["scale"].unique()
    if not given.all() or len(scales) > 1 or (parts["score"] > scales[0]).any():
        return None
    return f"ratings out of {scales[0]:g} read as their scores"


def _scaled_twins(units: list[str]) -> bool:
    """Whether two of ``units`` are one unit at two scales (``kg`` and ``g``, ``mb`` and
    ``gb``): the same once an SI prefix is taken off.

    >>> _scaled_twins(["kg", "g"]), _scaled_twins(["mb", "gb"]), _scaled_twins(["kmpl", "km/kg"])
    (True, True, False)
    """
    bases = [u[1:] if len(u) > 1 and u[0] in _SI_PREFIXES else u for u in units]
    return len(set(bases)) < len(bases)


def units_note(counts: pd.Series) -> str | None:
    """For numbers written as text with a unit after them (``1248 CC``; ``23.4 kmpl`` beside
    ``26.6 km/kg``; ``counts``: each distinct value → its rows), the note naming the units
    :func:`as_floats` removes or converts: at most :data:`MAX_UNITS` measures, one on nine in
    ten of the rows with a unit, ``10am`` not one, and no two units at different scales but
    those of a measure :func:`as_floats` converts (``1.2 kg`` beside ``800 g`` is 1,200 g, see
    :data:`_MEASURES`; ``12 kmpl`` beside ``12 mpl`` fails); scales
    (``19M`` beside ``201k``, ``1.2K reviews`` beside ``345 reviews``), which :func:`as_floats`
    multiplies out, are named too, but a scale alone beside a unit (``19M`` beside ``12 kg``)
    fails; empty when no value has a unit; ``None`` when their units fail that rule (codes
    such as ``12A``, ``12B``, ``14C`` are not measures)."""
    written = pd.Series(counts.index, dtype=object).astype(str).str.extract(_UNIT_RE)["unit"]
    if written.isna().all():
        return ""
    scale, unit = _scale_and_unit(written)
    scale_words = list(written[scale.notna()].str.split(" ", n=1).str[0].drop_duplicates())
    names = dict.fromkeys(_SCALE_NAMES[value] for value in scale.dropna())
    scaled = (f"{', '.join(map(repr, scale_words))} read as {', '.join(names)}"
              if scale_words else "")
    given = unit.notna().to_numpy()
    if not given.any():
        return scaled if len(scale_words) <= MAX_UNITS else None
    if (scale.notna() & unit.isna()).any():
        return None  # a scale alone beside a unit (19M beside 12 kg): which is the measure?
    folded = unit[given].str.casefold()
    measures = folded.map(lambda u: _MEASURE_OF.get(u, u))
    rows = pd.Series(counts.to_numpy()[given]).groupby(measures.to_numpy()).sum().sort_values(
        ascending=False)
    if len(rows) > MAX_UNITS or rows.iloc[0] < 0.9 * rows.sum() or set(folded) & _NOT_UNITS:
        return None
    if _scaled_twins(list(set(folded) - set(_MEASURE_OF))):
        return None  # read without their units, such numbers would mix scales
    proper, sizes = unit[given], folded.map(_SIZE)
    mixed = [measure for measure, n in sizes.groupby(measures).nunique().items() if n > 1]
    converted = [_units_text(proper[measures == measure], "converted to {}")
                 for measure in mixed]
    return "; ".join(filter(None, (_units_text(proper[~measures.isin(mixed)], "removed"),
                                   *converted, scaled)))


def _units_text(units: pd.Series, done: str) -> str:
    """``unit 'CC' removed``, ``units 'kg', 'g' converted to 'g'`` (``done``: what is done to
    ``units``, ``{}`` standing for the smallest of them); empty for no units."""
    shown = units.drop_duplicates()
    if shown.empty:
        return ""
    smallest = shown.iloc[int(np.argmin(shown.str.casefold().map(_SIZE).fillna(1.0)))]
    return (f"unit{'s' if len(shown) > 1 else ''} {', '.join(map(repr, shown))} "
            f"{done.format(repr(smallest))}")


def _scale_and_unit(written: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Units written after numbers (``CC``, ``19M``'s ``M``, ``K reviews``; NaN: none) as what
    they multiply their number by (NaN: nothing) and the unit proper (NaN: a scale alone).

    >>> scale, unit = _scale_and_unit(pd.Series(["CC", "M", "K reviews", None]))
    >>> scale.tolist(), unit.tolist()
    ([nan, 1000000.0, 1000.0, nan], ['CC', nan, 'reviews', nan])
    """
    codes, distinct = pd.factorize(written)  # a column has a few units: each read once
    units = pd.Series(distinct, dtype=object)
    first, rest = units.str.split(" ", n=1).str[0], units.str.split(" ", n=1).str[1]
    scale = units.map(_scale).fillna(first.map(_scale).where(rest.notna())).astype(float)
    proper = units.where(scale.isna(), rest)
    return (pd.Series(np.append(scale.to_numpy(), np.nan)[codes], index=written.index),
            pd.Series(np.append(proper.to_numpy(), np.nan)[codes], index=written.index,
                      dtype=object))


def day_first(values: pd.Series) -> bool:
    """Whether a date column writes day before month (``31/12/2024``): some date of the form
    ``N/N/YYYY`` (or ``-``, ``.``) has a first number above 12. Otherwise dates read month
    first (``12/31/2024``), as pandas does, one rule for the whole column: read one by one,
    ``12/03/2024`` became 3 December beside ``13/03/2024``, 13 March."""
    text = pd.Series(values.dropna().astype(str).str.strip().unique()[:20_000])
    first = pd.to_numeric(text.str.extract(_DAY_MONTH_RE)[0], errors="coerce")
    return bool((first > 12).any())


def date_order_note(text: pd.Series) -> str:
    """How dates written ``N/N/YYYY`` are read, for the column table; empty for other forms."""
    if not text.iloc[:2000].str.match(_DAY_MONTH_RE).any():
        return ""
    if day_first(text):
        return "read as day/month/year"
    return "read as month/day/year (no first number above 12 says otherwise)"


def parse_dates(values: pd.Series, dayfirst: bool = False) -> pd.Series:
    """``values`` as UTC timestamps (``NaT`` where a value is not a date), ``N/N/YYYY`` dates
    read day first where ``dayfirst`` (see :func:`day_first`); naive and ``Z`` times may mix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(values, errors="coerce", format="mixed", utc=True,
                              dayfirst=dayfirst)


def are_dates(sample: pd.Series) -> bool:
    """Whether every value of ``sample`` (text) is written as a date and nearly all are real
    dates (``1.2.3`` version numbers are not)."""
    return bool(sample.str.match(_DATE_RE).all()) and bool(
        parse_dates(sample).notna().mean() >= 0.9)
