"""First-stage retrievers: every one indexes articles and answers ``search``
with a :class:`~ranker.retrieve.base.Results` of row numbers and scores."""
