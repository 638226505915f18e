"""Message classification: signals (language, sentiment, urgency cues) for triage."""
