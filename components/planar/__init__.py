"""Planar rigid-body components: a work surface, pegs and objects on it."""

from .bodies import Peg, PlanarBody, WorkSurface

__all__ = ["Peg", "PlanarBody", "WorkSurface"]
