"""ranker: search ranking for news articles.

Retrieve with BM25 (bm25s) and dense embeddings, mine hard negatives, fine-tune a
BERT cross-encoder and rerank, and evaluate offline with standard TREC files.

Heavy libraries (torch, transformers, faiss) are imported lazily inside the
functions that need them, so importing :mod:`ranker` and running ``ranker --help``
stay fast.
"""

from __future__ import annotations

__version__ = "0.1.0"
