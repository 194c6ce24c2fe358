"""The registered plugin object is one pytest 8 can hold: hashable, by identity.

pytest 8.x looks for fixtures in each registered plugin object and keeps the objects it has
seen in a set; an unhashable plugin ends the session at its start with an INTERNALERROR
(``TypeError: unhashable type: 'DbauditPlugin'``, seen on a FastAPI app's suite pinned to
pytest 8.3). pytest 9 no longer keeps that set, so this suite's own runs would not show it.
"""

from __future__ import annotations

import pytest

from dbaudit.runtime.pytest_plugin import PLUGIN_NAME

pytest_plugins = ["pytester"]


def test_the_plugin_object_is_hashable_by_identity(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure("--dbaudit", "-p", "no:cacheprovider")
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    assert plugin is not None
    seen = {plugin}
    assert plugin in seen
    twin = type(plugin)(plugin.settings, plugin.config)
    assert twin not in seen  # equal fields, another object: another plugin
