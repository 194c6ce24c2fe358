"""TypeScript/JavaScript syntax tree -> ``ModuleModel``: walking only, no judgement.

One pass over each function body in evaluation order, recording what the Python frontend
records (database operations through ``queries.py``, calls, loops, assignments, attribute
reads, awaits, ``Promise.all``) with the same conventions (see ``dbaudit.model.program``):

- functions of every shape: declarations, ``const f = async () => ...``, class methods
  (``static`` ones are the DAL style ``RendersDAL.getByChainId``), object-literal methods
  (``export const actions = { async run() {} }`` is ``actions.run``), CommonJS
  ``exports.f = ...``; a function declared inside another is ``outer.<locals>.inner``;
- callbacks passed to other calls are walked inline: ``items.map(async (p) => ...)`` and
  ``.forEach``/``.reduce``/... open a loop over ``items``; ``Promise.all([...])`` and
  ``Promise.all(items.map(...))`` mark what they run ``in_gather`` (N concurrent queries);
  ``db.transaction(async (tx) => ...)`` runs its body right there;
- ``this.x`` is written ``self.x`` in instance methods and ``cls.x`` in static ones, the
  receiver spelling the call graph already resolves for Python.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tree_sitter import Node

from dbaudit.frontends.events import UNIQUE_KEY, FunctionEvents, LoopExit, weaker_exit
from dbaudit.frontends.typescript import patterns as P
from dbaudit.frontends.typescript import schema
from dbaudit.frontends.typescript.queries import (
    Facts,
    Source,
    arguments,
    awaited_generic,
    call_function,
    extend,
    recognise,
    short,
    spread_conditions,
)
from dbaudit.frontends.typescript.resolution import TsConfig, module_key, resolve_specifier
from dbaudit.frontends.typescript.syntax import TRANSPARENT, IdentifierIndex, unwrap
from dbaudit.model import (
    Assign,
    AttrAccess,
    Await,
    Branch,
    Call,
    ClassInfo,
    DbOp,
    EngineCreation,
    Function,
    Gather,
    Import,
    Loop,
    LoopKind,
    ModelClass,
    ModuleModel,
    Span,
)

RETURN = "<return>"  # the target of events whose value is returned directly (as in Python)
FUNCTION_TYPES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function"}
)
_DECLARATIONS = frozenset({"lexical_declaration", "variable_declaration"})
_SKIP = frozenset(
    {
        "type_annotation",
        "type_arguments",
        "type_parameters",
        "type_alias_declaration",
        "interface_declaration",
        "comment",
        "regex",
        "string",
        "number",
        "true",
        "false",
        "null",
        "undefined",
        "property_identifier",
        "private_property_identifier",
        "enum_declaration",
        "ambient_declaration",
        "abstract_method_signature",
        "predefined_type",
        "type_identifier",
        "import_statement",
    }
)
_IGNORED_READS = frozenset({"this", "undefined", "self", "cls"})
# leaves (and strings, whose only children are fragments) that run no code: walking them
# records nothing, so ``expr`` returns at once
_INERT = frozenset(
    {
        "string",
        "string_fragment",
        "escape_sequence",
        "number",
        "true",
        "false",
        "null",
        "undefined",
        "regex",
        "property_identifier",
        "type_identifier",
        "comment",
    }
)
_NOTHING_TO_WALK = _SKIP | _INERT | {"this"}
_JSX = frozenset({"jsx_element", "jsx_self_closing_element", "jsx_opening_element", "jsx_fragment"})
# what a statement in a ``catch`` block runs under: the error of the try block
CATCH = "<catch>"
# a React event prop (``onClick``, ``onCheckedChange``): its function runs on the event
_EVENT_PROP = re.compile(r"^on[A-Z]\w*$")


_SELF_PREFIX = re.compile(r"^(self|cls)\.")
# a list of chunks by its name (``batches``, ``partnerBatches``, ``chunks``)
_CHUNKS_NAME = re.compile(r"(?:^|[a-z_])(?:chunks|batches|Chunks|Batches)$")
# methods that add to a collection in place
_GROWS = frozenset({"push", "unshift", "splice", "add", "set"})
# flags one item of a list carries (``if (campaign.default)``)
_ONE_ITEM_FLAGS = frozenset({"default", "isDefault", "primary", "isPrimary"})
# methods returning at most the items of their receiver
_SUBSETS = frozenset({"filter", "slice", "reverse", "toReversed", "sort", "toSorted"})


def span_of(node: Node) -> Span:
    row, column = node.start_point
    return Span(row + 1, node.end_point[0] + 1, column)


@dataclass(slots=True)
class ModuleContext:
    path: str
    src: Source
    lines: list[str]
    config: TsConfig | None
    resolve_files: bool
    identifiers: IdentifierIndex
    imported: dict[str, str] = field(default_factory=dict)  # local -> module key
    handles: dict[str, str] = field(default_factory=dict)  # name -> library of a db handle
    class_names: set[str] = field(default_factory=set)
    function_names: set[str] = field(default_factory=set)  # module-level functions
    aliases: dict[str, str] = field(default_factory=dict)  # alias(renders, 'p') -> renders
    # ``const { rawQuery } = prisma``: local name -> the member it stands for (``prisma.rawQuery``)
    members: dict[str, str] = field(default_factory=dict)
    engines: list[EngineCreation] = field(default_factory=list)
    class_attribute_types: dict[str, dict[str, str]] = field(default_factory=dict)
    # files an import was looked for in and not found, before the one it resolved to (every
    # one, when none was): created later, one of them is what the import means, so the
    # cached model depends on them not being there
    looked_for: list[str] = field(default_factory=list)
    use_server: bool = False
    # ``const MAX_ATTEMPTS = 3`` at module level: bounds of ``for (...; i < MAX_ATTEMPTS; ...)``
    constants: dict[str, int] = field(default_factory=dict)

    def handle_of(self, receiver: str, local: dict[str, str]) -> str:
        if receiver in local:
            return local[receiver]
        if receiver in self.handles:
            return self.handles[receiver]
        last = receiver.rsplit(".", 1)[-1]
        if last in local:
            return local[last]
        if last in self.handles and "." not in receiver:
            return self.handles[last]
        if P.DB_RECEIVER_NAME.match(last):
            library = _library_by_name(last)
            if (
                library in {"sql", "db"}
                and "." in receiver
                and self._within_prisma(receiver, local)
            ):
                # ``prisma.client.user.findMany()``: the client a Prisma helper module keeps
                return "prisma"
            return library
        if P.TYPEORM_RECEIVER.match(last) or last.endswith(("DataSource", "dataSource")):
            return "typeorm"
        if P.SUPABASE_RECEIVER.match(last):
            return "supabase"
        return ""

    def _within_prisma(self, receiver: str, local: dict[str, str]) -> bool:
        """True when a segment before the last one is (or is named as) a Prisma handle."""
        for segment in receiver.split(".")[:-1]:
            known = local.get(segment) or self.handles.get(segment)
            if known == "prisma" or (not known and "prisma" in segment.lower()):
                return True
        return False


def _library_by_name(name: str) -> str:
    """The libraries a receiver may belong to, judged by its name alone.

    ``db``/``tx`` may be Drizzle, Prisma or Knex ("db"); ``conn``/``client``/``pool`` are
    driver handles ("sql": only ``.query(sql)`` counts), so ``connection.manager.create(...)``
    (TypeORM, builds an entity in memory) is not read as a Prisma call.
    """
    lowered = name.lower()
    if "prisma" in lowered:
        return "prisma"
    if "knex" in lowered:
        return "knex"
    if lowered in {"pool", "pg", "pgclient"} or lowered.endswith("pool"):
        return "pg"
    if lowered.endswith(("conn", "connection", "client")):
        return "sql"
    return "db"


class ModuleBuilder:
    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.functions: list[Function] = []
        self.classes: list[ClassInfo] = []
        self.models: list[ModelClass] = []
        self.imports: list[Import] = []
        self.global_types: dict[str, str] = {}

    # ---------------------------------------------------------------- module level

    def build(self, top_level: list[Node]) -> ModuleModel:
        """``top_level``: the file's top-level statements (``Parsed.statements``)."""
        statements = [c for c in top_level if c.type != "comment"]
        self.ctx.use_server = _has_directive(statements, self.ctx.src, "use server")
        data = self.ctx.src.data
        if b".$" in data:
            # ``client.$queryRawUnsafe(...)`` anywhere in the file: ``client`` is a Prisma
            # client here, so its ``client[model].findMany(...)`` is a query too
            for match in P.PRISMA_ONLY_CALL.finditer(data):
                name = match.group(1).decode("utf-8", "replace")
                if name != "this":
                    self.ctx.handles.setdefault(name, "prisma")
        for node in statements:
            self._collect(node)
        module_level: list[Node] = []
        for node in statements:
            if not self._declare(node, exported=False):
                module_level.append(node)
        self.models.extend(schema.drizzle_models(statements, self.ctx.src))
        if any(self._worth_walking(n) for n in module_level):
            walker = FunctionWalker(self, "<module>", "", is_static=False, is_async=True)
            for node in module_level:
                walker.statement(node)
            if walker.ops or walker.loops or walker.calls:
                self.functions.append(walker.build("<module>", "<module>", None, (), (), ()))
            for nested_name, nested in walker.nested:
                self.function(nested, nested_name, nested_name)
            for label, callback, marks in walker.registered:
                self.function(callback, label, label, decorators=marks)
        return ModuleModel(
            path=self.ctx.path,
            lines=len(self.ctx.lines),
            imports=tuple(self.imports),
            functions=tuple(self.functions),
            classes=tuple(self.classes),
            models=tuple(self.models),
            engines=tuple(sorted(self.ctx.engines, key=lambda e: (e.span.line, e.span.col))),
            global_types=tuple(sorted(self.global_types.items())),
            language="typescript",
        )

    def _worth_walking(self, node: Node) -> bool:
        if node.type in {"import_statement", "comment", "class_declaration"} | _DECLARATIONS:
            return False
        if node.type == "expression_statement":
            inner = node.named_children[0] if node.named_children else None
            return inner is not None and inner.type not in {"string", "assignment_expression"}
        return node.type not in {
            "export_statement",
            "type_alias_declaration",
            "interface_declaration",
            "enum_declaration",
        }

    def _module_key(self, specifier: str) -> str:
        if not self.ctx.resolve_files:
            return specifier
        resolved = resolve_specifier(
            self.ctx.path, specifier, config=self.ctx.config, exists=self._exists
        )
        return specifier if resolved == specifier else module_key(resolved)

    def _exists(self, path: str) -> bool:
        if os.path.isfile(path):
            return True
        self.ctx.looked_for.append(path)
        return False

    def _collect(self, node: Node) -> None:
        """Imports, re-exports, ``require`` bindings and database handles."""
        src = self.ctx.src
        if node.type == "import_statement":
            source = node.child_by_field_name("source")
            if source is None:
                return
            specifier = _unquote(src.text(source))
            module = self._module_key(specifier)
            clause = next((c for c in node.named_children if c.type == "import_clause"), None)
            if clause is None:
                return
            for part in clause.named_children:
                if part.type == "identifier":
                    self._import(src.text(part), module, "default")
                    self._imported_handle(src.text(part), specifier, "default")
                elif part.type == "namespace_import":
                    ident = next((c for c in part.named_children if c.type == "identifier"), None)
                    if ident is not None:
                        self._import(src.text(ident), module, "")
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        if spec.type != "import_specifier":
                            continue
                        name = spec.child_by_field_name("name")
                        alias = spec.child_by_field_name("alias")
                        if name is None:
                            continue
                        local = src.text(alias or name)
                        self._import(local, module, src.text(name))
                        self._imported_handle(local, specifier, src.text(name))
        elif node.type == "export_statement":
            source = node.child_by_field_name("source")
            if source is not None:
                module = self._module_key(_unquote(src.text(source)))
                clause = next((c for c in node.named_children if c.type == "export_clause"), None)
                space = next((c for c in node.named_children if c.type == "namespace_export"), None)
                if clause is not None:
                    for spec in clause.named_children:
                        name = spec.child_by_field_name("name")
                        alias = spec.child_by_field_name("alias")
                        if name is not None:
                            self._import(src.text(alias or name), module, src.text(name))
                elif space is not None:
                    ident = next((c for c in space.named_children if c.type == "identifier"), None)
                    if ident is not None:
                        self._import(src.text(ident), module, "")
                else:
                    self._import("*", module, "*")
                return
            declaration = node.child_by_field_name("declaration")
            if declaration is not None:
                self._collect(declaration)
            if any(not c.is_named and src.text(c) == "default" for c in node.children):
                # ``export default function main`` / ``export default RendersDAL``: other
                # modules import it as "default"; an import of this very module names it
                target = (
                    declaration if declaration is not None else node.child_by_field_name("value")
                )
                name = target.child_by_field_name("name") if target is not None else None
                if target is not None and target.type == "identifier":
                    name = target
                if name is not None:
                    self._import("default", module_key(self.ctx.path), src.text(name))
                elif target is not None:
                    self._namespace("default", unwrap(target))
        elif node.type in _DECLARATIONS:
            for declarator in node.named_children:
                if declarator.type == "variable_declarator":
                    self._collect_declarator(declarator)
        elif node.type in {"class_declaration", "abstract_class_declaration"}:
            name = node.child_by_field_name("name")
            if name is not None:
                self.ctx.class_names.add(src.text(name))
        elif node.type in {"function_declaration", "generator_function_declaration"}:
            name = node.child_by_field_name("name")
            if name is not None:
                self.ctx.function_names.add(src.text(name))

    def _collect_declarator(self, declarator: Node) -> None:
        src = self.ctx.src
        name_node = declarator.child_by_field_name("name")
        value = declarator.child_by_field_name("value")
        if name_node is None or value is None:
            return
        value = unwrap(value)
        if value.type == "await_expression" and value.named_children:
            value = unwrap(value.named_children[0])
        callee = _constructor_name(value, src)
        if callee == "require":
            args = arguments(value.child_by_field_name("arguments"))
            if args and args[0].type == "string":
                module = self._module_key(_unquote(src.text(args[0])))
                if name_node.type == "identifier":
                    self._import(src.text(name_node), module, "")
                elif name_node.type == "object_pattern":
                    for local, imported in _pattern_pairs(name_node, src):
                        self._import(local, module, imported)
            return
        if name_node.type == "object_pattern":
            self._destructured(name_node, value, self.ctx.members, {})
            return
        if name_node.type != "identifier":
            return
        name = src.text(name_node)
        if value.type in FUNCTION_TYPES:
            self.ctx.function_names.add(name)
        elif value.type == "object":
            self._namespace(name, value)
        elif value.type == "number" and src.text(value).isdigit():
            self.ctx.constants[name] = int(src.text(value))
        if callee:
            last = callee.rsplit(".", 1)[-1]
            library = P.HANDLE_FACTORIES.get(last)
            if library is not None:
                self.ctx.handles[name] = library
                if last in P.ENGINE_APIS and not self._wraps_handle(value):
                    self._engine(value, callee, P.ENGINE_APIS[last], "", (name,))
            if last == "alias":
                args = arguments(value.child_by_field_name("arguments"))
                if args:
                    self.ctx.aliases[name] = src.text(args[0])
            if value.type == "new_expression" or (last[:1].isupper() and library is None):
                self.global_types[name] = last

    def _namespace(self, name: str, value: Node) -> None:
        """``export default { client, rawQuery }`` / ``const api = { list, get: getOne }``: an
        object of this module's names is a namespace, so ``prisma.rawQuery(...)`` in another
        module (or ``api.get``) reaches the function ``rawQuery`` (``getOne``) of this one."""
        if value.type != "object" or not value.named_children:
            return
        src = self.ctx.src
        members: list[tuple[str, str]] = []
        for child in value.named_children:
            if child.type == "shorthand_property_identifier":
                members.append((src.text(child), src.text(child)))
                continue
            key = child.child_by_field_name("key") if child.type == "pair" else None
            member = child.child_by_field_name("value") if key is not None else None
            if key is None or member is None or key.type != "property_identifier":
                return
            if unwrap(member).type != "identifier":
                return
            members.append((src.text(key), src.text(unwrap(member))))
        here = module_key(self.ctx.path)
        self.imports.append(Import(name, here, ""))  # the name is this module, as a namespace
        for exported, local in members:
            if exported != local:
                self.imports.append(Import(exported, here, local))

    def _destructured(
        self, pattern: Node, value: Node, members: dict[str, str], local: dict[str, str]
    ) -> None:
        """``const { rawQuery, client: db } = prisma``: calls of ``rawQuery`` are calls of
        ``prisma.rawQuery`` (so the call graph finds the helper) and ``db`` is ``prisma.client``
        (so its queries are read as that handle's). Only members of an import or a handle."""
        if value.type != "identifier":
            return
        owner = self.ctx.src.text(value)
        owner = members.get(owner) or self.ctx.members.get(owner) or owner
        root = owner.split(".", 1)[0]
        if root not in self.ctx.imported and not self.ctx.handle_of(root, local):
            return
        for name, member in _pattern_pairs(pattern, self.ctx.src):
            members[name] = f"{owner}.{member}"

    def _wraps_handle(self, call: Node) -> bool:
        """``drizzle(pool)``: the pool was configured where it was created, not here."""
        args = arguments(call.child_by_field_name("arguments"))
        first = unwrap(args[0]) if args else None
        return (
            first is not None
            and first.type == "identifier"
            and self.ctx.src.text(first) in self.ctx.handles
        )

    def _imported_handle(self, local: str, specifier: str, name: str) -> None:
        """A database handle imported under another name: ``import { prisma as p }``, or the
        default export of a module named after one (``import client from "@/lib/prisma"``)."""
        if P.DB_RECEIVER_NAME.match(local):
            return  # known by its own name already
        if name != "default":
            if P.DB_RECEIVER_NAME.match(name):
                self.ctx.handles[local] = _library_by_name(name)
            return
        if specifier.startswith("@prisma/"):
            return  # the package itself: its default export is no client
        parts = [p for p in specifier.split("/") if p not in {"", ".", ".."}]
        if parts and re.sub(r"\.[cm]?[jt]sx?$", "", parts[-1]) == "index":
            parts.pop()
        base = re.sub(r"\.[cm]?[jt]sx?$", "", parts[-1]) if parts else ""
        if P.HANDLE_MODULE.match(base):
            self.ctx.handles[local] = _library_by_name(base)

    def _import(self, local: str, module: str, name: str) -> None:
        self.imports.append(Import(local, module, name))
        self.ctx.imported[local] = module

    def _engine(
        self, node: Node, callee: str, library: str, function: str, targets: tuple[str, ...]
    ) -> None:
        src = self.ctx.src
        args = arguments(node.child_by_field_name("arguments"))
        settings: list[tuple[str, str]] = []
        url = ""
        splat = False
        for arg in args:
            arg = unwrap(arg)
            if arg.type == "object":
                for child in arg.named_children:
                    if child.type == "pair":
                        key = child.child_by_field_name("key")
                        value = child.child_by_field_name("value")
                        if key is not None and value is not None:
                            settings.append((_unquote(src.text(key)), short(src.text(value))))
                    elif child.type == "shorthand_property_identifier":
                        settings.append((src.text(child), src.text(child)))
                    elif child.type == "spread_element":
                        splat = True
            elif arg.type in {"string", "template_string"} or "url" in src.text(arg).lower():
                url = url or short(src.text(arg))
            else:
                splat = True  # ``new Pool(options)``: the settings are built elsewhere
        self.ctx.engines.append(
            EngineCreation(
                api=callee,
                library=library,
                span=span_of(node),
                function=function,
                keywords=tuple(k for k, _ in settings),
                has_kwargs_splat=splat,
                url=url,
                settings=tuple(settings),
                text=short(src.text(node)),
                targets=targets,
            )
        )

    def _declare(self, node: Node, *, exported: bool, prefix: str = "") -> bool:
        """Functions and classes at module level; False when ``node`` is plain module code."""
        src = self.ctx.src
        if node.type == "export_statement":
            declaration = node.child_by_field_name("declaration")
            if declaration is not None:
                return self._declare(declaration, exported=True, prefix=prefix)
            value = node.child_by_field_name("value")
            if value is not None and unwrap(value).type in FUNCTION_TYPES:
                self.function(unwrap(value), "default", "default", decorators=self._marks(True))
                return True
            return node.child_by_field_name("source") is not None or value is None
        if node.type in {"function_declaration", "generator_function_declaration"}:
            name = node.child_by_field_name("name")
            label = src.text(name) if name is not None else "default"
            self.function(node, prefix + label, label, decorators=self._marks(exported))
            return True
        if node.type in {"class_declaration", "abstract_class_declaration"}:
            self._class(node, prefix)
            return True
        if node.type in _DECLARATIONS:
            handled = True
            for declarator in node.named_children:
                if declarator.type != "variable_declarator":
                    continue
                name_node = declarator.child_by_field_name("name")
                value = declarator.child_by_field_name("value")
                if name_node is None or value is None or name_node.type != "identifier":
                    handled = handled and value is None
                    continue
                label = src.text(name_node)
                inner = unwrap(value)
                if inner.type in FUNCTION_TYPES:
                    self.function(inner, prefix + label, label, decorators=self._marks(exported))
                elif inner.type == "object":
                    self._object_methods(inner, prefix + label, exported)
                elif inner.type == "class":
                    self._class(inner, prefix, name=label)
                elif (
                    inner.type == "call_expression"
                    and not _is_setup_call(inner, src)
                    and (wrapped := _wrapped_function(inner))
                ):
                    # ``export const POST = withAuth(async (req) => ...)``: the handler is
                    # the wrapped function, named after the constant
                    self.function(wrapped, prefix + label, label, decorators=self._marks(exported))
                elif (
                    inner.type == "call_expression"
                    and not _is_setup_call(inner, src)
                    and self._object_methods(inner, prefix + label, exported)
                ):
                    pass  # ``router({ byId: procedure.query(async () => ...) })``
                elif _contains_call(inner) and not _is_setup_call(inner, src):
                    handled = False
            return handled
        if node.type == "expression_statement" and node.named_children:
            inner = unwrap(node.named_children[0])
            if inner.type == "assignment_expression":
                left = inner.child_by_field_name("left")
                right = inner.child_by_field_name("right")
                if left is not None and right is not None:
                    target = src.text(left)
                    value = unwrap(right)
                    if (
                        target.startswith(("exports.", "module.exports."))
                        and value.type in FUNCTION_TYPES
                    ):
                        label = target.rsplit(".", 1)[-1]
                        self.function(value, label, label, decorators=self._marks(True))
                        return True
                    if target == "module.exports" and value.type == "object":
                        self._object_methods(value, "", True)
                        return True
        return node.type in {"import_statement", "comment", "empty_statement"} or (
            node.type == "expression_statement"
            and bool(node.named_children)
            and node.named_children[0].type == "string"
        )

    def _marks(self, exported: bool) -> tuple[str, ...]:
        return ("use server",) if exported and self.ctx.use_server else ()

    def _object_methods(self, node: Node, owner: str, exported: bool, depth: int = 0) -> int:
        """Functions inside an object literal, at any depth: ``authOptions.callbacks.jwt``.

        Config objects (NextAuth, tRPC routers, handler maps) hold their functions in nested
        objects, arrays and factory calls (``EmailProvider({ sendVerificationRequest })``).
        Returns how many functions were found.
        """
        src = self.ctx.src
        found = 0
        if depth > 6:
            return found
        node = unwrap(node)
        if node.type in {"array", "arguments"}:
            for element in node.named_children:
                inner = unwrap(element)
                if inner.type in FUNCTION_TYPES and owner:
                    # ``getUser: procedure.input(schema).query(async ({ input }) => ...)``
                    label = owner.rsplit(".", 1)[-1]
                    self.function(inner, owner, label, decorators=self._marks(exported))
                    found += 1
                else:
                    found += self._object_methods(element, owner, exported, depth + 1)
            return found
        if node.type == "call_expression":
            args = node.child_by_field_name("arguments")
            return self._object_methods(args, owner, exported, depth + 1) if args else 0
        if node.type != "object":
            return found
        for child in node.named_children:
            if child.type == "method_definition":
                name = child.child_by_field_name("name")
                if name is not None:
                    label = src.text(name)
                    qual = f"{owner}.{label}" if owner else label
                    self.function(child, qual, label, decorators=self._marks(exported))
                    found += 1
            elif child.type == "pair":
                key = child.child_by_field_name("key")
                value = child.child_by_field_name("value")
                if key is None or value is None:
                    continue
                label = _unquote(src.text(key))
                qual = f"{owner}.{label}" if owner else label
                if unwrap(value).type in FUNCTION_TYPES:
                    self.function(unwrap(value), qual, label, decorators=self._marks(exported))
                    found += 1
                else:
                    found += self._object_methods(value, qual, exported, depth + 1)
        return found

    def _class(self, node: Node, prefix: str, name: str = "") -> None:
        src = self.ctx.src
        name_node = node.child_by_field_name("name")
        class_name = prefix + (
            name or (src.text(name_node) if name_node is not None else "Anonymous")
        )
        bases: list[str] = []
        for child in node.named_children:
            if child.type == "class_heritage":
                for clause in child.named_children:
                    if clause.type == "extends_clause":  # TypeScript
                        value = clause.child_by_field_name("value")
                        if value is not None:
                            bases.append(src.text(value))
                    elif clause.type not in {"implements_clause", "comment"}:  # JavaScript
                        bases.append(src.text(clause))
        body = node.child_by_field_name("body")
        methods: list[Node] = []
        attribute_types: dict[str, str] = {}
        if body is not None:
            for member in body.named_children:
                # decorators before a member are read with it (``_preceding_decorators``)
                if member.type == "method_definition":
                    methods.append(member)
                    for param in _parameters(member):
                        if any(
                            c.type == "accessibility_modifier" or src.text(c) == "readonly"
                            for c in param.children
                        ):
                            pattern = param.child_by_field_name("pattern")
                            annotation = param.child_by_field_name("type")
                            if pattern is not None and annotation is not None:
                                attribute_types[src.text(pattern)] = _type_name(annotation, src)
                    constructor = member.child_by_field_name("name")
                    is_constructor = (
                        constructor is not None and src.text(constructor) == "constructor"
                    )
                    # ``this.dal = new RendersDAL()``: attributes are typed where they are built
                    for sub in _walk(member) if is_constructor else ():
                        if sub.type == "assignment_expression":
                            left = sub.child_by_field_name("left")
                            right = sub.child_by_field_name("right")
                            if left is None or right is None:
                                continue
                            target = src.text(left)
                            if target.startswith("this.") and target.count(".") == 1:
                                ctor = _constructor_name(unwrap(right), src)
                                if ctor and ctor.rsplit(".", 1)[-1][:1].isupper():
                                    attribute_types[target[5:]] = ctor.rsplit(".", 1)[-1]
                elif member.type in {"public_field_definition", "field_definition"}:
                    field_name = member.child_by_field_name("name") or member.child_by_field_name(
                        "property"
                    )
                    value = member.child_by_field_name("value")
                    annotation = member.child_by_field_name("type")
                    if field_name is None:
                        continue
                    label = src.text(field_name)
                    if annotation is not None:
                        attribute_types[label] = _type_name(annotation, src)
                    if value is not None:
                        inner = unwrap(value)
                        if inner.type in FUNCTION_TYPES:
                            methods.append(member)
                        else:
                            ctor = _constructor_name(inner, src)
                            if ctor and ctor.rsplit(".", 1)[-1][:1].isupper():
                                attribute_types[label] = ctor.rsplit(".", 1)[-1]
        self.ctx.class_attribute_types[class_name] = attribute_types
        self.ctx.class_names.add(class_name)
        method_names: list[str] = []
        for member in methods:
            label_node = member.child_by_field_name("name") or member.child_by_field_name(
                "property"
            )
            if label_node is None:
                continue
            label = src.text(label_node)
            method_names.append(label)
            is_static = any(
                c.type == "static" or src.text(c) == "static"
                for c in member.children
                if not c.is_named
            )
            decorators = tuple(
                _decorator_name(d, src) for d in member.named_children if d.type == "decorator"
            )
            decorators += _preceding_decorators(member, src)
            body_node = member
            if member.type in {"public_field_definition", "field_definition"}:
                field_value = member.child_by_field_name("value")
                body_node = unwrap(field_value) if field_value is not None else member
            self.function(
                body_node,
                f"{class_name}.{label}",
                label,
                class_name=class_name,
                is_static=is_static,
                decorators=decorators + ("staticmethod",) * is_static,
            )
        self.classes.append(
            ClassInfo(
                name=class_name,
                bases=tuple(bases),
                span=span_of(node),
                methods=tuple(method_names),
                attribute_types=tuple(sorted(attribute_types.items())),
            )
        )

    def function(
        self,
        node: Node,
        qualname: str,
        name: str,
        *,
        class_name: str = "",
        is_static: bool = False,
        decorators: tuple[str, ...] = (),
    ) -> None:
        src = self.ctx.src
        is_async = any(not c.is_named and src.text(c) == "async" for c in node.children)
        walker = FunctionWalker(self, qualname, class_name, is_static=is_static, is_async=is_async)
        params: list[str] = []
        annotations: list[tuple[str, str]] = []
        positions: list[str | tuple[tuple[str, str], ...]] = []
        for param in _parameters(node):
            names, annotation = _param_names(param, src)
            params.extend(names)
            positions.append(_param_position(param, src))
            if annotation:
                for param_name in names:
                    annotations.append((param_name, annotation))
                    last = re.findall(r"[A-Za-z_$][\w$]*", annotation)
                    if last and last[0][:1].isupper() and last[0] not in {"Promise", "Array"}:
                        walker.types[param_name] = last[0]
        walker.locals.update(params)
        body = node.child_by_field_name("body")
        if body is not None:
            if body.type == "statement_block":
                walker.block(body)
            else:
                walker.returned(body)
        built = walker.build(qualname, name, node, decorators, tuple(params), tuple(annotations))
        if any(not isinstance(position, str) for position in positions):
            built = replace(built, param_positions=tuple(positions))
        self.functions.append(built)
        for nested_name, nested in walker.nested:
            self.function(nested, f"{qualname}.<locals>.{nested_name}", nested_name)
        for label, callback, marks in walker.registered:
            self.function(callback, f"{qualname}.<locals>.{label}", label, decorators=marks)


