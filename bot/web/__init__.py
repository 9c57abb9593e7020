"""The moderator dashboard's web app: the app factory (`app`), sign-in and sign-out (`auth`),
CSRF and security headers (`security`), server-rendered SVG charts (`charts`), the Jinja2
templates (`templates/`) and the static CSS and JavaScript (`static/`, no build step and no
third-party front-end code).

May import: bot.moderation (its routers and services), everything below it, and the shared
modules. Nothing imports bot.web but the composition root (bot.cli) and the benchmarks.
"""
