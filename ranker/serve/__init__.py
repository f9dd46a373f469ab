"""``ranker serve``: a batching searcher for many clients (``service``), its
HTTP routes and search page (``routes``, ``search.html``).
"""
