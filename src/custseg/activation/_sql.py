"""A saved model as one SQL query: every customer of a warehouse table with
the segment ``custseg predict`` gives it, computed where the data lives.

The query does in SQL what :meth:`custseg.Segmenter.predict` does in Python,
step by step and in the same order (:class:`custseg.prep.DirectPrep` reads the
arithmetic out of the fitted preprocessor):

1. each numeric feature as a double; an infinite or absurd value (beyond
   1e100), like a missing one, takes the median learned in the fit; a
   log-scaled feature goes through ``asinh`` first;
2. the scaler's shift and divisor (or factor and offset);
3. each categorical feature compared as text with the categories of the fit,
   a missing value counted as the most frequent one, a value never seen
   matching none (the one-hot block all zeros), times the categories' weight;
4. the assignment: the nearest centre for K-Means and mini-batch K-Means
   (squared distances, the lowest index on ties), the nearest prototype for
   k-prototypes (squared numeric distance plus the weight of each category
   that differs from the prototype's), the most likely component for a
   Gaussian mixture (its log weight plus log density);
5. the cluster mapped to the segment number and name the run gave it.

Every identifier is quoted and every value (a centre, a category, a segment
name) is a literal built by sqlglot for the dialect, never text pasted into
the query. Columns are read by the names the model was trained on.

``rules=True`` writes the segments' plain rules (``Segmenter.rules_``) as one
``CASE WHEN`` instead, for a CRM that can only filter; their precision and
coverage on the training customers are comments, and a customer no rule takes
gets no segment (the rules approximate the model; the query above is exact).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from custseg.errors import ParameterError

__all__ = ["DIALECTS", "SQL_METHODS", "model_sql", "rule_order"]

# Dialect names as sqlglot spells them, and the words people use for them.
DIALECTS = ("postgres", "duckdb", "sqlite", "bigquery", "snowflake", "spark")
_ALIASES = {
    "postgresql": "postgres",
    "pg": "postgres",
    "sparksql": "spark",
    "spark-sql": "spark",
    "databricks": "spark",
}
# Assignment methods of a model's predictor that SQL reproduces exactly.
SQL_METHODS = ("centroid", "prototypes", "gmm")
# Dialects that compute a WITH step once when told (AS MATERIALIZED).
_MATERIALIZING = ("postgres", "duckdb", "sqlite")
# The prefix of the names the query makes for its own steps and columns.
_OWN = "_cs_"
# As prep.LARGEST: larger values are treated as missing by predict.
_LARGEST = 1e100


def _dialect(name: str) -> str:
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in DIALECTS:
        raise ParameterError(
            f"unknown SQL dialect {name!r}; choose one of {', '.join(DIALECTS)}"
        )
    return key


def model_sql(
    model: Any,
    table: str,
    *,
    dialect: str = "postgres",
    id_columns: Sequence[str] | None = None,
    view: str | None = None,
    rules: bool = False,
) -> str:
    """The query that segments every row of ``table`` as ``model`` would.

    Parameters
    ----------
    model : Segmenter
        A fitted model (``custseg.load_model(path)``).
    table : str
        The customer table (``schema.table`` is split at dots, each part
        quoted).
    dialect : str
        One of :data:`DIALECTS` (``postgresql`` and ``databricks`` too).
    id_columns : list of str, optional
        Columns to return beside the segment (default: the identifier
        columns of the training table, ``model.id_columns_``).
    view : str, optional
        Wrap the query in ``CREATE VIEW <view> AS``.
    rules : bool
        The segments' plain rules as a ``CASE WHEN`` instead of the exact
        assignment.

    Returns
    -------
    str
        The query, with ``segment`` (the segment number, NULL for none) and
        ``segment_name`` (``unassigned`` for none) after the chosen columns.

    Examples
    --------
    >>> from custseg import Segmenter, load_mall_customers
    >>> seg = Segmenter(n_clusters=3, stability_resamples=0, random_state=0)
    >>> seg = seg.fit(load_mall_customers()[["Annual Income (k$)", "Spending Score (1-100)"]])
    >>> sql = model_sql(seg, "mall", dialect="duckdb", id_columns=["CustomerID"])
    >>> "LEAST(" in sql and "AS segment_name" in sql
    True
    """
    from sqlglot import exp

    dialect = _dialect(dialect)
    model._check_fitted()
    source = _table(table)
    ids = list(id_columns or getattr(model, "id_columns_", ()) or ())
    if not ids:
        raise ParameterError(
            "the model records no identifier column to return beside each "
            "segment; name the table's customer id with --id COLUMN"
        )
    taken = [c for c in ids if c in ("segment", "segment_name") or c.startswith(_OWN)]
    if taken:
        raise ParameterError(
            f"the id column {taken[0]!r} has the name of a column the query "
            "makes (segment, segment_name, or one starting with "
            f"{_OWN!r}); return it under another name (a view over the table)"
        )
    carried = [exp.column(c, quoted=True) for c in ids]
    if rules:
        query = _rules_query(model, source, carried)
    else:
        query = _exact_query(model, source, carried, dialect)
    if view:
        name = _table(view)
        statement: exp.Expression = exp.Create(
            this=name, kind="VIEW", expression=query, replace=False
        )
    else:
        statement = query
    comment = _header(model, dialect, rules)
    return comment + statement.sql(dialect=dialect, pretty=True) + ";\n"


def _table(name: str) -> Any:
    """``[catalog.][schema.]table`` as a table expression: each part quoted
    only where it needs to be (a plain name stays unquoted, so that a
    warehouse that folds case, Snowflake or PostgreSQL, finds the table it
    created without quotes)."""
    from sqlglot import exp

    parts = name.split(".")
    if not all(p.strip() for p in parts) or len(parts) > 3:
        raise ParameterError(
            f"a table name is [catalog.][schema.]table with text between its "
            f"dots; got {name!r}"
        )
    idents = [exp.to_identifier(p.strip()) for p in parts]
    table, db, catalog = [*reversed(idents), None, None][:3]
    return exp.Table(this=table, db=db, catalog=catalog)


def _header(model: Any, dialect: str, rules: bool) -> str:
    algorithm = model.algorithm_
    what = "the segments' plain rules" if rules else "the exact assignment"
    lines = [
        f"custseg model: {algorithm}, {len(model.segment_names_)} segments; "
        f"{what} ({dialect})",
        "segment: the segment number (NULL: in no segment); segment_name: its name",
    ]
    if rules:
        lines += _rule_lines(model)
    return "".join(f"-- {_comment_text(line)}\n" for line in lines)


def _comment_text(text: str) -> str:
    """Text safe inside a ``--`` comment: one line, no control characters."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _number(value: float) -> Any:
    from sqlglot import exp

    value = float(value)
    if not math.isfinite(value):
        raise ParameterError("the model holds a value that is not finite")
    return exp.convert(value)


