"""The second stage: a fine-tuned BERT cross-encoder scores (query, article)
pairs and reorders what a retriever found (``reranker``).
"""
