"""dlfleet: deep-learning GPU hosts, from one workstation to a fleet."""

__version__ = "0.1.0"
