"""The rule author's tools — schema, help, lint, dry run, cases, compare, the event log as test
data: they read rules but never run on an event's path. The CLI and the console share them."""
