"""geovpr.models.aggregators"""
