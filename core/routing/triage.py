"""Triage one message: intent model + signals + routing rules → a decision with reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.classification.intent_model import IntentModel
from core.classification.signals import detect_language, sentiment, urgency_cues
from core.identity.models import Customer
from core.ports import Vector
from core.routing.config import RoutingConfig
from core.routing.rules import Facts, decide
from core.routing.schemas import Alternative, IntentOut, TeamOut, Triage


def customer_facts(customer: Customer | None) -> dict[str, Any]:
    """What rules may know about a customer: attributes, VIP flag, account and its manager."""
    if customer is None:
        return {}
    facts: dict[str, Any] = dict(customer.attributes or {})
    facts["vip"] = bool(facts.get("vip", False))
    if customer.account is not None:
        facts["account"] = {"name": customer.account.name, **(customer.account.attributes or {})}
    return facts


class Triager:
    """Classifies with the current intent model, then lets the routing rules decide."""

    def __init__(
        self, config: RoutingConfig, model: IntentModel, team_of: Mapping[str, str] | None = None
    ) -> None:
        self.config = config
        self.model = model
        self.team_of = {**config.intent_team(), **(team_of or {})}

    def triage(
        self,
        texts: Sequence[str],
        vectors: Sequence[Vector],
        channels: Sequence[str],
        customers: Sequence[Mapping[str, Any]],
        repeat_contacts: Sequence[int],
    ) -> list[Triage]:
        """One decision per message (the model runs once over the whole batch)."""
        predictions = self.model.predict(vectors, texts=texts)
        out = []
        for text, prediction, channel, customer, repeats in zip(
            texts, predictions, channels, customers, repeat_contacts, strict=True
        ):
            out.append(self._one(text, prediction, channel, customer, repeats))
        return out

    def _one(
        self,
        text: str,
        prediction: Any,
        channel: str,
        customer: Mapping[str, Any],
        repeats: int,
    ) -> Triage:
        language = detect_language(text)
        mood = sentiment(text)
        cues = urgency_cues(text)
        label, confidence = prediction.label, float(prediction.confidence)
        ranked = [(label, confidence), *prediction.alternatives]
        model_team = self.team_of.get(label, self.config.triage_team)
        team_confidence = sum(p for lab, p in ranked if self.team_of.get(lab) == model_team)
        abstained = confidence < self.config.abstain_below
        reasons = [f"intent {label} ({confidence:.2f}) belongs to team {model_team}"]
        team = model_team
        if abstained:
            team = self.config.triage_team
            reasons = [
                f"intent confidence {confidence:.2f} is below {self.config.abstain_below:.2f}: "
                f"the {team} team decides"
            ]
        facts = Facts.from_mapping(
            {
                "intent": label,
                "intent_confidence": confidence,
                "abstained": abstained,
                "team": team,
                "language": language.code,
                "sentiment": mood.label,
                "sentiment_score": mood.score,
                "channel": channel,
                "cues": cues,
                "customer": dict(customer),
                "repeat_contacts_24h": repeats,
            }
        )
        decision = decide(self.config, facts, team)
        if decision.team == model_team:
            team_conf = min(1.0, team_confidence)
        else:  # a rule chose the team: certain; an abstention: as unsure as the model
            team_conf = 1.0 if decision.fired else confidence
        return Triage(
            intent=IntentOut(label=label, confidence=round(confidence, 4)),
            team=TeamOut(name=decision.team, confidence=round(team_conf, 4)),
            priority=decision.priority,
            sentiment=mood.label,
            sentiment_score=round(mood.score, 4),
            language=language.code,
            language_confidence=round(language.confidence, 4),
            abstained=abstained,
            alternatives=[
                Alternative(label=lab, confidence=round(p, 4), team=self.team_of.get(lab))
                for lab, p in prediction.alternatives
            ],
            reasons=reasons + decision.reasons,
            rules_fired=decision.fired,
            cues=cues,
            model_version=self.model.version,
        )
