"""Argument checks shared by the whole package: each raises ValueError naming the argument, the value
and what is allowed.

>>> check_int("n_way", 5, 1, 20)
5
>>> check_number("inner_lr", 0)
Traceback (most recent call last):
ValueError: inner_lr must be a number greater than 0, got 0
"""
import math
import numbers


def check_int(name, value, low=None, high=None, allow_none=False):
    """``value`` as an int after checking it is an integer in [low, high] (None passes if allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"<= {high}" if low is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return int(value)


def check_number(name, value, low=0.0, high=math.inf):
    """``value`` as a float after checking it is a finite real number with low < value <= high."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not low < value <= high:
        limit = f" and at most {high}" if high < math.inf else ""
        raise ValueError(f"{name} must be a number greater than {low:g}{limit}, got {value!r}")
    return float(value)


def check_choice(name, value, allowed):
    """``value`` after checking it is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return value
