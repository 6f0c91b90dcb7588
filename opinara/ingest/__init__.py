"""Reading input: text records for analysis (and, later, review datasets)."""
