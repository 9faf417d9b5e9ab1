"""Pages: who was paged for which alert occurrence, and which rule steps were delivered.

A step is delivered at most once (its done-mark is SET NX) and sent by one
worker at a time (a short sending lock). Attempts are counted so that owed
sends back off; nothing here decides what is sent.
"""

from __future__ import annotations

import json
import time

import redis

from bot.domain.paging import Page
from bot.store import keys

PAGE_TTL = 14 * 86400
SENDING_LOCK_SECONDS = 60


def create(r: redis.Redis, page: Page) -> bool:
    """Store a new page; False when this person was already paged for this occurrence."""
    with r.pipeline() as pipe:
        pipe.set(keys.page(page.page_id), json.dumps(page.to_dict()), nx=True, ex=PAGE_TTL)
        pipe.sadd(keys.pages_of(page.group_key, page.occurrence), page.page_id)
        pipe.expire(keys.pages_of(page.group_key, page.occurrence), PAGE_TTL)
        created, _, _ = pipe.execute()
    return bool(created)


def get(r: redis.Redis, page_id: str) -> Page | None:
    raw = r.get(keys.page(page_id))
    return None if raw is None else Page.from_dict(json.loads(raw))


def of_occurrence(r: redis.Redis, group_key: str, occurrence: int) -> list[Page]:
    ids = sorted(i.decode() for i in r.smembers(keys.pages_of(group_key, occurrence)))
    pages = [get(r, i) for i in ids]
    return [p for p in pages if p is not None]


def start_sending(r: redis.Redis, page_id: str, step: int) -> bool:
    """True when the step is not done yet and this caller may send it now."""
    if r.exists(keys.page_step_done(page_id, step)):
        return False
    return bool(r.set(keys.page_sending(page_id, step), b"1", nx=True, ex=SENDING_LOCK_SECONDS))


def finish_sending(r: redis.Redis, page_id: str, step: int, *, done: bool) -> int:
    """Release the step; mark it done (delivered or failed for good) or count one more attempt."""
    with r.pipeline() as pipe:
        if done:
            pipe.set(keys.page_step_done(page_id, step), b"1", ex=PAGE_TTL)
            pipe.zrem(keys.pages_owed(), f"{page_id}:{step}")
        else:
            pipe.incr(keys.page_attempts(page_id, step))
            pipe.expire(keys.page_attempts(page_id, step), PAGE_TTL)
            pipe.zadd(keys.pages_owed(), {f"{page_id}:{step}": time.time()})
        pipe.delete(keys.page_sending(page_id, step))
        results = pipe.execute()
    return 0 if done else int(results[0])


def no_longer_owed(r: redis.Redis, page_id: str, step: int) -> None:
    """The alert was answered (or re-opened) while the step was retried: stop counting it."""
    r.zrem(keys.pages_owed(), f"{page_id}:{step}")


def owed_pages(r: redis.Redis) -> list[Page]:
    """Pages with a step tried and not yet accepted by its provider (nor failed for good), once
    each; whether their alert still waits is for the caller to see."""
    r.zremrangebyscore(keys.pages_owed(), "-inf", time.time() - PAGE_TTL)
    ids = sorted({m.decode().rpartition(":")[0] for m in r.zrange(keys.pages_owed(), 0, -1)})
    if not ids:
        return []
    raws = r.mget([keys.page(i) for i in ids])
    return [Page.from_dict(json.loads(raw)) for raw in raws if raw is not None]


def is_done(r: redis.Redis, page_id: str, step: int) -> bool:
    return bool(r.exists(keys.page_step_done(page_id, step)))


def first_use_of_callback(r: redis.Redis, signature_digest: str, ttl_seconds: int = 86400) -> bool:
    """True the first time a signed callback is seen; a replay answers False."""
    return bool(r.set(keys.twilio_callback_seen(signature_digest), b"1", nx=True, ex=ttl_seconds))


def first_delivery(r: redis.Redis, page_id: str) -> bool:
    """True for the first step of a page that reached the person (for the history)."""
    return bool(r.set(keys.once("page-delivered", page_id), b"1", nx=True, ex=PAGE_TTL))


def claim_named(r: redis.Redis, page_id: str) -> bool:
    """True for the first to name the paged person as reached in the alert's thread."""
    return bool(r.set(keys.once("page-named", page_id), b"1", nx=True, ex=PAGE_TTL))


def delivered(r: redis.Redis, page_id: str) -> bool:
    """Has any step of the page reached the person yet?"""
    return bool(r.exists(keys.once("page-delivered", page_id)))


def count_sent_page(r: redis.Redis, sender: str, hour_slot: int) -> int:
    """Count one page sent from Slack by `sender` in this hour; returns the count so far."""
    key = keys.pages_sent_by(sender, hour_slot)
    with r.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, 7200)
        count, _ = pipe.execute()
    return int(count)