# an ``if`` test kept whole for fixes that keep it (``items.filter((u) => <test>)``)
_MAX_CONDITION = 240
_MEMBER_CHAIN = re.compile(r"[A-Za-z_$][\w$]*(?:\??\.[A-Za-z_$][\w$]*)*")


def _condition_text(src: Source, condition: Node | None) -> str:
    """An ``if``'s test as written, on one line, without its parentheses; "" when it holds
    a comment or a template literal (no safe single line) or is too long to keep."""
    if condition is None:
        return ""
    node = condition
    if node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    text = src.text(node)
    if "//" in text or "/*" in text or "`" in text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CONDITION else ""


def _negated(test: str) -> str:
    """``!test`` as TypeScript writes it: ``u.active`` -> ``!u.active``, ``!x`` -> ``x``,
    anything else in parentheses."""
    if _MEMBER_CHAIN.fullmatch(test):
        return f"!{test}"
    if test.startswith("!") and _MEMBER_CHAIN.fullmatch(test[1:]):
        return test[1:]
    return f"!({test})"


@dataclass(slots=True)
class Ctx:
    loops: tuple[int, ...] = ()
    branch: tuple[tuple[int, int], ...] = ()
    control: frozenset[str] = frozenset()
    in_gather: bool = False
    awaited: bool = False
    targets: tuple[str, ...] = ()
    in_query: bool = False

    def plain(self) -> Ctx:
        """The context for a sub-expression whose value is not what gets bound."""
        if not self.targets:
            return self
        return Ctx(
            self.loops, self.branch, self.control, self.in_gather, self.awaited, (), self.in_query
        )

    def argument(self) -> Ctx:
        """The context for an argument of a call: not bound, not awaited by itself."""
        if not self.targets and not self.awaited:
            return self
        return Ctx(self.loops, self.branch, self.control, self.in_gather, False, (), self.in_query)

    def but(self, **changes: object) -> Ctx:
        for key, value in changes.items():
            if getattr(self, key) != value:
                break
        else:
            return self  # a context is never changed once built, so sharing it is safe
        copy = Ctx(
            self.loops,
            self.branch,
            self.control,
            self.in_gather,
            self.awaited,
            self.targets,
            self.in_query,
        )
        for key, value in changes.items():
            setattr(copy, key, value)
        return copy


