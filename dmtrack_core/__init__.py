"""DMTrack in plain PyTorch: model, ops, tracking, training and evaluation. Never imports ROS.

Data flows one way:
frame -> preprocess -> model (network) -> candidates -> tracking (association) -> TrackResult.
"""

__version__ = "0.1.0"
