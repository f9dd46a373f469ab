"""The second stage: a fine-tuned BERT cross-encoder scores (query, article)
pairs and reorders what a retriever found (``reranker``).
"""

#: First-stage results reranked per query unless told otherwise, and the depth the
#: trainer tunes the mixing weight at. Ten, not twenty: on the news benchmark's 595
#: dev queries the mix scores the same at 10, 12, 15 and 20 (MRR@10 within 0.001),
#: the cross-encoder alone better at 10, and half the pairs halve its time
#: (docs/reranker.md, "Quality per millisecond"). Here, not in ``reranker``, so
#: that the command line's flags read it without importing the scorer.
DEFAULT_DEPTH = 10