class FunctionWalker(FunctionEvents):
    """Walks one function body once, in evaluation order."""

    def __init__(
        self,
        module: ModuleBuilder,
        qualname: str,
        class_name: str,
        *,
        is_static: bool,
        is_async: bool,
    ) -> None:
        super().__init__()
        self.module = module
        self.ctx = module.ctx
        self.src = module.ctx.src
        self.qualname = qualname
        self.class_name = class_name
        self.this_name = "cls" if is_static else "self"
        self.is_async = is_async
        self.is_static = is_static
        self.locals: set[str] = set()
        self.types: dict[str, str] = {}
        self.handles: dict[str, str] = {}  # local db handles (transaction callbacks, ...)
        self.members: dict[str, str] = {}  # ``const { rawQuery } = prisma`` (ModuleContext)
        self.loop_targets: dict[str, int] = {}
        self.nested: list[tuple[str, Node]] = []
        # callbacks handed to a registrar (``test(...)``, ``app.get(...)``): their own functions
        self.registered: list[tuple[str, Node, tuple[str, ...]]] = []
        # ``const jobs = items.map((i) => load(i))`` / ``jobs.push(load(i))``: the unawaited
        # calls and queries whose promises a name collects, for a later ``Promise.all(jobs)``
        self.promises: dict[str, tuple[list[int], list[int]]] = {}
        self.paged_loops: set[int] = set()  # loops that fetch one page (LIMIT/OFFSET) per turn
        # ``if (x === "a")`` tested before: (x, branch) -> (statement id, constants, next arm)
        self.discriminants: dict[tuple[str, Branch], tuple[int, frozenset[str], int]] = {}
        # ``const batches = chunk(ids, 100)``: names holding chunks of a list
        self.chunk_names: set[str] = set()
        # ``const MAX_ATTEMPTS = 2`` in the function: a bound a loop's condition can read
        self.local_constants: dict[str, int] = {}
        self.branch_ids = 0
        # handlers of a ts-pattern ``match(x).with(...)`` chain: node id -> (branch id, arm)
        self.match_arms: dict[int, tuple[int, int]] = {}
        self.match_links: set[int] = set()
        # ``const ranked = db.select()....as("ranked")``: a subquery the next query reads from
        self.subqueries: dict[str, Facts] = {}
        # builders bound to a name and not run yet: name -> (facts, node, ctx, reserved seq)
        self.pending: dict[str, tuple[Facts, Node, Ctx, int]] = {}
        self.pending_used: set[str] = set()
        # leaving loops (as the Python frontend): how the innermost loop is left once the
        # current statement has run, whether an enclosing statement is recorded as running
        # once already, and how many enclosing loops a ``return`` cannot leave (the callback
        # of ``items.forEach(...)`` returns to the loop, a transaction callback to its caller)
        self.exit_after: LoopExit | None = None
        self.exit_covered = False
        self.return_boundary = 0
        # ``const slug = row.slug``: the loop each loop-derived name comes from, and its key
        self.derived_from: dict[str, int] = {}
        self.derived_keys: dict[str, str] = {}
        self.callback_loops: set[int] = set()
        # arms that end in return/throw, and in break (``Function.exiting_arms``/``breaking_arms``)
        self.exiting_arms: list[tuple[int, int]] = []
        self.breaking_arms: list[tuple[int, int]] = []
        # (branch, arm, the condition it runs under) of each ``if`` in a loop
        # (``Function.conditions``)
        self.conditions: list[tuple[int, int, str]] = []
        # ``const filters = [eq(keys.id, keyId), ...]``: the conditions a where spreads
        # (``and(...filters)``), read as its own would be
        self.condition_arrays: dict[str, tuple[Node, ...]] = {}

    def build(
        self,
        qualname: str,
        name: str,
        node: Node | None,
        decorators: tuple[str, ...],
        params: tuple[str, ...],
        annotations: tuple[tuple[str, str], ...],
    ) -> Function:
        for name, (facts, built, ctx, seq) in list(self.pending.items()):
            if name not in self.pending_used:
                # never awaited here: handed to a caller or a helper that runs it
                self._run(built, facts, ctx, seq)
        self.pending.clear()
        self.ops.sort(key=lambda op: op.seq)
        lines = self.ctx.lines
        span = span_of(node) if node is not None else Span(1, max(len(lines), 1), 0)
        return self.to_function(
            qualname=qualname,
            name=name,
            span=span,
            lines=lines,
            class_name=self.class_name,
            decorators=decorators,
            is_async=self.is_async,
            params=params,
            annotations=annotations,
            is_staticmethod=self.is_static,
            exiting_arms=tuple(self.exiting_arms),
            breaking_arms=tuple(self.breaking_arms),
            conditions=tuple(self.conditions),
        )

    # ------------------------------------------------------------------ helpers

    def text(self, node: Node) -> str:
        return short(self.src.text(node))

    def names(self, node: Node | None) -> frozenset[str]:
        """Identifiers inside ``node`` (property names are not identifiers in the grammar)."""
        if node is None:
            return frozenset()
        return frozenset(self.ctx.identifiers.within(node) - _IGNORED_READS)

    def handle_of(self, receiver: str) -> str:
        receiver = self.through_members(_SELF_PREFIX.sub("this.", receiver))
        if receiver.startswith("this.") and receiver.count(".") == 1:
            attr_type = self.ctx.class_attribute_types.get(self.class_name, {}).get(receiver[5:])
            if attr_type:
                library = P.HANDLE_FACTORIES.get(attr_type)
                if library:
                    return library
                if attr_type in {"PrismaClient"}:
                    return "prisma"
                if attr_type in {"NodePgDatabase", "PostgresJsDatabase", "PgDatabase"}:
                    return "drizzle"
        if receiver in self.types:
            known = self.types[receiver]
            if known in {"PrismaClient"}:
                return "prisma"
            if known in {"Pool", "PoolClient", "Client"}:
                return "pg"
            if known in {"Knex"}:
                return "knex"
            if known.endswith(("Database", "Transaction")):
                return "drizzle"
        return self.ctx.handle_of(receiver, self.handles)

    def through_members(self, text: str) -> str:
        """``rawQuery`` -> ``prisma.rawQuery`` after ``const { rawQuery } = prisma``."""
        if not self.members and not self.ctx.members:
            return text
        root, dot, rest = text.partition(".")
        member = self.members.get(root)
        if member is None and root not in self.locals:
            member = self.ctx.members.get(root)
        return f"{member}{dot}{rest}" if member is not None else text

    def callee_text(self, node: Node) -> str:
        """``RendersDAL.getByChainId``, ``self.dal.get``; calls in the middle as ``()``."""
        parts: list[str] = []
        data = self.src.data
        current = unwrap(node)
        while True:
            kind = current.type
            if kind == "member_expression":
                prop = current.child_by_field_name("property")
                parts.append(
                    data[prop.start_byte : prop.end_byte].decode("utf-8", "replace")
                    if prop is not None
                    else "?"
                )
                obj = current.child_by_field_name("object")
                if obj is None:
                    break
                current = unwrap(obj)
            elif kind == "call_expression":
                parts.append("()")
                function = current.child_by_field_name("function")
                if function is None:
                    break
                current = unwrap(function)
            elif kind == "identifier":
                parts.append(data[current.start_byte : current.end_byte].decode("utf-8", "replace"))
                break
            elif kind == "this":
                parts.append(self.this_name)
                break
            elif kind == "await_expression" and current.named_children:
                current = unwrap(current.named_children[0])
            else:
                parts.append("<expr>")
                break
        text = ""
        for part in reversed(parts):
            text = text + "()" if part == "()" else (f"{text}.{part}" if text else part)
        return text

    # --------------------------------------------------------------- statements

    def block(self, node: Node, ctx: Ctx | None = None) -> Ctx:
        return self.statements(node.named_children, ctx or Ctx())

    def statements(self, children: list[Node], ctx: Ctx) -> Ctx:
        """Walks ``children`` in order; returns the context after them (with the guards
        they passed: ``if (!link) throw ...`` makes what follows depend on ``link``)."""
        if not ctx.loops:
            for child in children:
                ctx = self.statement(child, ctx) or ctx
            return ctx
        inherited, covered = self.exit_after, self.exit_covered
        exits = exits_after_each(children, inherited)
        for child, (kind, may_continue) in zip(children, exits, strict=True):
            # a statement with a ``continue`` inside is recorded piece by piece, by the
            # blocks inside it that do not reach the ``continue``
            record = kind is not None and not may_continue and not covered
            self.exit_after, self.exit_covered = kind, covered or record
            first = self.seq + 1
            ctx = self.statement(child, ctx) or ctx
            self.exit_covered = covered
            if record:
                self._once(first, kind, ctx.loops)
        self.exit_after = inherited
        return ctx

    def _once(self, first: int, kind: LoopExit | None, loops: tuple[int, ...]) -> None:
        """Events ``first``..now run at most once per run of the loops ``kind`` leaves."""
        inside = loops[self.return_boundary :]  # the loops a return or break can leave
        if kind is None or first > self.seq or not inside:
            return
        left = inside[-1:] if kind == "break" else inside
        self.once_in_loop.extend((first, self.seq, loop_id) for loop_id in left)

    def _own_body(self, walk: Callable[[], object], boundary: int) -> None:
        """Walk a loop or callback body: what follows it does not follow its statements."""
        outer = self.exit_after, self.exit_covered, self.return_boundary
        self.exit_after, self.exit_covered = None, False
        self.return_boundary = max(boundary, self.return_boundary)
        walk()
        self.exit_after, self.exit_covered, self.return_boundary = outer

    def _one_item_arm(self, condition: Node | None, ctx: Ctx) -> int | None:
        """The loop whose items ``condition`` picks one of (``row.slug === slug``), if any."""
        if condition is None or not ctx.loops:
            return None
        node = unwrap(condition)
        if node.type == "member_expression":
            # ``if (campaign.default)``: the one item a list marks as its default
            owner = unwrap(node.child_by_field_name("object") or node)
            prop = node.child_by_field_name("property")
            if (
                owner.type == "identifier"
                and prop is not None
                and self.src.text(prop) in _ONE_ITEM_FLAGS
                and self.loop_targets.get(self.src.text(owner)) == ctx.loops[-1]
            ):
                return ctx.loops[-1]
            return None
        if node.type != "binary_expression":
            return None
        operator = node.child_by_field_name("operator")
        op = self.src.text(operator) if operator is not None else ""
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is None or right is None:
            return None
        if op == "&&":
            found = self._one_item_arm(left, ctx)
            return found if found is not None else self._one_item_arm(right, ctx)
        if op not in {"===", "=="}:
            return None
        for key, other in ((left, right), (right, left)):
            loop_id = self._item_key_loop(unwrap(key))
            if loop_id == ctx.loops[-1] and self._loop_invariant(unwrap(other)):
                return loop_id
        return None

    def _item_key_loop(self, node: Node) -> int | None:
        if node.type == "identifier":
            name = self.src.text(node)
            key, root = self.derived_keys.get(name, name), node
        else:
            found = _item_key(node, self.src)
            if found is None:
                return None
            key, root = found
        if not UNIQUE_KEY.search(key):
            return None
        while root.type in {"member_expression", "subscript_expression"} or root.type in (
            TRANSPARENT
        ):
            inner = root.child_by_field_name("object") or (
                root.named_children[0] if root.named_children else None
            )
            if inner is None:
                return None
            root = inner
        if root.type != "identifier":
            return None
        name = self.src.text(root)
        if name in self.loop_targets:
            return self.loop_targets[name]
        return self.derived_from.get(name)

    def _loop_invariant(self, node: Node) -> bool:
        """A literal, or a name or member of names no loop variable reaches."""
        if node.type in {"string", "number", "true", "false", "template_string"}:
            return node.type != "template_string" or not any(
                c.type == "template_substitution" for c in node.named_children
            )
        while node.type in {"member_expression", "subscript_expression"}:
            if node.type == "subscript_expression":
                index = node.child_by_field_name("index")
                if index is None or index.type not in {"string", "number"}:
                    return False
            inner = node.child_by_field_name("object")
            if inner is None:
                return False
            node = unwrap(inner)
        if node.type == "this":
            return True
        if node.type != "identifier":
            return False
        name = self.src.text(node)
        return name not in self.loop_targets and name not in self.derived_from

    def statement(self, node: Node, ctx: Ctx | None = None) -> Ctx | None:
        """Walk one statement; returns the context for the statements after it (guards)."""
        ctx = ctx or Ctx()
        kind = node.type
        if kind in _DECLARATIONS:
            for declarator in node.named_children:
                if declarator.type == "variable_declarator":
                    self._declarator(declarator, ctx)
        elif kind == "expression_statement":
            for child in node.named_children:
                self.expr(child, ctx.plain())
        elif kind == "return_statement":
            value = next((c for c in node.named_children), None)
            if value is not None and ctx.loops and ctx.loops[-1] in self.callback_loops:
                # ``items.map(async (i) => { return db.insert(...) })``: the callback's
                # value for one item, not the function's result (and not the end of the loop)
                self.expr(value, ctx.plain())
            elif value is not None:
                self.returned(value, ctx)
        elif kind == "if_statement":
            return self._if(node, ctx)
        elif kind in {"for_statement", "for_in_statement", "while_statement", "do_statement"}:
            self._loop_statement(node, ctx)
        elif kind == "statement_block":
            self.block(node, ctx)
        elif kind == "try_statement":
            passed: frozenset[str] = frozenset()
            for child in node.named_children:
                if child.type == "statement_block":
                    # ``try { team = await ...; if (!member(team)) return 403 } catch ...``:
                    # what follows the try runs once the guards inside it passed
                    passed = self.block(child, ctx).control - ctx.control
                elif child.type in {"catch_clause", "finally_clause"}:
                    body = child.child_by_field_name("body") or next(
                        (c for c in child.named_children if c.type == "statement_block"), None
                    )
                    if body is None:
                        continue
                    if child.type == "catch_clause":
                        # runs only when the try block threw: an arm of its own, taken on the
                        # error path (``<catch>`` among what it runs under)
                        self.branch_ids += 1
                        arm = ctx.but(
                            branch=(*ctx.branch, (self.branch_ids, 0)),
                            control=ctx.control | {CATCH},
                        )
                        if _exit_of(body) == "return":
                            # ``catch (e) { audit(...); throw e; }``: nothing after the try
                            # runs once this arm did
                            self.exiting_arms.append((self.branch_ids, 0))
                        self.block(body, arm)
                    else:
                        self.block(body, ctx)
            if passed:
                return ctx.but(control=ctx.control | passed)
        elif kind == "switch_statement":
            value = node.child_by_field_name("value")
            reads = self.names(value)
            if value is not None:
                self.expr(value, ctx)
            self.branch_ids += 1
            branch_id = self.branch_ids
            body = node.child_by_field_name("body")
            for index, case in enumerate(body.named_children if body is not None else ()):
                arm = ctx.but(branch=(*ctx.branch, (branch_id, index)), control=ctx.control | reads)
                for child in case.named_children:
                    if child.type.endswith("statement") or child.type in _DECLARATIONS:
                        self.statement(child, arm)
                    else:
                        self.expr(child, arm)
        elif kind in {"function_declaration", "generator_function_declaration"}:
            name = node.child_by_field_name("name")
            if name is not None:
                self.nested.append((self.src.text(name), node))
                self.locals.add(self.src.text(name))
                self._closure_reads(node)
        elif kind in {
            "class_declaration",
            "comment",
            "empty_statement",
            "import_statement",
            "type_alias_declaration",
            "interface_declaration",
            "enum_declaration",
            "break_statement",
            "continue_statement",
            "debugger_statement",
        }:
            pass
        elif kind == "export_statement":
            declaration = node.child_by_field_name("declaration")
            if declaration is not None:
                self.statement(declaration, ctx)
        elif kind == "labeled_statement":
            body = node.child_by_field_name("body")
            if body is not None:
                self.statement(body, ctx)
        else:  # throw, ERROR nodes, anything else: walk the expressions inside
            for child in node.named_children:
                if child.type.endswith("statement") or child.type in _DECLARATIONS:
                    self.statement(child, ctx)
                else:
                    self.expr(child, ctx.plain())
        return None

    def returned(self, value: Node, ctx: Ctx | None = None) -> None:
        ctx = ctx or Ctx()
        self.returns |= self.names(value)
        # ``return db.select()...`` in an async function: the caller awaits this query
        self.expr(value, ctx.but(targets=(RETURN,), awaited=ctx.awaited or self.is_async))

    def _declarator(self, declarator: Node, ctx: Ctx) -> None:
        name_node = declarator.child_by_field_name("name")
        value = declarator.child_by_field_name("value")
        if name_node is None:
            return
        targets = _pattern_names(name_node, self.src)
        self.locals.update(targets)
        self._rebound(targets)
        for target in targets:
            self.local_constants.pop(target, None)
        if (
            value is not None
            and name_node.type == "identifier"
            and unwrap(value).type == "number"
            and self.src.text(unwrap(value)).isdigit()
            and declarator.parent is not None
            and declarator.parent.type == "lexical_declaration"
            and self.src.text(declarator.parent).startswith("const")
        ):
            self.local_constants[targets[0]] = int(self.src.text(unwrap(value)))
        for target in targets:
            self.members.pop(target, None)
        if value is None:
            return
        inner = unwrap(value)
        if name_node.type == "object_pattern":
            self.module._destructured(name_node, inner, self.members, self.handles)
        for target in targets:
            self.chunk_names.discard(target)
        if len(targets) == 1 and inner.type == "call_expression":
            function = inner.child_by_field_name("function")
            if function is not None and P.CHUNK_FUNCTIONS.search(self.callee_text(function)):
                self.chunk_names.add(targets[0])
        if inner.type in FUNCTION_TYPES and name_node.type == "identifier":
            self.nested.append((targets[0], inner))
            self._closure_reads(inner)
            return
        self.condition_arrays.pop(targets[0] if len(targets) == 1 else "", None)
        if name_node.type == "identifier" and _condition_array(inner):
            self.condition_arrays[targets[0]] = tuple(inner.named_children)
        calls_from, ops_from = len(self.calls), len(self.ops)
        self.expr(value, ctx.but(targets=targets))
        if _first_element(name_node):
            self.ops[ops_from:] = [
                replace(op, first_row_only=True)
                if op.kind == "select" and op.targets == targets
                else op
                for op in self.ops[ops_from:]
            ]
        if ctx.loops:
            self._derive(targets, value)
        if len(targets) == 1 and inner.type == "call_expression":
            self._collect_promises(targets[0], calls_from, ops_from)
        self._bind_types(targets, inner)
        self.assigns.append(
            Assign(
                targets,
                self.names(value),
                span_of(declarator),
                self._next(),
                ctx.loops,
                self.text(value),
                self._assign_kind(inner),
            )
        )

    def _derive(self, targets: tuple[str, ...], value: Node) -> None:
        """Inside a loop: which loop each bound name comes from, and which key of the item."""
        reads = self.names(value)
        sources = [self.loop_targets[r] for r in reads if r in self.loop_targets]
        sources += [self.derived_from[r] for r in reads if r in self.derived_from]
        for target in targets:
            self.derived_keys.pop(target, None)
            if sources:
                self.derived_from[target] = max(sources)  # the innermost loop it reads
            else:
                self.derived_from.pop(target, None)
        found = _item_key(unwrap(value), self.src) if len(targets) == 1 else None
        if found is not None:
            self.derived_keys[targets[0]] = found[0]

    def _assign_kind(self, value: Node) -> str:
        value = unwrap(value)
        if value.type == "member_expression":
            prop = value.child_by_field_name("property")
            if prop is not None and self.src.text(prop) == "length":
                return "len"
        return "assign"

    def _bind_types(self, targets: tuple[str, ...], value: Node) -> None:
        if len(targets) != 1:
            return
        ctor = _constructor_name(value, self.src)
        if not ctor:
            return
        last = ctor.rsplit(".", 1)[-1]
        library = P.HANDLE_FACTORIES.get(last)
        if library:
            self.handles[targets[0]] = library
        elif value.type == "new_expression" and last[:1].isupper():
            self.types[targets[0]] = last

    def _if(self, node: Node, ctx: Ctx) -> Ctx | None:
        condition = node.child_by_field_name("condition")
        consequence = node.child_by_field_name("consequence")
        alternative = node.child_by_field_name("alternative")
        reads = self.names(condition)
        if condition is not None:
            # ``if (!(await exists(id))) return``: the queried value has no name, yet what the
            # test guards depends on it
            guard = f"<guard:{condition.start_point[0] + 1}>"
            calls_from, ops_from = len(self.calls), len(self.ops)
            self.expr(condition, ctx.plain())
            for i in range(calls_from, len(self.calls)):
                self.calls[i] = replace(self.calls[i], targets=(*self.calls[i].targets, guard))
            for i in range(ops_from, len(self.ops)):
                self.ops[i] = replace(self.ops[i], targets=(*self.ops[i].targets, guard))
            reads = reads | {guard}
        self.branch_ids += 1
        branch_id = self.branch_ids
        first_arm = 0
        tested = self._tested_value(condition) if alternative is None else None
        if tested is not None and consequence is not None and not _exits(consequence):
            # ``if (scope === "links") {...}`` then ``if (scope === "folders") {...}``: one
            # value, two constants: never both, so the arms of one statement
            key = (tested[0], ctx.branch)
            known = self.discriminants.get(key)
            if known is not None and tested[1] not in known[1]:
                branch_id, first_arm = known[0], known[2]
                self.discriminants[key] = (branch_id, known[1] | {tested[1]}, first_arm + 2)
            else:
                self.discriminants[key] = (branch_id, frozenset({tested[1]}), 2)
        arms = [consequence]
        if alternative is not None:
            inner = next((c for c in alternative.named_children), None)
            arms.append(inner)
        test = _condition_text(self.src, condition) if ctx.loops else ""
        if test:
            self.conditions.append((branch_id, first_arm, test))
            self.conditions.append((branch_id, first_arm + 1, _negated(test)))
        one_item = self._one_item_arm(condition, ctx)
        # guards passed inside an arm that goes on (``if (cursorId) { const link = await ...;
        # if (!link) throw ... }``): what follows the ``if`` runs only once they held
        passed: frozenset[str] = frozenset()
        for index, arm in enumerate(arms):
            if arm is None:
                continue
            arm_ctx = ctx.but(
                branch=(*ctx.branch, (branch_id, first_arm + index)),
                control=ctx.control | reads,
                targets=(),
            )
            leaves = _exit_of(arm)
            if leaves == "return":
                self.exiting_arms.append((branch_id, first_arm + index))
            elif leaves == "break":
                self.breaking_arms.append((branch_id, first_arm + index))
            first = self.seq + 1
            if arm.type == "statement_block":
                after = self.block(arm, arm_ctx)
            else:
                after = self.statements([arm], arm_ctx)
            if not leaves:
                passed |= after.control - arm_ctx.control
            if index == 0 and one_item is not None and first <= self.seq:
                self.once_in_loop.append((first, self.seq, one_item))
        if alternative is None and consequence is not None and _exits(consequence):
            # ``if (...) return ...``: what follows is the implicit else arm (as in Python)
            return ctx.but(control=ctx.control | reads, branch=(*ctx.branch, (branch_id, 1)))
        if passed:
            return ctx.but(control=ctx.control | passed)
        return None

    def _rebound(self, targets: tuple[str, ...]) -> None:
        """A name bound anew: tests of its old value no longer exclude tests of the new one."""
        if self.discriminants:
            for key in [k for k in self.discriminants if k[0].split(".", 1)[0] in targets]:
                del self.discriminants[key]

    def _tested_value(self, condition: Node | None) -> tuple[str, str] | None:
        """``x === "a"`` (also as the first test of ``&&``): the name tested, the constant."""
        if condition is None:
            return None
        node = unwrap(condition)
        if node.type != "binary_expression":
            return None
        operator = node.child_by_field_name("operator")
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        op = self.src.text(operator) if operator is not None else ""
        if left is None or right is None:
            return None
        if op == "&&":
            return self._tested_value(left)
        if op not in {"===", "=="}:
            return None
        for name, value in ((unwrap(left), unwrap(right)), (unwrap(right), unwrap(left))):
            if value.type in {"string", "number"} and name.type in {
                "identifier",
                "member_expression",
            }:
                return self.src.text(name), self.src.text(value)
        return None

    def _loop_statement(self, node: Node, ctx: Ctx) -> None:
        kind = node.type
        body = node.child_by_field_name("body")
        if kind == "for_in_statement":
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            is_await = any(not c.is_named and self.src.text(c) == "await" for c in node.children)
            if right is not None:
                self.expr(right, ctx.plain())
            targets = _pattern_names(left, self.src) if left is not None else ()
            loop_kind: LoopKind = "async for" if is_await else "for"
            pattern = _binding_text(left, self.src) if left is not None else ""
            loop_id = self._open_loop(loop_kind, node, right, targets, ctx, pattern)
            inner = ctx.but(loops=(*ctx.loops, loop_id), targets=())
            self.locals.update(targets)
            self.assigns.append(
                Assign(
                    targets,
                    self.names(right),
                    span_of(left or node),
                    self._next(),
                    inner.loops,
                    self.text(right) if right is not None else "",
                    "for-target",
                )
            )
        else:
            initializer = node.child_by_field_name("initializer")
            if initializer is not None:
                self.statement(
                    initializer, ctx
                ) if initializer.type in _DECLARATIONS else self.expr(initializer, ctx)
            condition = node.child_by_field_name("condition")
            loop_kind = "for" if kind == "for_statement" else "while"
            if kind == "for_statement" and (
                condition is None or condition.type == "empty_statement"
            ):
                # ``for (;;)``: runs until a break, as ``while (true)`` does
                loop_kind, condition = "while", None
            counter = self._chunk_counter(node) if kind == "for_statement" else ""
            loop_id = self._open_loop(
                loop_kind, node, condition, (counter,) if counter else (), ctx
            )
            if counter:
                self.loops[loop_id] = replace(self.loops[loop_id], chunked=True)
            inner = ctx.but(
                loops=(*ctx.loops, loop_id), targets=(), control=ctx.control | self.names(condition)
            )
            if condition is not None:
                self.expr(condition, inner)
            increment = node.child_by_field_name("increment")
            if increment is not None:
                self.expr(increment, inner)
        if body is not None:
            loop_body = body
            self._own_body(lambda: self.statements(_body_statements(loop_body), inner), 0)
        self._close_loop(loop_id)

    def _chunk_counter(self, node: Node) -> str:
        """``for (let i = 0; i < ids.length; i += BATCH) { const batch = ids.slice(i, i +
        BATCH); ... }``: the counter of a loop that walks a list one chunk at a time (a step
        other than 1, and the body slicing the list at the counter), "" for any other loop.
        The counter is the loop's item: what the body derives from it is the chunk."""
        increment = node.child_by_field_name("increment")
        body = node.child_by_field_name("body")
        if increment is None or body is None:
            return ""
        increment = unwrap(increment)
        if increment.type != "augmented_assignment_expression":
            return ""
        left = increment.child_by_field_name("left")
        right = increment.child_by_field_name("right")
        operator = increment.child_by_field_name("operator")
        if (
            left is None
            or right is None
            or left.type != "identifier"
            or (operator is not None and self.src.text(operator) != "+=")
            or (unwrap(right).type == "number" and self.src.text(unwrap(right)) in {"1", "2"})
        ):
            return ""
        counter = self.src.text(left)
        for sub in _walk(body):
            if sub.type != "call_expression":
                continue
            function = sub.child_by_field_name("function")
            if function is None or function.type != "member_expression":
                continue
            prop = function.child_by_field_name("property")
            if prop is None or self.src.text(prop) not in {"slice", "subarray"}:
                continue
            first = next(iter(arguments(sub.child_by_field_name("arguments"))), None)
            if first is not None and self.src.text(unwrap(first)) == counter:
                return counter
        return ""

    def _open_loop(
        self,
        kind: LoopKind,
        node: Node,
        iterable: Node | None,
        targets: tuple[str, ...],
        ctx: Ctx,
        pattern: str = "",
    ) -> int:
        loop_id = len(self.loops)
        chunked = False
        constant_size: int | None = None
        iterable_text = ""
        if iterable is not None:
            iterable = unwrap(iterable)
            if iterable.type == "expression_statement" and iterable.named_children:
                iterable = unwrap(iterable.named_children[0])  # ``for (...; i < n; ...)``
            iterable_text = self.text(iterable)
            if iterable.type == "call_expression":
                callee = self.callee_text(iterable.child_by_field_name("function") or iterable)
                chunked = P.CHUNK_FUNCTIONS.search(callee) is not None
            constant_size = self._constant_size(iterable)
            # ``for (let i = 0; i < batches.length; i++)`` / ``for (const b of batches)``
            reads = self.names(iterable)
            if reads & self.chunk_names or any(_CHUNKS_NAME.search(r) for r in reads):
                chunked = True
        if not chunked and any(re.search(r"chunk|batch", t, re.I) for t in targets):
            chunked = True
        self.loops.append(
            Loop(
                id=loop_id,
                kind=kind,
                iterable=iterable_text,
                span=span_of(node),
                parent=ctx.loops[-1] if ctx.loops else None,
                targets=targets,
                reads=self.names(iterable),
                chunked=chunked,
                constant_size=constant_size,
                is_async=kind == "async for",
                branch_depth=len(ctx.branch),
                pattern=pattern,
            )
        )
        for target in targets:
            self.loop_targets[target] = loop_id
        return loop_id

    def _constant_size(self, iterable: Node) -> int | None:
        """How many times a loop over ``iterable`` runs when the code fixes it: a literal
        array (also filtered or sliced), or ``i < 3`` / ``i < MAX_ATTEMPTS`` (retries). The
        rows of a query are never a constant, however small its LIMIT: a page of 10 rows with
        a query per row is the N+1 everyone means."""
        if iterable.type == "array":
            if any(c.type == "spread_element" for c in iterable.named_children):
                return None
            return len(iterable.named_children)
        if iterable.type == "call_expression":
            # ``[a, b, c].filter(...)``: at most as many as the literal holds
            function = iterable.child_by_field_name("function")
            if function is None or function.type != "member_expression":
                return None
            prop = function.child_by_field_name("property")
            receiver = function.child_by_field_name("object")
            if prop is None or receiver is None or self.src.text(prop) not in _SUBSETS:
                return None
            return self._constant_size(unwrap(receiver))
        if iterable.type == "binary_expression":
            operator = iterable.child_by_field_name("operator")
            right = iterable.child_by_field_name("right")
            op = self.src.text(operator) if operator is not None else ""
            left = iterable.child_by_field_name("left")
            if op == "&&" and left is not None and right is not None:
                # ``attempt <= MAX_ATTEMPTS && !assigned``: the loop stops at the first bound
                sizes = [
                    size
                    for side in (left, right)
                    if (size := self._constant_size(unwrap(side))) is not None
                ]
                return min(sizes) if sizes else None
            bound = self._constant_value(unwrap(right)) if right is not None else None
            if bound is not None and op in {"<", "<="}:
                return bound + (op == "<=")
        return None

    def _constant_value(self, node: Node) -> int | None:
        text = self.src.text(node)
        if node.type == "number":
            return int(text) if text.isdigit() else None
        if node.type == "identifier" and text in self.local_constants:
            return self.local_constants[text]
        if node.type == "identifier" and text not in self.locals:
            return self.ctx.constants.get(text)
        if node.type == "ternary_expression":
            values = [
                self._constant_value(unwrap(arm))
                for arm in (
                    node.child_by_field_name("consequence"),
                    node.child_by_field_name("alternative"),
                )
                if arm is not None
            ]
            known = [v for v in values if v is not None]
            return max(known) if len(known) == 2 else None
        return None

    def _close_loop(self, loop_id: int) -> None:
        if loop_id in self.paged_loops:
            # ``while (...) { page = await q.limit(500).offset(n) }``: batches, not one per row
            self.loops[loop_id] = replace(self.loops[loop_id], chunked=True)
        for target in self.loops[loop_id].targets:
            if self.loop_targets.get(target) == loop_id:
                del self.loop_targets[target]

    # -------------------------------------------------------------- expressions

    def expr(self, node: Node, ctx: Ctx) -> None:
        kind = node.type
        if kind == "identifier" or kind == "shorthand_property_identifier":
            name = self.src.data[node.start_byte : node.end_byte].decode("utf-8", "replace")
            self.loads[name] += 1
            if ctx.awaited and name in self.pending and not ctx.in_query:
                # each ``await query`` runs it (in if/else arms: one run per arm)
                self.pending_used.add(name)
                facts, built, _, _ = self.pending[name]
                self._run(node, facts, ctx, built=built)
            return
        # the most frequent kinds first (each branch below tests kinds no other one does)
        if kind == "call_expression":
            if awaited_generic(node) and not ctx.awaited:
                # ``await db.get<Row>(sql`...`)``, read as a call of ``await db.get``
                if not ctx.in_query:
                    self.awaits.append(
                        Await(span_of(node), self._next(), ctx.loops, self.text(node))
                    )
                ctx = ctx.but(awaited=True)
            self._call(node, ctx)
            return
        if kind == "member_expression":
            self._member(node, ctx)
            return
        if kind in _NOTHING_TO_WALK:
            return
        if kind in {
            "parenthesized_expression",
            "as_expression",
            "satisfies_expression",
            "non_null_expression",
            "type_assertion",
        }:
            for child in node.named_children:
                self.expr(child, ctx)
            return
        if kind == "await_expression":
            if not ctx.in_query:
                self.awaits.append(Await(span_of(node), self._next(), ctx.loops, self.text(node)))
            for child in node.named_children:
                self.expr(child, ctx.but(awaited=True))
            return
        if kind == "new_expression":
            self._new(node, ctx)
            return
        if kind == "ternary_expression":
            self._ternary(node, ctx)
            return
        if kind in FUNCTION_TYPES:
            self._inline_function(node, ctx.argument())
            return
        if kind in {"assignment_expression", "augmented_assignment_expression"}:
            self._assignment(node, ctx)
            return
        if kind == "template_string":
            for child in node.named_children:
                if child.type == "template_substitution":
                    for inner in child.named_children:
                        self.expr(inner, ctx.plain())
            return
        if kind in {"binary_expression"}:
            operator = node.child_by_field_name("operator")
            op = self.src.text(operator) if operator is not None else ""
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            if op in {"&&", "||", "??"} and left is not None and right is not None:
                self.expr(left, ctx.plain())
                self.branch_ids += 1
                arm = ctx.but(
                    branch=(*ctx.branch, (self.branch_ids, 0)),
                    control=ctx.control | self.names(left),
                )
                self.expr(right, arm)
                return
        if kind in _JSX:
            # markup: only the ``{expressions}`` in it (and attribute values) can run code
            self._jsx(node, ctx.plain())
            return
        keep_targets = kind in {"array", "object", "spread_element", "pair"}
        if kind == "object" and self._dispatch_table(node, ctx):
            return
        for child in node.named_children:
            if child.type == "pair":
                value = child.child_by_field_name("value")
                key = child.child_by_field_name("key")
                if key is not None and key.type == "computed_property_name":
                    self.expr(key, ctx.plain())
                if value is not None:
                    self.expr(value, ctx.plain() if not keep_targets else ctx)
            else:
                self.expr(child, ctx if keep_targets else ctx.plain())

    def _dispatch_table(self, node: Node, ctx: Ctx) -> bool:
        """``runQuery({ [PRISMA]: () => viaPrisma(), [CLICKHOUSE]: () => viaClickhouse() })``:
        functions that are values of one object are alternatives (a table to pick one from,
        ``onSuccess``/``onError``), so what they run goes in exclusive arms of one branch."""
        pairs = [c for c in node.named_children if c.type == "pair"]
        functions = [
            p
            for p in pairs
            if (value := p.child_by_field_name("value")) is not None
            and unwrap(value).type in FUNCTION_TYPES
        ]
        if len(functions) < 2:
            return False
        self.branch_ids += 1
        branch_id = self.branch_ids
        arm = 0
        for child in node.named_children:
            if child.type != "pair":
                self.expr(child, ctx)
                continue
            key = child.child_by_field_name("key")
            value = child.child_by_field_name("value")
            if key is not None and key.type == "computed_property_name":
                self.expr(key, ctx.plain())
            if value is None:
                continue
            if child in functions:
                self.expr(value, ctx.but(branch=(*ctx.branch, (branch_id, arm))))
                arm += 1
            else:
                self.expr(value, ctx)
        return True

    def _jsx(self, node: Node, ctx: Ctx) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            if current.type == "jsx_expression":
                for child in current.named_children:
                    self.expr(child, ctx)
            elif current.type == "jsx_attribute" and self._event_handler(current):
                continue
            elif current.type in _JSX or current.type == "jsx_attribute":
                stack.extend(reversed(current.named_children))

    def _event_handler(self, attribute: Node) -> bool:
        """``onClick={async () => deleteItem(item.id)}``: React calls the function when the
        event fires, once per click, not while it renders the list the markup is in. It is a
        function of its own (registered), never a statement of the enclosing loop."""
        name = attribute.named_children[0] if attribute.named_children else None
        if name is None or not _EVENT_PROP.match(self.src.text(name)):
            return False
        value = attribute.named_children[-1]
        if value.type != "jsx_expression" or not value.named_children:
            return False
        function = unwrap(value.named_children[0])
        if function.type not in FUNCTION_TYPES:
            return False
        line = attribute.start_point[0] + 1
        self.registered.append((f"{self.src.text(name)}@{line}", function, ()))
        self._closure_reads(function)
        return True

    def _ternary(self, node: Node, ctx: Ctx) -> None:
        condition = node.child_by_field_name("condition")
        reads = self.names(condition)
        if condition is not None:
            # ``if (!(await exists(id))) return``: the queried value has no name, yet what the
            # test guards depends on it
            guard = f"<guard:{condition.start_point[0] + 1}>"
            calls_from, ops_from = len(self.calls), len(self.ops)
            self.expr(condition, ctx.plain())
            for i in range(calls_from, len(self.calls)):
                self.calls[i] = replace(self.calls[i], targets=(*self.calls[i].targets, guard))
            for i in range(ops_from, len(self.ops)):
                self.ops[i] = replace(self.ops[i], targets=(*self.ops[i].targets, guard))
            reads = reads | {guard}
        self.branch_ids += 1
        branch_id = self.branch_ids
        for index, field_name in enumerate(("consequence", "alternative")):
            arm = node.child_by_field_name(field_name)
            if arm is not None:
                self.expr(
                    arm,
                    ctx.but(branch=(*ctx.branch, (branch_id, index)), control=ctx.control | reads),
                )

    def _member(self, node: Node, ctx: Ctx) -> None:
        obj = node.child_by_field_name("object")
        prop = node.child_by_field_name("property")
        if obj is None:
            return
        base = unwrap(obj)
        if base.type == "identifier" and prop is not None and not ctx.in_query:
            data = self.src.data
            owner = data[base.start_byte : base.end_byte].decode("utf-8", "replace")
            attr = data[prop.start_byte : prop.end_byte].decode("utf-8", "replace")
            if attr == "length":
                # ``rows.length`` is Python's ``len(rows)``: the rules look for that call
                self.calls.append(
                    Call(
                        callee="len",
                        span=span_of(node),
                        seq=self._next(),
                        args=(owner,),
                        loops=ctx.loops,
                        reads=frozenset({owner}),
                        targets=ctx.targets,
                        control_reads=ctx.control,
                        branch=ctx.branch,
                    )
                )
            elif owner in self.loop_targets:
                parent = node.parent
                called = ""
                if parent is not None and parent.type == "member_expression":
                    grand = parent.parent
                    if grand is not None and grand.type == "call_expression":
                        method = parent.child_by_field_name("property")
                        called = self.src.text(method) if method is not None else ""
                elif parent is not None and parent.type == "call_expression":
                    called = "()"
                self.attrs.append(
                    AttrAccess(
                        owner, attr, span_of(node), self._next(), ctx.loops, called, self.text(node)
                    )
                )
        self.expr(obj, ctx.plain())
        if prop is None:
            for child in node.named_children[1:]:
                self.expr(child, ctx.plain())

    def _assignment(self, node: Node, ctx: Ctx) -> None:
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        if left is None or right is None:
            return
        left_inner = unwrap(left)
        if left_inner.type in {"identifier", "array_pattern", "object_pattern"}:
            targets = _pattern_names(left_inner, self.src)
            self._rebound(targets)
            for target in targets:
                self.condition_arrays.pop(target, None)
        else:
            targets = (
                (self.callee_text(left_inner),) if left_inner.type == "member_expression" else ()
            )
            self.expr(left_inner, ctx.plain())
        self.expr(right, ctx.but(targets=targets))
        if left_inner.type == "identifier":
            self._bind_types(targets, unwrap(right))
        kind = "augassign" if node.type == "augmented_assignment_expression" else "assign"
        reads = self.names(right)
        if kind == "augassign":
            reads |= frozenset(t for t in targets if "." not in t)
        self.assigns.append(
            Assign(targets, reads, span_of(node), self._next(), ctx.loops, self.text(right), kind)
        )

    def _inline_function(self, node: Node, ctx: Ctx) -> None:
        """A callback walked where it is passed (transaction bodies, wrappers, handlers)."""
        for param in _parameters(node):
            self.locals.update(_param_names(param, self.src)[0])
        body = node.child_by_field_name("body")
        if body is None:
            return
        if body.type == "statement_block":
            function_body = body
            self._own_body(lambda: self.block(function_body, ctx), len(ctx.loops))
        else:
            self.expr(body, ctx)

    def _callback_params(self, node: Node) -> tuple[str, ...]:
        names: list[str] = []
        for param in _parameters(node):
            names.extend(_param_names(param, self.src)[0])
        return tuple(names)

    def _new(self, node: Node, ctx: Ctx) -> None:
        constructor = node.child_by_field_name("constructor")
        args = arguments(node.child_by_field_name("arguments"))
        name = self.callee_text(constructor) if constructor is not None else ""
        last = name.rsplit(".", 1)[-1]
        if last in P.ENGINE_APIS and ctx.loops == () and self.qualname != "<module>":
            self.module._engine(node, name, P.ENGINE_APIS[last], self.qualname, ctx.targets)
        for arg in args:
            self.expr(arg, ctx.plain())
        # ``return new Promise((resolve) => conn.exec(cmd, ...))`` awaits a callback API (a
        # process, a socket, a timer): kept as an awaited call no function of the tree answers,
        # so a helper that does it is not taken for one that only reads rows
        wraps_callbacks = name == "Promise" and ctx.awaited
        if (
            ctx.in_query
            or not name
            or (name.split(".")[0] in P.GLOBAL_OBJECTS and not wraps_callbacks)
        ):
            return
        self.calls.append(
            Call(
                callee=name,
                span=span_of(node),
                seq=self._next(),
                args=tuple(self.text(a) for a in args[:4]) if ctx.loops else (),
                awaited=ctx.awaited,
                loops=ctx.loops,
                reads=self.names(node),
                targets=ctx.targets,
                control_reads=ctx.control,
                branch=ctx.branch,
                in_gather=ctx.in_gather,
            )
        )

    def _call(self, node: Node, ctx: Ctx) -> None:
        function = call_function(node)
        args = arguments(node.child_by_field_name("arguments"))
        if function is None:
            return
        function = unwrap(function)
        if ctx.in_query:
            self.expr(function, ctx)
            for arg in args:
                self.expr(arg, ctx)
            return
        callee = self.callee_text(function)
        last = callee.rsplit(".", 1)[-1]
        if callee in P.CONCURRENT_APIS:
            self._gather(node, callee, args, ctx)
            return
        if self.pending:
            base = callee.split(".", 1)[0]
            if base in self.pending:
                continued = extend(self.pending[base][0], node, self.src)
                if continued is not None:
                    started = self.pending[base][1]
                    self.pending_used.add(base)
                    self._db_op(node, continued, ctx)
                    for name in ctx.targets:  # ``q = q.limit(n)``: still the builder of ``q``
                        kept = self.pending.get(name)
                        if kept is not None and kept[1] is node:
                            self.pending[name] = (kept[0], started, kept[2], kept[3])
                    return
        is_member = function.type == "member_expression"
        if is_member and last in P.PATTERN_MATCH_METHODS and node.id not in self.match_links:
            self._pattern_match_arms(node)
        # ``last`` is the method's name: most calls end with one no query chain ends with
        facts = (
            recognise(node, self.src, self.handle_of)
            if not is_member or last in P.CHAIN_METHODS
            else None
        )
        if facts is not None:
            self._db_op(node, facts, ctx)
            return
        aliased = self.through_members(callee)
        if last in P.TRANSACTION_METHODS and (is_member or aliased != callee):
            # ``prisma.$transaction(async (tx) => ...)``, or ``transaction(...)`` after
            # ``const { transaction } = prisma``
            receiver_text = aliased.rsplit(".", 1)[0] if "." in aliased else ""
            library = self.handle_of(receiver_text) if receiver_text else ""
            if library:
                for arg in args:
                    inner = unwrap(arg)
                    if inner.type in FUNCTION_TYPES:
                        for param in self._callback_params(inner)[:1]:
                            self.handles[param] = library
                            # the handle is bound to a transaction opened here, as ``with
                            # session.begin() as tx`` binds it in Python
                            self.assigns.append(
                                Assign(
                                    (param,),
                                    self.names(function),
                                    span_of(node),
                                    self._next(),
                                    ctx.loops,
                                    f"{aliased}(...)",
                                    "with-target",
                                )
                            )
                        self._inline_function(inner, ctx.argument())
                    else:
                        self.expr(arg, ctx.but(targets=(), in_gather=False))
                return
        if is_member and last in P.LOOP_METHODS:
            callback = next((a for a in args if unwrap(a).type in FUNCTION_TYPES), None)
            if callback is not None:
                self._iteration(node, function, P.LOOP_METHODS[last], unwrap(callback), args, ctx)
                return
            named = unwrap(args[0]) if args else None
            if named is not None and self._names_a_function(named):
                name = self.callee_text(named)
                if name.split(".", 1)[0] not in P.GLOBAL_OBJECTS and "<expr>" not in name:
                    self._named_callback_loop(
                        node, function, P.LOOP_METHODS[last], named, name, ctx
                    )
                    return
        if callee in P.LOOP_FUNCTIONS and len(args) >= 2:
            callback = next((unwrap(a) for a in args[1:] if unwrap(a).type in FUNCTION_TYPES), None)
            if callback is not None:
                self.expr(args[0], ctx.plain())
                concurrent = P.LOOP_FUNCTIONS[callee]
                loop_ctx = ctx.but(in_gather=True) if concurrent else ctx
                self._callback_loop(node, args[0], callback, "comprehension", loop_ctx)
                return
        registrar = (
            last in P.CALLBACK_REGISTRARS
            or callee in P.CALLBACK_REGISTRARS
            or P.REGISTRAR_NAME.match(last) is not None
        )
        calls_from, ops_from = len(self.calls), len(self.ops)
        # the called expression itself (``foo().bar()`` runs ``foo()`` first)
        if is_member:
            self._member(function, ctx)
        else:
            self.expr(function, ctx.plain())
        arg_ctx = ctx.argument()
        for arg in args:
            if registrar and unwrap(arg).type in FUNCTION_TYPES:
                self._register(node, callee, args, unwrap(arg))
                continue
            arm = self.match_arms.get(unwrap(arg).id) if self.match_arms else None
            self.expr(arg, arg_ctx if arm is None else arg_ctx.but(branch=(*ctx.branch, arm)))
        if last == "push" and is_member and "." in callee:
            # ``jobs.push(load(item))``: the promise is kept for later
            self._collect_promises(callee.rsplit(".", 1)[0], calls_from, ops_from)
        grown = self._grown(callee, last, is_member, args)
        if grown:
            # ``emails.push(...partner.users.map(...))``: what is pushed flows into ``emails``
            reads = frozenset().union(*(self.names(a) for a in args))
            self.assigns.append(
                Assign(
                    (grown,),
                    reads,
                    span_of(node),
                    self._next(),
                    ctx.loops,
                    self.text(node),
                    "append",
                )
            )
        if not self._worth_recording(function, callee, last):
            return
        deferred = callee in P.DEFERRED_CALLS or (is_member and last in P.DEFERRED_METHODS)
        receiver_type = ""
        if is_member:
            receiver_name = callee.rsplit(".", 1)[0]
            receiver_type = self.types.get(receiver_name, "")
            if (
                receiver_name.startswith("self.")
                and receiver_name.count(".") == 1
                and not receiver_type
            ):
                receiver_type = self.ctx.class_attribute_types.get(self.class_name, {}).get(
                    receiver_name[5:], ""
                )
        self.calls.append(
            Call(
                callee=aliased,
                span=span_of(node),
                seq=self._next(),
                # kept for every call: two calls with no arguments kept would look alike
                args=tuple(self.text(a) for a in args[:4]),
                awaited=ctx.awaited,
                loops=ctx.loops,
                reads=self.names(node),
                targets=ctx.targets,
                control_reads=ctx.control,
                branch=ctx.branch,
                in_gather=ctx.in_gather,
                deferred=deferred,
                receiver_type=receiver_type,
            )
        )

    def _pattern_match_arms(self, node: Node) -> None:
        """``match(kind).with("a", async () => ...).otherwise(async () => ...)``: one handler
        runs, the first whose pattern matches, so each handler is an arm of one branch (as the
        functions of a dispatch table are); patterns and guards are tested in turn, outside."""
        links: list[tuple[Node, str]] = []  # (call, method), the outermost first
        current = node
        while True:
            function = current.child_by_field_name("function")
            if function is None:
                return
            function = unwrap(function)
            if function.type == "identifier":
                name = self.src.text(function)
                imported = self.ctx.imported.get(name)
                if imported != P.PATTERN_MATCH_MODULE and (imported or name != "match"):
                    return
                break
            prop = function.child_by_field_name("property")
            obj = function.child_by_field_name("object")
            if (
                function.type != "member_expression"
                or prop is None
                or obj is None
                or self.src.text(prop) not in P.PATTERN_MATCH_METHODS
                or unwrap(obj).type != "call_expression"
            ):
                return
            links.append((current, self.src.text(prop)))
            current = unwrap(obj)
        self.branch_ids += 1
        arm = 0
        for link, method in reversed(links):  # evaluation order: the first ``.with`` first
            self.match_links.add(link.id)
            if method not in P.PATTERN_MATCH_ARMS:
                continue
            handlers = [
                unwrap(a)
                for a in arguments(link.child_by_field_name("arguments"))
                if unwrap(a).type in FUNCTION_TYPES
            ]
            if handlers:
                self.match_arms[handlers[-1].id] = (self.branch_ids, arm)
                arm += 1

    def _grown(self, callee: str, last: str, is_member: bool, args: tuple[Node, ...]) -> str:
        """The local a call adds to in place (``xs.push(x)``, ``Object.assign(o, x)``)."""
        if callee == "Object.assign" and args and unwrap(args[0]).type == "identifier":
            return self.src.text(unwrap(args[0]))
        if not is_member or last not in _GROWS or not args:
            return ""
        root = callee.split(".", 1)[0]
        if "(" in root or root in P.GLOBAL_OBJECTS or root not in self.locals:
            return ""
        return root

    def _register(self, node: Node, callee: str, args: tuple[Node, ...], callback: Node) -> None:
        """``test("creates a user", async () => ...)`` / ``app.get("/users", handler)``:
        the callback runs later, once per test or request, not here; it is a function of its
        own, named after what registered it (a route registration keeps the method as its
        decorator, so the analysis knows it serves requests)."""
        title = next((a for a in args if a.type in {"string", "template_string"}), None)
        described = _unquote(self.src.text(title))[:60] if title is not None else ""
        line = node.start_point[0] + 1
        label = f"{callee}({described})@{line}" if described else f"{callee}@{line}"
        decorators = (callee,) if callee.rsplit(".", 1)[-1] in P.ROUTE_METHODS else ()
        self.registered.append((label, callback, decorators))
        self._closure_reads(callback)

    def _closure_reads(self, function: Node) -> None:
        """A function walked on its own still reads this one's names when it runs
        (``after(() => dispatch(ids))``): they are used, not only counted here."""
        for name in self.names(function):
            self.loads[name] += 1

    def _worth_recording(self, function: Node, callee: str, last: str) -> bool:
        if "<expr>" in callee or not callee:
            return False
        root = callee.split(".", 1)[0].split("(", 1)[0]
        if root in P.GLOBAL_OBJECTS or callee in P.GLOBAL_OBJECTS:
            return False
        if function.type == "member_expression" and last in P.COLLECTION_METHODS:
            # ``rows.push(x)`` yes, ``RendersDAL.get(id)`` / ``self.cache.get`` stay calls
            return (
                root[:1].isupper()  # a class or a namespace object: ``Users.get(id)``
                or root in self.ctx.imported
                or root in self.ctx.class_names
                or root in {"self", "cls"}
            )
        return True

    def _iteration(
        self,
        node: Node,
        function: Node,
        kind: str,
        callback: Node,
        args: tuple[Node, ...],
        ctx: Ctx,
    ) -> None:
        receiver = function.child_by_field_name("object")
        if receiver is not None:
            self.expr(receiver, ctx.argument())
        for arg in args:
            if unwrap(arg) is not callback and arg != callback:
                self.expr(arg, ctx.plain())
        if receiver is not None and function.child_by_field_name("property") is not None:
            prop = self.src.text(function.child_by_field_name("property"))  # type: ignore[arg-type]
            if prop == "push":
                return
        self._callback_loop(node, receiver, callback, kind, ctx)

    def _names_a_function(self, node: Node) -> bool:
        """``ids.map(loadUser)`` passes a function; ``repo.find(id)`` passes a value."""
        if node.type == "member_expression":
            root = self.callee_text(node).split(".", 1)[0]
            return root in self.ctx.imported or root in self.ctx.class_names
        if node.type != "identifier":
            return False
        name = self.src.text(node)
        if any(name == nested for nested, _ in self.nested):
            return True
        if name in self.locals:
            return False
        return name in self.ctx.imported or name in self.ctx.function_names

    def _named_callback_loop(
        self, node: Node, function: Node, kind: str, callback: Node, name: str, ctx: Ctx
    ) -> None:
        """``ids.map(loadUser)``: ``loadUser`` is called once per item."""
        receiver = function.child_by_field_name("object")
        if receiver is not None:
            self.expr(receiver, ctx.argument())
        loop_kind: LoopKind = "comprehension" if kind == "comprehension" else "for"
        loop_id = self._open_loop(loop_kind, node, receiver, (), ctx)
        loops = (*ctx.loops, loop_id)
        self.expr(callback, ctx.plain())
        self.calls.append(
            Call(
                callee=name,
                span=span_of(callback),
                seq=self._next(),
                args=(),
                awaited=ctx.in_gather,
                loops=loops,
                reads=self.names(receiver),
                control_reads=ctx.control,
                branch=ctx.branch,
                in_gather=ctx.in_gather,
            )
        )
        self._close_loop(loop_id)

    def _callback_loop(
        self, node: Node, iterable: Node | None, callback: Node, kind: str, ctx: Ctx
    ) -> None:
        params = self._callback_params(callback)
        # reduce((acc, item) => ...): the item is the second parameter
        function = node.child_by_field_name("function")
        method = ""
        if function is not None and unwrap(function).type == "member_expression":
            prop = unwrap(function).child_by_field_name("property")
            method = self.src.text(prop) if prop is not None else ""
        position = 1 if method in {"reduce", "reduceRight"} else 0
        declared = _parameters(callback)
        item = declared[position] if len(declared) > position else None
        # every name the item's parameter binds (``({ id, name }) =>`` binds two), as written
        targets = _param_names(item, self.src)[0] if item is not None else ()
        pattern = _binding_text(item, self.src) if item is not None else ""
        loop_kind: LoopKind = "comprehension" if kind == "comprehension" else "for"
        loop_id = self._open_loop(loop_kind, node, iterable, targets, ctx, pattern)
        self.callback_loops.add(loop_id)
        inner = ctx.but(loops=(*ctx.loops, loop_id), targets=(), awaited=False)
        if method == "forEach" and _is_async(callback, self.src):
            # forEach never waits for an async callback: every item's queries start at once
            inner = inner.but(in_gather=True)
        self.locals.update(params)
        self.assigns.append(
            Assign(
                targets,
                self.names(iterable),
                span_of(callback),
                self._next(),
                inner.loops,
                self.text(iterable) if iterable is not None else "",
                "for-target",
            )
        )
        body = callback.child_by_field_name("body")
        if body is not None:
            if body.type == "statement_block":
                callback_body = body
                self._own_body(lambda: self.block(callback_body, inner), len(inner.loops))
            else:
                # ``items.map((p) => db.select()...)``: the promise is the callback's result;
                # an async arrow's body is awaited by whoever awaits the promise
                self.expr(body, inner.but(awaited=ctx.in_gather or _is_async(callback, self.src)))
        self._close_loop(loop_id)

    def _collect_promises(self, name: str, calls_from: int, ops_from: int) -> None:
        calls = [i for i in range(calls_from, len(self.calls)) if not self.calls[i].awaited]
        ops = [i for i in range(ops_from, len(self.ops)) if not self.ops[i].awaited]
        if calls or ops:
            known_calls, known_ops = self.promises.setdefault(name, ([], []))
            known_calls.extend(calls)
            known_ops.extend(ops)

    def _gathered(self, name: str) -> None:
        """``await Promise.all(jobs)``: what ``jobs`` collected ran concurrently and awaited."""
        calls, ops = self.promises.pop(name, ([], []))
        for index in calls:
            self.calls[index] = replace(self.calls[index], in_gather=True, awaited=True)
        for index in ops:
            self.ops[index] = replace(self.ops[index], in_gather=True, awaited=True)

    def _gather(self, node: Node, callee: str, args: tuple[Node, ...], ctx: Ctx) -> None:
        first = unwrap(args[0]) if args else None
        arity = len(first.named_children) if first is not None and first.type == "array" else 0
        self.gathers.append(Gather(callee, span_of(node), self._next(), arity, ctx.loops))
        inner = ctx.but(in_gather=True, awaited=True, targets=())
        if first is not None and first.type == "array":
            targets = ctx.targets if len(ctx.targets) == arity else ()
            for index, element in enumerate(first.named_children):
                element_targets = (targets[index],) if targets else ()
                self.expr(element, inner.but(targets=element_targets))
        for arg in args[1:] if first is not None and first.type == "array" else args:
            self.expr(arg, inner)
        collected = [first] if first is not None else []
        if first is not None and first.type == "array":
            collected = [
                c.named_children[0] if c.type == "spread_element" and c.named_children else c
                for c in first.named_children
            ]
        for item in collected:
            if item.type == "identifier":
                self._gathered(self.src.text(item))

    def _db_op(self, node: Node, facts: Facts, ctx: Ctx) -> None:
        # the statement's own arguments (values, conditions, subqueries) are part of it
        query_ctx = ctx.but(in_query=True, targets=())
        function = node.child_by_field_name("function")
        if function is not None:
            self.expr(function, query_ctx)
        for arg in arguments(node.child_by_field_name("arguments")):
            if unwrap(arg).type not in FUNCTION_TYPES:
                self.expr(arg, query_ctx)
        if not facts.runs:
            if len(ctx.targets) == 1:
                self.subqueries[ctx.targets[0]] = facts
            return
        self._run(node, facts, ctx)

    def _run(
        self,
        node: Node,
        facts: Facts,
        ctx: Ctx,
        seq: int | None = None,
        built: Node | None = None,
    ) -> None:
        """Record the round trip ``facts`` describes, or keep a builder bound to a name.

        ``const query = db.select()...$dynamic()`` does not run yet (Drizzle and Knex
        builders run when awaited); ``query = query.limit(n)`` adds to it and ``await query``
        runs it, so the one round trip carries everything the builder was given.
        """
        if (
            not ctx.awaited
            and seq is None
            and len(ctx.targets) == 1
            and ctx.targets[0] != RETURN
            and facts.library in {"drizzle", "knex"}
        ):
            self.pending[ctx.targets[0]] = (facts, node, ctx, self._next())
            self.pending_used.discard(ctx.targets[0])
            return
        if facts.paged and ctx.loops:
            self.paged_loops.add(ctx.loops[-1])
        for table in list(facts.tables):
            inner = self.subqueries.get(table)
            if inner is not None:
                facts.tables = [*inner.tables, *(t for t in facts.tables if t != table)]
                facts.filters.extend(inner.filters)
                facts.joins.extend(inner.joins)
                facts.aggregate.extend(inner.aggregate)
                facts.batched |= inner.batched
                facts.window |= inner.window
                facts.group_by |= inner.group_by
        spread = [
            element
            for part in facts.where
            if part.startswith("...")
            for element in self.condition_arrays.get(part[3:], ())
        ]
        if spread:
            spread_conditions(spread, self.src, facts)
        tables = tuple(self.ctx.aliases.get(t, t) for t in facts.tables)
        joins = tuple(self.ctx.aliases.get(t, t) for t in facts.joins)
        self.ops.append(
            DbOp(
                library=facts.library,
                kind=facts.kind,
                api=facts.api,
                receiver=re.sub(r"^this\.", f"{self.this_name}.", facts.receiver),
                span=span_of(node),
                seq=seq if seq is not None else self._next(),
                tables=tables,
                columns=tuple(dict.fromkeys(facts.columns)),
                filters=tuple(facts.filters),
                where=tuple(facts.where),
                order_by=tuple(facts.order_by),
                has_limit=facts.has_limit,
                batched=facts.batched,
                single_key=facts.single_key,
                aggregate=tuple(dict.fromkeys(facts.aggregate)),
                group_by=facts.group_by,
                window=facts.window,
                joins=joins,
                eager_loads=tuple(dict.fromkeys(facts.eager_loads)),
                awaited=ctx.awaited,
                loops=ctx.loops,
                reads=self.names(node),
                targets=ctx.targets,
                control_reads=ctx.control,
                branch=ctx.branch,
                in_gather=ctx.in_gather,
                result_shape=facts.result_shape,
                sql=facts.sql,
                text=self.text(built if built is not None else node),
                first_row_only=facts.first_row_only,
            )
        )
        for callback in facts.callbacks:
            callback_node = unwrap(callback)
            if callback_node.type in FUNCTION_TYPES:
                self._inline_function(callback_node, ctx.argument())


