"""Fine-tuning: the loop every head shares (``loop``), hard-negative mining
(``mine``), mined groups as training data (``groups``), the cross-encoder and
bi-encoder recipes (``reranker``, ``embedder``) and the named presets
(``presets``).
"""
