"""geovpr.eval"""
