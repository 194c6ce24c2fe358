import textwrap

from dbaudit.analysis.program import Program
from dbaudit.frontends.python import parse_module


def program(source: str) -> Program:
    return Program([parse_module("app.py", textwrap.dedent(source))])


SOURCE = """
from sqlalchemy import select

async def one(session, pid):
    return (await session.scalars(select(Render).where(Render.project_id == pid))).all()

async def per_project(session, projects):
    for p in projects:
        await one(session, p.id)

async def nested(session, users):
    for u in users:
        await per_project(session, u.projects)

async def maybe(session, flag):
    a = await session.get(User, 1)
    if flag:
        b = await session.get(User, 2)
    return a

def recursive(session, n):
    session.execute(select(User))
    return recursive(session, n - 1)
"""


def test_reach_cost_through_helpers() -> None:
    prog = program(SOURCE)
    cost = {ref.function.qualname: str(prog.reach(ref).cost) for ref in prog.functions}
    assert cost["one"] == "1"
    assert cost["per_project"] == "N"
    assert cost["nested"] == "N·M"
    assert cost["maybe"] == "≤ 2 (sequential)"
    assert cost["recursive"] == "1"


def test_chain_and_returned_op() -> None:
    prog = program(SOURCE)
    ref = prog.graph.functions["app.py::nested"]
    reach = prog.reach(ref)
    assert [h.function for h in reach.chain] == ["nested", "per_project", "one"]
    assert prog.reach(prog.graph.functions["app.py::one"]).returned_op is not None


def test_key_in_caller_maps_parameters_to_arguments() -> None:
    prog = program(SOURCE)
    ref = prog.graph.functions["app.py::per_project"]
    ((call, target),) = list(prog.graph.callees(ref))
    key = prog.key_in_caller(call, target)
    assert key is not None and (key.column, key.value) == ("project_id", "p.id")


def test_derived_names_and_serving() -> None:
    prog = program(
        """
        @router.get("/x")
        async def handler(session):
            rows = await session.execute(select(A))
            items = rows.scalars().all()
            first = items[0]
            return await helper(session)

        async def helper(session): ...
        async def unrelated(session): ...
        """
    )
    ref = prog.graph.functions["app.py::handler"]
    assert {"rows", "items", "first"} <= prog.derived(ref.function, ["rows"])
    assert {r.split("::")[1] for r in prog.serving} == {"handler", "helper"}


def typescript_program(files: dict[str, str]) -> Program:
    from dbaudit.frontends.typescript import parse

    return Program([parse(path, textwrap.dedent(src)).module for path, src in files.items()])


def test_typescript_handlers_are_server_actions_and_nestjs_routes() -> None:
    prog = typescript_program(
        {
            "lib/server.ts": """
                'use server';
                export async function saveProfile(id: number) { return load(id); }
                async function load(id: number) { return id; }
            """,
            "src/users/users.svc.ts": """
                @Controller('users')
                export class UsersController {
                  @Get(':id')
                  async findOne(id: number) { return id; }
                  helper() { return 1; }
                }
            """,
            "lib/plain.ts": "export async function unrelated(id: number) { return id; }\n",
        }
    )
    served = {ref.split("::")[1] for ref in prog.serving}
    assert {"saveProfile", "UsersController.findOne"} <= served
    assert "UsersController.helper" not in served and "unrelated" not in served


def test_typescript_test_files_are_one_off_code() -> None:
    from dbaudit.analysis.program import is_one_off_code

    for path in (
        "src/users.spec.ts",
        "src/users.test.tsx",
        "src/__tests__/users.ts",
        "e2e/login.ts",
        "apps/web/e2e/flows/checkout.mjs",
    ):
        assert is_one_off_code(path), path
    for path in ("lib/latest.ts", "lib/spec.ts", "app/contest.ts", "lib/e2ee.ts"):
        assert not is_one_off_code(path), path


def test_django_management_commands_are_one_off_code() -> None:
    from dbaudit.analysis.program import is_one_off_code

    assert is_one_off_code("babybuddy/management/commands/fake.py")
    assert is_one_off_code("app/management/commands/__init__.py")
    assert not is_one_off_code("app/management.py")
    assert not is_one_off_code("app/management/views.py")


def test_seed_scripts_are_one_off_code() -> None:
    from dbaudit.analysis.program import is_one_off_code

    for path in ("packages/db/prisma/seed.ts", "db/seeds/users.py", "app/utils/populate.py"):
        assert is_one_off_code(path), path
    for path in ("app/seeding_service_test_helper", "lib/seedling.ts", "app/population.py"):
        assert not is_one_off_code(path), path


def test_alembic_files_are_one_off_wherever_they_are() -> None:
    from dbaudit.analysis.program import is_one_off_module
    from dbaudit.frontends.python import parse_module

    revision = "def upgrade():\n    op.execute('x')\n\n\ndef downgrade():\n    pass\n"
    env = "def run_migrations_online():\n    pass\n"
    assert is_one_off_module(parse_module("app/database/revisions/versions/2021_ab.py", revision))
    assert is_one_off_module(parse_module("app/database/revisions/env.py", env))
    assert not is_one_off_module(parse_module("app/service.py", "def upgrade(plan):\n    pass\n"))


def test_timestamped_data_migration_folders_are_one_off_code() -> None:
    from dbaudit.analysis.program import is_one_off_code

    assert is_one_off_code("packages/database/migration/20250326111101_move_api_keys/migration.ts")
    for path in ("src/migration/importer.ts", "app/lib/migration.ts", "src/migration/2fa.ts"):
        assert not is_one_off_code(path), path
