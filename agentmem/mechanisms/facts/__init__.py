"""Fact memory: facts with validity, supersession and contradiction, derived from turns."""
