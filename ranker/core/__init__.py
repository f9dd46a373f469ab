"""Plumbing every stage shares, with no model library imported: the one error
type (``errors``), how a command ends (``exits``), crash-safe writes (``files``),
where a command may write (``outputs``), sha256 file lists (``integrity``),
settings from presets, TOML and flags (``config``), terminal text (``display``)
and command-line value types (``flags``).
"""
