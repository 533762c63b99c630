"""Assigning articles to topics. `assign_topics` is the one seam a stronger classifier replaces."""

from digest.topics.assign import assign_topics

__all__ = ["assign_topics"]
