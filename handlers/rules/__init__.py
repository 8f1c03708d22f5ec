"""The rules language of rules.yaml as the worker runs it: loading, matching, templates,
reloading, verification (the author's tools are in `authoring`)."""
