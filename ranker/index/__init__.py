"""Index folders: build and open one (``folder``: its manifest, its document
store and one folder per retriever), the documents in SQLite (``docstore``), and
``ranker add``/``ranker delete`` (``update``).
"""
