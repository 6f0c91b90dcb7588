"""Jobs and the keys' daily quotas: an analyze job's texts are charged when the job is accepted, an
ingest job's reviews as they are stored (only new reviews: duplicates cost nothing).

Counting is the API's :class:`~opinara.access.limits.KeyLimiter` (in process, or in Redis when set),
so a key's requests and its jobs draw on one quota. Calls block (Redis): call them from a thread."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from opinara.access.keys import Caller
from opinara.access.limits import Decision, KeyLimiter
from opinara.access.usage import UsageRecorder
from opinara.errors import RateLimited
from opinara.observability.metrics import RATE_LIMITED
from opinara.store.db import Store
from opinara.store.models import ApiKey


class QuotaUsedUp(RateLimited):
    """An ingest job stopped because its key's daily quota ran out; ``stored`` reviews were kept."""

    def __init__(self, quota: int, stored: int) -> None:
        super().__init__(
            f"the key's daily quota of {quota} texts ran out after {stored} reviews of this file were stored; "
            "submit the file again tomorrow to continue: reviews stored already are skipped, "
            "neither stored nor charged twice",
            "daily quota",
        )
        self.stored = stored


class JobQuota:
    """Charges jobs' work to their keys' daily quotas and records it in the keys' usage."""

    def __init__(self, store: Store, limiter: KeyLimiter, usage: UsageRecorder | None = None) -> None:
        self.store = store
        self.limiter = limiter
        self.usage = usage

    def ensure_left(self, caller: Caller) -> None:
        """Refuse (429) a submission from a key whose quota for today is used up."""
        if caller.daily_quota is None:
            return
        decision = self.limiter.take_quota(caller.key_id, caller.daily_quota, 0)
        if decision.remaining <= 0:
            raise _refused(caller, replace(decision, allowed=False, reason="daily quota"), 1)

    def charge(self, caller: Caller, texts: int, characters: int = 0) -> None:
        """Take ``texts`` from the key's quota, or refuse (429) and take nothing."""
        if caller.daily_quota is not None and texts > 0:
            decision = self.limiter.take_quota(caller.key_id, caller.daily_quota, texts)
            if not decision.allowed:
                raise _refused(caller, decision, texts)
        self._record(caller.key_id, texts, characters)

    def daily_quota(self, key_id: int | None) -> int | None:
        """The key's quota as the database has it now (None: no key, or no quota)."""
        if key_id is None:
            return None
        with self.store.session() as session:
            return session.scalars(select(ApiKey.daily_quota).where(ApiKey.id == key_id)).first()

    def remaining(self, key_id: int, quota: int) -> int:
        return max(self.limiter.take_quota(key_id, quota, 0).remaining, 0)

    def take_up_to(self, key_id: int, quota: int | None, count: int) -> int:
        """Take ``count`` (from ``quota``, when the key has one), or all that is left when that is less;
        returns how many were taken."""
        if count <= 0:
            return 0
        taken = count
        if quota is not None:
            decision = self.limiter.take_quota(key_id, quota, count)
            if not decision.allowed:
                taken = max(decision.remaining, 0)
                if taken:
                    self.limiter.take_quota(key_id, quota, taken)
        self._record(key_id, taken)
        return taken

    def _record(self, key_id: int | None, texts: int, characters: int = 0) -> None:
        if self.usage is not None and key_id is not None and texts > 0:
            self.usage.record(key_id, texts=texts, characters=characters)


def _refused(caller: Caller, decision: Decision, texts: int) -> RateLimited:
    RATE_LIMITED.labels("daily quota").inc()
    return RateLimited(
        f"daily quota of {caller.daily_quota} texts used up for key {caller.name!r} "
        f"({max(decision.remaining, 0)} left today; {texts} requested)",
        "daily quota",
        decision.headers(),
    )
