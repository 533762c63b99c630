"""Delivery: the Sender seam, its SendGrid and outbox implementations, and the
batch ledger that makes a send exactly-once per subscriber and issue."""
