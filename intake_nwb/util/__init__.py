"""Layer 0: mechanisms every layer shares, each written once (fan-out, atomic writes, LRU, text)."""
