import textwrap

from dbaudit.analysis.callgraph import CallGraph, module_dotted
from dbaudit.frontends.python import parse_module
from dbaudit.model import ModuleModel


def mod(path: str, source: str) -> ModuleModel:
    return parse_module(path, textwrap.dedent(source))


def targets(graph: CallGraph, path: str, qualname: str) -> dict[str, str]:
    ref = graph.functions[f"{path}::{qualname}"]
    return {call.callee: target.function.qualname for call, target in graph.callees(ref)}


def test_module_dotted() -> None:
    assert module_dotted("src/app/dal/renders.py") == ("src", "app", "dal", "renders")
    assert module_dotted("./app/dal/__init__.py") == ("app", "dal")


def test_resolves_imports_reexports_relative_and_aliases() -> None:
    modules = [
        mod(
            "pkg/dal/renders.py",
            "class RendersDAL:\n    @staticmethod\n    def get(s): ...\ndef helper(): ...\n",
        ),
        mod("pkg/dal/__init__.py", "from pkg.dal.renders import RendersDAL, helper\n"),
        mod(
            "pkg/services/a.py",
            """
            from pkg.dal import RendersDAL
            from ..dal import renders
            from ..dal.renders import helper as h
            import pkg.dal.renders as r
            def run():
                RendersDAL.get(1)
                renders.helper()
                h()
                r.helper()
                unknown()
            """,
        ),
    ]
    graph = CallGraph(modules)
    assert targets(graph, "pkg/services/a.py", "run") == {
        "RendersDAL.get": "RendersDAL.get",
        "renders.helper": "helper",
        "h": "helper",
        "r.helper": "helper",
    }


def test_self_cls_attributes_inheritance_and_locals() -> None:
    module = mod(
        "app.py",
        """
        class Base:
            def shared(self): ...
        class DAL:
            def get(self): ...
        class Service(Base):
            def __init__(self, dal: DAL):
                self.dal = dal
                self.other = DAL()
            def one(self): ...
            @classmethod
            def make(cls): ...
            def run(self):
                self.one()
                self.shared()
                self.dal.get()
                self.other.get()
                self.make()
                local = DAL()
                local.get()
                super().shared()
        """,
    )
    graph = CallGraph([module])
    assert targets(graph, "app.py", "Service.run") == {
        "self.one": "Service.one",
        "self.shared": "Base.shared",
        "self.dal.get": "DAL.get",
        "self.other.get": "DAL.get",
        "self.make": "Service.make",
        "local.get": "DAL.get",
        "super().shared": "Base.shared",
    }


def test_scan_root_inside_the_package() -> None:
    modules = [
        mod("dal/renders.py", "def get(): ...\n"),
        mod("services/x.py", "from myapp.deep.dal.renders import get\ndef run():\n    get()\n"),
    ]
    graph = CallGraph(modules)
    assert targets(graph, "services/x.py", "run") == {"get": "get"}


def test_star_imports_and_dotted_file_names() -> None:
    modules = [
        mod("pkg/dal/users.py", "def get_user(): ...\n"),
        mod("pkg/dal/__init__.py", "from .users import *\n"),
        mod("pkg/svc.py", "from pkg.dal import get_user\ndef run():\n    get_user()\n"),
    ]
    graph = CallGraph(modules)
    assert targets(graph, "pkg/svc.py", "run") == {"get_user": "get_user"}
    assert module_dotted("app/users.service.ts") == ("app", "users", "service")


REPOSITORIES = """
class RepositoryBase:
    def __init__(self, session):
        self.session = session

    @classmethod
    def from_session(cls, session):
        return cls(session)

    @classmethod
    def describe(cls):
        return cls.__name__

    async def get_one_or_none(self, statement):
        return (await self.session.execute(statement)).scalar_one_or_none()


class IDMixin:
    async def get_by_id(self, id):
        return await self.get_one_or_none(self.select_by_id(id))


class CachedBase:
    async def get_one_or_none(self, statement):
        return self.cache.get(statement)


class CustomerRepository(IDMixin, RepositoryBase):
    pass


class OrderRepository(IDMixin, RepositoryBase):
    pass


class TokenRepository(IDMixin, CachedBase):
    pass


class Unused:
    def lookup(self):
        return self.get_one_or_none(1)


async def cleanup(session, ids):
    customers = CustomerRepository.from_session(session)
    name = CustomerRepository.describe()
    for customer_id in ids:
        await customers.get_by_id(customer_id)
        name.get_by_id(customer_id)
"""


def test_a_mixin_calls_what_the_classes_built_on_it_define() -> None:
    # polar's RepositoryIDMixin.get_by_id calls self.get_one_or_none, defined by the
    # RepositoryBase every repository derives from too
    graph = CallGraph([mod("app/repos.py", REPOSITORIES)])
    assert targets(graph, "app/repos.py", "Unused.lookup") == {}
    # two different get_one_or_none among the classes built on IDMixin: none is chosen
    assert targets(graph, "app/repos.py", "IDMixin.get_by_id") == {}
    only_base = REPOSITORIES.replace("class TokenRepository(IDMixin, CachedBase):", "class X:")
    graph = CallGraph([mod("app/repos.py", only_base)])
    assert targets(graph, "app/repos.py", "IDMixin.get_by_id") == {
        "self.get_one_or_none": "RepositoryBase.get_one_or_none"
    }


def test_an_instance_made_by_a_classmethod_factory_has_its_class() -> None:
    # customers = CustomerRepository.from_session(session), from_session returning cls(...);
    # a classmethod returning something else (describe) makes no instance
    graph = CallGraph([mod("app/repos.py", REPOSITORIES)])
    assert targets(graph, "app/repos.py", "cleanup") == {
        "CustomerRepository.from_session": "RepositoryBase.from_session",
        "CustomerRepository.describe": "RepositoryBase.describe",
        "customers.get_by_id": "IDMixin.get_by_id",
    }
