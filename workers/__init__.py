"""The Celery side: task and queue names (`names`), the app factory (`celery_app`), the thin
tasks (`tasks`), the per-process collaborators they use (`context`), and the TaskSender the
listener, the sweeper and the dashboard hand work to (`sender`).

May import: bot/ (its services, never bot.cli), models/. Only bot.cli imports this package.
"""
