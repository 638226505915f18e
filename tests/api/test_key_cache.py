"""Verified API keys are cached for a few seconds; revocation still takes effect."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from adapters.container import Container
from core.auth.cache import KEY_CACHE_TTL_SECONDS, KeyCache
from core.auth.models import ApiKey
from core.auth.service import create_key, hash_key
from tests.helpers import Api


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _key(name: str) -> ApiKey:
    return ApiKey(name=name, role="agent", prefix="tl_x", key_hash=hash_key(name))


def test_cache_expires_and_invalidates() -> None:
    clock = FakeClock()
    cache = KeyCache(ttl=5, clock=clock)
    key = _key("a")
    assert cache.get(key.key_hash) is None
    cache.put(key)
    assert cache.get(key.key_hash) is key
    clock.now += 4.9
    assert cache.get(key.key_hash) is key
    clock.now += 0.1
    assert cache.get(key.key_hash) is None
    cache.put(key)
    cache.invalidate(key.key_hash)
    assert cache.get(key.key_hash) is None
    cache.put(key)
    cache.invalidate()
    assert cache.get(key.key_hash) is None


def test_cache_disabled_and_bounded() -> None:
    off = KeyCache(ttl=0)
    off.put(_key("a"))
    assert off.get(hash_key("a")) is None
    small = KeyCache(ttl=5, max_entries=3)
    for name in "abcdef":
        small.put(_key(name))
        assert small.get(hash_key(name)) is not None
    assert len(small._entries) <= 3


def _revoke(container: Container, token: str) -> None:
    with container.session() as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.key_hash == hash_key(token))
            .values(revoked_at=datetime.now(UTC))
        )
        session.commit()


def test_revoked_key_stops_working_within_the_ttl(api: Api, container: Container) -> None:
    assert KEY_CACHE_TTL_SECONDS <= 10
    clock = FakeClock()
    cache = KeyCache(clock=clock)
    api.client.app.state.key_cache = cache  # type: ignore[attr-defined]
    token = api.keys["agent"]
    assert api.get("/readyz", role="agent").status_code == 200
    _revoke(container, token)
    # Still trusted from the cache for at most the TTL ...
    assert api.get("/readyz", role="agent").status_code == 200
    clock.now += KEY_CACHE_TTL_SECONDS
    # ... then the database says no.
    resp = api.get("/readyz", role="agent")
    assert resp.status_code == 401 and "revoked" in resp.json()["error"]["message"]
    # Revoked keys are never cached.
    assert cache.get(hash_key(token)) is None


def test_invalidate_refuses_a_revoked_key_at_once(api: Api, container: Container) -> None:
    token = api.keys["knowledge_manager"]
    assert api.get("/readyz", role="knowledge_manager").status_code == 200
    _revoke(container, token)
    api.client.app.state.key_cache.invalidate(hash_key(token))  # type: ignore[attr-defined]
    assert api.get("/readyz", role="knowledge_manager").status_code == 401


def test_unknown_token_is_not_cached(api: Api, container: Container) -> None:
    headers = {"Authorization": "Bearer tl_not_yet"}
    assert api.client.get("/readyz", headers=headers).status_code == 401
    with container.session() as session:
        _, token = create_key(session, "agent", "late", container.clock.now())
        session.commit()
    assert (
        api.client.get("/readyz", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )
    assert api.client.get("/readyz", headers=headers).status_code == 401