def _prepared_columns(model: Any) -> tuple[list[Any], list[str]]:
    """The prepared matrix's columns as SQL expressions over the raw
    columns, and their aliases ``z0``, ``z1``, ..."""
    from sqlglot import exp

    from custseg.prep import direct_prep

    direct = direct_prep(model.preprocessor_)
    if direct is None:
        raise ParameterError(
            "this model's preparation is not one custseg writes as SQL (a "
            "preprocessor other than the one custseg builds)"
        )
    out: list[Any] = []
    for j, name in enumerate(direct.numeric):
        raw = exp.cast(exp.column(name, quoted=True), "double")
        finite = exp.Case().when(
            exp.LTE(this=exp.Abs(this=raw.copy()), expression=_number(_LARGEST)),
            raw,
        )
        value: Any = finite
        if direct.log and direct.log[j]:
            value = exp.func("asinh", value)
        value = exp.Coalesce(this=value, expressions=[_number(direct.fill[j])])
        if direct.shift is not None:
            value = exp.Sub(this=exp.paren(value), expression=_number(direct.shift[j]))
        if direct.divide is not None:
            value = exp.Div(this=exp.paren(value), expression=_number(direct.divide[j]))
        if direct.multiply is not None:
            value = exp.Mul(
                this=exp.paren(value), expression=_number(direct.multiply[j])
            )
        if direct.add is not None:
            value = exp.Add(this=exp.paren(value), expression=_number(direct.add[j]))
        out.append(value)
    weight = _number(direct.weight)
    for j, name in enumerate(direct.categorical):
        text = exp.Coalesce(
            this=exp.cast(exp.column(name, quoted=True), "text"),
            expressions=[exp.Literal.string(direct.most_frequent[j])],
        )
        for category in direct.categories[j]:
            hit = _is_category(text, category, direct.categories[j])
            out.append(exp.Case().when(hit, weight.copy()).else_(_number(0.0)))
    return out, [f"{_OWN}z{i}" for i in range(len(out))]


