"""Which layer of an application a file belongs to, for the report's "files audited by layer".

Judged from the path alone (names of the file and its folders, nearest first), the way a reviewer
reads a tree: ``app/dal/renders.py`` is data access, ``app/services/billing.py`` a service.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

DATA_ACCESS = "data access"
SERVICES = "services"
HANDLERS = "handlers/actions"
MODELS = "models"
OTHER = "other"

LAYERS: tuple[str, ...] = (DATA_ACCESS, SERVICES, HANDLERS, MODELS, OTHER)

# (layer, file-name patterns, folder names); file names win over folders, nearer folders over
# farther ones, so ``services/models.py`` is models and ``dal/helpers.py`` is data access.
_RULES: tuple[tuple[str, tuple[str, ...], frozenset[str]], ...] = (
    (
        DATA_ACCESS,
        (
            "dal.py",
            "*_dal.py",
            "dao.py",
            "*_dao.py",
            "repository.py",
            "*_repository.py",
            "repositories.py",
            "*_repo.py",
            "crud.py",
            "*_crud.py",
            "queries.py",
            "*_queries.py",
            "store.py",
            "*_store.py",
            "db.py",
            "database.py",
        ),
        frozenset(
            {
                "dal",
                "dao",
                "daos",
                "repository",
                "repositories",
                "repos",
                "repo",
                "crud",
                "queries",
                "db",
                "database",
                "persistence",
                "stores",
                "data_access",
            }
        ),
    ),
    (
        SERVICES,
        ("service.py", "services.py", "*_service.py", "*_services.py", "*_usecase.py"),
        frozenset({"services", "service", "usecases", "use_cases", "domain", "interactors"}),
    ),
    (
        HANDLERS,
        (
            "views.py",
            "*_views.py",
            "view.py",
            "actions.py",
            "*_actions.py",
            "*.actions.py",
            "handlers.py",
            "*_handlers.py",
            "routes.py",
            "*_routes.py",
            "router.py",
            "routers.py",
            "endpoints.py",
            "api.py",
            "controllers.py",
            "*_controller.py",
            "resolvers.py",
            "tasks.py",
            "commands.py",
            "consumers.py",
        ),
        frozenset(
            {
                "actions",
                "handlers",
                "views",
                "routes",
                "routers",
                "endpoints",
                "api",
                "controllers",
                "resolvers",
                "tasks",
                "commands",
                "management",
                "consumers",
                "web",
            }
        ),
    ),
    (
        MODELS,
        ("models.py", "*_models.py", "model.py", "schema.py", "tables.py", "entities.py"),
        frozenset({"models", "entities", "tables", "schema"}),
    ),
)


# TypeScript and JavaScript files name their layer the same way (``renders.dal.ts``,
# ``users-repository.ts``, ``lib/dal/index.ts``); read as the Python name they correspond to
_SCRIPT_NAME = re.compile(r"\.(?:d\.)?(?:[cm]?[jt]sx?)$")


def classify(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    name = _python_name(parts[-1].lower())
    for layer, file_patterns, _ in _RULES:
        if any(fnmatchcase(name, pattern) for pattern in file_patterns):
            return layer
    for folder in reversed(parts[:-1]):
        folder = folder.lower()
        for layer, _, folders in _RULES:
            if folder in folders:
                return layer
    return OTHER


def _python_name(name: str) -> str:
    stem, count = _SCRIPT_NAME.subn("", name)
    if not count:
        return name
    return re.sub(r"[.\-]", "_", stem) + ".py"
