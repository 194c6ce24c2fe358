import pickle
import textwrap

import pytest

from dbaudit.frontends.python import ParseError, might_touch_database, parse_module
from dbaudit.frontends.python import patterns as P
from dbaudit.model import Function, ModuleModel


def parse(source: str) -> ModuleModel:
    return parse_module("app.py", textwrap.dedent(source))


def fn(module: ModuleModel, qualname: str) -> Function:
    found = module.function(qualname)
    assert found is not None, [f.qualname for f in module.functions]
    return found


def test_sqlalchemy_2_select_in_a_loop() -> None:
    module = parse(
        """
        from sqlalchemy import select, func
        async def f(session, user_id):
            stmt = select(Project).where(Project.user_id == user_id)
            projects = (await session.execute(stmt)).scalars().all()
            for p in projects:
                q = select(func.count(Render.id)).where(Render.project_id == p.id)
                n = await session.scalar(q)
        """
    )
    ops = fn(module, "f").db_ops
    assert [(o.kind, o.tables, o.loops) for o in ops] == [
        ("select", ("Project",), ()),
        ("count", ("Render",), (0,)),
    ]
    assert ops[0].targets == ("projects",) and ops[0].awaited
    assert ops[1].filters[0].column == "project_id" and ops[1].filters[0].value == "p.id"


def test_statement_built_in_a_variable_and_batched_in() -> None:
    module = parse(
        """
        from sqlalchemy import select
        from sqlalchemy.orm import selectinload
        async def f(session, ids):
            stmt = select(Render).where(Render.id.in_(ids)).options(selectinload(Render.chain))
            stmt = stmt.limit(10)
            return (await session.execute(stmt)).scalars().all()
        """
    )
    (op,) = fn(module, "f").db_ops
    assert op.batched and op.has_limit and op.eager_loads == ("chain",)
    assert "ids" in op.reads


def test_sqlalchemy_1x_query_and_session_get() -> None:
    module = parse(
        """
        def f(session, uid):
            user = session.query(User).filter(User.id == uid).first()
            n = session.query(Render).filter_by(user_id=uid).count()
            r = session.get(Render, 5)
            d = {}.get("x")
        """
    )
    ops = fn(module, "f").db_ops
    assert [(o.kind, o.tables) for o in ops] == [
        ("select", ("User",)),
        ("count", ("Render",)),
        ("select", ("Render",)),
    ]
    assert ops[0].single_key and ops[2].single_key


def test_django_querysets() -> None:
    module = parse(
        """
        def f(author_id, ids):
            books = Book.objects.filter(author_id=author_id).select_related("author")[:10]
            n = Book.objects.filter(id__in=ids).count()
            Book.objects.bulk_create(objs)
            return books
        """
    )
    ops = fn(module, "f").db_ops
    assert [(o.library, o.kind) for o in ops] == [
        ("django", "select"),
        ("django", "count"),
        ("django", "insert"),
    ]
    assert ops[0].eager_loads == ("author",)
    assert ops[1].batched and ops[2].batched


def test_asyncpg_cursor_and_sqlite3() -> None:
    module = parse(
        """
        import asyncpg
        import sqlite3
        async def a(pool, rid):
            row = await pool.fetchrow("SELECT * FROM renders WHERE id = $1", rid)
            async with pool.acquire() as c:
                await c.executemany("INSERT INTO t VALUES ($1)", rows)
        def b(path, ids):
            db = sqlite3.connect(path)
            cur = db.cursor()
            for i in ids:
                cur.execute("UPDATE t SET x = 1 WHERE id = ?", (i,))
        """
    )
    a_ops = fn(module, "a").db_ops
    assert [(o.library, o.kind, o.batched) for o in a_ops] == [
        ("asyncpg", "select", False),
        ("asyncpg", "insert", True),
    ]
    assert a_ops[0].filters[0].value == "rid" and a_ops[0].single_key
    (update,) = fn(module, "b").db_ops
    assert update.kind == "update" and update.loops == (0,) and update.tables == ("t",)


def test_not_database_calls() -> None:
    module = parse(
        """
        def f(cache, response, items):
            cache.get("k")
            response.execute()
            requests.get(url)
            for item in items:
                item.save_to_disk()
        """
    )
    assert fn(module, "f").db_ops == ()


def test_loops_comprehensions_chunking_and_constants() -> None:
    module = parse(
        """
        def f(ids):
            for chunk in chunked(ids, 500):
                pass
            for kind in ("a", "b"):
                pass
            xs = [g(x) for x in ids]
            while True:
                break
        """
    )
    loops = fn(module, "f").loops
    assert [(lp.kind, lp.chunked, lp.constant_size) for lp in loops] == [
        ("for", True, None),
        ("for", False, 2),
        ("comprehension", False, None),
        ("while", False, None),
    ]