_BOOLEAN_FORMS = {
    "True": ("True", "true", "t", "1"),
    "False": ("False", "false", "f", "0"),
}


def _text_forms(category: str, categories: Sequence[str]) -> list[str]:
    """The texts a warehouse may hold for a category Python wrote with
    ``str``: a boolean is ``True`` in Python but ``true`` (PostgreSQL, DuckDB,
    Spark) or ``1`` (SQLite) as text, and a whole number read as a float is
    ``1.0`` in Python but ``1`` from an integer column. Forms that are
    categories of their own are left out."""
    forms = list(_BOOLEAN_FORMS.get(category, (category,)))
    whole = re.fullmatch(r"(-?\d+)\.0", category)
    if whole:
        forms.append(whole[1])
    return [f for f in dict.fromkeys(forms) if f == category or f not in categories]


def _is_category(text: Any, category: str, categories: Sequence[str]) -> Any:
    from sqlglot import exp

    forms = _text_forms(category, categories)
    if len(forms) == 1:
        return exp.EQ(this=text.copy(), expression=exp.Literal.string(category))
    return exp.In(this=text.copy(), expressions=[exp.Literal.string(f) for f in forms])


def _segment_of_cluster(model: Any, n_raw: int) -> list[tuple[int | None, str]]:
    """Segment number and name of each raw index the assignment gives (the
    centre or component), as ``predict`` maps it."""
    labels = model.labels_of_assigned(np.arange(n_raw))
    return [
        (None, "unassigned")
        if label < 0
        else (int(model.segment_ids_[label]), str(model.segment_names_[label]))
        for label in labels.tolist()
    ]


