"""The moderator dashboard's web app, in one place: the app factory (`app`), signing in and
out and who is signed in (`auth`: the session cookie, the current moderator, admins only),
what every view shares (`deps`: its collaborators, the request's one database session, the
templates and the page frame, the outcomes of actions), CSRF and security headers
(`security`), server-rendered SVG charts (`charts`), the pages by area (`views/`), the
Jinja2 templates (`templates/`) and the static CSS and JavaScript (`static/`, no build step
and no third-party front-end code).

May import: bot.moderation's services, everything below it, the shared modules and models.
Nothing imports bot.web but the composition root (bot.cli) and the benchmarks.
"""
