"""geovpr.mining"""
