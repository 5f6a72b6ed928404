"""Built-in explanation-quality metrics for ``specinterp assess`` (one module per question)."""