# ------------------------------------------------------------------------ node helpers


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] in "'\"`" and text[-1] == text[0]:
        return text[1:-1]
    return text


def _walk(node: Node) -> list[Node]:
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(current.named_children))
    return out


def _has_directive(statements: list[Node], src: Source, directive: str) -> bool:
    for node in statements[:3]:
        if node.type == "expression_statement" and node.named_children:
            inner = node.named_children[0]
            if inner.type == "string" and _unquote(src.text(inner)) == directive:
                return True
    return False


def _wrapped_function(call: Node) -> Node | None:
    """The one function passed to a wrapper call (``withAuth(async () => ...)``), if any."""
    args = call.child_by_field_name("arguments")
    if args is None:
        return None
    functions = [unwrap(a) for a in args.named_children if unwrap(a).type in FUNCTION_TYPES]
    if len(functions) == 1:
        return functions[0]
    for arg in args.named_children:  # withA(withB(async () => ...))
        inner = unwrap(arg)
        if inner.type == "call_expression":
            return _wrapped_function(inner)
    return None


def _contains_call(node: Node) -> bool:
    return any(n.type in {"call_expression", "await_expression"} for n in _walk(node))


def _is_setup_call(node: Node, src: Source) -> bool:
    """``drizzle(pool)``, ``new Pool({...})``, ``pgTable(...)``, ``alias(...)``: not a query."""
    name = _constructor_name(node, src).rsplit(".", 1)[-1]
    return bool(name) and (
        name in P.HANDLE_FACTORIES
        or name
        in {
            "pgTable",
            "mysqlTable",
            "sqliteTable",
            "relations",
            "alias",
            "require",
            "pgEnum",
            "pgSchema",
            "cache",
            "createSelectSchema",
            "createInsertSchema",
        }
        or name[:1].isupper()
    )


