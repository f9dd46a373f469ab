"""Where models come from and where they run: the packaged default and local
folders (``loading``), the runtime that runs a forward pass (``runtime``: OpenVINO
on a CPU, PyTorch on a GPU), OpenVINO exports (``exported``), the tokenizer without
transformers (``tokenizer``), one BERT core with its heads (``checkpoints``),
number formats (``precision``) and the Ray actor pool (``ray_engine``)."""
