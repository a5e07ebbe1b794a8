"""Data: the image table, readers, protocols, image decoding and the synthetic city."""
