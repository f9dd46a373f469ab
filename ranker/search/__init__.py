"""Searching an index as a user does: one query to hits with snippets, many
queries to a run (``searcher``).
"""
