from __future__ import annotations

import pytest

from dbaudit.scan.layers import classify


@pytest.mark.parametrize(
    ("path", "layer"),
    [
        ("app/dal/renders.py", "data access"),
        ("app/repositories/user_repository.py", "data access"),
        ("app/crud.py", "data access"),
        ("app/services/billing.py", "services"),
        ("app/billing_service.py", "services"),
        ("app/actions/projects.py", "handlers/actions"),
        ("blog/views.py", "handlers/actions"),
        ("app/api/v1/users.py", "handlers/actions"),
        ("blog/models.py", "models"),
        ("app/services/models.py", "models"),
        ("app/dal/helpers.py", "data access"),
        ("app/utils/strings.py", "other"),
        ("setup.py", "other"),
    ],
)
def test_classify(path: str, layer: str) -> None:
    assert classify(path) == layer
