"""What one client asks of the service: a query and its settings.

Example:
    >>> SearchRequest("oil prices", date_from="2017-02-01").keeps({"date": "2017-03-04"})
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SearchRequest:
    """One query, as a client asks it. ``retriever`` None: the index's default;
    ``rerank``: with the service's reranker, when it has one. Dates are ISO
    ``YYYY-MM-DD`` and inclusive; ``outlet`` keeps one outlet's articles.

    Example:
        >>> SearchRequest("oil prices", k=5, outlet="BBC").k
        5
    """

    query: str
    k: int = 10
    retriever: str | None = None
    rerank: bool = True
    outlet: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.outlet or self.date_from or self.date_to)

    def keeps(self, metadata: dict[str, Any]) -> bool:
        """Whether an article with this ``metadata`` passes the request's filters."""
        if self.outlet and metadata.get("outlet") != self.outlet:
            return False
        date = str(metadata.get("date") or "")[:10]
        if self.date_from and (not date or date < self.date_from):
            return False
        return not (self.date_to and (not date or date > self.date_to))


def is_date(value: str) -> bool:
    """``YYYY-MM-DD`` and a real day (``fromisoformat`` alone also takes week dates).

    Example:
        >>> is_date("2017-02-29"), is_date("2017-03-01")
        (False, True)
    """
    import datetime
    import re

    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True