def _constructor_name(node: Node, src: Source) -> str:
    """``X`` for ``new X(...)`` and ``x.y`` for ``x.y(...)``; "" otherwise."""
    node = unwrap(node)
    if node.type == "new_expression":
        constructor = node.child_by_field_name("constructor")
        return src.text(constructor) if constructor is not None else ""
    if node.type == "call_expression":
        function = node.child_by_field_name("function")
        if function is not None and unwrap(function).type in {"identifier", "member_expression"}:
            return src.text(unwrap(function))
    return ""


def _parameters(node: Node) -> list[Node]:
    params = node.child_by_field_name("parameters")
    if params is not None:
        return list(params.named_children)
    single = node.child_by_field_name("parameter")
    return [single] if single is not None else []


def _param_names(param: Node, src: Source) -> tuple[tuple[str, ...], str]:
    if param.type in {"required_parameter", "optional_parameter"}:
        pattern = param.child_by_field_name("pattern")
        annotation = param.child_by_field_name("type")
        names = _pattern_names(pattern, src) if pattern is not None else ()
        type_text = src.text(annotation).lstrip(":").strip() if annotation is not None else ""
        return names, type_text
    return _pattern_names(param, src), ""


def _condition_array(value: Node) -> bool:
    """``[eq(t.a, x), isNull(t.b)]``: an array literal of calls only, conditions maybe."""
    return (
        value.type == "array"
        and bool(value.named_children)
        and all(unwrap(c).type == "call_expression" for c in value.named_children)
    )


