"""Conversations (threads with a human reference) and the messages in them."""
