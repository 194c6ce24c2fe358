"""Where an import specifier points: relative paths, ``index`` files and ``tsconfig.json`` aliases.

The call graph joins modules by ``Import.module``, a dotted name matched against the dotted
form of each module's path. ``resolve_specifier`` finds the imported file (its path in the
same form as ``ModuleModel.path``: relative stays relative) and ``module_key`` turns it into
that dotted name, so ``import { RendersDAL } from "@/lib/dal/renders"`` in
``app/lib/services/chains.ts`` becomes ``Import("RendersDAL", "app.lib.dal.renders",
"RendersDAL")`` and ``"@/lib/dal"`` (an ``index.ts``) becomes ``app.lib.dal``. A package import
(``drizzle-orm``) keeps its bare specifier. When no file exists for a relative or aliased
specifier the best guess without extension is kept, so a model built from text alone (tests,
the hypothesis run) is still stable.

Resolution follows TypeScript's ``moduleResolution: bundler`` rules closely enough for
application code: try the path as written, then with each source extension, then as a folder
with an ``index`` file; a ``.js`` written in an import may stand for a ``.ts`` source.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

SOURCE_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_JS_TO_TS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}

Exists = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class TsConfig:
    """The parts of a ``tsconfig.json`` that decide where an import goes."""

    directory: str  # absolute folder of the tsconfig.json
    base_url: str  # absolute; the folder ``paths`` entries are relative to
    paths: tuple[tuple[str, tuple[str, ...]], ...] = ()  # ("@/*", ("./src/*",))


def is_relative(specifier: str) -> bool:
    return specifier.startswith(("./", "../")) or specifier in {".", ".."}


def strip_json_comments(text: str) -> str:
    """tsconfig.json is JSONC: drop ``//`` and ``/* */`` comments and trailing commas."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(ch)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def parse_tsconfig(directory: str, text: str, parent: TsConfig | None = None) -> TsConfig:
    """Read ``baseUrl`` and ``paths`` (``extends`` is applied by the caller through ``parent``)."""
    try:
        data = json.loads(strip_json_comments(text))
    except ValueError:
        data = {}
    options = data.get("compilerOptions") if isinstance(data, dict) else None
    if not isinstance(options, dict):
        options = {}
    base = options.get("baseUrl")
    if isinstance(base, str):
        base_url = os.path.normpath(os.path.join(directory, base))
    elif parent is not None:
        base_url = parent.base_url
    else:
        base_url = directory
    raw_paths = options.get("paths")
    if isinstance(raw_paths, dict):
        paths = tuple(
            (str(pattern), tuple(str(t) for t in targets if isinstance(t, str)))
            for pattern, targets in raw_paths.items()
            if isinstance(targets, list)
        )
    else:
        paths = parent.paths if parent is not None else ()
    return TsConfig(directory=directory, base_url=base_url, paths=paths)


@lru_cache(maxsize=256)
def load_tsconfig(directory: str) -> TsConfig | None:
    """The nearest ``tsconfig.json`` (or ``jsconfig.json``) at or above an absolute folder."""
    current = directory
    while True:
        for name in ("tsconfig.json", "jsconfig.json"):
            candidate = os.path.join(current, name)
            if os.path.isfile(candidate):
                return _read_tsconfig(candidate, depth=0)
        parent = os.path.dirname(current)
        if parent == current or os.path.basename(current) == "node_modules":
            return None
        current = parent


@lru_cache(maxsize=64)
def _read_tsconfig(path: str, depth: int) -> TsConfig | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(1_000_000)
    except OSError:
        return None
    directory = os.path.dirname(path)
    parent = None
    extends = re.search(r'"extends"\s*:\s*"([^"]+)"', text)
    if extends and depth < 5 and is_relative(extends.group(1)):
        target = os.path.normpath(os.path.join(directory, extends.group(1)))
        if not target.endswith(".json"):
            target += ".json"
        parent = _read_tsconfig(target, depth + 1) if os.path.isfile(target) else None
    return parse_tsconfig(directory, text, parent)


