"""Sub-commands of ``python -m portal``, one module per area."""
