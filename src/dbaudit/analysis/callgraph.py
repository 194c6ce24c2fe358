"""The call graph across the whole tree: which function a call reaches, and which queries.

Resolution handles module-level functions across modules (absolute and relative imports,
re-exports through ``__init__``), ``self.``/``cls.`` methods with inheritance, attributes typed
in ``__init__`` (``self.dal = RendersDAL(...)``), locals typed by construction or annotation,
and static/class methods called on the class (``RendersDAL.get_by_chain_id``). A call that
cannot be resolved is left alone: no guessing by method name, so no false chains.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dbaudit.model import Call, ClassInfo, Function, Import, ModelClass, ModuleModel

FunctionId = str  # "<path>::<qualname>"
_SOURCE_SUFFIX = re.compile(r"\.(?:py|pyi|ts|tsx|js|jsx|mjs|cjs|mts|cts)$")


def function_id(module: ModuleModel, function: Function) -> FunctionId:
    return f"{module.path}::{function.qualname}"


def module_dotted(path: str) -> tuple[str, ...]:
    """``src/app/dal/renders.py`` -> ("src", "app", "dal", "renders"); packages drop __init__."""
    normalized = _SOURCE_SUFFIX.sub("", path.replace("\\", "/"))
    # ``users.service.ts`` is the module key ``users.service`` (TypeScript); Python file names
    # never hold a dot, so splitting on dots too changes nothing there
    parts = [q for p in normalized.split("/") if p not in {"", "."} for q in p.split(".") if q]
    if parts and parts[-1] in {"__init__", "index"}:  # a package / a TypeScript folder index
        parts.pop()
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class FunctionRef:
    id: FunctionId
    module: ModuleModel
    function: Function


@dataclass(frozen=True, slots=True)
class _ClassRef:
    module: ModuleModel
    info: ClassInfo


_Target = FunctionRef | _ClassRef | ModuleModel

# ``CustomerRepository.from_session(session)`` (awaited or not): a class's method called
_FACTORY_CALL = re.compile(r"^(?:await\s+)?(?P<cls>[A-Z][\w.]*)\.(?P<method>\w+)\(")


class CallGraph:
    def __init__(self, modules: Sequence[ModuleModel]) -> None:
        self.modules = tuple(modules)
        self.functions: dict[FunctionId, FunctionRef] = {}
        self._by_module: dict[str, dict[str, Function]] = {}
        self._classes: dict[str, dict[str, ClassInfo]] = {}
        self._suffixes: dict[tuple[str, ...], list[ModuleModel]] = {}
        self._exact: dict[tuple[str, ...], list[ModuleModel]] = {}
        self._dotted: dict[str, tuple[str, ...]] = {}
        self._imports: dict[str, dict[str, tuple[str, str, int]]] = {}
        self._star_imports: dict[str, list[tuple[str, int]]] = {}
        self._globals: dict[str, dict[str, str]] = {}
        self._class_index: dict[str, list[_ClassRef]] = {}
        self.models: dict[str, ModelClass] = {}
        for module in self.modules:
            dotted = module_dotted(module.path)
            self._dotted[module.path] = dotted
            for start in range(len(dotted)):
                self._suffixes.setdefault(dotted[start:], []).append(module)
            self._exact.setdefault(dotted, []).append(module)
            functions = {}
            for fn in module.functions:
                functions[fn.qualname] = fn
                self.functions[function_id(module, fn)] = FunctionRef(
                    function_id(module, fn), module, fn
                )
            self._by_module[module.path] = functions
            self._classes[module.path] = {c.name: c for c in module.classes}
            for info in module.classes:
                self._class_index.setdefault(info.name, []).append(_ClassRef(module, info))
            self._imports[module.path] = {
                i.local: (i.module, i.name, i.level) for i in module.imports if i.name != "*"
            }
            self._star_imports[module.path] = [
                (i.module, i.level) for i in module.imports if i.name == "*"
            ]
            self._globals[module.path] = dict(module.global_types)
            for model in module.models:
                self.models.setdefault(model.name, model)
        self._resolved: dict[tuple[FunctionId, int], FunctionRef | None] = {}
        self._callees: dict[FunctionId, list[tuple[Call, FunctionRef]]] = {}
        self._module_cache: dict[tuple[str, int, str], ModuleModel | None] = {}
        self._subclass_index: dict[tuple[str, str], list[_ClassRef]] | None = None

    # ---- modules and names

    def imported(self, importer: ModuleModel, imp: Import) -> tuple[ModuleModel | None, str]:
        """The module of the tree an import statement reads and the name it takes from it:
        ``from .utils import random_data`` is (utils/random_data.py, "") when that file
        exists, else (utils/__init__.py, "random_data"); (None, "") when outside the tree."""
        if imp.name:
            submodule = self._module(f"{imp.module}.{imp.name}", imp.level, importer)
            if submodule is not None:
                return submodule, ""
            return self._module(imp.module, imp.level, importer), imp.name
        return self._module(imp.module, imp.level, importer), ""

    def _module(self, name: str, level: int, importer: ModuleModel) -> ModuleModel | None:
        key = (name, level, importer.path)
        if key not in self._module_cache:
            self._module_cache[key] = self._find_module(name, level, importer)
        return self._module_cache[key]

    def _find_module(self, name: str, level: int, importer: ModuleModel) -> ModuleModel | None:
        parts = tuple(p for p in name.split(".") if p)
        if level:
            base = self._dotted[importer.path]
            is_package = re.search(r"(^|/)(__init__|index)\.\w+$", importer.path) is not None
            package = base if is_package else base[:-1]
            if level > 1:
                package = package[: len(package) - (level - 1)]
            full = package + parts
            found = self._suffixes.get(full, []) or self._exact.get(full, [])
            return found[0] if found else None
        candidates = self._suffixes.get(parts, [])
        if not candidates:
            # the audited root sits inside the package: ``dbaudit.reference.app.dal`` is the
            # file ``app/dal/__init__.py`` of a scan rooted at ``reference/``
            for start in range(1, len(parts)):
                candidates = self._exact.get(parts[start:], [])
                if candidates:
                    break
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        # several files end with the same dotted path: prefer the one nearest the importer
        importer_parts = self._dotted[importer.path]

        def shared(module: ModuleModel) -> int:
            count = 0
            for a, b in zip(self._dotted[module.path], importer_parts, strict=False):
                if a != b:
                    break
                count += 1
            return count

        return max(candidates, key=shared)

    def lookup(self, module: ModuleModel, name: str, depth: int = 0) -> _Target | None:
        """What ``name`` means at the top level of ``module``."""
        if depth > 6:
            return None
        fn = self._by_module[module.path].get(name)
        if fn is not None:
            return self.functions[function_id(module, fn)]
        info = self._classes[module.path].get(name)
        if info is not None:
            return _ClassRef(module, info)
        imported = self._imports[module.path].get(name)
        if imported is None:
            # ``from .users import *`` / ``export * from './users'``: look in each source
            for source, level in self._star_imports[module.path]:
                target_module = self._module(source, level, module)
                if target_module is not None and target_module is not module:
                    found = self.lookup(target_module, name, depth + 1)
                    if found is not None:
                        return found
            return None
        source, member, level = imported
        if not member:
            return self._module(source, level, module)
        target_module = self._module(source, level, module)
        if target_module is not None:
            found = self.lookup(target_module, member, depth + 1)
            if found is not None:
                return found
            sub = self._module(f"{source}.{member}", level, module) if source or level else None
            if sub is not None:
                return sub
        elif level:
            return self._module(member, level, module)
        return None

    def _member(self, target: _Target, name: str) -> _Target | None:
        if isinstance(target, ModuleModel):
            return self.lookup(target, name)
        if isinstance(target, _ClassRef):
            method = self.method(target, name)
            return method
        return None

    def method(self, cls: _ClassRef, name: str, depth: int = 0) -> FunctionRef | None:
        if depth > 6:
            return None
        fn = self._by_module[cls.module.path].get(f"{cls.info.name}.{name}")
        if fn is not None:
            return self.functions[function_id(cls.module, fn)]
        for base in cls.info.bases:
            resolved = self._resolve_dotted(cls.module, base)
            if isinstance(resolved, _ClassRef):
                found = self.method(resolved, name, depth + 1)
                if found is not None:
                    return found
        return None

    def _made_by_factory(self, caller: FunctionRef, name: str, seq: int) -> _ClassRef | None:
        """The class of ``name`` when the caller last bound it, before ``seq``, to what a
        classmethod of that class returns built with ``cls(...)``: ``customer_repo =
        CustomerRepository.from_session(session)`` is a CustomerRepository (polar's
        repositories are all made so)."""
        bound = [
            a
            for a in caller.function.assigns
            if a.targets == (name,) and a.seq < seq and a.kind == "assign"
        ]
        if not bound:
            return None
        match = _FACTORY_CALL.match(bound[-1].value)
        if match is None:
            return None
        cls = self.class_named(caller.module, match["cls"])
        if cls is None:
            return None
        factory = self.method(cls, match["method"])
        if factory is None or not factory.function.is_classmethod:
            return None
        made = any(c.callee == "cls" and "<return>" in c.targets for c in factory.function.calls)
        return cls if made else None

    def _mixed_in(self, cls: _ClassRef, name: str) -> FunctionRef | None:
        """``self.<name>()`` in a mixin that does not define ``name`` itself: the classes
        built on the mixin get it from another base (polar's ``RepositoryIDMixin.get_by_id``
        calls ``self.get_one_or_none``, which ``RepositoryBase`` defines, and every repository
        class derives from both). The method those classes have, when it is the same one for
        all of them; None when they have none, or different ones."""
        found: dict[FunctionId, FunctionRef] = {}
        for sub in self._subclasses().get((cls.module.path, cls.info.name), ()):
            method = self.method(sub, name)
            if method is not None:
                found[method.id] = method
        return next(iter(found.values())) if len(found) == 1 else None

    def _subclasses(self) -> dict[tuple[str, str], list[_ClassRef]]:
        """Every class of the tree by the classes it derives from, at any depth (built once,
        on the first mixin call that needs it)."""
        if self._subclass_index is not None:
            return self._subclass_index
        direct: dict[tuple[str, str], list[_ClassRef]] = {}
        for module in self.modules:
            for info in module.classes:
                for base in info.bases:
                    resolved = self._resolve_dotted(module, base)
                    if isinstance(resolved, _ClassRef):
                        key = (resolved.module.path, resolved.info.name)
                        direct.setdefault(key, []).append(_ClassRef(module, info))
        index: dict[tuple[str, str], list[_ClassRef]] = {}
        for key in direct:
            seen: dict[tuple[str, str], _ClassRef] = {}
            todo = list(direct[key])
            while todo:
                sub = todo.pop()
                sub_key = (sub.module.path, sub.info.name)
                if sub_key in seen or sub_key == key:
                    continue
                seen[sub_key] = sub
                todo.extend(direct.get(sub_key, ()))
            index[key] = list(seen.values())
        self._subclass_index = index
        return index

    def _resolve_dotted(self, module: ModuleModel, dotted: str) -> _Target | None:
        parts = dotted.split(".")
        target = self.lookup(module, parts[0])
        for part in parts[1:]:
            if target is None:
                return None
            target = self._member(target, part)
        return target

    def class_named(self, module: ModuleModel, name: str) -> _ClassRef | None:
        found = self._resolve_dotted(module, name)
        if isinstance(found, _ClassRef):
            return found
        candidates = self._class_index.get(name.rsplit(".", 1)[-1], [])
        return candidates[0] if len(candidates) == 1 else None

    # ---- calls

    def resolve(self, caller: FunctionRef, call: Call) -> FunctionRef | None:
        key = (caller.id, call.seq)
        if key in self._resolved:
            return self._resolved[key]
        result = self._resolve(caller, call)
        self._resolved[key] = result
        return result

    def _resolve(self, caller: FunctionRef, call: Call) -> FunctionRef | None:
        callee = call.callee
        module = caller.module
        fn = caller.function
        if "()" in callee:
            if callee.startswith("super()."):
                current = self._classes[module.path].get(fn.class_name)
                if current is None:
                    return None
                name = callee.split(".", 1)[1]
                # the next class along the bases that has the method: ``class
                # CustomerRepository(SoftDeletionIDMixin[C, UUID], RepositoryBase[C])``'s
                # ``super().create`` is RepositoryBase's, the mixin having none
                for base in current.bases:
                    resolved = self._resolve_dotted(module, base)
                    if isinstance(resolved, _ClassRef):
                        found = self.method(resolved, name)
                        if found is not None:
                            return found
            return None
        parts = callee.split(".")
        if parts[0] in {"self", "cls"} and fn.class_name:
            owner_info = self._classes[module.path].get(fn.class_name)
            if owner_info is None:
                return None
            owner = _ClassRef(module, owner_info)
            if len(parts) == 2:
                return self.method(owner, parts[1]) or self._mixed_in(owner, parts[1])
            if len(parts) == 3:
                attr_type = dict(owner_info.attribute_types).get(parts[1])
                if attr_type:
                    cls = self.class_named(module, attr_type)
                    if cls is not None:
                        return self.method(cls, parts[2])
            return None
        if call.receiver_type and len(parts) == 2:
            cls = self.class_named(module, call.receiver_type)
            if cls is not None:
                return self.method(cls, parts[1])
            return None
        if len(parts) == 2:
            made = self._made_by_factory(caller, parts[0], call.seq)
            if made is not None:
                return self.method(made, parts[1])
        if "<locals>" not in fn.qualname:
            nested = self._by_module[module.path].get(f"{fn.qualname}.<locals>.{callee}")
            if nested is not None:
                return self.functions[function_id(module, nested)]
        target = self._resolve_dotted(module, callee)
        if isinstance(target, FunctionRef):
            return target
        if isinstance(target, _ClassRef):
            return None  # a constructor: __init__ rarely queries; not followed
        global_type = self._globals[module.path].get(parts[0])
        if global_type and len(parts) == 2:
            cls = self.class_named(module, global_type)
            if cls is not None:
                return self.method(cls, parts[1])
        return None

    def callees(self, caller: FunctionRef) -> Iterator[tuple[Call, FunctionRef]]:
        """The calls of ``caller`` that resolve to a function of the tree (memoised)."""
        found = self._callees.get(caller.id)
        if found is None:
            found = []
            for call in caller.function.calls:
                if call.deferred:
                    continue
                target = self.resolve(caller, call)
                if target is not None and target.id != caller.id:
                    found.append((call, target))
            self._callees[caller.id] = found
        return iter(found)
