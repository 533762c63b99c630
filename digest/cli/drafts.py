"""`digest issues edit/exclude/include/order`: the corrections of the next issue that last until it
is planned, as the editors' app makes them (digest/editors/corrections.py). Topic moves are `digest topics
correct/undo`; splits, merges and pins `digest stories`."""

from __future__ import annotations

import click

from digest.cli.base import Context, pass_ctx
from digest.cli.schedules import issues
from digest.editors import corrections

BY = "command line"  # who the audit log names for these


@issues.command("edit")
@click.argument("list_slug")
@click.option("--subject", default=None, help="The next issue's subject (\"\": made from the headlines again).")
@click.option("--preheader", default=None, help="The line inboxes show after the subject (\"\": the usual one).")
@click.option("--intro", default=None, help="A note at the top of the next issue (\"\": the list's usual intro).")
@pass_ctx
def issues_edit(ctx: Context, list_slug: str, subject: str | None, preheader: str | None, intro: str | None) -> None:
    """Show or set the next issue's subject, preheader and intro note; plain text, kept until it is planned."""
    if subject is not None or preheader is not None or intro is not None:
        changed = corrections.edit_wording(ctx.store, list_slug, BY, subject=subject, preheader=preheader,
                                           intro=intro)
        click.echo(f"{', '.join(changed) or 'nothing'} changed for the next issue of {list_slug}", err=True)
    view = corrections.edit_view(ctx.store, ctx.settings, list_slug)
    draft = view.draft
    click.echo(f"subject: {draft.subject or '(as usual)'}\t[usual: {view.made_subject}]")
    click.echo(f"preheader: {draft.preheader or '(as usual)'}\t[usual: {view.made_preheader}]")
    click.echo(f"intro: {draft.intro or '(as usual)'}")
    for article in view.excluded:
        click.echo(f"left out: {article.id[:12]}  {article.source}: {article.title}")
    for section, ids in draft.order.items():
        click.echo(f"order of {section}: {' '.join(ids)}")


@issues.command("exclude")
@click.argument("list_slug")
@click.argument("article_ids", nargs=-1, required=True)
@pass_ctx
def issues_exclude(ctx: Context, list_slug: str, article_ids: tuple[str, ...]) -> None:
    """Leave articles out of the next issue (ids or the 12-character prefixes `digest stories ls`
    shows); they stay collected and may go in a later issue."""
    for article_id in article_ids:
        article = corrections.exclude(ctx.store, ctx.settings, list_slug, article_id, BY)
        click.echo(f"left out of the next issue of {list_slug}: {article.title}")


@issues.command("include")
@click.argument("list_slug")
@click.argument("article_ids", nargs=-1, required=True)
@pass_ctx
def issues_include(ctx: Context, list_slug: str, article_ids: tuple[str, ...]) -> None:
    """Put articles left out back in the next issue."""
    for article_id in article_ids:
        article = corrections.include(ctx.store, list_slug, article_id, BY)
        click.echo(f"back in the next issue of {list_slug}: {article.title}")


@issues.command("order")
@click.argument("list_slug")
@click.argument("section")
@click.argument("story_ids", nargs=-1)
@pass_ctx
def issues_order(ctx: Context, list_slug: str, section: str, story_ids: tuple[str, ...]) -> None:
    """Put these stories first in SECTION (a topic slug, or "more"), in this order, the others after
    them; without stories, the section is ranked as usual again."""
    order = corrections.order_section(ctx.store, ctx.settings, list_slug, section, list(story_ids), BY)
    click.echo(f"{section}: {' '.join(order)}")
