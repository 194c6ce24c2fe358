"""Which TypeScript/JavaScript calls reach a database: a table of API patterns per library
(Drizzle, Prisma, Knex, TypeORM, node-postgres / mysql2 / postgres.js).

As on the Python side, rules never decide what a database call is; this table does. A call
chain is read from its root outwards (``db.select().from(t).where(...)``): the root must be a
receiver that plays a database role (by its name, ``db``/``tx``/``prisma``/``pool``..., or
because the module bound it to ``drizzle(...)``, ``new PrismaClient()``, ``new Pool()``,
``knex(...)``), and the first step must be one of the library's entry methods listed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dbaudit.model import DbOpKind


@dataclass(frozen=True, slots=True)
class Entry:
    """What a method means when it starts (or ends) a query chain."""

    kind: DbOpKind
    result_shape: str = "rows"
    single_key: bool = False
    batched: bool = False
    has_limit: bool = False


# Drizzle: ``db.<method>(...)`` starts a statement builder that runs when awaited.
DRIZZLE_ENTRIES: dict[str, Entry] = {
    "select": Entry("select"),
    "selectDistinct": Entry("select"),
    "selectDistinctOn": Entry("select"),
    "insert": Entry("insert", ""),
    "update": Entry("update", ""),
    "delete": Entry("delete", ""),
    "execute": Entry("raw"),
    "run": Entry("raw"),
    "all": Entry("raw"),
    "get": Entry("raw", "row"),
    "$count": Entry("count", "count"),
}
# ``db.query.<table>.<method>(...)``: the relational query API.
DRIZZLE_QUERY_METHODS: dict[str, Entry] = {
    "findMany": Entry("select"),
    "findFirst": Entry("select", "row", has_limit=True),
}
DRIZZLE_JOINS = frozenset(
    {
        "leftJoin",
        "rightJoin",
        "innerJoin",
        "fullJoin",
        "join",
        "crossJoin",
        "leftJoinLateral",
        "innerJoinLateral",
        "crossJoinLateral",
    }
)
# Builder steps after which the chain is not run here: a subquery, a prepared statement, SQL text.
DRIZZLE_NOT_RUN = frozenset({"as", "toSQL", "getSQL", "prepare", "getQuery"})
# Condition helpers of drizzle-orm -> Filter.op
DRIZZLE_OPERATORS: dict[str, str] = {
    "eq": "==",
    "ne": "!=",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "inArray": "in",
    "notInArray": "not in",
    "isNull": "is",
    "isNotNull": "is not",
    "like": "like",
    "ilike": "like",
    "notLike": "not like",
    "notIlike": "not like",
    "between": "between",
    "arrayContains": "any",
    "arrayOverlaps": "any",
}
DRIZZLE_CONNECTIVES = frozenset({"and", "or", "not"})
# Steps that continue a builder kept in a variable (``query = query.where(...)``).
DRIZZLE_BUILDER_STEPS = frozenset(
    {
        "where",
        "limit",
        "offset",
        "orderBy",
        "groupBy",
        "having",
        "$dynamic",
        "returning",
        "onConflictDoNothing",
        "onConflictDoUpdate",
        "onDuplicateKeyUpdate",
        "for",
        "then",
        "catch",
        "finally",
        "execute",
        *DRIZZLE_JOINS,
        *DRIZZLE_NOT_RUN,
    }
)
AGGREGATE_HELPERS: dict[str, str] = {
    "count": "count",
    "countDistinct": "count",
    "sum": "sum",
    "sumDistinct": "sum",
    "avg": "avg",
    "avgDistinct": "avg",
    "min": "min",
    "max": "max",
}

# Prisma: ``prisma.<model>.<method>(args)``.
PRISMA_METHODS: dict[str, Entry] = {
    "findUnique": Entry("select", "row", single_key=True, has_limit=True),
    "findUniqueOrThrow": Entry("select", "row", single_key=True, has_limit=True),
    "findFirst": Entry("select", "row", has_limit=True),
    "findFirstOrThrow": Entry("select", "row", has_limit=True),
    "findMany": Entry("select"),
    "create": Entry("insert", "row"),
    "createMany": Entry("insert", "", batched=True),
    "createManyAndReturn": Entry("insert", "rows", batched=True),
    "update": Entry("update", "row", single_key=True),
    "updateMany": Entry("update", "", batched=True),
    "updateManyAndReturn": Entry("update", "rows", batched=True),
    "upsert": Entry("insert", "row", single_key=True),
    "delete": Entry("delete", "row", single_key=True),
    "deleteMany": Entry("delete", "", batched=True),
    "count": Entry("count", "count"),
    "aggregate": Entry("select", "scalar"),
    "groupBy": Entry("select", "rows"),
}
PRISMA_RAW: dict[str, Entry] = {
    "$queryRaw": Entry("raw"),
    "$queryRawUnsafe": Entry("raw"),
    "$executeRaw": Entry("raw", ""),
    "$executeRawUnsafe": Entry("raw", ""),
}
# Client methods that hand back a client (``prisma.$replica().user.findMany()``, the
# read-replicas extension): read through, as if the chain started after them.
PRISMA_CLIENT_STEPS = frozenset({"$replica", "$primary"})
# Methods only a Prisma client has: a name they are called on is a Prisma client in that file.
PRISMA_ONLY_CALL = re.compile(
    rb"\b([A-Za-z_]\w*)\s*\.\s*\$(?:queryRaw|queryRawUnsafe|queryRawTyped|executeRaw|"
    rb"executeRawUnsafe|transaction|extends|replica|primary)\b"
)
PRISMA_EAGER_KEYS = frozenset({"include"})
TRANSACTION_METHODS = frozenset({"transaction", "$transaction"})

# Knex: ``knex('t')....`` or ``knex.select(...).from('t')``; the chain runs when awaited.
KNEX_STEPS: dict[str, Entry] = {
    "select": Entry("select"),
    "first": Entry("select", "row", has_limit=True),
    "pluck": Entry("select"),
    "insert": Entry("insert", ""),
    "update": Entry("update", ""),
    "del": Entry("delete", ""),
    "delete": Entry("delete", ""),
    "count": Entry("count", "count"),
    "countDistinct": Entry("count", "count"),
    "sum": Entry("select", "scalar"),
    "avg": Entry("select", "scalar"),
    "min": Entry("select", "scalar"),
    "max": Entry("select", "scalar"),
    "increment": Entry("update", ""),
    "decrement": Entry("update", ""),
    "truncate": Entry("delete", ""),
    "upsert": Entry("insert", ""),
    "raw": Entry("raw"),
}
KNEX_BUILDER_STEPS = frozenset(
    {
        "where",
        "andWhere",
        "orWhere",
        "whereIn",
        "whereNot",
        "whereNull",
        "whereNotNull",
        "orderBy",
        "groupBy",
        "limit",
        "offset",
        "first",
        "select",
        "join",
        "leftJoin",
        "then",
        "catch",
        "finally",
    }
)
KNEX_ENTRY_METHODS = frozenset({"select", "from", "table", "insert", "raw", "with", "into"})
KNEX_WHERE: dict[str, str] = {
    "where": "==",
    "andWhere": "==",
    "orWhere": "==",
    "whereNot": "!=",
    "whereIn": "in",
    "orWhereIn": "in",
    "whereNotIn": "not in",
    "whereNull": "is",
    "whereNotNull": "is not",
    "whereBetween": "between",
    "whereLike": "like",
    "whereILike": "like",
}

# TypeORM: ``repository.<method>(options)`` / ``manager.<method>(Entity, options)``.
# ``create``/``merge`` only build entities in memory: not listed.
TYPEORM_METHODS: dict[str, Entry] = {
    "find": Entry("select"),
    "findBy": Entry("select"),
    "findAndCount": Entry("select"),
    "findAndCountBy": Entry("select"),
    "findOne": Entry("select", "row", has_limit=True),
    "findOneBy": Entry("select", "row", has_limit=True),
    "findOneOrFail": Entry("select", "row", has_limit=True),
    "findOneByOrFail": Entry("select", "row", has_limit=True),
    "findByIds": Entry("select", batched=True),
    "count": Entry("count", "count"),
    "countBy": Entry("count", "count"),
    "exists": Entry("count", "scalar"),
    "existsBy": Entry("count", "scalar"),
    "sum": Entry("select", "scalar"),
    "average": Entry("select", "scalar"),
    "preload": Entry("select", "row"),
    "save": Entry("insert", "row"),
    "insert": Entry("insert", ""),
    "upsert": Entry("insert", ""),
    "update": Entry("update", ""),
    "delete": Entry("delete", ""),
    "remove": Entry("delete", ""),
    "softDelete": Entry("update", ""),
    "softRemove": Entry("update", ""),
    "restore": Entry("update", ""),
    "increment": Entry("update", ""),
    "decrement": Entry("update", ""),
    "query": Entry("raw"),
}
TYPEORM_TERMINALS: dict[str, Entry] = {
    "getMany": Entry("select"),
    "getOne": Entry("select", "row"),
    "getOneOrFail": Entry("select", "row"),
    "getRawMany": Entry("select"),
    "getRawOne": Entry("select", "row"),
    "getManyAndCount": Entry("select"),
    "getCount": Entry("count", "count"),
    "getExists": Entry("count", "scalar"),
    "execute": Entry("raw", ""),
    "stream": Entry("stream"),
}
TYPEORM_RECEIVER = re.compile(
    r"^(?:\w*Repository|\w*Repo|repository|repo|manager|entityManager|em|\w*Manager)$"
)

# Supabase (PostgREST over HTTP, one round trip per awaited chain): ``supabase.from("t")...``.
SUPABASE_RECEIVER = re.compile(r"^(?:supabase\w*|\w*Supabase\w*|sb)$")
SUPABASE_KINDS: dict[str, DbOpKind] = {
    "select": "select",
    "insert": "insert",
    "upsert": "insert",
    "update": "update",
    "delete": "delete",
}
SUPABASE_FILTERS: dict[str, str] = {
    "eq": "==",
    "neq": "!=",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "in": "in",
    "is": "is",
    "like": "like",
    "ilike": "like",
    "contains": "any",
    "match": "==",
}

# node-postgres / mysql2 / postgres.js: ``<pool|client>.query(sql, params)``.
SQL_METHODS: dict[str, Entry] = {
    "query": Entry("raw"),
    "execute": Entry("raw"),
    "unsafe": Entry("raw"),
}

# Receivers that play a database role by name: the last segment of ``this.db``, ``ctx.prisma``.
DB_RECEIVER_NAME = re.compile(
    r"^(?:\w*_)?(?:db|database|tx|trx|transaction|drizzle|orm|prisma|prismaClient|knex|pool|"
    r"client|pgClient|dbClient|conn|connection|pg|\w+Db|\w+DB|\w+Pool|\w+Prisma)$"
)
# A module named like this (``@/lib/prisma``, ``./db``) default-exports a database handle, so
# ``import client from "@/lib/prisma"`` is one whatever the importer calls it.
HANDLE_MODULE = re.compile(r"^(?:prisma|prismadb|prisma[-_]?client|db|database)$", re.I)
KNEX_NAMES = re.compile(r"^(?:knex|db|trx|k|qb|\w+Knex)$")
# ``x = <factory>(...)`` / ``new <Class>(...)`` at module level: x is a database handle.
HANDLE_FACTORIES: dict[str, str] = {
    "drizzle": "drizzle",
    "PrismaClient": "prisma",
    "Pool": "pg",
    "Client": "pg",
    "knex": "knex",
    "Knex": "knex",
    "postgres": "postgres",
    "createPool": "mysql2",
    "createConnection": "mysql2",
    "neon": "neon",
}
# Calls creating a pool or client whose settings DBA201 reviews.
ENGINE_APIS: dict[str, str] = {
    "Pool": "pg",
    "Client": "pg",
    "PrismaClient": "prisma",
    "postgres": "postgres",
    "knex": "knex",
    "createPool": "mysql2",
    "drizzle": "drizzle",
}

# Iteration: ``items.<method>(callback)`` runs the callback once per item.
LOOP_METHODS: dict[str, str] = {
    "forEach": "for",
    "reduce": "for",
    "reduceRight": "for",
    "map": "comprehension",
    "flatMap": "comprehension",
    "filter": "comprehension",
    "some": "comprehension",
    "every": "comprehension",
    "find": "comprehension",
    "findIndex": "comprehension",
}
# ``f(items, callback)`` runs the callback once per item: True when the calls overlap
# (p-map, Bluebird, async.map), False when one waits for the other (Array.from, *Series).
LOOP_FUNCTIONS: dict[str, bool] = {
    "Array.from": False,
    "pMap": True,
    "pMapSeries": False,
    "pAll": True,
    "Bluebird.map": True,
    "Bluebird.each": False,
    "Bluebird.mapSeries": False,
    "async.map": True,
    "async.each": True,
    "async.mapLimit": True,
    "async.eachLimit": True,
    "async.eachSeries": False,
    "async.mapSeries": False,
}
# ts-pattern: ``match(x).with(p, handler).otherwise(handler).exhaustive()`` runs the handler
# of the first arm that matches, so the handlers are exclusive arms of one branch (``with``
# takes patterns and guards before its handler, ``when`` a predicate, ``otherwise`` only it).
PATTERN_MATCH_MODULE = "ts-pattern"
PATTERN_MATCH_ARMS = frozenset({"with", "when", "otherwise"})
PATTERN_MATCH_METHODS = PATTERN_MATCH_ARMS | {"exhaustive", "run", "returnType", "narrow"}
CONCURRENT_APIS = frozenset({"Promise.all", "Promise.allSettled", "Promise.any", "Promise.race"})
# Work queued elsewhere: no query runs in this function's time.
DEFERRED_CALLS = frozenset(
    {"setTimeout", "setImmediate", "queueMicrotask", "after", "waitUntil", "process.nextTick"}
)
DEFERRED_METHODS = frozenset({"enqueue", "waitUntil", "sendMessage", "publish", "emit"})
# Calls that keep a callback to run later (per test, per request, per event): the callback is
# a function of its own, not code that runs where it is registered.
ROUTE_METHODS = frozenset({"get", "post", "put", "patch", "delete", "all", "head", "options"})
CALLBACK_REGISTRARS = frozenset(
    {
        "test",
        "it",
        "describe",
        "suite",
        "beforeEach",
        "afterEach",
        "beforeAll",
        "afterAll",
        "test.each",
        "it.each",
        "test.only",
        "it.only",
        "test.skip",
        "describe.only",
        "describe.each",
        "describe.serial",
        "test.describe",
        "test.step",
        *ROUTE_METHODS,
        "use",
        "route",
        "on",
        "once",
        "addEventListener",
        "subscribe",
        "setTimeout",
        "setInterval",
        "setImmediate",
        "queueMicrotask",
        "nextTick",
        # deferred work (Next.js ``after``, Vercel/Workers ``waitUntil``) and Mocha's hooks:
        # the callback runs once the response is sent, not in this function's sequence
        "after",
        "unstable_after",
        "waitUntil",
        "before",
        # an MCP server's tools, resources and prompts: each handler runs on its own request
        "tool",
        "resource",
        "prompt",
    }
)
# ``registerTool(...)``, ``registerScopedTool(server, name, ..., handler)``,
# ``registerWebhookHandler(...)``: a function handed to a register* call runs when what it
# was registered for happens, not in the registering function's sequence
REGISTRAR_NAME = re.compile(r"^register[A-Z]\w*$")
# Calls that never return (Next.js navigation helpers throw; process.exit ends the process).
EXIT_CALLS = frozenset({"notFound", "redirect", "permanentRedirect", "forbidden", "unauthorized"})
CHUNK_FUNCTIONS = re.compile(
    r"(?:^|[._])(chunk|chunks|chunked|batch|batches|batched|paginate|pages|splitEvery)$", re.I
)

# Globals and collection methods that never reach a database (kept out of ``Function.calls``).
GLOBAL_OBJECTS = frozenset(
    {
        "console",
        "JSON",
        "Math",
        "Object",
        "Array",
        "Number",
        "String",
        "Boolean",
        "Date",
        "Promise",
        "Reflect",
        "Symbol",
        "BigInt",
        "Error",
        "TypeError",
        "RangeError",
        "Map",
        "Set",
        "WeakMap",
        "WeakSet",
        "process",
        "Buffer",
        "Intl",
        "URL",
        "URLSearchParams",
        "crypto",
        "parseInt",
        "parseFloat",
        "isNaN",
        "isFinite",
        "encodeURIComponent",
        "decodeURIComponent",
        "structuredClone",
        "require",
        "String.raw",
        "fetch",
    }
)
COLLECTION_METHODS = frozenset(
    {
        "push",
        "pop",
        "shift",
        "unshift",
        "slice",
        "splice",
        "concat",
        "join",
        "split",
        "includes",
        "indexOf",
        "lastIndexOf",
        "sort",
        "reverse",
        "flat",
        "keys",
        "values",
        "entries",
        "has",
        "add",
        "set",
        "get",
        "toString",
        "toISOString",
        "toJSON",
        "trim",
        "startsWith",
        "endsWith",
        "replace",
        "replaceAll",
        "toLowerCase",
        "toUpperCase",
        "getTime",
        "padStart",
        "padEnd",
        "charAt",
        "substring",
        "at",
        "fill",
        "then",
        "catch",
        "finally",
        "match",
        "test",
        "toFixed",
        "localeCompare",
        "clear",
        "bind",
        "call",
        "apply",
        "valueOf",
        "log",
        "warn",
        "error",
        "info",
        "debug",
    }
)

# Tokens whose absence means a file cannot reach a database, by itself or through a helper:
# plain substrings first (each a fast scan in C), then the short names that need word bounds.
PRECHECK_TOKENS: tuple[str, ...] = (
    "await",
    ".then(",
    "Promise.all",
    "drizzle",
    "prisma",
    "Prisma",
    "knex",
    "postgres",
    ".query",
    ".execute(",
    "pgTable",
    "findMany",
    "findFirst",
    "findUnique",
    "DAL",
    "Dal",
    "Repository",
    "repository",
)
PRECHECK_WORDS = re.compile(r"\b(?:pg|db|tx)\b")
# A line longer than this, or an average line longer than MINIFIED_AVERAGE, means a bundle.
MINIFIED_LINE = 5000
MINIFIED_AVERAGE = 300

# Every method a recognised query chain can end with: a cheap first test before reading a chain.
CHAIN_METHODS = frozenset(
    {
        *DRIZZLE_ENTRIES,
        *DRIZZLE_QUERY_METHODS,
        *DRIZZLE_BUILDER_STEPS,
        "from",
        "set",
        "values",
        "with",
        *PRISMA_METHODS,
        *PRISMA_RAW,
        *KNEX_STEPS,
        *KNEX_WHERE,
        *KNEX_BUILDER_STEPS,
        *KNEX_ENTRY_METHODS,
        *SQL_METHODS,
        *TYPEORM_METHODS,
        *TYPEORM_TERMINALS,
        *SUPABASE_KINDS,
        *SUPABASE_FILTERS,
        "single",
        "maybeSingle",
        "order",
        "range",
        "rpc",
    }
)
