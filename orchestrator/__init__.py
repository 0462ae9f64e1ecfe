"""Loopline's engine core: no Flask here. `Engine` is the one entry point for every command."""