def _scores(model: Any, z: list[Any]) -> tuple[list[Any], str]:
    """One score per centre or component over the prepared columns ``z``,
    and whether the best is the ``min`` (a distance) or the ``max`` (a log
    likelihood)."""
    from sqlglot import exp

    predictor = model.predictor_
    method = predictor["method"]
    if method not in SQL_METHODS:
        raise ParameterError(
            f"a {model.algorithm_} model assigns new customers by a vote of its "
            "nearest training customers, which export-sql does not write; score "
            "them with custseg predict (or refit with k-means, k-prototypes or a "
            "Gaussian mixture)"
        )

    def total(terms: list[Any]) -> Any:
        if not terms:
            return _number(0.0)
        out = terms[0]
        for term in terms[1:]:
            out = exp.Add(this=out, expression=term)
        return out

    def squared(a: Any, b: float) -> Any:
        diff = exp.paren(exp.Sub(this=a.copy(), expression=_number(b)))
        return exp.Mul(this=diff, expression=diff.copy())

    if method == "centroid":
        centers = np.asarray(predictor["centers"], dtype=np.float64)
        return [
            total([squared(zj, c) for zj, c in zip(z, row, strict=True)])
            for row in centers
        ], "min"
    if method == "prototypes":
        n_numeric = int(predictor["n_numeric"])
        groups = [int(g) for g in predictor["groups"]]
        centers = np.asarray(predictor["numeric_centers"], dtype=np.float64)
        modes = np.asarray(predictor["modes"], dtype=np.int64)
        gamma = float(predictor["gamma"])
        # each categorical's code: the index of its non-zero one-hot column
        # (-1: none, as for an unseen value, or a weight of 0)
        codes: list[Any] = []
        start = n_numeric
        for size in groups:
            case = exp.Case()
            for i in range(size):
                case = case.when(
                    exp.NEQ(this=z[start + i].copy(), expression=_number(0.0)),
                    exp.convert(i),
                )
            codes.append(case.else_(exp.convert(-1)))
            start += size
        scores = []
        for row, mode in zip(centers, modes, strict=True):
            terms = [squared(z[j], row[j]) for j in range(n_numeric)]
            terms += [
                exp.Mul(
                    this=_number(gamma),
                    expression=exp.Case()
                    .when(
                        exp.EQ(this=code.copy(), expression=exp.convert(int(m))),
                        _number(0.0),
                    )
                    .else_(_number(1.0)),
                )
                for code, m in zip(codes, mode, strict=True)
            ]
            scores.append(total(terms))
        return scores, "min"
    # A Gaussian mixture: log weight + log density, less the constant
    # d log(2 pi) / 2 that every component shares (scikit-learn's
    # _estimate_weighted_log_prob, term by term).
    means = np.asarray(predictor["means"], dtype=np.float64)
    chol = np.asarray(predictor["precisions_cholesky"], dtype=np.float64)
    weights = np.asarray(predictor["weights"], dtype=np.float64)
    kind = predictor["covariance_type"]
    k, d = means.shape
    scores = []
    for c in range(k):
        if kind == "full":
            p = chol[c]
        elif kind == "tied":
            p = chol
        elif kind == "diag":
            p = np.diag(chol[c])
        else:  # spherical
            p = np.eye(d) * chol[c]
        log_det = float(np.sum(np.log(np.diag(p))))
        shift = means[c] @ p
        ys = []
        for j in range(d):
            terms = [
                exp.Mul(this=z[i].copy(), expression=_number(p[i, j]))
                for i in range(d)
                if p[i, j] != 0
            ]
            y = exp.paren(exp.Sub(this=total(terms), expression=_number(shift[j])))
            ys.append(exp.Mul(this=y, expression=y.copy()))
        constant = _number(math.log(weights[c]) + log_det)
        scores.append(
            exp.Sub(
                this=constant,
                expression=exp.Mul(this=_number(0.5), expression=exp.paren(total(ys))),
            )
        )
    return scores, "max"


def _exact_query(model: Any, source: Any, carried: list[Any], dialect: str) -> Any:
    from sqlglot import exp

    z, names = _prepared_columns(model)
    zcols = [exp.column(n) for n in names]
    scores, best = _scores(model, zcols)
    snames = [f"{_OWN}s{i}" for i in range(len(scores))]
    scols = [exp.column(n) for n in snames]
    pick = exp.Least if best == "min" else exp.Greatest
    top = pick(this=scols[0], expressions=[c.copy() for c in scols[1:]])
    # the first centre whose score is the best: the lowest index on ties,
    # as numpy's argmin and argmax
    choose = exp.Case()
    for i, col in enumerate(scols):
        choose = choose.when(
            exp.EQ(this=col.copy(), expression=exp.column(f"{_OWN}best")),
            exp.convert(i),
        )
    mapping = _segment_of_cluster(model, len(scores))
    number = exp.Case()
    name = exp.Case()
    for i, (seg, label) in enumerate(mapping):
        hit = exp.EQ(this=exp.column(f"{_OWN}cluster"), expression=exp.convert(i))
        number = number.when(hit, exp.convert(seg) if seg is not None else exp.Null())
        name = name.when(hit.copy(), exp.Literal.string(label))
    name = name.else_(exp.Literal.string("unassigned"))
    keep = [c.copy() for c in carried]
    prepared = exp.select(
        *[c.copy() for c in carried],
        *[exp.alias_(e, n) for e, n in zip(z, names, strict=True)],
    ).from_(source)
    scored = exp.select(
        *keep, *[exp.alias_(e, n) for e, n in zip(scores, snames, strict=True)]
    ).from_(f"{_OWN}prepared")
    best_of = exp.select(*keep, *scols, exp.alias_(top, f"{_OWN}best")).from_(
        f"{_OWN}scored"
    )
    assigned = exp.select(*keep, exp.alias_(choose, f"{_OWN}cluster")).from_(
        f"{_OWN}ranked"
    )
    final = exp.select(
        *keep,
        exp.alias_(number, "segment"),
        exp.alias_(name, "segment_name"),
    ).from_(f"{_OWN}assigned")
    # Each step names the one before; a planner that inlines the steps (as
    # PostgreSQL does) copies every distance into every comparison, and a
    # Gaussian mixture's query grew past gigabytes: where the dialect can say
    # so, each step is computed once.
    once = True if dialect in _MATERIALIZING else None
    return (
        final.with_(f"{_OWN}prepared", as_=prepared, materialized=once)
        .with_(f"{_OWN}scored", as_=scored, materialized=once)
        .with_(f"{_OWN}ranked", as_=best_of, materialized=once)
        .with_(f"{_OWN}assigned", as_=assigned, materialized=once)
    )