def _first_element(pattern: Node) -> bool:
    """``const [row] = ...``: one name for the first element, nothing after it."""
    return (
        pattern.type == "array_pattern"
        and len(pattern.named_children) == 1
        and pattern.named_children[0].type == "identifier"
    )


def _param_position(param: Node, src: Source) -> str | tuple[tuple[str, str], ...]:
    """A parameter as ``Function.param_positions`` records it: its name, or the (property,
    name) pairs of an object pattern (``{ id, name: label = "", ...rest }``: ("id", "id"),
    ("name", "label"); a rest takes no one property), () for any other pattern."""
    node = param.child_by_field_name("pattern") if param.type.endswith("_parameter") else param
    if node is not None and node.type == "assignment_pattern":
        node = node.child_by_field_name("left")
    if node is None:
        return ()
    if node.type == "identifier":
        return src.text(node)
    if node.type != "object_pattern":
        return ()
    pairs: list[tuple[str, str]] = []
    for child in node.named_children:
        if child.type == "shorthand_property_identifier_pattern":
            pairs.append((src.text(child), src.text(child)))
        elif child.type == "object_assignment_pattern":  # ``{ limit = 10 }``
            left = child.child_by_field_name("left")
            if left is not None and left.type == "shorthand_property_identifier_pattern":
                pairs.append((src.text(left), src.text(left)))
        elif child.type == "pair_pattern":
            key = child.child_by_field_name("key")
            value = child.child_by_field_name("value")
            if value is not None and value.type == "assignment_pattern":
                value = value.child_by_field_name("left")
            if key is not None and value is not None and value.type == "identifier":
                pairs.append((src.text(key).strip("'\""), src.text(value)))
    return tuple(pairs)


