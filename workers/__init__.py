"""The Celery side: task and queue names (`names`), the app factory (`celery_app`), the thin
tasks (`tasks`), the per-process collaborators they use (`deps`), the TaskSender the
listener, the sweeper, the dashboard and the generate task hand work to (`sender`), and what
the processes report: queue depths (`metrics`), worker and beat health (`health`, `beat`).

May import: bot/ (its services, never bot.cli), models/. Only bot.cli imports this package.
"""
