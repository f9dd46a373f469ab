"""Offline evaluation: TREC run files and metrics by ir_measures (``runs``),
and evaluation reports in HTML and Markdown (``report/``).
"""
