"""The `mentionbot` command: the one composition root, the only part of bot/ that imports
workers/. It wires settings into the services: the long-running processes (`run`) and the
/metrics and /healthz server each of them runs (`observe`), the database (`db`), the model
(`model`, `local_engine`), settings (`settings`), benchmark rendering (`bench`), the
operator commands (`operators`, `subscribers`, `tiers`, `usage`), the moderation commands
and the dashboard (`moderation`, `dashboard`) and the demo (`demo`, `demo_samples`); what
every command shares is `common`.

Heavy imports (SQLAlchemy, Celery, vLLM, rich) happen inside each command, so
`mentionbot --help` stays quick. May import: everything.
"""

from __future__ import annotations

import typer

from bot.cli import (
    bench,
    dashboard,
    db,
    demo,
    model,
    moderation,
    run,
    settings,
    subscribers,
    tiers,
    usage,
)

app = typer.Typer(
    help="Answer mentions of an X bot account with an MoE model on vLLM.", no_args_is_help=True
)
app.add_typer(db.app, name="db")
app.add_typer(bench.app, name="bench")
app.add_typer(model.app, name="model")
app.add_typer(subscribers.app, name="subscribers")
app.add_typer(tiers.app, name="tiers")
app.add_typer(moderation.moderators_app, name="moderators")
app.add_typer(moderation.review_app, name="review")
app.add_typer(moderation.posting_app, name="posting")
app.command()(run.sandbox)
app.command()(run.listen)
app.command()(run.worker)
app.command()(run.beat)
app.command()(run.sweep)
app.command()(usage.usage)
app.command()(dashboard.dashboard)
app.command()(demo.demo)
app.command("settings")(settings.show_settings)
