"""Readers turn files on disk into :class:`geovpr.data.table.ImageTable` or protocols."""
