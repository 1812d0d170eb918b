"""Encoders: the pretrained catalogue, registered runs as encoders, pooling, and the dynamic batcher."""
