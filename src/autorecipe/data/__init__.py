"""Data sources, decoding, the uint8 cache, splits and batch loaders."""
