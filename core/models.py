"""Imports every ORM model so that Base.metadata is complete (Alembic, create_all)."""

from core.auth.models import ApiKey
from core.auth.sessions import ConsoleSession
from core.conversations.models import Conversation, Message
from core.db import Base
from core.evaluation.models import EvalRun
from core.identity.models import Account, Customer, CustomerEvent, Identity, MergeSuggestion
from core.knowledge.models import KbChange, KbChunk, KbDocument, KbUpload, KbVersion
from core.routing.models import Correction
from core.suggestions.models import ApprovedAnswer, Suggestion

__all__ = [
    "Account",
    "ApiKey",
    "ApprovedAnswer",
    "Base",
    "ConsoleSession",
    "Conversation",
    "Correction",
    "Customer",
    "CustomerEvent",
    "EvalRun",
    "Identity",
    "KbChange",
    "KbChunk",
    "KbDocument",
    "KbUpload",
    "KbVersion",
    "Message",
    "MergeSuggestion",
    "Suggestion",
]
