"""Models: DINOv2 backbones, aggregators, heads, and loading of checkpoints."""
