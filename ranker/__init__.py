"""ranker: search ranking for news articles.

Retrieve with BM25 (bm25s) and dense embeddings (sentence-transformers + FAISS),
mine hard negatives, fine-tune a BERT cross-encoder and rerank, and evaluate
offline with standard TREC files. The command line (``ranker --help``) and this
Python API call the same functions.

The API, in the shapes bm25s, sentence-transformers and Pyserini users know::

    import ranker

    articles = ranker.read_articles("data/news").records        # BEIR folder, JSONL, CSV, TSV or Parquet
    index = ranker.build_index(articles, "indexes/mine")          # BM25 (+ dense with dense=ranker.DenseConfig())
    ranker.build_index(ranker.stream_articles("big.jsonl"), "indexes/big")  # a corpus too big to hold, streamed
    searcher = ranker.Searcher("indexes/news", reranker="models/demo/model/model")
    for hit in searcher.search("Brexit Article 50", k=5):        # typed hits: the document's own metadata
        print(hit.rank, hit.doc_id, round(hit.score, 3), hit.title, hit.metadata.get("outlet"))
    reranker = ranker.Reranker("models/demo/model/model")        # as sentence_transformers.CrossEncoder
    reranker.rank("oil prices", ["The dam broke.", "Oil fell."], top_k=1)
    ranker.fit_reranker([("oil prices", "Oil prices fell.", ["The dam broke."])], "models/tiny",
                        train_config=ranker.TrainConfig(max_steps=10))   # train from Python data
    ranker.evaluate_run(ranker.read_run("runs/demo/bm25.test-title.trec"),
                        ranker.read_qrels("data/news/qrels/test-title.tsv"))  # nDCG@10, MRR@10, R@k, MAP

Exported names (each loaded on first use):

- records and readers: ``Article``, ``Query``, ``read_articles``, ``stream_articles``, ``read_queries``,
  ``read_qrels``, ``judged_queries``, ``beir_split``
- indexes: ``build_index``, ``Index``, ``BM25Config``, ``DenseConfig``,
  ``EmbedderConfig``, ``HybridConfig``
- search: ``Searcher``, ``Hit``
- reranking: ``Reranker``, ``RerankConfig``; training: ``fit_reranker`` (from Python
  data; ``ranker.train.reranker.train_reranker`` reads what ``ranker mine`` wrote),
  ``RerankerTrainConfig``, ``TrainConfig``; mining: ``mine_index``, ``MiningConfig``
- evaluation: ``evaluate_run`` (``ranker.eval.metrics.evaluate``), ``read_run``, ``write_run``
- serving: ``create_app`` (the FastAPI app ``ranker serve`` runs), ``Service`` (its
  batching searcher, without HTTP), ``ServiceConfig``, ``SearchRequest``
- errors: ``InputError`` (bad input: names the file, the line and the problem)

Heavy libraries (torch, transformers, faiss) are imported lazily inside the
functions that need them, so ``import ranker`` and ``ranker --help`` stay fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it, ``module:name`` where the name differs
#: (``evaluate`` is also a submodule's name, which an import would put in its place).
_EXPORTS = {
    "Article": "ranker.data.records",
    "Query": "ranker.data.records",
    "read_articles": "ranker.data.readers",
    "stream_articles": "ranker.data.readers",
    "read_queries": "ranker.data.readers",
    "read_qrels": "ranker.data.qrels",
    "judged_queries": "ranker.data.qrels",
    "beir_split": "ranker.data.qrels",
    "build_index": "ranker.index.folder",
    "Index": "ranker.index.folder",
    "BM25Config": "ranker.retrieve.bm25",
    "DenseConfig": "ranker.retrieve.dense",
    "EmbedderConfig": "ranker.retrieve.embed",
    "HybridConfig": "ranker.retrieve.hybrid",
    "Searcher": "ranker.search.searcher",
    "Hit": "ranker.search.searcher",
    "Reranker": "ranker.rerank.reranker",
    "RerankConfig": "ranker.rerank.reranker",
    "fit_reranker": "ranker.train.reranker",
    "RerankerTrainConfig": "ranker.train.reranker",
    "TrainConfig": "ranker.train.loop",
    "mine_index": "ranker.train.mine",
    "MiningConfig": "ranker.train.mine",
    "evaluate_run": "ranker.eval.metrics:evaluate",
    "read_run": "ranker.eval.runs",
    "write_run": "ranker.eval.runs",
    "InputError": "ranker.core.errors",
    "Service": "ranker.serve.service",
    "ServiceConfig": "ranker.serve.service",
    "SearchRequest": "ranker.serve.service",
    "create_app": "ranker.serve.routes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    # PEP 562: the module holding a public name is imported on first use only.
    if name in _EXPORTS:
        module, _, attribute = _EXPORTS[name].partition(":")
        value = getattr(importlib.import_module(module), attribute or name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ranker' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
