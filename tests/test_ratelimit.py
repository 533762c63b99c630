import time

from digest.deliver.ratelimit import RateLimiter


def test_the_global_rate_spaces_batches_across_workers(store):
    # two "workers" sharing one limit of 1,000 emails/s
    a, b = RateLimiter(store, 1000), RateLimiter(store, 1000)
    waits = [a.reserve(500), b.reserve(500), a.reserve(1000), b.reserve(250)]
    assert waits[0] < 0.05
    assert 0.45 < waits[1] < 0.55
    assert 0.95 < waits[2] < 1.05
    assert 1.95 < waits[3] < 2.05


def test_an_idle_limiter_lets_the_next_batch_go_at_once(store):
    limiter = RateLimiter(store, 1000)
    limiter.reserve(100)
    time.sleep(0.15)  # longer than those 100 emails take at this rate
    assert limiter.reserve(100) == 0
