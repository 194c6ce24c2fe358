from dbaudit.frontends.python import patterns as P


def test_every_method_pattern_is_indexed() -> None:
    for pattern in P.METHOD_PATTERNS:
        assert pattern in P.PATTERNS_BY_METHOD[pattern.method]


def test_asyncpg_methods_on_connection_and_pool() -> None:
    for method in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
        roles = {p.role for p in P.PATTERNS_BY_METHOD[method]}
        assert "pool" in roles or (method == "execute" and "connection" in roles)


def test_receiver_names_map_to_roles() -> None:
    def role(name: str) -> str | None:
        return next((r for rx, r in P.RECEIVER_NAME_ROLES if rx.match(name)), None)

    assert role("session") == "session"
    assert role("db_session") == "session"
    assert role("conn") == "connection"
    assert role("cur") == "cursor"
    assert role("read_pool") == "pool"
    assert role("response") is None
    assert role("dictionary") is None


def test_chunk_functions() -> None:
    assert P.CHUNK_FUNCTIONS.search("chunked")
    assert P.CHUNK_FUNCTIONS.search("itertools.batched")
    assert P.CHUNK_FUNCTIONS.search("more_itertools.chunked")
    assert not P.CHUNK_FUNCTIONS.search("enumerate")
