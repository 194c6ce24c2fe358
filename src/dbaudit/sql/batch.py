"""The one statement that replaces a loop of one normalised statement (the N+1's batch).

Runtime findings print it beside the loop: the per-row key becomes an IN list, a per-row
INSERT one multi-row VALUES.
"""

from __future__ import annotations

import re

_EQUALS_PARAM = re.compile(
    r"((?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?)\s*=\s*(\?|CAST\(\? AS [\w ]+\))"
)


def suggest_batch(text: str) -> str:
    """The one query that replaces a loop of ``text`` (a normalised statement).

    >>> suggest_batch("SELECT * FROM renders WHERE renders.chain_id = ? ORDER BY renders.id")
    'SELECT * FROM renders WHERE renders.chain_id IN (?) ORDER BY renders.id'
    >>> suggest_batch('DELETE FROM "c" WHERE "c"."id" IN (?)')
    'DELETE FROM "c" WHERE "c"."id" IN (?) -- every key in one IN list'
    >>> suggest_batch("INSERT INTO t (a) VALUES (?)")
    'INSERT INTO t (a) VALUES (?), (?), ... -- one statement for all rows'
    >>> suggest_batch("WITH a AS (SELECT id FROM u WHERE name = ?) INSERT INTO t (a) VALUES (?)")
    ''
    """
    upper = text.upper()
    if upper.startswith("INSERT"):
        return _batch_insert(text)
    if upper.startswith("WITH ") and " INSERT INTO " in upper:
        # the row's values come through a CTE: with a parameter of its own (the author looked
        # up by name) the CTE is per row, so no one statement repeats the row; the summary's
        # executemany advice stands alone
        cte = text[: upper.index(" INSERT INTO ")]
        return "" if "?" in cte else _batch_insert(text)
    head, separator, tail = text.partition(" WHERE ")
    if not separator:
        return ""
    matches = _EQUALS_PARAM.findall(tail)
    if not matches and tail.count(" IN (?)") == 1 and " IN (SELECT " not in tail:
        # already a list per statement (Django deletes by ``pk IN (...)``): one list for all
        return f"{text} -- every key in one IN list"
    if len(matches) != 1:
        return ""  # zero or several keys: no single obvious batch column
    key = matches[0][0]
    batched = _EQUALS_PARAM.sub(lambda m: f"{m.group(1)} IN (?)", tail, count=1)
    suggestion = f"{head}{separator}{batched}"
    if " LIMIT " in suggestion:  # a per-key limit does not survive batching as is
        suggestion += f" -- per key: ROW_NUMBER() OVER (PARTITION BY {key}) <= the limit"
    return suggestion


def _batch_insert(text: str) -> str:
    """The row repeated whole (``(?, ?), (?, ?), ...``), what follows it kept (``ON CONFLICT DO
    NOTHING``, ``RETURNING id``: dropping them would change what the statement does).

    >>> _batch_insert("INSERT INTO t (a, b) VALUES (?, f(?)) RETURNING t.id").split(" -- ")[0]
    'INSERT INTO t (a, b) VALUES (?, f(?)), (?, f(?)), ... RETURNING t.id'
    """
    values = text.rfind("VALUES (")
    if values < 0:
        return ""
    start = values + len("VALUES ")
    depth = 0
    for end in range(start, len(text)):  # the row's closing parenthesis
        depth += (text[end] == "(") - (text[end] == ")")
        if depth == 0:
            break
    else:
        return ""
    row, rest = text[start : end + 1], text[end + 1 :]
    return f"{text[: end + 1]}, {row}, ...{rest} -- one statement for all rows"