def alias_targets(specifier: str, config: TsConfig) -> tuple[str, ...]:
    """Absolute candidate bases for a specifier through ``paths`` (longest prefix first)."""
    matches: list[tuple[int, str]] = []
    for pattern, targets in config.paths:
        if "*" in pattern:
            prefix, _, suffix = pattern.partition("*")
            if specifier.startswith(prefix) and specifier.endswith(suffix):
                rest = specifier[len(prefix) : len(specifier) - len(suffix)]
                for target in targets:
                    matches.append((len(prefix), target.replace("*", rest, 1)))
        elif pattern == specifier:
            for target in targets:
                matches.append((len(pattern) + 1, target))
    matches.sort(key=lambda m: -m[0])
    return tuple(os.path.normpath(os.path.join(config.base_url, t)) for _, t in matches)


def file_candidates(base: str) -> tuple[str, ...]:
    """The files an import of ``base`` may mean, in the order TypeScript tries them."""
    found = [base]
    stem, ext = os.path.splitext(base)
    if ext in _JS_TO_TS:
        found.extend(stem + alt for alt in _JS_TO_TS[ext])
    found.extend(base + e for e in SOURCE_EXTENSIONS)
    found.extend(os.path.join(base, "index" + e) for e in SOURCE_EXTENSIONS)
    return tuple(found)


def first_existing(base: str, exists: Exists) -> str | None:
    for candidate in file_candidates(base):
        if candidate.endswith(".d.ts"):
            continue
        if os.path.splitext(candidate)[1] in SOURCE_EXTENSIONS and exists(candidate):
            return candidate
    return None


def resolve_specifier(
    importer: str,
    specifier: str,
    *,
    config: TsConfig | None = None,
    exists: Exists = os.path.isfile,
) -> str:
    """The module key of ``specifier`` imported from the file ``importer`` (see module doc)."""
    absolute_importer = os.path.abspath(importer)
    bases: tuple[str, ...]
    if is_relative(specifier):
        bases = (os.path.normpath(os.path.join(os.path.dirname(absolute_importer), specifier)),)
    elif config is not None and (targets := alias_targets(specifier, config)):
        bases = targets
    elif (
        config is not None and config.base_url != config.directory and not specifier.startswith("@")
    ):
        # ``baseUrl`` alone makes ``lib/dal/renders`` importable from anywhere
        bases = (os.path.normpath(os.path.join(config.base_url, specifier)),)
        if first_existing(bases[0], exists) is None:
            return specifier
    else:
        return specifier
    for base in bases:
        hit = first_existing(base, exists)
        if hit is not None:
            return _display_form(importer, hit)
    stem, ext = os.path.splitext(bases[0])
    return _display_form(importer, stem if ext in SOURCE_EXTENSIONS else bases[0])


def _display_form(importer: str, absolute: str) -> str:
    if os.path.isabs(importer):
        return absolute.replace(os.sep, "/")
    relative = os.path.relpath(absolute)
    return posixpath.normpath(relative.replace(os.sep, "/"))


def module_parts(path: str) -> tuple[str, ...]:
    """``lib/dal/renders.ts`` -> ("lib", "dal", "renders"); ``lib/dal/index.ts`` -> ("lib", "dal").

    The TypeScript counterpart of the call graph's ``module_dotted`` for Python files: the
    extension goes, and an ``index`` file stands for its folder as ``__init__.py`` does.
    """
    normalized = path.replace("\\", "/")
    for extension in SOURCE_EXTENSIONS:
        if normalized.endswith(extension):
            normalized = normalized[: -len(extension)]
            break
    parts = [p for p in normalized.split("/") if p not in {"", "."}]
    if parts and parts[-1] == "index":
        parts.pop()
    # ``users.service.ts`` / ``projects.actions.ts``: the key is dotted, so a dot inside a name
    # separates parts too (the call graph has to read the file's path the same way)
    return tuple(q for p in parts for q in p.split(".") if q)


def module_key(path: str) -> str:
    """The ``Import.module`` other files use for the file at ``path``: its dotted parts."""
    return ".".join(module_parts(path))


def tsconfig_for(importer: str) -> TsConfig | None:
    return load_tsconfig(os.path.dirname(os.path.abspath(importer)))
