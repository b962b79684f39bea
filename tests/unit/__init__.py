"""Tests of one part at a time, in process: no server, no browser."""
