"""`digest issues test`: the next issue to a few addresses, marked as a test (digest.deliver.proofs)."""

from __future__ import annotations

import click

from digest.cli.base import Context, pass_ctx, split_list
from digest.cli.schedules import issues


@issues.command("test")
@click.argument("list_slug")
@click.option("--to", "to", required=True, help="Up to 10 addresses, comma-separated.")
@click.option("--topics", default=None, help="Only these topics' sections, comma-separated.")
@pass_ctx
def issues_test(ctx: Context, list_slug: str, to: str, topics: str | None) -> None:
    """Send the next issue to TO now, through the configured sender, marked [Test] and never counted."""
    from digest.deliver import make_sender
    from digest.deliver.proofs import send_proof

    chosen = set(split_list(topics)) if topics else None
    proof = send_proof(ctx.store, ctx.settings, make_sender(ctx.settings), list_slug, to, chosen)
    click.echo(f"{proof.proof_id}: '{proof.subject}' sent to {', '.join(proof.sent_to)}")
