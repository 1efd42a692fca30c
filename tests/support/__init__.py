"""Helpers shared by the test suite: free ports, broker processes, in-loop servers."""
