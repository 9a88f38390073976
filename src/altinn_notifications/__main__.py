"""`python -m altinn_notifications ...`: the same command line as the `altinn-notifications` script."""

from altinn_notifications.cli import app

app(prog_name="altinn-notifications")
