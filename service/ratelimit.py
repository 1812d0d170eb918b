"""Per-key rate limit: a moving window counted in memory (one process) or in Redis (every API process).

A key may send `burst` requests at once and then about `per_second` on average: the window holds
`burst` requests per `ceil(burst / per_second)` seconds. Off when `rate_limit_per_second` is 0.
The limit is applied where a request's key becomes known (the `principal` dependencies), so it counts
per key, never per client address, and a wrong key is refused by authentication before it is counted.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from deepfeat.config import Settings
from deepfeat.errors import RateLimited

log = logging.getLogger(__name__)
NAMESPACE = "deepfeat-key"


class KeyRateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.per_second = settings.rate_limit_per_second
        self.enabled = self.per_second > 0
        self.item: RateLimitItem | None = None
        self.limiter: MovingWindowRateLimiter | None = None
        if self.enabled:
            burst = settings.rate_limit_burst or max(1, math.ceil(2 * self.per_second))
            window_s = max(1, math.ceil(burst / self.per_second))
            self.item = RateLimitItemPerSecond(burst, window_s, namespace=NAMESPACE)
            storage = storage_from_string(settings.resolved_rate_limit_storage_url)
            self.limiter = MovingWindowRateLimiter(storage)

    def check(self, key_id: str) -> None:
        """Count one request of `key_id`; raise RateLimited (429 + Retry-After) past the limit."""
        if self.limiter is None or self.item is None:
            return
        try:
            allowed = self.limiter.hit(self.item, key_id)
            if allowed:
                return
            reset_at = self.limiter.get_window_stats(self.item, key_id).reset_time
        except Exception:  # the limit's store (Redis) is down: serve rather than fail every request
            log.warning("rate limit store unavailable; request let through", exc_info=True)
            return
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            f"this key sent more than {self.item.amount} requests in {self.item.get_expiry()} s "
            f"(limit: {self.per_second:g}/s, bursts of {self.item.amount}); retry in {retry_after} s",
            retry_after_s=retry_after,
        )
