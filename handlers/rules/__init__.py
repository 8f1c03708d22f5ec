"""The rules language of rules.yaml: loading, matching, templates, reloading, dry runs."""
