"""What the pipeline reads: records and their readers (``records``: Article,
Query, Qrels; ``readers``: BEIR folders, JSONL, CSV, TSV and Parquet, read or
streamed; ``qrels``), which fields an index searches (``fields``), the labelled
examples the heads train on and the files they come in (``labelled``,
``labelled_files``), and the real data sets built from their recipes
(``datasets/``). No model library is imported here.
"""
