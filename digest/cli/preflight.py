"""`digest issues preflight LIST`: what would go wrong for readers if the next issue went out now."""

from __future__ import annotations

import sys

import click

from digest.cli.base import Context, pass_ctx, split_list
from digest.cli.schedules import issues


@issues.command("preflight")
@click.argument("list_slug")
@click.option("--topics", "topic_slugs", default="", help="Check the variant for these topics (default: all).")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@pass_ctx
def issues_preflight(ctx: Context, list_slug: str, topic_slugs: str, as_json: bool) -> None:
    """Check the next issue as sent (size, clients, accessibility, links); exit 1 when something blocks."""
    from digest.preflight import blocking, preflight_next_issue

    report = preflight_next_issue(ctx.store, ctx.settings, list_slug, set(split_list(topic_slugs)) or None)
    if as_json:
        click.echo(report.to_json())
    else:
        for finding in report.findings:
            click.echo(f"{finding.severity.upper():<5} {finding.code}: {finding.message}")
            if finding.where:
                click.echo(f"      at {finding.where}")
        if report.html_bytes:
            click.echo(f"{report.html_bytes:,} bytes of HTML, about {report.estimated_bytes:,} once SendGrid "
                       f"tracks its {report.links} links")
        verdict = "blocked" if blocking(report) else "ready"
        click.echo(f"{list_slug}: {verdict}: {len(report.blocks)} blocking, {len(report.warnings)} warnings")
    if blocking(report):
        sys.exit(1)
