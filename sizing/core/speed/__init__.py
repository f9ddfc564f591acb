"""Tokens per second: the traffic-based speed estimate and its calibration."""
