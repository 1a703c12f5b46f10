"""planner: an exact constraint optimizer that plans AI-inference fleets."""

__version__ = "0.1.0"