def test_gather_deferred_and_guards() -> None:
    module = parse(
        """
        import asyncio
        async def f(session, uid):
            user = await session.get(User, uid)
            if user is None:
                return None
            a, b = await asyncio.gather(load_a(uid), load_b(uid))
            for x in items:
                send_email.delay(x)
        """
    )
    f = fn(module, "f")
    assert len(f.gathers) == 1
    gathered = [c for c in f.calls if c.in_gather]
    assert [c.callee for c in gathered] == ["load_a", "load_b"]
    assert "user" in gathered[0].control_reads
    (delay,) = [c for c in f.calls if c.callee == "send_email.delay"]
    assert delay.deferred and delay.loops == (0,)


def test_branches_are_exclusive_arms() -> None:
    module = parse(
        """
        async def f(session, flag):
            if flag:
                await session.execute(select(A))
            else:
                await session.execute(select(B))
        """
    )
    first, second = fn(module, "f").db_ops
    assert first.branch[0][0] == second.branch[0][0]
    assert first.branch[0][1] != second.branch[0][1]
    assert "flag" in first.control_reads


def test_attribute_reads_on_loop_variables() -> None:
    module = parse(
        """
        def f(projects):
            for p in projects:
                print(p.owner.name, p.renders.all(), p.name)
        """
    )
    accesses = [(a.base, a.attr, a.call) for a in fn(module, "f").attr_accesses]
    assert ("p", "owner", "") in accesses
    assert ("p", "renders", "all") in accesses


def test_sqlalchemy_models_relationships_and_foreign_keys() -> None:
    module = parse(
        """
        class Render(Base):
            __tablename__ = "renders"
            id: Mapped[int] = mapped_column(primary_key=True)
            chain_id: Mapped[int | None] = mapped_column(ForeignKey("render_chains.id"))
            chain: Mapped["RenderChain"] = relationship(back_populates="renders")
            project = relationship("Project", lazy="joined", backref="all_renders")
            children: Mapped[list["Render"]] = relationship()
        """
    )
    (model,) = module.models
    assert model.table == "renders"
    assert [(r.name, r.target, r.lazy, r.uselist) for r in model.relationships] == [
        ("chain", "RenderChain", "select", False),
        ("project", "Project", "joined", False),
        ("children", "Render", "select", True),
    ]
    assert model.foreign_keys[0].column == "chain_id"
    assert model.foreign_keys[0].target_table == "render_chains"
    assert model.reverse[0][0] == "Project" and model.reverse[0][1].name == "all_renders"


def test_django_models() -> None:
    module = parse(
        """
        from django.db import models
        class Book(models.Model):
            author = models.ForeignKey("Author", on_delete=models.CASCADE, related_name="books")
            tags = models.ManyToManyField(Tag)
            title = models.CharField(max_length=10)
        """
    )
    (model,) = module.models
    assert model.library == "django"
    assert [(r.name, r.target, r.uselist) for r in model.relationships] == [
        ("author", "Author", False),
        ("tags", "Tag", True),
    ]
    assert ("Author", "books") in [(owner, r.name) for owner, r in model.reverse]


def test_engines_and_imports_and_classes() -> None:
    module = parse(
        """
        from sqlalchemy.ext.asyncio import create_async_engine
        from ..dal import renders as r
        import asyncpg
        engine = create_async_engine(URL, pool_size=5, pool_pre_ping=True)
        class Service:
            def __init__(self, session: AsyncSession, dal: RendersDAL):
                self.session = session
                self.dal = dal
                self.projects = ProjectsDAL(session)
        async def make():
            return await asyncpg.create_pool(dsn, **opts)
        """
    )
    first, second = module.engines
    assert first.keywords == ("pool_size", "pool_pre_ping") and first.function == ""
    assert second.has_kwargs_splat and second.function == "make"
    assert ("r", "dal", "renders", 2) in [
        (i.local, i.module, i.name, i.level) for i in module.imports
    ]
    (service,) = module.classes
    assert dict(service.attribute_types) == {
        "session": "AsyncSession",
        "dal": "RendersDAL",
        "projects": "ProjectsDAL",
    }


def test_syntax_error_is_one_line() -> None:
    with pytest.raises(ParseError, match=r"syntax error \(line 1\)"):
        parse_module("bad.py", "def (:\n")
    with pytest.raises(ParseError):
        parse_module("nul.py", "x = 1\x00")


def test_precheck() -> None:
    assert might_touch_database("from sqlalchemy import select")
    assert might_touch_database("async def f():\n    await g()")
    assert not might_touch_database("def add(a, b):\n    return a + b\n")


@pytest.mark.parametrize(
    "source",
    [
        "x = 1",
        "import models",
        "mymodels = 1",
        "awaiting = 1",
        "x = await y",
        "RendersDAL.get(1)",
        "DALx = 1",
        "DAL = 1",
        "xDAL",
        "_DAL",
        "my_dal",
        "my_dalx",
        "dao",
        "daos",
        "UserDAO",
        "UserDAOs",
        "crud",
        "crude",
        "repo",
        "repos",
        "Repository",
        "a.objects",
        "a.objectsx",
        "c.executemany(",
        "c.execute (",
        "x.fetchone()",
        "é.objects",
        "ésrepo",
    ],
)
def test_precheck_equals_the_single_pattern(source: str) -> None:
    assert might_touch_database(source) == (P.PRECHECK.search(source) is not None)