def _binding_text(node: Node, src: Source) -> str:
    """A loop variable's binding as written (``{ id, name: label }``, ``[key, value]``), on
    one line, without its type annotation or a default of the whole parameter, so that it
    reads the same as a ``for (const ... of ...)`` target and as a callback's parameter."""
    if node.type in {"required_parameter", "optional_parameter"}:
        inner = node.child_by_field_name("pattern")
        if inner is None:
            return ""
        node = inner
    if node.type == "assignment_pattern":
        left = node.child_by_field_name("left")
        if left is None:
            return ""
        node = left
    if node.type not in {"identifier", "object_pattern", "array_pattern"}:
        return ""
    return re.sub(r"\s+", " ", src.text(node))


def _pattern_names(node: Node, src: Source) -> tuple[str, ...]:
    kind = node.type
    if kind in {"identifier", "shorthand_property_identifier_pattern"}:
        return (src.text(node),)
    if kind in {"array_pattern", "object_pattern"}:
        out: list[str] = []
        for child in node.named_children:
            if child.type == "pair_pattern":
                value = child.child_by_field_name("value")
                if value is not None:
                    out.extend(_pattern_names(value, src))
            else:
                out.extend(_pattern_names(child, src))
        return tuple(out)
    if kind in {"assignment_pattern", "object_assignment_pattern"}:
        left = node.child_by_field_name("left")
        return _pattern_names(left, src) if left is not None else ()
    if kind == "rest_pattern":
        return tuple(n for c in node.named_children for n in _pattern_names(c, src))
    if kind in {"required_parameter", "optional_parameter"}:
        return _param_names(node, src)[0]
    return ()


