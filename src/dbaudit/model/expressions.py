"""Reading the expressions the model keeps as text (``Filter.value``, ``Call.args``,
``Loop.iterable``), the same way for every language's frontend."""

from __future__ import annotations

import re


def free_names(expression: str) -> set[str]:
    """Names an expression reads (``Number(link.recipientId)`` -> Number, link): not the
    properties after a dot, nor the words of a string. Python's expressions read the same.

    >>> sorted(free_names("Number(link.recipientId) + 'a b'"))
    ['Number', 'link']
    """
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", expression)
    return set(re.findall(r"(?<![\w$.])[A-Za-z_$][\w$]*", unquoted))
