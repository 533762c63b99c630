"""What operators run and watch: queues and time limits (queues.py), health checks
(health.py), metrics (metrics/), structured logs (logs.py) and the Celery hooks that feed
them (observe.py)."""