def _pattern_pairs(node: Node, src: Source) -> list[tuple[str, str]]:
    """``{ a, b: c }`` -> [("a", "a"), ("c", "b")] as (local, imported)."""
    out: list[tuple[str, str]] = []
    for child in node.named_children:
        if child.type == "shorthand_property_identifier_pattern":
            out.append((src.text(child), src.text(child)))
        elif child.type == "pair_pattern":
            key = child.child_by_field_name("key")
            value = child.child_by_field_name("value")
            if key is not None and value is not None and value.type == "identifier":
                out.append((src.text(value), src.text(key)))
    return out


def _type_name(annotation: Node, src: Source) -> str:
    found = re.findall(r"[A-Za-z_$][\w$]*", src.text(annotation))
    found = [f for f in found if f not in {"readonly", "typeof", "Promise", "Array"}]
    return found[0] if found else ""


def _decorator_name(node: Node, src: Source) -> str:
    text = src.text(node).lstrip("@")
    return text.split("(", 1)[0].strip()


def _preceding_decorators(member: Node, src: Source) -> tuple[str, ...]:
    found: list[str] = []
    sibling = member.prev_named_sibling
    while sibling is not None and sibling.type == "decorator":
        found.append(_decorator_name(sibling, src))
        sibling = sibling.prev_named_sibling
    return tuple(reversed(found))


def _exits(node: Node) -> bool:
    if node.type in {
        "return_statement",
        "throw_statement",
        "continue_statement",
        "break_statement",
    }:
        return True
    if node.type == "statement_block":
        children = [c for c in node.named_children if c.type != "comment"]
        return bool(children) and _exits(children[-1])
    if node.type == "expression_statement" and node.named_children:
        # ``notFound()`` / ``redirect("/login")`` throw in Next.js: the guard ends the function
        call = unwrap(node.named_children[0])
        if call.type == "call_expression":
            function = call.child_by_field_name("function")
            if function is not None and function.type == "identifier":
                return function.text is not None and function.text.decode() in P.EXIT_CALLS
    return False


_LOOPS = frozenset({"for_statement", "for_in_statement", "while_statement", "do_statement"})
_OWN_SCOPE = _LOOPS | FUNCTION_TYPES | {"class_declaration", "class", "method_definition"}


def _exit_of(node: Node) -> LoopExit | None:
    """How ``node`` leaves the loop around it on every path through it, if it does."""
    kind = node.type
    if kind in {"return_statement", "throw_statement"}:
        return "return"
    if kind == "break_statement":
        return "break"
    if kind == "expression_statement":
        return "return" if _exits(node) else None  # ``notFound()``, ``redirect(...)`` throw
    if kind == "statement_block":
        return _exit_through(node.named_children, None)
    if kind == "if_statement":
        consequence = node.child_by_field_name("consequence")
        alternative = node.child_by_field_name("alternative")
        other = next(iter(alternative.named_children), None) if alternative is not None else None
        if consequence is None or other is None:
            return None
        return weaker_exit(_exit_of(consequence), _exit_of(other))
    if kind == "try_statement":
        body = node.child_by_field_name("body")
        handler = node.child_by_field_name("handler")
        finalizer = node.child_by_field_name("finalizer")
        final_body = finalizer.child_by_field_name("body") if finalizer is not None else None
        if final_body is not None and _exit_of(final_body) is not None:
            return _exit_of(final_body)
        found = _exit_of(body) if body is not None else None
        handler_body = handler.child_by_field_name("body") if handler is not None else None
        if handler_body is not None:
            found = weaker_exit(found, _exit_of(handler_body))
        return found
    return None


def _exit_through(children: list[Node], after: LoopExit | None) -> LoopExit | None:
    for child in children:
        kind = _exit_of(child)
        if kind is not None:
            return kind
        if _may_continue(child):
            return None
    return after


def _may_continue(node: Node) -> bool:
    """A ``continue`` of the loop around ``node`` somewhere inside it (a labelled one even
    from a nested loop: ``continue outer``)."""
    stack = [(node, False)]
    while stack:
        current, nested = stack.pop()
        if current.type == "continue_statement":
            if not nested or current.named_children:
                return True
            continue
        for child in current.named_children:
            if child.type in FUNCTION_TYPES or child.type in {"class_declaration", "class"}:
                continue
            stack.append((child, nested or child.type in _LOOPS))
    return False


def exits_after_each(
    children: list[Node], after: LoopExit | None
) -> list[tuple[LoopExit | None, bool]]:
    """For each statement: how the loop is left once it has run, if it always is, and whether
    it may ``continue`` itself (as ``exits_after_each`` of the Python frontend)."""
    found: list[tuple[LoopExit | None, bool]] = [(None, False)] * len(children)
    for index in range(len(children) - 1, -1, -1):
        child = children[index]
        kind = _exit_of(child)
        may_continue = kind is None and _may_continue(child)
        own: LoopExit | None = (
            "return" if child.type in {"return_statement", "throw_statement"} else None
        )
        found[index] = (own or after, may_continue)
        if kind is not None:
            after = kind
        elif may_continue:
            after = None
    return found


def _body_statements(body: Node) -> list[Node]:
    return list(body.named_children) if body.type == "statement_block" else [body]


def _item_key(node: Node, src: Source) -> tuple[str, Node] | None:
    """``row.slug`` -> ("slug", row); ``row["name"]`` -> ("name", row)."""
    if node.type == "member_expression":
        prop = node.child_by_field_name("property")
        obj = node.child_by_field_name("object")
        if prop is not None and obj is not None:
            return src.text(prop), unwrap(obj)
    if node.type == "subscript_expression":
        index = node.child_by_field_name("index")
        obj = node.child_by_field_name("object")
        if index is not None and obj is not None and index.type == "string":
            return src.text(index).strip("'\"`"), unwrap(obj)
    return None


def _is_async(node: Node, src: Source) -> bool:
    return any(not c.is_named and src.text(c) == "async" for c in node.children)
