"""geovpr.train"""