def _condition(cond: Any) -> Any:
    """One rule condition as SQL, a missing value standing for what it stood
    for when the rule was learnt (the median; the category "(missing)")."""
    from sqlglot import exp

    column = exp.column(cond.feature, quoted=True)
    if cond.op in ("<=", ">", "between"):
        x: Any = exp.cast(column, "double")
        if cond.missing_as is not None:
            x = exp.Coalesce(this=x, expressions=[_number(cond.missing_as)])
        if cond.op == "<=":
            return exp.LTE(this=x, expression=_number(cond.value))
        if cond.op == ">":
            return exp.GT(this=x, expression=_number(cond.value))
        low, high = cond.value
        return exp.and_(
            exp.GT(this=x, expression=_number(low)),
            exp.LTE(this=x.copy(), expression=_number(high)),
        )
    text = exp.Coalesce(
        this=exp.cast(column, "text"), expressions=[exp.Literal.string("(missing)")]
    )
    values = (
        [str(cond.value)]
        if cond.op in ("is", "is not")
        else [str(v) for v in cond.value]
    )
    forms = [f for v in values for f in _text_forms(v, values)]
    test: Any = (
        exp.EQ(this=text, expression=exp.Literal.string(forms[0]))
        if len(forms) == 1
        else exp.In(this=text, expressions=[exp.Literal.string(f) for f in forms])
    )
    return exp.Not(this=exp.paren(test)) if cond.op in ("is not", "not in") else test


def _names_by_number(model: Any) -> dict[int, str]:
    return {
        int(n): str(name)
        for n, name in zip(
            model.segment_ids_.tolist(), model.segment_names_, strict=True
        )
    }


def rule_order(model: Any) -> list[Any]:
    """The rules in the order the ``CASE WHEN`` tries them: the most precise
    first, so that where two rules overlap the surer one decides."""
    return sorted(model.rules_, key=lambda r: (-r.precision, r.segment))


def _rules_query(model: Any, source: Any, carried: list[Any]) -> Any:
    from sqlglot import exp

    if not model.rules_:
        raise ParameterError("the model has no segment rules to export")
    names = _names_by_number(model)
    number, name = exp.Case(), exp.Case()
    for rule in rule_order(model):
        test = (
            exp.and_(*[_condition(c) for c in rule.conditions])
            if rule.conditions
            else exp.true()
        )
        number = number.when(test, exp.convert(int(rule.segment)))
        name = name.when(test.copy(), exp.Literal.string(names[int(rule.segment)]))
    name = name.else_(exp.Literal.string("unassigned"))
    return exp.select(
        *carried, exp.alias_(number, "segment"), exp.alias_(name, "segment_name")
    ).from_(source)


def _rule_lines(model: Any) -> list[str]:
    names = _names_by_number(model)
    lines = [
        "rules, tried in this order (precision and coverage on the training customers):"
    ]
    for rule in rule_order(model):
        lines.append(
            f"segment {rule.segment} {names[int(rule.segment)]!r}: {rule.text}; "
            f"precision {rule.precision:.0%}, coverage {rule.coverage:.0%}"
        )
    lines.append("a customer no rule takes gets no segment")
    return lines
