"""The message pipeline: claim, run steps, finish; sweeper for stuck messages."""