def test_model_is_small_and_picklable() -> None:
    source = "from sqlalchemy import select\n" + "\n".join(
        f"async def f{i}(session):\n    return await session.execute(select(A))\n"
        for i in range(50)
    )
    module = parse_module("many.py", source)
    assert pickle.loads(pickle.dumps(module)) == module
    assert len(pickle.dumps(module)) < len(source.encode()) * 20


def test_flask_sqlalchemy_and_query_variables() -> None:
    module = parse(
        """
        def f(uid, filters):
            user = User.query.filter_by(id=uid).first()
            q = db.session.query(Render)
            for condition in filters:
                q = q.filter(condition)
            rows = q.all()
            stmt = db.select(Render).where(Render.user_id == uid)
            return db.session.execute(stmt)
        """
    )
    ops = fn(module, "f").db_ops
    assert [(o.api, o.tables, o.result_shape) for o in ops] == [
        ("User.query", ("User",), "row"),
        ("db.session.query", ("Render",), "queryset"),
        ("q.all", ("Render",), "rows"),
        ("db.session.execute", ("Render",), "rows"),
    ]


def test_django_laziness_and_evaluation() -> None:
    module = parse(
        """
        def f(author_id):
            lazy = Book.objects.filter(author_id=author_id)
            listed = list(Book.objects.filter(author_id=author_id))
            for book in Book.objects.all():
                pass
            empty = Book.objects.none()
            return lazy, listed
        """
    )
    ops = fn(module, "f").db_ops
    assert [o.result_shape for o in ops] == ["queryset", "rows", "rows"]


def test_admin_statements_and_tables_per_iteration() -> None:
    module = parse(
        """
        def f(session, connection, meta, pids):
            for pid in pids:
                session.execute(f"KILL {pid}")
            for name in meta.tables:
                table = meta.tables[name]
                connection.execute(table.delete())
        """
    )
    kill, delete = fn(module, "f").db_ops
    assert kill.kind == "ddl"
    assert delete.kind == "delete" and delete.tables == ("<dynamic>",)


def test_calls_that_never_query_are_not_kept() -> None:
    module = parse(
        """
        def f(items, log):
            out = []
            for item in items:
                out.append(str(item))
                log.info("x")
                helper(item)
                Model(name=item)
            return len(out)
        """
    )
    assert [c.callee for c in fn(module, "f").calls] == ["helper", "len"]


def test_django_create_then_save_is_a_write() -> None:
    module = parse(
        """
        def add(child):
            models.Pumping.objects.create(child=child).save()
            Pumping.objects.get(pk=1).save()
        """
    )
    kinds = [(op.api, op.kind) for op in fn(module, "add").db_ops]
    assert kinds == [
        ("models.Pumping.objects.create().save", "insert"),
        ("Pumping.objects.get().save", "update"),
    ]


def test_count_of_a_fetched_queryset_reads_the_cache() -> None:
    # Django answers count()/exists() from the result cache once len()/iteration fetched it
    module = parse(
        """
        def stats(child):
            naps = Nap.objects.filter(child=child)
            if len(naps) == 0:
                return None
            total = naps.count()
            naps = naps.filter(short=True)
            return total, naps.count()
        """
    )
    stats = fn(module, "stats")
    assert [(op.api, op.span.line) for op in stats.db_ops] == [
        ("Nap.objects.filter", 3),
        ("naps.count", 8),
    ]
    assert [c.span.line for c in stats.calls if c.callee == "len"] == [4, 6]


def test_engine_creation_records_where_the_engine_is_kept() -> None:
    module = parse(
        """
        from sqlalchemy import create_engine
        engine = create_engine(URL)
        _cached = None
        def get():
            global _cached
            _cached = create_engine(URL)
        def factory():
            return create_engine(URL)
        class Db:
            def __init__(self):
                self.engine = create_engine(URL)
        def check():
            with create_engine(URL).connect() as conn:
                conn.execute(text("select 1"))
        """
    )
    assert [e.targets for e in module.engines] == [
        ("engine",),
        ("_cached", "<global>"),
        ("<return>",),
        ("self.engine",),
        (),
    ]


def test_events_that_run_once_per_loop() -> None:
    module = parse(
        """
        def first_free(session, seats, slug):
            for seat in seats:
                if not seat.free:
                    continue
                session.execute(claim(seat))
                break
            for seat in seats:
                if seat.slug == slug:
                    session.execute(claim(seat))
            for seat in seats:
                if seat.status == "free":
                    session.execute(claim(seat))
        """
    )
    function = fn(module, "first_free")
    once = {(first, last, loop) for first, last, loop in function.once_in_loop}
    by_line = {op.span.line: op for op in function.db_ops}

    def runs_once(line: int) -> bool:
        op = by_line[line]
        return any(a <= op.seq <= b and loop == op.loops[-1] for a, b, loop in once)

    assert runs_once(6) and runs_once(10) and not runs_once(13)
